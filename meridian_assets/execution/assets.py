"""Layer-6 assets: the dry-run plan, the execution of an approved rebalance and the slippage summary.

Thin wiring over `dry_run.plan_rebalance`, `session.execute_rebalance` and `fills.slippage_summary`. Which
rebalance: the run config's ``rebalance_id`` (the sensor sets it), else the one built on a scored CSV's date
(``scored_csv``), else the newest: the latest approved one for an execution, the latest proposal (the last
`target_book` materialization) for a dry run.
"""

import datetime as dt
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from pydantic import Field

from meridian_assets.errors import DataError, MeridianError
from meridian_assets.execution import inputs
from meridian_assets.execution.broker import ReconciliationError
from meridian_assets.execution.clock import Clock, ManualClock, SystemClock, utc
from meridian_assets.execution.dry_run import plan_rebalance
from meridian_assets.execution.fills import slippage_summary as compute_slippage
from meridian_assets.execution.market import FrameBars, next_session_bars
from meridian_assets.execution.simulated import last_activity
from meridian_assets.execution.schemas import (
    EXECUTION_FILLS, EXECUTION_PLAN, EXECUTION_RECONCILIATION, SHORT_AVAILABILITY, SLIPPAGE_SUMMARY,
)
from meridian_assets.execution.session import execute_rebalance as run_execution
from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.risk.halt_lock import HaltLock
from meridian_assets.storage import replace_where, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings
from resources.execution import BrokerResource

GROUP = "execution"
BROKER_POSITIONS = "broker_positions"
REBALANCE_TAG = "meridian/rebalance_id"


class ExecutionRunConfig(dg.Config):
    """Which rebalance to plan or execute. Nothing here can confirm live trading: only the operator's typed
    confirmation at `meridian execute`, bound to the run id, can (see `execution.live_gate`)."""

    rebalance_id: str = Field("", description="rb-YYYYMMDD-<method>-<hash>; empty: see scored_csv, else the newest")
    scored_csv: str = Field("", description="a scored-universe CSV: the rebalance built on its date is used")


def scored_csv_date(path: str) -> dt.date:
    p = Path(path)
    if not p.exists():
        raise DataError("scored_csv", "file not found", field="path", value=path)
    head = pl.read_csv(p, n_rows=0)
    col = next((c for c in ("date", "as_of") if c in head.columns), None)
    if col is None:
        raise DataError("scored_csv", "needs a date (or as_of) column to find its rebalance", field="path", value=path)
    return pl.read_csv(p, columns=[col], try_parse_dates=True)[col].cast(pl.Date).max()


def latest_proposal(instance: dg.DagsterInstance) -> str | None:
    """The rebalance id of the latest `target_book` materialization (Layer 4's newest proposal)."""
    event = instance.get_latest_materialization_event(dg.AssetKey("target_book"))
    value = event.asset_materialization.metadata.get("rebalance_id") if event and event.asset_materialization else None
    return str(getattr(value, "value", value)) if value else None


def resolve_rebalance(conn: duckdb.DuckDBPyConnection, config: ExecutionRunConfig, approved_only: bool,
                      instance: dg.DagsterInstance | None = None) -> str:
    if config.rebalance_id:
        return config.rebalance_id
    if config.scored_csv:
        day = scored_csv_date(config.scored_csv)
        rid = inputs.approved_rebalance_for_date(conn, day) if approved_only else None
        if rid is None and not approved_only and table_exists(conn, "target_book"):
            rows = conn.execute("SELECT rebalance_id FROM target_book WHERE as_of = ? ORDER BY rebalance_id DESC "
                                "LIMIT 1", [day]).fetchall()
            rid = rows[0][0] if rows else None
        if rid is None:
            raise dg.Failure(f"no {'approved ' if approved_only else ''}rebalance built on the scored CSV's date {day}: "
                             "run Layer 4 on those scores (and approve it) first", allow_retries=False)
        return rid
    rid = (None if approved_only or instance is None else latest_proposal(instance)) \
        or inputs.latest_rebalance_id(conn, approved_only)
    if rid is None:
        raise dg.Failure("no approved rebalance to execute: approve one with `meridian approve <rebalance-id>`"
                         if approved_only else "no rebalance in target_book yet: run the Layer-4 assets first",
                         allow_retries=False)
    return rid


def venue_session_open(cfg, as_of: dt.date) -> float | None:
    """For the simulated venue with `virtual_time`: the open (09:30 New York) of the session after ``as_of``, the
    session whose bar its orders fill against (`market.next_session_bars`), so fills are dated on the session
    they trade, also when an older rebalance is replayed. None for a real broker (wall time)."""
    if cfg.execution.broker != "simulated" or not cfg.execution.simulated.virtual_time:
        return None
    from zoneinfo import ZoneInfo

    from meridian_assets import calendar

    day = calendar.next_session(as_of)
    return dt.datetime.combine(day, dt.time(9, 30), tzinfo=ZoneInfo("America/New_York")).timestamp()


def run_clock(cfg, broker: BrokerResource, as_of: dt.date | None = None) -> Clock:
    """Wall time, or for the simulated venue with `virtual_time` a simulated clock from the open of the session
    it trades (from now without ``as_of``), never before the venue's last activity: its waits take no real
    time."""
    if cfg.execution.broker == "simulated" and cfg.execution.simulated.virtual_time:
        start = venue_session_open(cfg, as_of) if as_of is not None else time.time()
        return ManualClock(max(start, last_activity(broker.venue_dir()) or 0.0))
    return SystemClock()


def _halted(settings: MeridianSettings):
    lock = HaltLock(settings.get().halt_lock_path())
    return lock.is_halted


@dg.asset(group_name=GROUP, deps=["target_book", "rebalance_trades", "daily_prices"], pool=DUCKDB_POOL,
          kinds={"duckdb", "polars"})
def execution_plan(context: dg.AssetExecutionContext, config: ExecutionRunConfig, db: DuckDBStore,
                   settings: MeridianSettings) -> dg.MaterializeResult:
    """The dry run of a rebalance: every DAY limit order execution would send (chunks <= 2% of 20-day ADV,
    limit = latest close x (1 +/- 0.1%)) against the last reconciled positions, with vetoes and skips and
    their reasons. No broker call."""
    require_clean_inputs(context)
    cfg = settings.get()
    # in a run that also executes, plan the rebalance that will be executed: the newest *approved* one
    selection = context.run.asset_selection
    executing = selection is None or dg.AssetKey(EXECUTION_FILLS.name) in selection
    with db.connect() as conn:
        rid = resolve_rebalance(conn, config, approved_only=executing, instance=context.instance)
        opens = venue_session_open(cfg, inputs.load_rebalance(conn, rid).as_of)
        now = dt.datetime.fromtimestamp(opens, dt.timezone.utc) if opens else utc(SystemClock())
        try:
            plan = plan_rebalance(conn, cfg, rid, now=now, halted=_halted(settings)())
        except DataError as err:
            raise dg.Failure(f"execution_plan: {err}", allow_retries=False) from None
        n = replace_where(conn, EXECUTION_PLAN, plan.frame, "rebalance_id", rid)
    orders = plan.orders()
    by_status = plan.frame.group_by("status").len().sort("status") if plan.frame.height else pl.DataFrame()
    context.log.info(f"execution_plan {rid}: {orders.height} orders, {plan.frame.height - orders.height} not sent")
    return dg.MaterializeResult(metadata={
        "rebalance_id": dg.MetadataValue.text(rid), "as_of": dg.MetadataValue.text(str(plan.as_of)),
        "rows": dg.MetadataValue.int(n), "orders": dg.MetadataValue.int(orders.height),
        "gross_notional": dg.MetadataValue.float(float(orders["notional"].sum()) if orders.height else 0.0),
        "nav": dg.MetadataValue.float(plan.nav),
        "by_status": dg.MetadataValue.md(preview_markdown(by_status, n=10)),
        "preview": dg.MetadataValue.md(preview_markdown(plan.frame.select(
            "ticker", "action", "chunk", "shares", "signal_price", "limit_price", "adv_pct", "status", "reason"), n=15)),
    })


@dg.multi_asset(
    specs=[
        dg.AssetSpec(EXECUTION_FILLS.name, group_name=GROUP, kinds={"duckdb", "alpaca"}, description=EXECUTION_FILLS.description,
                     deps=["execution_plan", "position_approvals", "target_book", "rebalance_trades"]),
        dg.AssetSpec(BROKER_POSITIONS, group_name=GROUP, kinds={"duckdb"},
                     description="The broker's positions, reconciled into portfolio_positions (source='broker') "
                                 "before and after trading: the broker is the source of truth."),
        dg.AssetSpec(SHORT_AVAILABILITY.name, group_name=GROUP, kinds={"duckdb"}, description=SHORT_AVAILABILITY.description),
        dg.AssetSpec(EXECUTION_RECONCILIATION.name, group_name=GROUP, kinds={"duckdb"},
                     description=EXECUTION_RECONCILIATION.description),
    ],
    pool=DUCKDB_POOL,
    name="execute_rebalance",
)
def execute_rebalance(context: dg.AssetExecutionContext, config: ExecutionRunConfig, db: DuckDBStore,
                      settings: MeridianSettings, broker: BrokerResource):
    """Execute an approved rebalance: reconcile with the broker (nothing is traded if that fails), then each
    trade through the pre-trade veto, the short check, ADV chunks and DAY limit orders (120 s time in force,
    3 retries on no fill), recording every outcome; reconcile again at the end. Terminating the run cancels
    the orders it placed."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        rid = resolve_rebalance(conn, config, approved_only=True)
        rb = inputs.load_rebalance(conn, rid)
        tickers = sorted(set(rb.target_book["ticker"].to_list()) | set(rb.trades["ticker"].to_list()))
        bars = next_session_bars(cfg, rb.as_of, tickers) if cfg.execution.broker == "simulated" else None
        if bars is None and cfg.execution.broker == "simulated":
            bars = FrameBars(inputs.latest_bars(conn, tickers))
    clock = run_clock(cfg, broker, rb.as_of)
    try:
        client = broker.client(run_id=context.run_id, rebalance_id=rid, bars=bars, clock=clock)
    except MeridianError as err:  # bad keys, a paper run pointed at a live endpoint
        raise dg.Failure(f"execution of {rid} refused: {err}", allow_retries=False) from None
    context.log.info(f"executing {rid} on the {client.name} broker" + (" (LIVE)" if broker.is_live() else ""))
    if broker.is_live() and not client.allow_submit:
        raise dg.Failure(f"execution of {rid} refused: {client.refusal}", allow_retries=False)
    try:
        result = run_execution(db.connect, client, cfg, rid, clock=clock, run_id=context.run_id,
                               halted=_halted(settings))
    except (ReconciliationError, MeridianError) as err:
        raise dg.Failure(f"execution of {rid} stopped before trading: {err}", allow_retries=False) from None
    rep = result.report
    recs = pl.DataFrame([{"ticker": r.ticker, "action": r.action, "shares": r.shares, "status": r.status,
                          "fill_price": r.fill_price, "slippage_bps": r.slippage_bps, "notes": r.notes}
                         for r in rep.records],
                        schema={"ticker": pl.Utf8, "action": pl.Utf8, "shares": pl.Int64, "status": pl.Utf8,
                                "fill_price": pl.Float64, "slippage_bps": pl.Float64, "notes": pl.Utf8},
                        ) if rep.records else pl.DataFrame()
    if rep.aborted:
        raise dg.Failure(f"execution of {rid} stopped early: {rep.aborted} (outcomes so far recorded; the next run "
                         "reconciles and continues)", allow_retries=False,
                         metadata={"outcomes": dg.MetadataValue.md(preview_markdown(recs, n=20))})
    counts = rep.counts()
    common = {"rebalance_id": dg.MetadataValue.text(rid), "broker": dg.MetadataValue.text(client.name)}
    end = result.end or result.start
    pos = end.positions if end is not None else pl.DataFrame()
    yield dg.MaterializeResult(asset_key=EXECUTION_FILLS.name, metadata={
        **common, "outcomes": dg.MetadataValue.int(len(rep.records)), "submitted": dg.MetadataValue.int(rep.submitted),
        "adopted": dg.MetadataValue.int(rep.adopted), "halted": dg.MetadataValue.bool(rep.halted),
        "recovered_from_journal": dg.MetadataValue.int(len(result.recovered)),
        "settled_open_or_unknown": dg.MetadataValue.int(len(result.settled)),
        **{f"status_{k.lower()}": dg.MetadataValue.int(v) for k, v in sorted(counts.items())},
        "preview": dg.MetadataValue.md(preview_markdown(recs, n=15))})
    yield dg.MaterializeResult(asset_key=BROKER_POSITIONS, metadata={
        **common, "positions": dg.MetadataValue.int(pos.height),
        "gross": dg.MetadataValue.float(float(pos["market_value"].abs().sum()) if pos.height else 0.0),
        "net": dg.MetadataValue.float(float(pos["market_value"].sum()) if pos.height else 0.0),
        "equity": dg.MetadataValue.float(float(end.account.equity) if end else 0.0),
        "preview": dg.MetadataValue.md(preview_markdown(pos.select("ticker", "side", "shares", "avg_cost", "market_value")
                                                        if pos.height else pos, n=15))})
    yield dg.MaterializeResult(asset_key=SHORT_AVAILABILITY.name, metadata={
        "rows": dg.MetadataValue.int(result.short_rows.height),
        "not_shortable": dg.MetadataValue.int(int((~(result.short_rows["shortable"] & result.short_rows["easy_to_borrow"])).sum())
                                              if result.short_rows.height else 0)})
    events = [e for r in (result.start, result.end) if r for e in r.events]
    yield dg.MaterializeResult(asset_key=EXECUTION_RECONCILIATION.name, metadata={
        **common, "start_changes": dg.MetadataValue.int(len(result.start.events) if result.start else 0),
        "preview": dg.MetadataValue.md(preview_markdown(pl.DataFrame(
            [{"kind": e.kind, "ticker": e.ticker, "action": e.action, "message": e.message} for e in events])
            if events else pl.DataFrame(), n=15))})


@dg.asset(group_name=GROUP, deps=[EXECUTION_FILLS.name], pool=DUCKDB_POOL, kinds={"duckdb", "numpy"})
def slippage_summary(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings) -> dg.MaterializeResult:
    """Rolling execution slippage over the 30 days to the latest execution: average, median and 95th percentile
    in bps (positive = adverse), total dollars and the worst fills."""
    require_clean_inputs(context)
    ex = settings.get().execution
    today = utc(SystemClock()).date()
    with db.connect() as conn:
        fills = inputs.local_fills(conn)
        # the simulated venue dates fills on the session they traded (a replayed rebalance: a past one)
        last = fills["finished_at"].drop_nulls().max() if fills.height else None
        today = last.date() if last is not None else today
        s = compute_slippage(fills, today, ex.slippage_window_days, ex.slippage_worst_n)
        replace_where(conn, SLIPPAGE_SUMMARY, pl.DataFrame([s.row()]), "as_of", today)
    fmt = lambda v: dg.MetadataValue.float(round(v, 3)) if v is not None else dg.MetadataValue.text("n/a")  # noqa: E731
    return dg.MaterializeResult(metadata={
        "window": dg.MetadataValue.text(f"{s.window_start}..{s.as_of}"), "fills": dg.MetadataValue.int(s.fills),
        "avg_bps": fmt(s.avg_bps), "median_bps": fmt(s.median_bps), "p95_bps": fmt(s.p95_bps),
        "total_dollars": dg.MetadataValue.float(round(s.total_dollars, 2)),
        "worst_fills": dg.MetadataValue.md(preview_markdown(s.worst, n=ex.slippage_worst_n))})


EXECUTION_ASSETS = [execution_plan, execute_rebalance, slippage_summary]
