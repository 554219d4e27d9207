"""One execution run of an approved rebalance, start to end (plain Python; `assets.py` wires it into Dagster).

    replay the order journals of runs that died -> reconcile (broker is truth; every Meridian order)
    -> cancel, follow and record other rebalances' working orders -> adopt this rebalance's working orders
    -> trade list = approved targets - broker positions -> executor (each order event journaled)
    -> at stop: settle every Meridian order still open and every unknown outcome -> record -> reconcile again

If the first reconciliation fails, nothing is traded and `ReconciliationError` says why. Every order event
is on disk (`journal.OrderJournal`, fsync'd) when it happens; rows reach DuckDB when the run ends, also when
it stops early (broker lost, interrupted). A run killed outright leaves its journal unclosed, and the next
run writes its rows from it before reconciling, so nothing it did is lost and nothing is sent twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from meridian_assets.config import MeridianConfig, meridian_home
from meridian_assets.errors import MeridianError
from meridian_assets.execution import inputs
from meridian_assets.execution.broker import Broker, BrokerError, ReconciliationError, parse_client_order_id
from meridian_assets.execution.clock import Clock, ManualClock, utc
from meridian_assets.execution.executor import ExecutionContext, ExecutionReport, Executor
from meridian_assets.execution.fills import ExecutionRecord, Status, write_records
from meridian_assets.execution.journal import OrderJournal, mark_replayed, replay, unfinished
from meridian_assets.execution.planning import TradeIntent, intended_targets
from meridian_assets.execution.reconcile import Reconciliation, reconcile
from meridian_assets.execution.schemas import EXECUTION_RECONCILIATION, SHORT_AVAILABILITY
from meridian_assets.execution.short_availability import ShortAvailabilityCache
from meridian_assets.execution.sweep import UNSETTLED, not_placed, settle, sweep_at_stop
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
    recovered: list[ExecutionRecord] = field(default_factory=list)  # rows replayed from dead runs' journals
    settled: list[ExecutionRecord] = field(default_factory=list)  # stale orders at start + open/unknown at stop


def journal_dir() -> Path:
    return meridian_home() / "execution" / "journal"


def market_data(conn: duckdb.DuckDBPyConnection, rb: inputs.Rebalance, tickers: list[str], today: dt.date,
                adv_days: int) -> MarketData:
    """Signal prices and ADV from the bars known before the trading day ``today`` (or of the rebalance's own
    session, if later): a rebalance traded on a past session (the simulated venue's replay) never sees a later
    close."""
    until = max(rb.as_of, today - dt.timedelta(days=1))
    closes = {t: c for t, (_, c) in inputs.latest_closes(conn, tickers, until).items()}
    adv = inputs.adv_dollars(conn, tickers, adv_days, until)
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
    """Read the broker's book and reconcile local state with it (`ReconciliationError` on failure). The orders
    read go back to the oldest unsettled (OPEN / UNKNOWN) row of any rebalance; such a row the listing does not
    show is looked up by client order id, and one the broker definitely does not have was never placed."""
    local = inputs.local_fills(conn)
    unsettled = local.filter(pl.col("status").is_in(list(UNSETTLED))) if local.height else local
    since = dt.datetime.combine(rb.as_of, dt.time(0))
    if unsettled.height:
        oldest = unsettled.select(pl.coalesce("submitted_at", "finished_at", "recorded_at").min()).item()
        since = min(since, oldest) if oldest is not None else since
    after = (since - dt.timedelta(days=1)).replace(tzinfo=dt.timezone.utc)
    never: list[str] = []
    try:
        positions = broker.position_details()
        account = broker.account()
        orders = broker.list_orders(after=after)
        open_orders = broker.open_orders()
        listed = {o.client_order_id for o in orders + open_orders}
        for cid in unsettled["client_order_id"].to_list() if unsettled.height else []:
            if cid in listed or parse_client_order_id(cid) is None:
                continue
            found = broker.get_order_by_client_id(cid)
            if found is None:
                never.append(cid)
            else:
                orders.append(found)
    except BrokerError as err:
        raise ReconciliationError(f"could not read the broker's book ({err}); nothing traded") from err
    rec = reconcile(rebalance_id=rb.rebalance_id, broker_name=broker.name, positions=positions, account=account,
                    orders=orders, open_orders=open_orders, local_positions=inputs.local_positions(conn),
                    local_fills=local, sectors=md.sectors, scores=md.scores, prices=md.closes, now=now, quiet=quiet)
    for row in unsettled.filter(pl.col("client_order_id").is_in(never)).iter_rows(named=True) if never else []:
        if row["status"] == Status.UNKNOWN:
            rec.records.append(not_placed(_record(row), ManualClock(now)))
    return rec


def _record(row: dict) -> ExecutionRecord:
    names = ExecutionRecord.__dataclass_fields__
    return ExecutionRecord(**{k: v for k, v in row.items() if k in names})


def recover_journals(connect: Connect, folder: Path, broker_name: str, run_id: str) -> list[ExecutionRecord]:
    """Write the rows of runs that died (their journals have no ``closed``) to DuckDB; mark them replayed."""
    out: list[ExecutionRecord] = []
    for path in unfinished(folder, exclude=run_id):
        records = replay(path, broker_name)
        with connect() as conn:
            write_records(conn, None, records)
        mark_replayed(path, run_id)
        log.warning("recovered %d order outcome(s) from the journal of run %s, which died: %s", len(records),
                    path.stem, ", ".join(f"{r.client_order_id} {r.status} {r.shares}" for r in records) or "none")
        out += records
    return out


def _write_reconciliation(conn, rec: Reconciliation, run_id: str, rid: str, phase: str, now: dt.datetime) -> None:
    replace_all(conn, PORTFOLIO_POSITIONS, rec.positions)
    frame = rec.frame(run_id, rid, phase, now)
    old = inputs.table_rows(conn, EXECUTION_RECONCILIATION, "run_id = ? AND phase <> ?", [run_id, phase])
    replace_where(conn, EXECUTION_RECONCILIATION, pl.concat([old, frame]) if old.height else frame, "run_id", run_id)
    write_records(conn, None, rec.records)


def execute_rebalance(connect: Connect, broker: Broker, cfg: MeridianConfig, rebalance_id: str, *, clock: Clock,
                      run_id: str, halted: Callable[[], bool], today: dt.date | None = None,
                      journal_folder: Path | None = None) -> RunResult:
    """Execute the approved rebalance ``rebalance_id`` (see the module docstring). ``journal_folder``: where
    order journals live (default ``$MERIDIAN_HOME/execution/journal``)."""
    ex = cfg.execution
    now = utc(clock)
    today = today or now.date()
    folder = journal_folder or journal_dir()
    recovered = recover_journals(connect, folder, broker.name, run_id)
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
    result = RunResult(rebalance_id, rb.as_of, ExecutionReport(), start=start, nav=start.account.equity,
                       recovered=recovered)
    journal = OrderJournal(folder, run_id, rebalance_id)
    for o in start.stale_open:  # another rebalance's order still working: cancel, follow, record
        journal.append("cancel", cid=o.client_order_id, order_id=o.order_id, why="stale: an earlier rebalance")
        rec = settle(broker, o, clock=clock, known=None, held=start.held, prices=md.closes, run_id=run_id,
                     note=f"still working from an earlier rebalance when run {run_id} started: cancelled")
        if rec is not None:
            journal.record(rec)
            result.settled.append(rec)
    missing = sorted(set(start.held) - set(md.closes))
    if missing:  # positions outside the rebalance still need a price for the veto's book
        with connect() as conn:
            until = max(rb.as_of, today - dt.timedelta(days=1))
            md.closes.update({t: c for t, (_, c) in inputs.latest_closes(conn, missing, until).items()})
    cache = ShortAvailabilityCache(cache_rows, broker.asset, now=now, max_age_days=ex.short_check_cache_days,
                                   broker=broker.name)
    ctx = ExecutionContext(
        rebalance_id=rebalance_id, nav=start.account.equity or cfg.portfolio.capital_base,
        positions_value={t: q * md.closes.get(t, 0.0) for t, q in start.held.items()},
        market=md.info(), risk=cfg.risk, trading_state=inputs.trading_state(cfg), halted=halted,
        short_check=cache.check, refresh_price=broker.last_price, next_chunk=dict(start.next_chunk), run_id=run_id)
    executor = Executor(broker, ex, clock=clock, on_record=journal.record, on_event=journal.append)
    result.report = executor.report
    written = False
    try:
        if start.own_open:
            executor.finish_adopted(start.own_open, ctx, prices=md.closes)
        if executor.report.aborted is None:
            held = broker.positions() if start.own_open else dict(start.held)
            ctx.positions_value = {t: q * md.closes.get(t, 0.0) for t, q in held.items()}
            result.intents, result.skipped = build_intents(rb, held, md)
            for r in skipped_records(rb, result.skipped, broker.name, now):
                journal.record(r)
                executor.report.records.append(r)
            executor.run(result.intents, ctx)
    finally:
        for r in executor.report.records:
            r.run_id = run_id
        for r in sweep_at_stop(broker, executor.report.records, clock=clock, run_id=run_id, prices=md.closes):
            journal.record(r)
            result.settled.append(r)
        end_now = utc(clock)
        result.short_rows = cache.frame()
        try:
            with connect() as conn:
                write_records(conn, None, executor.report.records + result.settled)
                replace_all(conn, SHORT_AVAILABILITY, result.short_rows)
            written = True
        finally:
            journal.close() if written else journal.release()
    try:
        with connect() as conn:
            result.end = reconcile_with(broker, conn, rb, md, end_now, quiet=True)
            _write_reconciliation(conn, result.end, run_id, rebalance_id, "end", end_now)
    except (ReconciliationError, BrokerError) as err:
        log.error("post-trade reconciliation failed (%s); the next run reconciles first", err)
    return result

