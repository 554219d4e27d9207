"""Test helpers for the execution layer: a small approved rebalance on the embedded market, written to DuckDB
with the Layer-4 schemas' `conform` and the storage helpers (as Layer 4's assets would write it)."""

from __future__ import annotations

import datetime as dt
import random
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.execution.settings import SimulatedVenueConfig
from meridian_assets.execution.clock import ManualClock
from meridian_assets.execution.faults import FaultPlan
from meridian_assets.execution.gateway import SafeBroker
from meridian_assets.execution.market import StaticBars
from meridian_assets.execution.simulated import SimulatedBroker
from meridian_assets.ingest.schemas import DAILY_PRICES, UNIVERSE
from meridian_assets.portfolio.schemas import POSITION_APPROVALS, REBALANCE_TRADES, TARGET_BOOK
from meridian_assets.storage import replace_all, replace_window

AS_OF = dt.date(2024, 3, 28)
RID = "rb-20240328-mvo-0a1b2c3d"
INSTANT = SimulatedVenueConfig(fill_delay_seconds=0, fill_duration_seconds=0, fill_slices=1)


@lru_cache(maxsize=1)
def synthetic_market(n: int = 8) -> tuple[list[str], dict[str, str], pl.DataFrame, pl.DataFrame]:
    """(tickers, sector by ticker, daily_prices 2024-02-01..AS_OF, universe) of the 40-name embedded market."""
    from meridian_assets.ingest.providers.synthetic import SyntheticProvider

    cfg = MeridianConfig.model_validate({"synthetic": {"n_tickers": 40}})
    p = SyntheticProvider(seed=cfg.synthetic.seed, n_tickers=40, epoch=cfg.synthetic.epoch)
    uni = p.universe(AS_OF)
    stocks = uni.filter(~pl.col("is_benchmark") & pl.col("end_date").is_null()).sort("ticker")
    tickers = stocks["ticker"].to_list()[:n]
    prices = p.daily_prices(tickers, dt.date(2024, 2, 1), AS_OF).frame
    return tickers, dict(zip(stocks["ticker"], stocks["sector"])), prices, uni


def write_rebalance(db: Path, targets: dict[str, int], *, current: dict[str, int] | None = None,
                    statuses: dict[str, str] | None = None, decisions: dict[str, str] | None = None,
                    rid: str = RID, prices: pl.DataFrame | None = None, sectors: dict[str, str] | None = None,
                    universe: pl.DataFrame | None = None) -> None:
    """target_book / rebalance_trades / position_approvals rows of one rebalance (+ daily_prices, universe)."""
    current = current or {}
    statuses, decisions = statuses or {}, decisions or {}
    conn = duckdb.connect(str(db))
    try:
        closes = {}
        if prices is not None:
            replace_window(conn, DAILY_PRICES, prices, prices["date"].min(), prices["date"].max())
            last = prices.sort("date").group_by("ticker").last()
            closes = dict(zip(last["ticker"], last["close"]))
            adv = prices.group_by("ticker").agg((pl.col("close") * pl.col("volume")).tail(20).mean().alias("adv"))
            advs = dict(zip(adv["ticker"], adv["adv"]))
        if universe is not None:
            replace_all(conn, UNIVERSE, universe)
        sectors = sectors or {}
        book = [{"rebalance_id": rid, "as_of": AS_OF, "ticker": t, "sector": sectors.get(t, "Industrials"),
                 "side": "LONG" if q > 0 else "SHORT", "score": 80.0 if q > 0 else 20.0, "expected_return": 0.05,
                 "weight": q * closes.get(t, 100.0) / 1e7, "target_shares": q, "price": closes.get(t, 100.0),
                 "beta": 1.0, "adv_dollars": (advs.get(t) if prices is not None else 5e8), "method": "mvo",
                 "mctr": 0.0, "mctr_flag": False} for t, q in targets.items() if q != 0]
        trades, approvals = [], []
        for t in sorted(set(targets) | set(current)):
            cur, tgt = current.get(t, 0), targets.get(t, 0)
            if cur == tgt:
                continue
            d = tgt - cur
            action = ("BUY" if tgt > 0 and cur >= 0 else "COVER") if d > 0 else ("SELL" if cur > 0 and tgt >= 0 else "SHORT")
            status = statuses.get(t, "PROPOSED")
            trades.append({"rebalance_id": rid, "as_of": AS_OF, "ticker": t, "sector": sectors.get(t, "Industrials"),
                           "action": action, "side": "LONG" if tgt > 0 or (tgt == 0 and cur > 0) else "SHORT",
                           "current_shares": cur, "target_shares": tgt, "delta_shares": d,
                           "price": closes.get(t, 100.0), "notional": abs(d) * closes.get(t, 100.0),
                           "status": status, "reason": "turnover budget" if status == "DEFERRED" else None})
            if status == "PROPOSED":
                approvals.append({"rebalance_id": rid, "date": AS_OF, "ticker": t, "action": action,
                                  "shares": abs(d), "price": closes.get(t, 100.0), "status": decisions.get(t, "APPROVED"),
                                  "decided_at": dt.datetime(2024, 3, 28, 18), "decided_by": "test"})
        for schema, rows in ((TARGET_BOOK, book), (REBALANCE_TRADES, trades)):
            replace_window(conn, schema, pl.DataFrame(rows, schema_overrides=schema.columns, strict=False), AS_OF, AS_OF)
        replace_all(conn, POSITION_APPROVALS, pl.DataFrame(approvals, schema_overrides=POSITION_APPROVALS.columns,
                                                           strict=False))
    finally:
        conn.close()


def venue(path: Path, prices: dict[str, float], *, cfg: SimulatedVenueConfig = INSTANT, clock: ManualClock | None = None,
          faults: FaultPlan | None = None, volume: float = 5e6) -> tuple[SimulatedBroker, SafeBroker, ManualClock]:
    """A simulated venue over ``prices`` (static bars, +/-1% range) wrapped in `SafeBroker`, on a manual clock."""
    clock = clock or ManualClock()
    raw = SimulatedBroker(path, cfg, bars=StaticBars(prices, volume=volume), clock=clock, faults=faults or FaultPlan())
    return raw, SafeBroker(raw, MeridianConfig().execution, sleep=clock.sleep, rng=random.Random(7)), clock


def drive(broker, targets: dict[str, int], prices: dict[str, float], *, clock: ManualClock,
          records: dict, rid: str = RID, halted=lambda: False, nav: float = 1e7, adv: float = 5e8):
    """One execution run without DuckDB, as `session.execute_rebalance` does it: reconcile (``records``, keyed by
    client order id, stands in for execution_fills), adopt this rebalance's working orders, then trade from the
    broker's positions to ``targets``. Returns (reconciliation or None if it failed, report or None)."""
    from meridian_assets.execution.broker import BrokerError
    from meridian_assets.execution.clock import utc
    from meridian_assets.execution.executor import ExecutionContext, Executor
    from meridian_assets.execution.fills import records_frame
    from meridian_assets.execution.planning import TradeIntent
    from meridian_assets.execution.reconcile import reconcile
    from meridian_assets.portfolio.schemas import PORTFOLIO_POSITIONS
    from meridian_assets.risk.pre_trade import MarketInfo

    cfg = MeridianConfig()
    try:
        rec = reconcile(rebalance_id=rid, broker_name=broker.name, positions=broker.position_details(),
                        account=broker.account(), orders=broker.list_orders(), open_orders=broker.open_orders(),
                        local_positions=PORTFOLIO_POSITIONS.empty(), local_fills=records_frame(list(records.values())),
                        sectors={}, scores={}, prices=prices, now=utc(clock))
    except BrokerError:
        return None, None
    for r in rec.records:
        records[r.client_order_id] = r
    for o in rec.stale_open:
        broker.cancel_order(o.order_id)
    market = MarketInfo(sector={t: f"S{i % 4}" for i, t in enumerate(sorted(prices))}, adv_usd={t: adv for t in prices})
    ctx = ExecutionContext(rid, nav, {t: q * prices[t] for t, q in rec.held.items()}, market, cfg.risk, halted=halted,
                           refresh_price=broker.last_price, next_chunk=dict(rec.next_chunk))
    ex = Executor(broker, cfg.execution, clock=clock)
    if rec.own_open:
        ex.finish_adopted(rec.own_open, ctx, prices)
    if ex.report.aborted is None:
        try:
            held = broker.positions()
        except BrokerError as err:
            ex.report.aborted = str(err)
        else:
            ctx.positions_value = {t: q * prices[t] for t, q in held.items()}
            intents = [TradeIntent(t, held.get(t, 0), q, prices[t], adv) for t, q in sorted(targets.items())
                       if q != held.get(t, 0)]
            ex.run(intents, ctx)
    for r in ex.report.records:
        records[r.client_order_id] = r
    return rec, ex.report


def flat_prices(prices: dict[str, float], volume: float = 2e6, days: int = 25) -> pl.DataFrame:
    """daily_prices rows for ``days`` sessions ending AS_OF at a constant close per ticker."""
    from meridian_assets import calendar

    sessions = calendar.sessions(AS_OF - dt.timedelta(days=2 * days), AS_OF)[-days:]
    return DAILY_PRICES.conform(pl.DataFrame([
        {"date": d, "ticker": t, "open": p, "high": p * 1.01, "low": p * 0.99, "close": p, "adj_close": p,
         "volume": volume} for d in sessions for t, p in prices.items()]))
