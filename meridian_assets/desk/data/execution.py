"""Page V, Execution: fills of the last 30 days, slippage, worst fills, short availability (the open orders at
the broker come from the broker itself: `open_orders`)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from meridian_assets.desk.source import Snapshot

WINDOW_DAYS = 30


def fills(snap: Snapshot, days: int = WINDOW_DAYS, limit: int = 200) -> pl.DataFrame:
    since = dt.datetime.now() - dt.timedelta(days=days)
    return snap.query("SELECT finished_at, rebalance_id, ticker, action, shares, ordered_shares, signal_price, "
                      "fill_price, slippage_bps, slippage_dollars, status, broker FROM execution_fills "
                      "WHERE coalesce(finished_at, recorded_at) >= ? ORDER BY coalesce(finished_at, recorded_at) DESC "
                      "LIMIT ?", [since, limit])


def slippage_kpis(recent: pl.DataFrame) -> dict:
    """Filled orders, average and total slippage of ``recent`` fills (positive = adverse)."""
    filled = recent.filter(pl.col("shares") > 0) if recent.height else recent
    if filled.is_empty():
        return {"filled": 0, "avg_bps": None, "total_dollars": 0.0}
    w = filled["shares"].cast(pl.Float64)
    avg = float((filled["slippage_bps"].fill_null(0.0) * w).sum() / w.sum())
    return {"filled": filled.height, "avg_bps": avg, "total_dollars": float(filled["slippage_dollars"].sum() or 0.0)}


def worst_fills(recent: pl.DataFrame, n: int = 5) -> pl.DataFrame:
    if recent.is_empty():
        return recent
    return recent.filter(pl.col("shares") > 0).sort("slippage_bps", descending=True, nulls_last=True).head(n)


def short_availability(snap: Snapshot) -> pl.DataFrame:
    return snap.query("SELECT ticker, shortable, easy_to_borrow, fetched_at, broker FROM short_availability "
                      "ORDER BY shortable, easy_to_borrow, ticker")


def open_orders(cfg) -> tuple[pl.DataFrame | None, str]:
    """Open orders at the configured broker (read only), or (None, why not) when no broker is configured or it
    cannot be reached. The simulated venue is not polled: its orders live inside execution runs."""
    if cfg.execution.broker != "alpaca":
        return None, f"No broker configured for live polling (execution.broker: {cfg.execution.broker})."
    from resources.execution import BrokerResource
    from resources.settings import MeridianSettings

    try:
        orders = BrokerResource(settings=MeridianSettings()).client().open_orders()
    except Exception as err:  # a missing key or an unreachable broker is a notice on the page, not a crash
        return None, f"Broker not reachable: {str(err).splitlines()[0][:160]}"
    return pl.DataFrame([{"client_order_id": o.client_order_id, "ticker": o.ticker, "side": str(o.side),
                          "qty": o.qty, "filled": o.filled_qty, "limit": o.limit_price, "status": str(o.status),
                          "submitted_at": o.submitted_at} for o in orders]), ""
