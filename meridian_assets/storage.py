"""Writing and reading DuckDB tables: the only place SQL writes are issued.

Every write is idempotent. Partitioned tables are written *delete-then-insert* for the window being
loaded, inside one transaction, so re-running a partition (or a backfill of a range) never duplicates rows
and a failure leaves the previous rows in place.

Checked tables are written in two steps: `stage_window` conforms the new rows and fixes what they replace
(nothing is written), the caller audits the staged rows (with `kept_rows_sharing_keys`, the published rows
the swap keeps that share a key with them), and only then `publish` swaps them in, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import polars as pl

from meridian_assets.tables import TableSchema


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back on any error so a failed write leaves the previous rows in place."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except duckdb.Error:  # a failed COMMIT has already ended the transaction: the error to raise is its own
            pass
        raise


def ensure_table(conn: duckdb.DuckDBPyConnection, schema: TableSchema) -> None:
    """Create the table, or add the columns a newer schema has (nullable) to a table written before."""
    conn.execute(schema.ddl())
    have = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                       [schema.name]).fetchall()}
    for col in schema.columns:
        if col not in have:
            conn.execute(schema.add_column_ddl(col))


def _insert(conn: duckdb.DuckDBPyConnection, schema: TableSchema, df: pl.DataFrame) -> int:
    if df.height == 0:
        return 0
    frame = schema.conform(df)  # noqa: F841  (referenced by name in the SQL below)
    cols = ", ".join(f'"{c}"' for c in schema.columns)
    conn.execute(f'INSERT INTO "{schema.name}" ({cols}) SELECT {cols} FROM frame')
    return frame.height


@dataclass(frozen=True)
class StagedWindow:
    """Rows ready to replace ``[start, end]`` of a table (only ``tickers``' rows when given); not written yet."""

    schema: TableSchema
    frame: pl.DataFrame
    start: dt.date
    end: dt.date
    tickers: tuple[str, ...] | None = None

    def _scope(self) -> tuple[str, list]:
        """SQL predicate (and its parameters) of the published rows this window replaces."""
        where = f'"{self.schema.partition_column}" BETWEEN ? AND ?'
        params: list = [self.start, self.end]
        if self.tickers is not None and "ticker" in self.schema.columns:
            where += " AND ticker IN (SELECT unnest(?))"
            params.append(list(self.tickers))
        return where, params


def stage_window(
    schema: TableSchema,
    df: pl.DataFrame,
    start: dt.date,
    end: dt.date,
    *,
    tickers: Sequence[str] | None = None,
) -> StagedWindow:
    """Conform ``df`` to the table and check it fits ``[start, end]`` on the partition column. Writes nothing.

    Rows outside the window are refused: a provider that returns them has a bug, and writing them would
    break idempotency of other partitions.
    """
    col = schema.partition_column
    if col is None:
        raise ValueError(f"{schema.name} is not partitioned; use replace_all")
    frame = schema.conform(df)
    if frame.height:
        outside = frame.filter((pl.col(col) < start) | (pl.col(col) > end) | pl.col(col).is_null())
        if outside.height:
            first = outside.row(0, named=True)
            raise ValueError(
                f"{schema.name}: {outside.height} rows have {col} outside {start}..{end} "
                f"(first: ticker={first.get('ticker')} {col}={first.get(col)})"
            )
    return StagedWindow(schema, frame, start, end, tuple(tickers) if tickers is not None else None)


def kept_rows_sharing_keys(conn: duckdb.DuckDBPyConnection, staged: StagedWindow) -> pl.DataFrame:
    """Published rows that `publish` would keep (outside the staged scope) with the key of a staged row:
    publishing the window would duplicate their keys."""
    schema, key = staged.schema, list(staged.schema.key)
    if not key or staged.frame.height == 0 or not table_exists(conn, schema.name):
        return schema.empty()
    if schema.partition_column in key and staged.tickers is None:
        return schema.empty()  # every kept row lies outside the window, so its key differs
    keys = staged.frame.select(key).unique()  # noqa: F841  (referenced by name in the SQL below)
    where, params = staged._scope()
    on = " AND ".join(f't."{k}" = k."{k}"' for k in key)
    df = conn.sql(f'SELECT t.* FROM "{schema.name}" t SEMI JOIN keys k ON {on} WHERE NOT ({where})',
                  params=params).pl()
    return schema.conform(df) if df.height else schema.empty()


def publish(conn: duckdb.DuckDBPyConnection, staged: StagedWindow) -> int:
    """Swap the staged rows in: delete the window's published rows and insert the staged ones, in one
    transaction (readers see the old rows or the new ones, never a mix)."""
    ensure_table(conn, staged.schema)
    where, params = staged._scope()
    with transaction(conn):
        conn.execute(f'DELETE FROM "{staged.schema.name}" WHERE {where}', params)
        return _insert(conn, staged.schema, staged.frame)


def replace_window(
    conn: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    df: pl.DataFrame,
    start: dt.date,
    end: dt.date,
    *,
    tickers: Sequence[str] | None = None,
) -> int:
    """Delete the rows of ``[start, end]`` on the table's partition column, then insert ``df`` (unaudited:
    `stage_window` + `publish` when a blocking check must pass first).

    With ``tickers`` only those tickers' rows in the window are replaced (a run limited to some names
    leaves the others' rows alone). Rows of ``df`` outside the window are refused (see `stage_window`).
    """
    return publish(conn, stage_window(schema, df, start, end, tickers=tickers))


def replace_all(conn: duckdb.DuckDBPyConnection, schema: TableSchema, df: pl.DataFrame) -> int:
    """Replace the whole table with ``df`` in one transaction."""
    ensure_table(conn, schema)
    with transaction(conn):
        conn.execute(f'DELETE FROM "{schema.name}"')
        return _insert(conn, schema, df)


def replace_where(
    conn: duckdb.DuckDBPyConnection, schema: TableSchema, df: pl.DataFrame, column: str, value: object
) -> int:
    """Delete the rows where ``column = value`` and insert ``df`` (e.g. one run's rows of a log table)."""
    ensure_table(conn, schema)
    with transaction(conn):
        conn.execute(f'DELETE FROM "{schema.name}" WHERE "{column}" = ?', [value])
        return _insert(conn, schema, df)


def table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()[0][0]
    )


def read(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence | None = None) -> pl.DataFrame:
    """Run a query and return its result as a polars frame."""
    return conn.sql(sql, params=list(params) if params else None).pl()


def read_window(
    conn: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    start: dt.date,
    end: dt.date,
    column: str | None = None,
) -> pl.DataFrame:
    """Rows of a table whose ``column`` (default: the partition column) lies in ``[start, end]``."""
    col = column or schema.partition_column
    if not table_exists(conn, schema.name):
        return schema.empty()
    df = read(conn, f'SELECT * FROM "{schema.name}" WHERE "{col}" BETWEEN ? AND ?', [start, end])
    return schema.conform(df) if df.height else schema.empty()


def row_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    names = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
    ).fetchall()]
    return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}
