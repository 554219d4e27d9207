"""The warehouse as one DuckDB file vs as a DuckLake (catalog + Parquet), through the same storage functions.

Both sides run DuckDB 1.5.5, the newest release PyPI's `duckdb-extension-ducklake` is built for, in a side
interpreter built once with uv under ~/.cache/meridian/duckdb-1.5.5-venv (polars, numpy and pyarrow at the
project's versions); the project's own code is imported from the repository (PYTHONPATH), so the comparison is
file vs lake, not DuckDB 1.5 vs 2.0. Three warehouses, each in its own child process: the file, a lake with a
SQLite catalog (one writer), a lake with a PostgreSQL catalog on a loopback server (as tests/test_ducklake.py).

- load: daily_prices-shaped rows, 500 names x 500 sessions, written as 25 windows of 20 sessions with
  `storage.replace_window` (delete-then-insert, one transaction each);
- scoring read: the scoring's query (`date, ticker, adj_close` of a 252-session window) through `storage.read`,
  5 times;
- backfill: 50 single-session partitions re-written one by one with `storage.replace_window`; on the Postgres
  lake also the same 50 split across 2 writer processes at once (alternate sessions), each re-running a window
  whose commit conflicts with the other's (counted), and 2 writers of 25 sessions each in two tables of the
  same shape. The file takes one writing process at a time (its lock), so its figure is the serial one.

Figures: wall and CPU seconds per stage (CPU of the measuring process and the writers it waited for; on the
Postgres lake also the catalog server's CPU beside it), bytes and files on disk, and a check after every
stage that no row is lost or duplicated and the rewritten sessions carry the new rows. Ratios are lake / file
measured in the same run. If the side interpreter cannot be built, the result says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from benchmarks.harness import ROOT, Result

DUCKDB = "1.5.5"
SIDE_VENV = Path.home() / ".cache" / "meridian" / f"duckdb-{DUCKDB}-venv"
EXTENSIONS = ("ducklake", "postgres-scanner", "sqlite-scanner")
NAMES, SESSIONS, WINDOW, READ_SESSIONS, READS, BACKFILL = 500, 500, 20, 252, 5, 50
SCORING_QUERY = "SELECT date, ticker, adj_close FROM daily_prices WHERE date BETWEEN ? AND ?"


def side_packages() -> list[str]:
    return ([f"duckdb=={DUCKDB}"] + [f"duckdb-extension-{e}=={DUCKDB}" for e in EXTENSIONS]
            + [f"{p}=={version(p)}" for p in ("polars", "numpy", "pyarrow")])


def side_interpreter() -> tuple[Path | None, str]:
    """The side interpreter's python (built on first use), or None and why it could not be built."""
    python = SIDE_VENV / "bin" / "python"
    probe = ("import duckdb, polars, pyarrow, duckdb_extension_ducklake, duckdb_extension_postgres_scanner, "
             f"duckdb_extension_sqlite_scanner; assert duckdb.__version__ == {DUCKDB!r}, duckdb.__version__")
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        return python, ""
    uv = Path(sys.executable).parent / "uv"
    steps = ([uv, "venv", "-q", "--allow-existing", "-p", sys.executable, SIDE_VENV],
             [uv, "pip", "install", "-q", "-p", python, *side_packages()], [python, "-c", probe])
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{Path(step[0]).name} {step[1]}: {exc}"
        if done.returncode:
            return None, f"{Path(step[0]).name} {step[1]} failed: {(done.stderr or done.stdout).strip()[-400:]}"
    return python, ""


# ----------------------------------------------------------------------------- in the side interpreter
def _cpu() -> float:
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _server_cpu(pid: int | None) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its reaped backends and its live ones."""
    if not pid:
        return 0.0
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(p) == pid or int(f[1]) == pid:
            total += sum(int(x) for x in f[11:15])
    return total / tick


def _prices():
    """500 names x 500 weekday sessions of daily_prices-shaped rows, deterministic."""
    import datetime as dt

    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    days = [d for d in (dt.date(2023, 1, 2) + dt.timedelta(days=i) for i in range(SESSIONS * 7 // 5 + 7))
            if d.weekday() < 5][:SESSIONS]
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (SESSIONS, NAMES)), axis=0)).ravel()
    return pl.DataFrame({
        "date": np.repeat(np.array(days, dtype="datetime64[D]"), NAMES),
        "ticker": [f"T{i:03d}" for i in range(NAMES)] * SESSIONS,
        "open": close * 0.995, "high": close * 1.01, "low": close * 0.99, "close": close, "adj_close": close,
        "volume": rng.lognormal(13, 1, SESSIONS * NAMES).round(0) + 0.5,
        "security_id": [f"S{i:03d}" for i in range(NAMES)] * SESSIONS}).with_columns(pl.col("date").cast(pl.Date)), days


def _open(target: dict):
    """A connection to the warehouse, as a context manager (closed on exit) for the file and the lake alike."""
    import duckdb

    from meridian_assets.warehouse import ducklake

    if target["kind"] == "file":
        return duckdb.connect(target["catalog"])
    return ducklake.connect(target["catalog"], target["data"])


def _table(name: str):
    """daily_prices' schema under ``name`` (a second table of the same shape)."""
    import dataclasses

    from meridian_assets.ingest.schemas import DAILY_PRICES

    return dataclasses.replace(DAILY_PRICES, name=name)


def _rewrite(conn, frame, days, marker: float, table: str = "daily_prices", retry: bool = False) -> int:
    """Re-write each of ``days`` as its own partition, its rows' volume set to ``marker``; with ``retry``, a
    partition whose commit conflicts with another writer's is written again (delete-then-insert is idempotent).
    Returns the number of conflicts."""
    import polars as pl

    from meridian_assets import storage

    conflicts, schema = 0, _table(table)
    for d in days:
        rows = frame.filter(pl.col("date") == d).with_columns(volume=pl.lit(marker))
        while True:
            try:
                storage.replace_window(conn, schema, rows, d, d)
                break
            except Exception as exc:  # the failed COMMIT surfaces as the ROLLBACK's error, the conflict its context
                if not retry or "conflict" not in f"{exc} {exc.__context__}" or conflicts >= 50 * len(days):
                    raise
                conflicts += 1
                time.sleep(0.01)
    return conflicts


def writer(target: dict, days: list[str], marker: float, frames: str, table: str) -> None:
    """One of the concurrent backfill's writer processes; prints its own open and write seconds."""
    import datetime as dt

    import polars as pl

    t0 = time.perf_counter()
    frame = pl.read_parquet(frames)
    with _open(target) as conn:
        t1 = time.perf_counter()
        conflicts = _rewrite(conn, frame, [dt.date.fromisoformat(d) for d in days], marker, table, retry=True)
        t2 = time.perf_counter()
    print(json.dumps({"open_seconds": round(t1 - t0, 3), "write_seconds": round(t2 - t1, 3),
                      "table": table, "partitions": len(days), "conflicts_retried": conflicts}))


def child(target: dict, out: str) -> None:
    """Every stage against one warehouse; the figures as JSON to ``out``."""
    import duckdb

    from meridian_assets import storage
    from meridian_assets.ingest.schemas import DAILY_PRICES

    prices, days = _prices()
    windows = [(days[i], days[i + WINDOW - 1]) for i in range(0, SESSIONS, WINDOW)]
    parts = [prices.filter((prices["date"] >= a) & (prices["date"] <= b)) for a, b in windows]
    backfill = days[100:100 + BACKFILL]
    figures, pid = {"duckdb": duckdb.__version__, "kind": target["kind"]}, target.get("server_pid")

    def stage(name, fn):
        w, c, s = time.perf_counter(), _cpu(), _server_cpu(pid)
        value = fn()
        figures[name] = {"wall_seconds": round(time.perf_counter() - w, 3), "cpu_seconds": round(_cpu() - c, 3)}
        if pid:
            figures[name]["catalog_server_cpu_seconds"] = round(_server_cpu(pid) - s, 3)
        return value

    def verify(conn, marker, expected_marked, table="daily_prices"):
        n, keys, marked = storage.read(conn, "SELECT count(*) AS n, count(DISTINCT (date, ticker)) AS k, count(*) "
                                             f"FILTER (volume = ?) AS m FROM {table}", [marker]).row(0)
        return {"rows": n, "distinct_keys": keys, "rewritten_rows": marked,
                "ok": n == keys == NAMES * SESSIONS and marked == expected_marked}

    def on_disk():
        files = [p for p in Path(target["data"] or target["catalog"]).parent.rglob("*") if p.is_file()]
        return {"bytes": sum(p.stat().st_size for p in files), "files": len(files)}

    with _open(target) as conn:
        stage("load", lambda: [storage.replace_window(conn, DAILY_PRICES, p, a, b)
                               for p, (a, b) in zip(parts, windows)])
        figures["load_check"] = verify(conn, -1.0, 0)
        figures["after_load_on_disk"] = on_disk()
        lo, hi = days[-READ_SESSIONS], days[-1]
        reads = []
        for _ in range(READS):
            got = stage("read", lambda: storage.read(conn, SCORING_QUERY, [lo, hi]))
            reads.append(figures["read"])
        figures["read"] = {"rows": got.height, "ok": got.height == NAMES * READ_SESSIONS,
                           "wall_seconds_each": [r["wall_seconds"] for r in reads],
                           **{k: round(sum(r[k] for r in reads) / READS, 3) for k in reads[0]}}
        stage("backfill_serial", lambda: _rewrite(conn, prices, backfill, 1.0))
        figures["backfill_check"] = verify(conn, 1.0, BACKFILL * NAMES)
        figures["after_backfill_on_disk"] = on_disk()
    if not target.get("concurrent"):
        json.dump(figures, open(out, "w"))
        return
    frames = str(Path(out).with_suffix(".parquet"))
    prices.write_parquet(frames)

    def two_writers(jobs):  # (table, sessions, marker) per writer process
        procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.bench_warehouse", "writer", json.dumps(target),
                                   json.dumps([str(d) for d in sessions]), str(marker), frames, table],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for table, sessions, marker in jobs]
        outs = [p.communicate(timeout=900) for p in procs]
        for p, (o, e) in zip(procs, outs):
            if p.returncode:
                raise RuntimeError(f"writer failed: {e.strip()[-1500:]}")
        return [json.loads(o) for o, _ in outs]

    # the same table: alternate sessions of the backfill each
    figures["writers"] = stage("backfill_two_writers", lambda: two_writers(
        [("daily_prices", backfill[0::2], 2.0), ("daily_prices", backfill[1::2], 2.0)]))
    with _open(target) as conn:
        figures["two_writers_check"] = verify(conn, 2.0, BACKFILL * NAMES)
        storage.replace_all(conn, _table("daily_prices_b"), prices)  # a second table of the same rows (untimed)
    # two tables: each writer its half of the sessions in its own table (e.g. an ingest beside another load)
    figures["writers_two_tables"] = stage("backfill_two_writers_two_tables", lambda: two_writers(
        [("daily_prices", backfill[0::2], 3.0), ("daily_prices_b", backfill[1::2], 3.0)]))
    with _open(target) as conn:
        a, b = verify(conn, 3.0, BACKFILL // 2 * NAMES), verify(conn, 3.0, BACKFILL // 2 * NAMES, "daily_prices_b")
        figures["two_tables_check"] = {"daily_prices": a, "daily_prices_b": b, "ok": a["ok"] and b["ok"]}
    json.dump(figures, open(out, "w"))


# ----------------------------------------------------------------------------- in the project's interpreter
def _measure(python: Path, target: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_warehouse_out_") as tmp:
        out = os.path.join(tmp, "figures.json")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "POLARS_MAX_THREADS": "2"}
        done = subprocess.run([python, "-m", "benchmarks.bench_warehouse", "child", json.dumps(target), out],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode or not os.path.exists(out):
            return {"error": (done.stderr or done.stdout).strip()[-800:]}
        return json.load(open(out))


def _postgres_lake(tmp: Path, python: Path) -> dict:
    import psycopg2

    from tests.test_postgres_instance import PG_USER, LoopbackPostgres

    pg = LoopbackPostgres()
    try:
        reason = pg.start()
        if reason:
            return {"error": f"no PostgreSQL server for the catalog: {reason}"}
        conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=PG_USER, password=pg.password, dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE lake")
        conn.close()
        pid = int((pg.dir / "data" / "postmaster.pid").read_text().split()[0])
        return _measure(python, {
            "kind": "lake", "concurrent": True, "server_pid": pid, "data": str(tmp / "pg" / "data"),
            "catalog": f"postgres:dbname=lake host=127.0.0.1 port={pg.port} user={PG_USER} password={pg.password}"})
    finally:
        pg.stop()


def run() -> Result:
    description = (f"daily_prices, {NAMES} names x {SESSIONS} sessions, through meridian_assets.storage on DuckDB "
                   f"{DUCKDB}: load as {SESSIONS // WINDOW} windows of {WINDOW} sessions, the scoring read of "
                   f"{READ_SESSIONS} sessions (x{READS}), {BACKFILL} single-session partitions re-written one by "
                   "one and (Postgres lake) by 2 writer processes at once")
    baseline = "the single DuckDB file (same DuckDB 1.5.5, same rows and calls), measured in the same run"
    python, problem = side_interpreter()
    if python is None:
        return Result(name="warehouse", description=description, baseline=baseline,
                      measurements={"side_interpreter": problem}, targets={}, passed={"side_interpreter": False})
    wall0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_warehouse_") as t:
        tmp = Path(t)
        (tmp / "file").mkdir()
        m = {"file": _measure(python, {"kind": "file", "catalog": str(tmp / "file" / "warehouse.duckdb"), "data": ""}),
             "lake_sqlite": _measure(python, {"kind": "lake", "catalog": str(tmp / "sq" / "catalog.sqlite"),
                                              "data": str(tmp / "sq" / "data")}),
             "lake_postgres": _postgres_lake(tmp, python)}
    m["side_interpreter"] = {"python": str(python), "packages": side_packages()}
    ratios = {}
    for lake in ("lake_sqlite", "lake_postgres"):
        for st in ("load", "read", "backfill_serial"):
            for k in ("wall_seconds", "cpu_seconds"):
                a, b = m[lake].get(st, {}).get(k), m["file"].get(st, {}).get(k)
                if a is not None and b:
                    ratios[f"{lake}_over_file_{st}_{k.split('_')[0]}"] = round(a / b, 2)
    pg = m["lake_postgres"]
    for st in ("backfill_two_writers", "backfill_two_writers_two_tables"):
        for base, serial in (("lake_serial", pg.get("backfill_serial")),
                             ("file_serial", m["file"].get("backfill_serial"))):
            if st in pg and serial:
                ratios[f"lake_postgres_{st.removeprefix('backfill_')}_over_{base}_wall"] = round(
                    pg[st]["wall_seconds"] / serial["wall_seconds"], 2)
    checks = ("load_check", "read", "backfill_check", "two_writers_check", "two_tables_check")
    passed = {name: "error" not in m[name] and all(m[name][c]["ok"] for c in checks if c in m[name])
              for name in ("file", "lake_sqlite", "lake_postgres")}
    m["file"]["backfill_two_writers"] = "not possible: the file takes one writing process at a time (its lock)"
    m["file"]["backfill_two_writers_two_tables"] = m["file"]["backfill_two_writers"]
    m["stages_wall_seconds"] = round(time.perf_counter() - wall0, 3)
    return Result(name="warehouse", description=description, baseline=baseline, measurements=m, targets={},
                  passed={"side_interpreter": True, **{f"{k}_rows_verified": v for k, v in passed.items()}},
                  ratios=ratios)


if __name__ == "__main__":
    if sys.argv[1] == "child":
        child(json.loads(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "writer":
        writer(json.loads(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6])
