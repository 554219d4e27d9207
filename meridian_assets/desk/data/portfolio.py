"""Page I, Portfolio: the KPI tiles and the status strip."""

from __future__ import annotations

import datetime as dt

import polars as pl

from meridian_assets.desk.source import Snapshot


def history(snap: Snapshot) -> pl.DataFrame:
    return snap.query("SELECT date, nav, gross, net, beta, daily_return, drawdown, positions FROM portfolio_history "
                      "ORDER BY date")


def inception_nav(hist: pl.DataFrame) -> float:
    """The NAV before the book's first session: its first close undone by that session's return (the capital
    the book started from, before the first day's trades and costs)."""
    first = hist.row(0, named=True)
    r = first["daily_return"]
    return float(first["nav"] / (1.0 + r)) if r is not None else float(first["nav"])


def period_return(hist: pl.DataFrame, since: dt.date) -> tuple[float, dt.date | None]:
    """NAV return from the last close before ``since`` to the latest close, and None; when the book started on
    or after ``since``, the return since inception (from `inception_nav`) and the inception date."""
    before = hist.filter(pl.col("date") < since)
    if before.height:
        return float(hist["nav"][-1] / before["nav"][-1] - 1.0), None
    return float(hist["nav"][-1] / inception_nav(hist) - 1.0), hist["date"][0]


def kpis(snap: Snapshot) -> dict | None:
    """The ten tiles: NAV, day / week / MTD / YTD return, gross, net, beta, drawdown, positions (None: no book).
    ``mtd_since`` / ``ytd_since`` are the inception date when the book started inside the month / year (the
    return is then since inception), else None."""
    hist = history(snap)
    if hist.is_empty():
        return None
    last = hist.row(-1, named=True)
    day: dt.date = last["date"]
    week_base = hist["nav"][-6] if hist.height >= 6 else inception_nav(hist)
    mtd, mtd_since = period_return(hist, day.replace(day=1))
    ytd, ytd_since = period_return(hist, day.replace(month=1, day=1))
    return {
        "as_of": day, "nav": float(last["nav"]),
        "day": float(last["daily_return"]) if last["daily_return"] is not None else None,
        "week": float(last["nav"] / week_base - 1.0),
        "mtd": mtd, "mtd_since": mtd_since, "ytd": ytd, "ytd_since": ytd_since,
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
