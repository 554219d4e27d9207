"""Page I, Portfolio: the KPI tiles and the status strip."""

from __future__ import annotations

import datetime as dt

import polars as pl

from meridian_assets.desk.source import Snapshot


def history(snap: Snapshot) -> pl.DataFrame:
    return snap.query("SELECT date, nav, gross, net, beta, daily_return, drawdown, positions FROM portfolio_history "
                      "ORDER BY date")


def _period_return(hist: pl.DataFrame, since: dt.date) -> float | None:
    """NAV return from the last close before ``since`` to the latest close (None without such a close)."""
    before = hist.filter(pl.col("date") < since)
    if before.is_empty():
        return None
    return float(hist["nav"][-1] / before["nav"][-1] - 1.0)


def kpis(snap: Snapshot) -> dict | None:
    """The ten tiles: NAV, day / week / MTD / YTD return, gross, net, beta, drawdown, positions (None: no book)."""
    hist = history(snap)
    if hist.is_empty():
        return None
    last = hist.row(-1, named=True)
    day: dt.date = last["date"]
    week_base = hist["nav"][-6] if hist.height >= 6 else hist["nav"][0]
    return {
        "as_of": day, "nav": float(last["nav"]),
        "day": float(last["daily_return"]) if last["daily_return"] is not None else None,
        "week": float(last["nav"] / week_base - 1.0),
        "mtd": _period_return(hist, day.replace(day=1)),
        "ytd": _period_return(hist, day.replace(month=1, day=1)),
        "gross": float(last["gross"]), "net": float(last["net"]),
        "beta": float(last["beta"]) if last["beta"] is not None else None,
        "drawdown": float(last["drawdown"]), "positions": int(last["positions"]),
    }


def vix_regime(vix: float | None, low: float, high: float) -> str:
    if vix is None:
        return "UNKNOWN"
    return "LOW" if vix < low else "HIGH" if vix > high else "NORMAL"


def status(snap: Snapshot) -> dict:
    """The strip under the tiles: VIX and its regime, trading state, data provider, as-of dates."""
    cfg = snap.cfg
    vix = snap.query("SELECT date, close FROM daily_prices WHERE ticker = '^VIX' ORDER BY date DESC LIMIT 1")
    risk = snap.query("SELECT as_of, trading_state, halted FROM risk_state ORDER BY as_of DESC LIMIT 1")
    prices = snap.query("SELECT max(date) AS d FROM daily_prices")
    level = float(vix["close"][0]) if vix.height else None
    man = snap.manifest() or {}
    return {
        "vix": level, "vix_regime": vix_regime(level, cfg.reporting.vix_low, cfg.reporting.vix_high),
        "trading_state": risk["trading_state"][0] if risk.height else "NO RISK STATE",
        "halted": bool(risk["halted"][0]) if risk.height else False,
        "risk_as_of": risk["as_of"][0] if risk.height else None,
        "provider": cfg.providers.prices, "broker": cfg.execution.broker, "mode": cfg.execution.mode,
        "prices_as_of": prices["d"][0] if prices.height else None,
        "snapshot_published_at": man.get("published_at"),
    }


def positions(snap: Snapshot) -> pl.DataFrame:
    return snap.query("SELECT ticker, sector, side, shares, avg_cost, last_price, market_value, weight, entry_date "
                      "FROM portfolio_positions ORDER BY weight DESC")
