"""Which names the analysts read, and as of which scored session.

**As-of date**: the latest session in `factor_scores`, or the latest on or before the run's window end
(a run for a range of sessions analyses its last scored session).

**Candidates** (default): the names the book can hold. LONG: ``analysis.candidates_long`` names ordered by
(long_flag, composite, composite_raw) descending; SHORT: ``analysis.candidates_short`` of the remaining names
ordered by short_flag descending, then composite and composite_raw ascending. Ties: ticker. This mirrors
the book construction (flagged names ranked by composite, topped up from the highest / lowest remaining).

``tickers`` replaces the candidates by those names; ``sector`` keeps every scored name of that sector.
Unknown names or sectors are errors that list what exists.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from meridian_assets.errors import DataError
from meridian_assets.factors.schemas import PARENTS
from meridian_assets.storage import read, table_exists

CANDIDATE_COLUMNS = ("ticker", "sector", "name", "side", "composite", "composite_raw", "sector_rank",
                     "long_flag", "short_flag", *(f"{p}_score" for p in PARENTS), "piotroski_band",
                     "altman_band", "insider_cluster")


def latest_scored_date(conn: duckdb.DuckDBPyConnection, end: dt.date | None = None) -> dt.date | None:
    if not table_exists(conn, "factor_scores"):
        return None
    sql, params = "SELECT max(date) FROM factor_scores", []
    if end is not None:
        sql, params = sql + " WHERE date <= ?", [end]
    return conn.execute(sql, params).fetchall()[0][0]


def scores_on(conn: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """That session's factor scores with the company name from `universe`."""
    scores = read(conn, "SELECT * FROM factor_scores WHERE date = ?", [as_of])
    if table_exists(conn, "universe") and scores.height:
        names = read(conn, "SELECT ticker, any_value(name) AS name FROM universe GROUP BY ticker")
        scores = scores.join(names, on="ticker", how="left")
    elif "name" not in scores.columns:
        scores = scores.with_columns(name=pl.lit(None, dtype=pl.Utf8))
    return scores


def select_candidates(scores: pl.DataFrame, n_long: int, n_short: int, *, tickers: list[str] | None = None,
                      sector: str | None = None) -> pl.DataFrame:
    """The names to analyse (module docstring), with a ``side`` of LONG, SHORT or '-'."""
    if scores.height == 0:
        return pl.DataFrame(schema={c: pl.Utf8 for c in ("ticker", "sector", "side")})
    side = (pl.when(pl.col("long_flag")).then(pl.lit("LONG"))
            .when(pl.col("short_flag")).then(pl.lit("SHORT")).otherwise(pl.lit("-")))
    date = scores["date"][0]
    if tickers:
        wanted = [t.upper() for t in tickers]
        missing = sorted(set(wanted) - set(scores["ticker"].to_list()))
        if missing:
            raise DataError("factor_scores", f"not scored that day: {', '.join(missing)}", date=date,
                            field="ticker", value=",".join(missing))
        picked = scores.filter(pl.col("ticker").is_in(wanted)).with_columns(side=side)
    elif sector:
        known = sorted(scores["sector"].unique().to_list())
        if sector not in known:
            raise DataError("factor_scores", f"unknown sector; sectors are: {', '.join(known)}", date=date,
                            field="sector", value=sector)
        picked = scores.filter(pl.col("sector") == sector).with_columns(side=side)
    else:
        longs = scores.sort(["long_flag", "composite", "composite_raw", "ticker"],
                            descending=[True, True, True, False], nulls_last=True).head(n_long)
        rest = scores.filter(~pl.col("ticker").is_in(longs["ticker"].implode()))
        shorts = rest.sort(["short_flag", "composite", "composite_raw", "ticker"],
                           descending=[True, False, False, False], nulls_last=True).head(n_short)
        picked = pl.concat([longs.with_columns(side=pl.lit("LONG")), shorts.with_columns(side=pl.lit("SHORT"))])
    cols = [c for c in CANDIDATE_COLUMNS if c in picked.columns]
    return picked.select(cols)
