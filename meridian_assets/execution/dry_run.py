"""The dry run: what an execution of a rebalance would send, with no broker call at all.

Same arithmetic as a real run (`planning`, the pre-trade veto) against the *last reconciled* positions in
`portfolio_positions` instead of the broker's, assuming every order fills in full (so each trade's veto sees
the book the earlier ones leave). Short availability comes from the cache when it is fresh; otherwise the
row says it will be checked at execution.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.execution import inputs
from meridian_assets.execution.planning import chunk_sizes, legs, limit_price, order_trades
from meridian_assets.execution.schemas import EXECUTION_PLAN
from meridian_assets.execution.session import build_intents, market_data
from meridian_assets.execution.short_availability import ShortAvailabilityCache
from meridian_assets.risk.pre_trade import BookState, Trade, check_trade
from meridian_assets.risk.states import TradingState
from meridian_assets.storage import table_exists


@dataclass(frozen=True)
class Plan:
    rebalance_id: str
    as_of: dt.date
    frame: pl.DataFrame
    nav: float
    skipped: dict[str, str]

    def orders(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("status") == "PLANNED")


def _nav(conn: duckdb.DuckDBPyConnection, cfg: MeridianConfig) -> float:
    if table_exists(conn, "portfolio_history"):
        rows = conn.execute("SELECT nav FROM portfolio_history WHERE nav > 0 ORDER BY date DESC LIMIT 1").fetchall()
        if rows:
            return float(rows[0][0])
    return cfg.portfolio.capital_base


def plan_rebalance(conn: duckdb.DuckDBPyConnection, cfg: MeridianConfig, rebalance_id: str, *, now: dt.datetime,
                   halted: bool) -> Plan:
    ex = cfg.execution.executor
    rb = inputs.load_rebalance(conn, rebalance_id)
    local = inputs.local_positions(conn)
    held = {r["ticker"]: int(r["shares"]) for r in local.iter_rows(named=True) if r["shares"]}
    tickers = sorted(set(rb.target_book["ticker"].to_list()) | set(rb.trades["ticker"].to_list()) | set(held))
    md = market_data(conn, rb, tickers, now.date(), cfg.portfolio.adv_lookback_days)
    intents, skipped = build_intents(rb, held, md)
    nav = _nav(conn, cfg)
    state = inputs.trading_state(cfg)
    cache = ShortAvailabilityCache(inputs.short_cache(conn), lambda t: None, now=now,  # never fetched: peek only
                                   max_age_days=cfg.execution.short_check_cache_days, broker="")
    values = {t: q * md.closes.get(t, 0.0) for t, q in held.items()}
    stamp = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    rows: list[dict] = []

    def row(i, leg, chunk, shares, status, reason, limit=None):
        adv = md.adv.get(i.ticker)
        rows.append({"rebalance_id": rebalance_id, "as_of": rb.as_of, "ticker": i.ticker, "sector": i.sector,
                     "action": leg.action.value, "side": leg.action.book_side, "chunk": chunk, "shares": shares,
                     "signal_price": i.price, "limit_price": limit, "notional": shares * i.price,
                     "adv_dollars": adv, "adv_pct": shares * i.price / adv if adv else None,
                     "current_shares": i.current, "target_shares": i.target, "status": status, "reason": reason,
                     "planned_at": stamp})

    for i in order_trades(intents):
        plan = legs(i.current, i.target)
        if halted or state is TradingState.HALTED:
            for leg in plan:
                row(i, leg, None, leg.qty, "HALTED", "trading halted: nothing would be submitted")
            continue
        decision = check_trade(Trade(i.ticker, i.notional), BookState(nav, dict(values), state), md.info(), cfg.risk,
                               halted=False)
        if not decision.accepted:
            for leg in plan:
                row(i, leg, None, leg.qty, "VETOED", "; ".join(d.message for d in decision.denials))
            continue
        chunk = 0
        for leg in plan:
            note = None
            if leg.action.value == "SHORT":
                avail = cache.peek(i.ticker)
                if avail is not None and not avail.ok:
                    row(i, leg, None, leg.qty, "SKIPPED", f"short not available: {avail.reason()}")
                    continue
                note = None if avail is not None else "borrow checked at execution"
            if not md.adv.get(i.ticker):
                row(i, leg, None, leg.qty, "SKIPPED", "no 20-day ADV: cannot size chunks")
                continue
            limit = limit_price(i.price, leg.action.side, ex.limit_offset_pct)
            for qty in chunk_sizes(leg.qty, i.price, md.adv[i.ticker], ex.chunk_max_adv_pct):
                row(i, leg, chunk, qty, "PLANNED", note, limit)
                chunk += 1
        values[i.ticker] = i.target * i.price
    frame = EXECUTION_PLAN.conform(pl.DataFrame(rows, schema_overrides=EXECUTION_PLAN.columns, strict=False)) \
        if rows else EXECUTION_PLAN.empty()
    return Plan(rebalance_id, rb.as_of, frame, nav, skipped)
