"""DuckLake behind the unchanged storage functions: two processes write one lake at the same time — each its own
table, and disjoint partitions of a shared one — through `storage.replace_window`, with no lock error and no
lost or duplicated row. The catalog is PostgreSQL on a loopback server: with a SQLite catalog the second writer's
commit fails with "database is locked" (the sqlite scanner sets no busy timeout and DuckLake does not retry it).

PyPI's `duckdb-extension-ducklake` exists for some DuckDB releases only (see docs/scaling.md). Where the running
DuckDB has none, the lake's processes run in the side interpreter `benchmarks/bench_warehouse.py` builds (DuckDB
1.5.5 with its extensions, the project's code from the repository), as the measured comparison does; skipped,
with the reason, only where neither that interpreter can be built nor a server starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meridian_assets.warehouse import ducklake

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the lake's processes import the project from the repository
PROBLEM = ducklake.extension_problem("postgres:")  # None: this interpreter's DuckDB attaches lakes itself


@pytest.fixture(scope="module")
def lake_python() -> str:
    """An interpreter whose DuckDB has the ducklake, postgres and sqlite extensions: this one, or the side one."""
    if PROBLEM is None:
        return sys.executable
    from benchmarks.bench_warehouse import side_interpreter

    python, why = side_interpreter()
    if python is None:
        pytest.skip(f"DuckLake cannot be used here: {PROBLEM}; and no side interpreter: {why}")
    return str(python)


def _run(python: str, code: str, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-c", code, *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)

WINDOWS = 12  # windows of 5 sessions each writer commits, interleaved with the other writer's
TICKERS = [f"T{i:03d}" for i in range(40)]

# One writer: `own` is a table only it writes; daily_prices is shared, each writer owning alternate windows.
WRITER = r"""
import datetime as dt, sys
import polars as pl
from meridian_assets import storage
from meridian_assets.ingest.schemas import DAILY_PRICES, TableSchema
from meridian_assets.warehouse import ducklake

catalog, data, who, windows, tickers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split(",")
own = TableSchema(name=f"writer_{who}_scores", columns={"date": pl.Date, "ticker": pl.String, "score": pl.Float64},
                  key=("date", "ticker"), partition_column="date", description="")
start = dt.date(2024, 1, 1)
with ducklake.connect(catalog, data) as conn:
    for w in range(windows):
        days = [start + dt.timedelta(days=7 * (2 * w + who) + d) for d in range(5)]
        frame = pl.DataFrame({"date": [d for d in days for _ in tickers], "ticker": tickers * len(days)})
        prices = frame.with_columns(close=pl.lit(100.0 + who), adj_close=pl.lit(100.0 + who))
        storage.replace_window(conn, DAILY_PRICES, prices, days[0], days[-1])
        storage.replace_window(conn, own, frame.with_columns(score=pl.lit(float(w))), days[0], days[-1])
        # a re-run of the same window replaces, never duplicates
        storage.replace_window(conn, own, frame.with_columns(score=pl.lit(float(w))), days[0], days[-1])
print("ok")
"""


SETUP = r"""
import sys
from meridian_assets.ingest.schemas import DAILY_PRICES
from meridian_assets.warehouse import ducklake
with ducklake.connect(sys.argv[1], sys.argv[2]) as conn:  # the catalog and the shared table exist before the writers
    ducklake.create_tables(conn, [DAILY_PRICES])
print("ok")
"""

# What the lake holds after both writers: the tables, and per writer table and per close of the shared table the
# rows and the distinct (date, ticker) keys.
VERIFY = r"""
import json, sys
from meridian_assets import storage
from meridian_assets.warehouse import ducklake
out = {}
with ducklake.connect(sys.argv[1], sys.argv[2], read_only=True) as conn:
    out["tables"] = sorted(ducklake.table_names(conn))
    for who in (0, 1):
        got = storage.read(conn, f"SELECT score, count(*) AS n, count(DISTINCT (date, ticker)) AS k "
                                 f"FROM writer_{who}_scores GROUP BY score ORDER BY score")
        out[f"writer_{who}"] = [got["n"].to_list(), got["k"].to_list()]
    out["prices"] = [list(r) for r in storage.read(conn, "SELECT close, count(*) AS n, count(DISTINCT (date, ticker)) "
                                                         "AS k FROM daily_prices GROUP BY close ORDER BY close").rows()]
print(json.dumps(out))
"""

READ_ONLY = r"""
import sys
import duckdb, polars as pl
from meridian_assets import storage
from meridian_assets.ingest.schemas import UNIVERSE
from meridian_assets.warehouse import ducklake
catalog, data = sys.argv[1], sys.argv[2]
with ducklake.connect(catalog, data) as conn:
    storage.replace_all(conn, UNIVERSE, pl.DataFrame({"ticker": ["AAA"], "sector": ["Energy"]}))
with ducklake.connect(catalog, data, read_only=True) as conn:
    assert storage.read(conn, "SELECT ticker FROM universe")["ticker"].to_list() == ["AAA"]
    try:
        storage.replace_all(conn, UNIVERSE, pl.DataFrame({"ticker": ["BBB"], "sector": ["Energy"]}))
    except duckdb.Error as err:
        print("refused:", type(err).__name__)
    else:
        print("written")
"""


@pytest.fixture
def pg_catalog():
    import psycopg2

    from tests.test_postgres_instance import PG_USER, LoopbackPostgres

    pg = LoopbackPostgres()
    try:
        reason = pg.start()
        if reason:
            pytest.skip(f"no PostgreSQL server for the catalog: {reason}")
        conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=PG_USER, password=pg.password, dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE lake")
        conn.close()
        yield f"postgres:dbname=lake host=127.0.0.1 port={pg.port} user={PG_USER} password={pg.password}"
    finally:
        pg.stop()


def test_two_processes_write_one_lake_at_once_without_lock_errors_or_lost_rows(tmp_path, lake_python, pg_catalog):
    catalog, data = pg_catalog, str(tmp_path / "data")
    done = _run(lake_python, SETUP, catalog, data)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    args = [catalog, data, None, str(WINDOWS), ",".join(TICKERS)]
    procs = [subprocess.Popen([lake_python, "-c", WRITER, *(a if a else str(who) for a in args)], cwd=ROOT, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in (0, 1)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]

    done = _run(lake_python, VERIFY, catalog, data)
    assert done.returncode == 0, done.stderr[-2000:]
    got, per_window = json.loads(done.stdout), 5 * len(TICKERS)
    assert got["tables"] == ["daily_prices", "writer_0_scores", "writer_1_scores"]
    for who in (0, 1):  # every window once: no lost row, no duplicate (each window was written twice)
        assert got[f"writer_{who}"] == [[per_window] * WINDOWS, [per_window] * WINDOWS]
    assert got["prices"] == [[100.0, per_window * WINDOWS, per_window * WINDOWS],
                             [101.0, per_window * WINDOWS, per_window * WINDOWS]]


def test_a_lake_reopened_read_only_refuses_writes(tmp_path, lake_python):
    done = _run(lake_python, READ_ONLY, str(tmp_path / "catalog.sqlite"), str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith("refused:")


def test_the_missing_extension_is_named_with_the_package_to_install():
    problem = ducklake.extension_problem("postgres:dbname=x")  # this DuckDB, whichever it is
    if problem is None:  # both extensions are installed for this DuckDB
        assert ducklake.catalog_uri("postgres:dbname=x") == "ducklake:postgres:dbname=x"
    else:
        assert "duckdb-extension-" in problem and "duckdb " in problem
