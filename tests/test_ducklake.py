"""DuckLake behind the unchanged storage functions: two processes write one lake at the same time — each its own
table, and disjoint partitions of a shared one — through `storage.replace_window`, with no lock error and no
lost or duplicated row. The catalog is PostgreSQL on a loopback server: with a SQLite catalog the second writer's
commit fails with "database is locked" (the sqlite scanner sets no busy timeout and DuckLake does not retry it).
Skipped, with the reason, where the running DuckDB has no ducklake extension built for it (PyPI's
`duckdb-extension-ducklake` exists for some DuckDB releases only; see docs/scaling.md) or no server starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meridian_assets.warehouse import ducklake

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = ducklake.extension_problem("postgres:")
needs_lake = pytest.mark.skipif(PROBLEM is not None, reason=f"DuckLake cannot be used here: {PROBLEM}")

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


@needs_lake
def test_two_processes_write_one_lake_at_once_without_lock_errors_or_lost_rows(tmp_path, pg_catalog):
    from meridian_assets import storage

    catalog, data = pg_catalog, str(tmp_path / "data")
    from meridian_assets.ingest.schemas import DAILY_PRICES

    with ducklake.connect(catalog, data) as conn:  # the catalog and the shared table exist before the writers
        ducklake.create_tables(conn, [DAILY_PRICES])
    args = [catalog, data, None, str(WINDOWS), ",".join(TICKERS)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, *(a if a else str(who) for a in args)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in (0, 1)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]

    per_window = 5 * len(TICKERS)
    with ducklake.connect(catalog, data, read_only=True) as conn:
        assert set(ducklake.table_names(conn)) == {"daily_prices", "writer_0_scores", "writer_1_scores"}
        for who in (0, 1):
            got = storage.read(conn, f"SELECT score, count(*) AS n, count(DISTINCT (date, ticker)) AS k "
                                     f"FROM writer_{who}_scores GROUP BY score ORDER BY score")
            assert got["n"].to_list() == [per_window] * WINDOWS and got["k"].to_list() == [per_window] * WINDOWS
        prices = storage.read(conn, "SELECT close, count(*) AS n, count(DISTINCT (date, ticker)) AS k "
                                    "FROM daily_prices GROUP BY close ORDER BY close")
        assert prices.rows() == [(100.0, per_window * WINDOWS, per_window * WINDOWS),
                                 (101.0, per_window * WINDOWS, per_window * WINDOWS)]


@needs_lake
def test_a_lake_reopened_read_only_refuses_writes(tmp_path):
    import duckdb
    import polars as pl

    from meridian_assets import storage
    from meridian_assets.ingest.schemas import UNIVERSE

    catalog, data = str(tmp_path / "catalog.sqlite"), str(tmp_path / "data")
    with ducklake.connect(catalog, data) as conn:
        storage.replace_all(conn, UNIVERSE, pl.DataFrame({"ticker": ["AAA"], "sector": ["Energy"]}))
    with ducklake.connect(catalog, data, read_only=True) as conn:
        assert storage.read(conn, "SELECT ticker FROM universe")["ticker"].to_list() == ["AAA"]
        with pytest.raises(duckdb.Error):
            storage.replace_all(conn, UNIVERSE, pl.DataFrame({"ticker": ["BBB"], "sector": ["Energy"]}))


def test_the_missing_extension_is_named_with_the_package_to_install():
    problem = ducklake.extension_problem("postgres:dbname=x")  # this DuckDB, whichever it is
    if problem is None:  # both extensions are installed for this DuckDB
        assert ducklake.catalog_uri("postgres:dbname=x") == "ducklake:postgres:dbname=x"
    else:
        assert "duckdb-extension-" in problem and "duckdb " in problem
