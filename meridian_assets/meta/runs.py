"""Reading the meta layer's inputs back from DuckDB: the latest sweep's runs, their daily returns, trades and
final targets, the regime labels of the sessions, and the live book."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.meta.schemas import BACKTEST_DAILY, BACKTEST_RUNS, BACKTEST_TRADES
from meridian_assets.reporting import regimes
from meridian_assets.storage import read, table_exists

SWEEP = "sweep"


def latest_runs(conn: duckdb.DuckDBPyConnection, purpose: str = SWEEP) -> pl.DataFrame:
    """The most recent run of each sleeve with this purpose (backtest_runs rows)."""
    if not table_exists(conn, BACKTEST_RUNS.name):
        return BACKTEST_RUNS.empty()
    return read(conn, f'SELECT * FROM "{BACKTEST_RUNS.name}" WHERE purpose = ? QUALIFY row_number() OVER '
                      "(PARTITION BY sleeve ORDER BY created_at DESC, run_id) = 1 ORDER BY sleeve", [purpose])


def all_runs(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    if not table_exists(conn, BACKTEST_RUNS.name):
        return BACKTEST_RUNS.empty()
    return read(conn, f'SELECT * FROM "{BACKTEST_RUNS.name}" ORDER BY created_at, run_id')


def daily(conn: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pl.DataFrame:
    if not run_ids or not table_exists(conn, BACKTEST_DAILY.name):
        return BACKTEST_DAILY.empty()
    return read(conn, f'SELECT * FROM "{BACKTEST_DAILY.name}" WHERE run_id IN (SELECT unnest(?)) '
                      "ORDER BY run_id, date", [run_ids])


def trades(conn: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pl.DataFrame:
    if not run_ids or not table_exists(conn, BACKTEST_TRADES.name):
        return BACKTEST_TRADES.empty()
    return read(conn, f'SELECT * FROM "{BACKTEST_TRADES.name}" WHERE run_id IN (SELECT unnest(?)) '
                      "ORDER BY run_id, as_of, ticker", [run_ids])


def returns_by_sleeve(runs: pl.DataFrame, days: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """sleeve -> (date, ret, nav, trading_state) of its run in ``runs``."""
    out = {}
    for sleeve, run_id in runs.select("sleeve", "run_id").iter_rows():
        f = days.filter(pl.col("run_id") == run_id).sort("date")
        if f.height:
            out[sleeve] = f.select("date", pl.col("daily_return").alias("ret"), "nav", "trading_state")
    return out


def metrics(run: dict) -> dict:
    return json.loads(run["metrics_json"]) if run.get("metrics_json") else {}


def final_target(run: dict) -> pl.DataFrame:
    rows = metrics(run).get("final_target") or []
    return pl.DataFrame(rows, schema={"ticker": pl.Utf8, "sector": pl.Utf8, "weight": pl.Float64}, orient="row")


def regime_labels(conn: duckdb.DuckDBPyConnection, cfg: MeridianConfig, start: dt.date, end: dt.date) -> pl.DataFrame:
    """(date, vix_regime, market_regime) of the sessions in [start, end] (`reporting.regimes`' definitions)."""
    vix = read(conn, "SELECT date, ticker, close FROM daily_prices WHERE ticker = '^VIX' AND date BETWEEN ? AND ?",
               [start, end]) if table_exists(conn, "daily_prices") else pl.DataFrame(
        schema={"date": pl.Date, "ticker": pl.Utf8, "close": pl.Float64})
    v = regimes.vix_regimes(vix, cfg.reporting.vix_low, cfg.reporting.vix_high).select("date", "vix_regime")
    m = regimes.market_regimes(cfg, start, end)
    return v.join(m, on="date", how="full", coalesce=True).sort("date") if m.height else \
        v.with_columns(market_regime=pl.lit(None, pl.Utf8))


def live_book(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(date, ret, nav, trading_state) of the live book (portfolio_history; its first session is no return)."""
    if not table_exists(conn, "portfolio_history"):
        return pl.DataFrame(schema={"date": pl.Date, "ret": pl.Float64, "nav": pl.Float64, "trading_state": pl.Utf8})
    h = read(conn, "SELECT date, daily_return AS ret, nav FROM portfolio_history ORDER BY date")
    states = (read(conn, "SELECT as_of AS date, trading_state FROM risk_state") if table_exists(conn, "risk_state")
              else pl.DataFrame(schema={"date": pl.Date, "trading_state": pl.Utf8}))
    return h.slice(1).join(states, on="date", how="left")


def live_trades(conn: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date, forward: int) -> pl.DataFrame:
    """The live proposals' trades in [start, end] with the forward return of each (status, reason, notional,
    action, fwd_return), for the veto diagnostics."""
    if not table_exists(conn, "rebalance_trades"):
        return pl.DataFrame(schema={"as_of": pl.Date, "ticker": pl.Utf8, "action": pl.Utf8, "status": pl.Utf8,
                                    "reason": pl.Utf8, "notional": pl.Float64, "fwd_return": pl.Float64})
    t = read(conn, "SELECT as_of, ticker, action, status, reason, notional FROM rebalance_trades "
                   "WHERE as_of BETWEEN ? AND ?", [start, end])
    if t.is_empty():
        return t.with_columns(fwd_return=pl.lit(None, pl.Float64))
    px = read(conn, "SELECT date, ticker, adj_close FROM daily_prices WHERE ticker IN (SELECT unnest(?)) AND date >= ?",
              [t["ticker"].unique().to_list(), start]).sort("ticker", "date")
    fwd = px.with_columns(ahead=pl.col("adj_close").shift(-forward).over("ticker")).select(
        pl.col("date").alias("as_of"), "ticker", (pl.col("ahead") / pl.col("adj_close") - 1).alias("r"))
    sign = pl.when(pl.col("action").is_in(["BUY", "COVER"])).then(1.0).otherwise(-1.0)
    return t.join(fwd, on=["as_of", "ticker"], how="left").with_columns(fwd_return=sign * pl.col("r")).drop("r")


def scored_sessions(conn: duckdb.DuckDBPyConnection, end: dt.date | None = None) -> list[dt.date]:
    if not table_exists(conn, "factor_scores"):
        return []
    sql = "SELECT DISTINCT date FROM factor_scores" + (" WHERE date <= ?" if end else "") + " ORDER BY date"
    return [r[0] for r in conn.execute(sql, [end] if end else []).fetchall()]


def backtest_window(conn: duckdb.DuckDBPyConnection, sessions: int, start: dt.date | None = None,
                    end: dt.date | None = None) -> tuple[dt.date, dt.date] | None:
    """[start, end] over scored sessions: ``end`` (default the latest scored) and ``start`` (default ``sessions``
    scored sessions before it). None without scores."""
    days = scored_sessions(conn, end)
    if start is not None:
        days = [d for d in days if d >= start]
    if not days:
        return None
    return (start or days[max(0, len(days) - sessions)]), days[-1]


def version_dates(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], dt.date]:
    """(config_key, version) -> the date the version was written."""
    if not table_exists(conn, "meta_config_versions"):
        return {}
    rows = conn.execute("SELECT config_key, version, created_at FROM meta_config_versions").fetchall()
    return {(k, int(v)): c.date() for k, v, c in rows}
