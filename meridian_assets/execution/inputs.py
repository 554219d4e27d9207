"""What an execution run reads from DuckDB and the Meridian home, as plain frames and dicts.

The rebalance (Layer 4's `target_book`, `rebalance_trades`, `position_approvals`), the signal prices (the
latest close in `daily_prices`), the 20-day ADV in $, days to earnings, the local positions and execution
rows, the short-availability cache and the risk layer's trading state.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

import duckdb
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import DataError
from meridian_assets.execution.schemas import EXECUTION_FILLS, SHORT_AVAILABILITY
from meridian_assets.portfolio.schemas import (
    PORTFOLIO_POSITIONS, POSITION_APPROVALS, REBALANCE_TRADES, TARGET_BOOK,
)
from meridian_assets.risk.states import TradingState
from meridian_assets.storage import read, table_exists

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rebalance:
    rebalance_id: str
    as_of: dt.date
    target_book: pl.DataFrame
    trades: pl.DataFrame
    approvals: pl.DataFrame

    @property
    def approved(self) -> bool:
        """Released to the broker (`meridian approve`). A *committed* rebalance (EXECUTED: filled in the simulated
        book, Mode B) is not: the two modes never maintain the same book."""
        return self.approvals.height > 0 and bool((self.approvals["status"].str.to_uppercase() == "APPROVED").any())


def table_rows(conn: duckdb.DuckDBPyConnection, schema, where: str, params: list) -> pl.DataFrame:
    if not table_exists(conn, schema.name):
        return schema.empty()
    df = read(conn, f'SELECT * FROM "{schema.name}" WHERE {where}', params)
    return schema.conform(df) if df.height else schema.empty()


def latest_rebalance_id(conn: duckdb.DuckDBPyConnection, approved_only: bool) -> str | None:
    """The newest rebalance: approved (by decision time) or, for dry runs, any in target_book."""
    if approved_only:
        if not table_exists(conn, POSITION_APPROVALS.name):
            return None
        rows = conn.execute("SELECT rebalance_id FROM position_approvals WHERE upper(status) = 'APPROVED' "
                            "ORDER BY decided_at DESC NULLS LAST, date DESC LIMIT 1").fetchall()
    else:
        if not table_exists(conn, TARGET_BOOK.name):
            return None
        rows = conn.execute("SELECT rebalance_id FROM target_book ORDER BY as_of DESC, rebalance_id DESC LIMIT 1").fetchall()
    return rows[0][0] if rows else None


def approved_rebalance_for_date(conn: duckdb.DuckDBPyConnection, day: dt.date) -> str | None:
    """The newest approved rebalance built on ``day`` (a scored CSV's date)."""
    if not (table_exists(conn, POSITION_APPROVALS.name) and table_exists(conn, TARGET_BOOK.name)):
        return None
    rows = conn.execute(
        "SELECT a.rebalance_id FROM position_approvals a JOIN (SELECT DISTINCT rebalance_id, as_of FROM target_book) b "
        "USING (rebalance_id) WHERE b.as_of = ? AND upper(a.status) = 'APPROVED' "
        "ORDER BY a.decided_at DESC NULLS LAST LIMIT 1", [day]).fetchall()
    return rows[0][0] if rows else None


def load_rebalance(conn: duckdb.DuckDBPyConnection, rebalance_id: str) -> Rebalance:
    book = table_rows(conn, TARGET_BOOK, "rebalance_id = ?", [rebalance_id])
    trades = table_rows(conn, REBALANCE_TRADES, "rebalance_id = ?", [rebalance_id])
    approvals = table_rows(conn, POSITION_APPROVALS, "rebalance_id = ?", [rebalance_id])
    if book.height == 0 and trades.height == 0:
        raise DataError("target_book", f"no target book or trades for rebalance {rebalance_id}; build it with the "
                        "Layer-4 assets first", field="rebalance_id", value=rebalance_id)
    as_of = (book if book.height else trades)["as_of"].max()
    return Rebalance(rebalance_id, as_of, book, trades, approvals)


def latest_closes(conn: duckdb.DuckDBPyConnection, tickers: list[str],
                  until: dt.date | None = None) -> dict[str, tuple[dt.date, float]]:
    """(date, close) of each ticker's latest bar (dated ``until`` or before, when given): the signal price."""
    if not tickers or not table_exists(conn, "daily_prices"):
        return {}
    df = read(conn, "SELECT ticker, arg_max(date, date) AS date, arg_max(close, date) AS close FROM daily_prices "
                    "WHERE ticker IN (SELECT unnest(?)) AND close > 0 AND date <= ? GROUP BY ticker",
              [tickers, until or dt.date.max])
    return {r["ticker"]: (r["date"], float(r["close"])) for r in df.iter_rows(named=True)}


def latest_bars(conn: duckdb.DuckDBPyConnection, tickers: list[str]) -> pl.DataFrame:
    if not tickers or not table_exists(conn, "daily_prices"):
        return pl.DataFrame()
    return read(conn, "SELECT * FROM daily_prices WHERE ticker IN (SELECT unnest(?)) QUALIFY "
                      "row_number() OVER (PARTITION BY ticker ORDER BY date DESC) = 1", [tickers])


def adv_dollars(conn: duckdb.DuckDBPyConnection, tickers: list[str], days: int = 20,
                until: dt.date | None = None) -> dict[str, float]:
    """Mean close x volume over each ticker's last ``days`` bars (dated ``until`` or before, when given)."""
    if not tickers or not table_exists(conn, "daily_prices"):
        return {}
    df = read(conn, "SELECT ticker, avg(close * volume) AS adv FROM (SELECT ticker, close, volume, row_number() OVER "
                    "(PARTITION BY ticker ORDER BY date DESC) AS k FROM daily_prices WHERE ticker IN (SELECT unnest(?)) "
                    "AND date <= ?) WHERE k <= ? GROUP BY ticker", [tickers, until or dt.date.max, days])
    return {r["ticker"]: float(r["adv"]) for r in df.iter_rows(named=True) if r["adv"] is not None}


def days_to_earnings(conn: duckdb.DuckDBPyConnection, tickers: list[str], today: dt.date) -> dict[str, int]:
    if not tickers or not table_exists(conn, "earnings_calendar"):
        return {}
    df = read(conn, "SELECT ticker, min(earnings_date) AS d FROM earnings_calendar WHERE ticker IN (SELECT unnest(?)) "
                    "AND earnings_date >= ? AND known_at <= ? GROUP BY ticker", [tickers, today, today])
    return {r["ticker"]: (r["d"] - today).days for r in df.iter_rows(named=True)}


def sectors(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    if not table_exists(conn, "universe"):
        return {}
    df = read(conn, "SELECT ticker, any_value(sector) AS sector FROM universe WHERE sector IS NOT NULL GROUP BY ticker")
    return dict(zip(df["ticker"].to_list(), df["sector"].to_list()))


def local_positions(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return table_rows(conn, PORTFOLIO_POSITIONS, "true", [])


def local_fills(conn: duckdb.DuckDBPyConnection, rebalance_id: str | None = None) -> pl.DataFrame:
    if rebalance_id is None:
        return table_rows(conn, EXECUTION_FILLS, "true", [])
    return table_rows(conn, EXECUTION_FILLS, "rebalance_id = ?", [rebalance_id])


def short_cache(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return table_rows(conn, SHORT_AVAILABILITY, "true", [])


def trading_state(cfg: MeridianConfig) -> TradingState:
    """The risk layer's trading state from `risk_state.json` (key ``trading_state`` or ``state``); ACTIVE when
    absent. An unreadable file counts as HALTED (fail safe, like the halt lock)."""
    path = cfg.risk_state_path()
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return TradingState.ACTIVE
    try:
        doc = json.loads(raw)
        value = doc.get("trading_state") or doc.get("state") or "ACTIVE"
        return TradingState(str(value).upper())
    except (ValueError, AttributeError, TypeError):
        log.error("%s is unreadable: treating trading as HALTED", path)
        return TradingState.HALTED
