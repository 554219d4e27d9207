"""Plain helpers the ingestion assets share: which tickers a window covers, and readable metadata."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from meridian_assets.ingest.providers.base import FetchError
from meridian_assets.storage import table_exists


def active_tickers(
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    *,
    benchmarks: bool = False,
    limit: int | None = None,
) -> list[str]:
    """Index members at any time in [start, end] (point in time), sorted; benchmarks appended if asked.

    ``limit`` caps the number of stocks (benchmarks are never dropped), for quick test runs.
    """
    if not table_exists(conn, "universe"):
        return []
    stocks = [
        r[0]
        for r in conn.execute(
            """SELECT DISTINCT ticker FROM universe
               WHERE NOT is_benchmark AND start_date <= ? AND (end_date IS NULL OR end_date >= ?)
               ORDER BY ticker""",
            [end, start],
        ).fetchall()
    ]
    if limit is not None:
        stocks = stocks[:limit]
    if benchmarks:
        stocks += [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT ticker FROM universe WHERE is_benchmark ORDER BY ticker"
            ).fetchall()
        ]
    return stocks


def errors_payload(errors: list[FetchError], cap: int = 200) -> list[dict]:
    """Per-ticker failures as JSON-able dicts (the first ``cap``), for materialization metadata."""
    return [
        {"ticker": e.ticker, "date": e.date.isoformat() if e.date else None, "message": e.message[:500]}
        for e in errors[:cap]
    ]


def preview_markdown(df: pl.DataFrame, n: int = 5, max_cols: int = 10, max_chars: int = 40) -> str:
    """A short Markdown table of the first rows, long text cut, for the Dagster UI."""
    if df.height == 0:
        return "_no rows_"
    cols = df.columns[:max_cols]
    head = df.head(n).select(cols)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in head.iter_rows():
        cells = []
        for v in row:
            s = "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
            cells.append(s.replace("|", "/").replace("\n", " ")[:max_chars])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
