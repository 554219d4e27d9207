"""Reading what the reports need from DuckDB, once, into frames (the only module here that queries).

Missing tables read as empty frames in their schema: a report on a database where the portfolio has not
been built says so instead of failing, and `execution_fills` (Layer 6) is optional (None when absent).
Prices are read for the names the book ever held or targeted plus SPY, the sector ETFs and ^VIX. Corporate
actions are applied as the portfolio layer's replay applies them (`positions`): ticker changes rename earlier
rows, splits restate trades in split-adjusted units, delistings close what is held.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.factors.schemas import FACTOR_RETURNS
from meridian_assets.ingest.schemas import CORPORATE_ACTIONS, DAILY_PRICES, TableSchema
from meridian_assets.portfolio.schemas import (
    PORTFOLIO_FACTOR_EXPOSURES, PORTFOLIO_HISTORY, PORTFOLIO_POSITIONS, POSITION_APPROVALS, TARGET_BOOK,
)
from meridian_assets.reporting.positions import rename_tickers
from meridian_assets.reporting.schemas import ALLOCATION_SNAPSHOTS, DAILY_ATTRIBUTION
from meridian_assets.storage import read, table_exists

SLEEVE_WEIGHTS = {"as_of": pl.Date, "sleeve": pl.Utf8, "weight": pl.Float64}
PRICE_LOOKBACK_DAYS = 400  # prices before the book's first session: betas, 90-day windows, entry marks


def read_table(conn: duckdb.DuckDBPyConnection, schema: TableSchema, where: str = "", params: list | None = None
               ) -> pl.DataFrame:
    if not table_exists(conn, schema.name):
        return schema.empty()
    df = read(conn, f'SELECT * FROM "{schema.name}" {where}', params)
    return schema.conform(df) if df.height else schema.empty()


def report_as_of(conn: duckdb.DuckDBPyConnection, end: dt.date | None = None) -> dt.date | None:
    """The latest session of the book on or before ``end`` (None before the book's first session)."""
    if not table_exists(conn, PORTFOLIO_HISTORY.name):
        return None
    sql, params = f'SELECT max(date) FROM "{PORTFOLIO_HISTORY.name}"', []
    if end is not None:
        sql, params = sql + " WHERE date <= ?", [end]
    return conn.execute(sql, params).fetchall()[0][0]


@dataclass
class ReportInputs:
    as_of: dt.date
    history: pl.DataFrame
    positions: pl.DataFrame
    approvals: pl.DataFrame
    target_book: pl.DataFrame
    factor_exposures: pl.DataFrame
    prices: pl.DataFrame
    factor_returns: pl.DataFrame
    snapshots: pl.DataFrame
    attribution: pl.DataFrame
    fills: pl.DataFrame | None
    actions: pl.DataFrame  # corporate_actions: splits, ticker changes, delistings (dividends left out)
    # the meta layer's allocations across sleeves: (as_of, sleeve, weight), empty before it allocates
    sleeve_weights: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(SLEEVE_WEIGHTS))
    # the simulator's daily returns of the book's targets (date, sim_return): set by the wiring, which may call the
    # meta layer's backtest engine (`meta.replay`); None: live versus simulated has no simulator line
    simulated: pl.DataFrame | None = None
    # the meta layer's latest PROMOTE / KEEP / KILL / RETIRE per sleeve (sleeve_decisions rows), empty before it
    sleeve_decisions: pl.DataFrame = field(default_factory=pl.DataFrame)


def load(conn: duckdb.DuckDBPyConnection, cfg: MeridianConfig, as_of: dt.date) -> ReportInputs:
    """Every table the reports use, up to ``as_of``."""
    history = read_table(conn, PORTFOLIO_HISTORY, "WHERE date <= ? ORDER BY date", [as_of])
    approvals = read_table(conn, POSITION_APPROVALS, "WHERE date <= ?", [as_of])
    target_book = read_table(conn, TARGET_BOOK, "WHERE as_of <= ?", [as_of])
    positions = read_table(conn, PORTFOLIO_POSITIONS)
    first = min([d for d in (history["date"].min(), approvals["date"].min(), target_book["as_of"].min())
                 if d is not None], default=as_of)
    tickers = set(approvals["ticker"].to_list()) | set(target_book["ticker"].to_list()) | set(
        positions["ticker"].to_list())
    tickers |= {"SPY", "^VIX", *cfg.scoring.sector_etfs.values()}
    prices = read_table(conn, DAILY_PRICES, "WHERE date BETWEEN ? AND ? AND ticker IN (SELECT unnest(?))",
                        [first - dt.timedelta(days=PRICE_LOOKBACK_DAYS), as_of, sorted(tickers)])
    fills = None
    if table_exists(conn, "execution_fills"):
        fills = read(conn, "SELECT * FROM execution_fills")
    actions = read_table(conn, CORPORATE_ACTIONS, "WHERE action <> 'dividend' AND date <= ?", [as_of])
    changes = actions.filter(pl.col("action") == "ticker_change")
    actions = pl.concat([rename_tickers(actions.filter(pl.col("action") != "ticker_change"), actions), changes])
    # names as they trade now: earlier rows of a renamed ticker take its new name (as the book's replay does)
    approvals, target_book = rename_tickers(approvals, actions), rename_tickers(target_book, actions, "as_of")
    prices = rename_tickers(prices, actions)
    return ReportInputs(
        as_of=as_of, history=history, positions=positions, approvals=approvals, target_book=target_book,
        factor_exposures=read_table(conn, PORTFOLIO_FACTOR_EXPOSURES, "WHERE as_of <= ?", [as_of]),
        prices=prices.sort("ticker", "date"),
        factor_returns=read_table(conn, FACTOR_RETURNS, "WHERE date BETWEEN ? AND ?",
                                  [first - dt.timedelta(days=PRICE_LOOKBACK_DAYS), as_of]),
        snapshots=read_table(conn, ALLOCATION_SNAPSHOTS),
        attribution=read_table(conn, DAILY_ATTRIBUTION, "WHERE date <= ?", [as_of]),
        fills=fills,
        actions=actions,
        sleeve_decisions=(read(conn, "SELECT * FROM sleeve_decisions WHERE as_of = (SELECT max(as_of) FROM "
                                     "sleeve_decisions WHERE as_of <= ?) ORDER BY sleeve", [as_of])
                          if table_exists(conn, "sleeve_decisions") else pl.DataFrame()),
        sleeve_weights=(read(conn, "SELECT as_of, sleeve, weight FROM sleeve_allocation WHERE as_of <= ? "
                                   "ORDER BY as_of, sleeve", [as_of]).cast(SLEEVE_WEIGHTS)
                        if table_exists(conn, "sleeve_allocation") else pl.DataFrame(schema=SLEEVE_WEIGHTS)),
    )


def latest_factor_exposures(frame: pl.DataFrame) -> pl.DataFrame:
    """The factor exposures of the latest rebalance (long, short, spread, z, flagged)."""
    if frame.height == 0:
        return frame
    last = frame.filter(pl.col("as_of") == frame["as_of"].max())
    rid = last["rebalance_id"].sort()[-1]
    return last.filter(pl.col("rebalance_id") == rid).sort("factor")
