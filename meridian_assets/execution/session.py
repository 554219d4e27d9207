"""One execution run of an approved rebalance, start to end (plain Python; `assets.py` wires it into Dagster).

    reconcile (broker is truth) -> cancel stale orders -> adopt this rebalance's working orders
    -> trade list = approved targets - broker positions -> executor -> record -> reconcile again

If the first reconciliation fails, nothing is traded and `ReconciliationError` says why. Rows are written
even when the run stops early (broker lost, interrupted), so the next run starts from what happened.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import duckdb
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import MeridianError
from meridian_assets.execution import inputs
from meridian_assets.execution.broker import Broker, BrokerError, ReconciliationError
from meridian_assets.execution.clock import Clock, utc
from meridian_assets.execution.executor import ExecutionContext, ExecutionReport, Executor
from meridian_assets.execution.fills import ExecutionRecord, Status, write_records
from meridian_assets.execution.planning import TradeIntent, intended_targets
from meridian_assets.execution.reconcile import Reconciliation, reconcile
from meridian_assets.execution.schemas import EXECUTION_RECONCILIATION, SHORT_AVAILABILITY
from meridian_assets.execution.short_availability import ShortAvailabilityCache
from meridian_assets.portfolio.schemas import PORTFOLIO_POSITIONS
from meridian_assets.risk.pre_trade import MarketInfo
from meridian_assets.storage import replace_all, replace_where

log = logging.getLogger(__name__)
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


class NotApproved(MeridianError):
    """The rebalance has no APPROVED decision in position_approvals."""


@dataclass
class MarketData:
    """Prices and reference data of the tickers a rebalance touches."""

    closes: dict[str, float]
    adv: dict[str, float]
    sectors: dict[str, str]
    betas: dict[str, float]
    scores: dict[str, float]
    earnings: dict[str, int]

    def info(self) -> MarketInfo:
        return MarketInfo(sector=self.sectors, beta=self.betas, adv_usd=self.adv, days_to_earnings=self.earnings)


@dataclass
class RunResult:
    rebalance_id: str
    as_of: dt.date
    report: ExecutionReport
    start: Reconciliation | None = None
    end: Reconciliation | None = None
    intents: list[TradeIntent] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    short_rows: pl.DataFrame = field(default_factory=SHORT_AVAILABILITY.empty)
    nav: float | None = None


def market_data(conn: duckdb.DuckDBPyConnection, rb: inputs.Rebalance, tickers: list[str], today: dt.date,
                adv_days: int) -> MarketData:
    closes = {t: c for t, (_, c) in inputs.latest_closes(conn, tickers).items()}
    adv = inputs.adv_dollars(conn, tickers, adv_days)
    book = {r["ticker"]: r for r in rb.target_book.iter_rows(named=True)}
    for t, r in book.items():
        if t not in adv and r["adv_dollars"]:
            adv[t] = float(r["adv_dollars"])
        if t not in closes and r["price"]:
            closes[t] = float(r["price"])
    sectors = {**inputs.sectors(conn), **{t: r["sector"] for t, r in book.items() if r["sector"]}}
    betas = {t: float(r["beta"]) for t, r in book.items() if r["beta"] is not None}
    scores = {t: float(r["score"]) for t, r in book.items() if r["score"] is not None}
    return MarketData(closes, adv, sectors, betas, scores, inputs.days_to_earnings(conn, tickers, today))


def build_intents(rb: inputs.Rebalance, held: dict[str, int], md: MarketData) -> tuple[list[TradeIntent], dict[str, str]]:
    """The trades from the broker's holdings to the approved targets (see `planning.intended_targets`)."""
    targets, skipped = intended_targets(rb.target_book, rb.trades, rb.approvals, held)
    intents = []
    for t, target in sorted(targets.items()):
        current = held.get(t, 0)
        if target == current:
            continue
        price = md.closes.get(t)
        if not price:
            skipped[t] = "no close price in daily_prices: cannot price the order"
            continue
        intents.append(TradeIntent(t, current, target, price, md.adv.get(t, 0.0), md.sectors.get(t), md.betas.get(t),
                                   md.scores.get(t)))
    return intents, skipped


def skipped_records(rb: inputs.Rebalance, skipped: dict[str, str], broker: str, now: dt.datetime) -> list[ExecutionRecord]:
    """SKIPPED rows for Layer-4 trades that do not go (deferred, vetoed, not approved)."""
    out = []
    for r in rb.trades.iter_rows(named=True):
        reason = skipped.get(r["ticker"])
        if reason is None:
            continue
        shares = abs(int(r["delta_shares"] or 0))
        out.append(ExecutionRecord(
            rebalance_id=rb.rebalance_id, client_order_id=f"{rb.rebalance_id}:{r['ticker']}:{r['action']}:skipped",
            ticker=r["ticker"], side=r["side"] or "", action=str(r["action"]), shares=0, ordered_shares=shares,
            signal_price=r["price"], limit_price=None, status=Status.SKIPPED, broker=broker, notes=reason,
            finished_at=now, recorded_at=now))
    return out


def reconcile_with(broker: Broker, conn: duckdb.DuckDBPyConnection, rb: inputs.Rebalance, md: MarketData,
                   now: dt.datetime, quiet: bool = False) -> Reconciliation:
    """Read the broker's book and reconcile local state with it (`ReconciliationError` on failure)."""
    try:
        positions = broker.position_details()
        account = broker.account()
        after = dt.datetime.combine(rb.as_of, dt.time(0), tzinfo=dt.timezone.utc)
        orders = broker.list_orders(after=after)
        open_orders = broker.open_orders()
    except BrokerError as err:
        raise ReconciliationError(f"could not read the broker's book ({err}); nothing traded") from err
    return reconcile(rebalance_id=rb.rebalance_id, broker_name=broker.name, positions=positions, account=account,
                     orders=orders, open_orders=open_orders, local_positions=inputs.local_positions(conn),
                     local_fills=inputs.local_fills(conn, rb.rebalance_id), sectors=md.sectors, scores=md.scores,
                     prices=md.closes, now=now, quiet=quiet)


def _write_reconciliation(conn, rec: Reconciliation, run_id: str, rid: str, phase: str, now: dt.datetime) -> None:
    replace_all(conn, PORTFOLIO_POSITIONS, rec.positions)
    frame = rec.frame(run_id, rid, phase, now)
    old = inputs.table_rows(conn, EXECUTION_RECONCILIATION, "run_id = ? AND phase <> ?", [run_id, phase])
    replace_where(conn, EXECUTION_RECONCILIATION, pl.concat([old, frame]) if old.height else frame, "run_id", run_id)
    write_records(conn, rid, rec.records)


def execute_rebalance(connect: Connect, broker: Broker, cfg: MeridianConfig, rebalance_id: str, *, clock: Clock,
                      run_id: str, halted: Callable[[], bool], today: dt.date | None = None) -> RunResult:
    """Execute the approved rebalance ``rebalance_id`` (see the module docstring)."""
    ex = cfg.execution
    now = utc(clock)
    today = today or now.date()
    with connect() as conn:
        rb = inputs.load_rebalance(conn, rebalance_id)
        if not rb.approved:
            raise NotApproved(f"rebalance {rebalance_id} is not approved (no APPROVED rows in "
                                      f"position_approvals): approve it with `meridian approve {rebalance_id}`")
        held_local = inputs.local_positions(conn)["ticker"].to_list()
        tickers = sorted(set(rb.target_book["ticker"].to_list()) | set(rb.trades["ticker"].to_list()) | set(held_local))
        md = market_data(conn, rb, tickers, today, cfg.portfolio.adv_lookback_days)
        cache_rows = inputs.short_cache(conn)
        start = reconcile_with(broker, conn, rb, md, now)
        _write_reconciliation(conn, start, run_id, rebalance_id, "start", now)
    result = RunResult(rebalance_id, rb.as_of, ExecutionReport(), start=start, nav=start.account.equity)
    for o in start.stale_open:
        try:
            broker.cancel_order(o.order_id)
        except BrokerError as err:
            log.error("could not cancel stale order %s: %s", o.client_order_id, err)
    missing = sorted(set(start.held) - set(md.closes))
    if missing:  # positions outside the rebalance still need a price for the veto's book
        with connect() as conn:
            md.closes.update({t: c for t, (_, c) in inputs.latest_closes(conn, missing).items()})
    cache = ShortAvailabilityCache(cache_rows, broker.asset, now=now, max_age_days=ex.short_check_cache_days,
                                   broker=broker.name)
    ctx = ExecutionContext(
        rebalance_id=rebalance_id, nav=start.account.equity or cfg.portfolio.capital_base,
        positions_value={t: q * md.closes.get(t, 0.0) for t, q in start.held.items()},
        market=md.info(), risk=cfg.risk, trading_state=inputs.trading_state(cfg), halted=halted,
        short_check=cache.check, refresh_price=broker.last_price, next_chunk=dict(start.next_chunk), run_id=run_id)
    executor = Executor(broker, ex, clock=clock)
    result.report = executor.report
    try:
        if start.own_open:
            executor.finish_adopted(start.own_open, ctx, prices=md.closes)
        if executor.report.aborted is None:
            held = broker.positions() if start.own_open else dict(start.held)
            ctx.positions_value = {t: q * md.closes.get(t, 0.0) for t, q in held.items()}
            result.intents, result.skipped = build_intents(rb, held, md)
            executor.report.records.extend(skipped_records(rb, result.skipped, broker.name, now))
            executor.run(result.intents, ctx)
    finally:
        end_now = utc(clock)
        result.short_rows = cache.frame()
        with connect() as conn:
            for r in executor.report.records:
                r.run_id = run_id
            write_records(conn, rebalance_id, executor.report.records)
            replace_all(conn, SHORT_AVAILABILITY, result.short_rows)
    try:
        with connect() as conn:
            result.end = reconcile_with(broker, conn, rb, md, end_now, quiet=True)
            _write_reconciliation(conn, result.end, run_id, rebalance_id, "end", end_now)
    except (ReconciliationError, BrokerError) as err:
        log.error("post-trade reconciliation failed (%s); the next run reconciles first", err)
    return result

