"""The demo's book: a year of weekly rebalances through every layer, each step the run its own command makes.

    meta_proposal_job (subset)  every sleeve backtested up to the week, decisions, the allocation across sleeves
                                and the combined target (`meta_target_book`), every ``meta_every`` weeks
    portfolio_rebalance_job     the what-if on that session, method ``sleeves``: the book follows the meta target
    portfolio_approve_job       the approval for the broker (`meridian approve`)
    execution_job               the simulated venue trades it on the next session (the run the
                                `approved_rebalance_sensor` launches): reconciliation, chunks, limit orders, fills
    meta_proposal_job (whole)   on the last week, before its rebalance: diagnostics and evidenced proposals, PENDING
    risk_check_job              the book marked to market from the fills, and the risk state

Each rebalance sees only what was known on its session; the venue fills it against the next session's bar and
dates its fills on that session.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import dagster as dg

from meridian_assets import calendar
from meridian_assets.cli.portfolio import print_book
from meridian_assets.cli.runner import prepare_instance, progress_logger, report_failures, run_in_process
from meridian_assets.config import MeridianConfig
from meridian_assets.ingest.partitions import RANGE_END, RANGE_START

BOOK_WEEKS = 52  # weekly rebalances of the book, ending on the last session
META_EVERY = 13  # weeks between the meta layer's allocations (quarterly)
REBALANCE_EVERY = 5  # sessions between rebalances
META_ALLOCATE = ["sleeve_configs", "backtest_runs", "backtest_daily", "backtest_trades", "sleeve_decisions",
                 "sleeve_allocation", "meta_target_book"]
QUIET = {"loggers": {"progress": {"config": {"log_level": "WARNING"}}}}
TAGS = {"meridian/source": "demo"}


MIN_SCORED = 20  # scored sessions before the first rebalance: the meta layer's least history to allocate on


def rebalance_dates(end: dt.date, weeks: int, scored_from: dt.date | None = None) -> list[dt.date]:
    """``weeks`` sessions, every fifth one, ending on ``end``; none before ``MIN_SCORED`` sessions of scores."""
    days = calendar.sessions(end - dt.timedelta(days=7 * weeks + 21), end)
    dates = days[::-REBALANCE_EVERY][:weeks][::-1]
    first = calendar.add_sessions(calendar.session_on_or_after(scored_from), MIN_SCORED) if scored_from else None
    return [d for d in dates if first is None or d >= first]


def _reset_state(cfg: MeridianConfig) -> None:
    """A demo run starts its book from cash: the state of an earlier run (book, venue, journals, meta runs,
    reports) is removed, the market data and scores are kept (`meridian reset --state`)."""
    from meridian_assets.reset import execute, reset_plan

    actions = reset_plan("state", cfg)
    if actions:
        print(f"Starting the book from cash: {len(actions)} items of an earlier run's state removed "
              "(`meridian reset --state`)", flush=True)
        execute(actions, cfg)


def _materialized(result: dg.ExecuteInProcessResult, key: str) -> dict:
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization
        if m.asset_key == dg.AssetKey(key):
            return {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    return {}


def _meta(defs: dg.Definitions, instance: dg.DagsterInstance, day: dt.date, assets: list[str] | None,
          cfg: MeridianConfig) -> dg.ExecuteInProcessResult:
    """The meta layer as of ``day`` (its sleeve backtests end there): ``assets`` a subset whose backtests cover
    just the allocation's lookback, or None: the whole job over `meta.backtest_sessions`."""
    job = defs.resolve_job_def("meta_proposal_job")
    run_config = dict(QUIET)
    if assets:
        start = calendar.add_sessions(day, -cfg.meta.allocation_lookback_sessions)
        run_config["ops"] = {"sleeve_backtests": {"config": {"start": start.isoformat()}}}
    return run_in_process(job, run_config=run_config, instance=instance,
                          tags={**TAGS, RANGE_START: day.isoformat(), RANGE_END: day.isoformat()},
                          raise_on_error=False,
                          asset_selection=[dg.AssetKey(a) for a in assets] if assets else None)


def _week(defs: dg.Definitions, instance: dg.DagsterInstance, day: dt.date) -> tuple[str, dict] | None:
    """What-if, approval and execution of the rebalance on ``day``; (rebalance id, execution figures)."""
    from sensors.execution import execution_run_config

    proposal = run_in_process(
        defs.resolve_job_def("portfolio_rebalance_job"), instance=instance, tags=TAGS, raise_on_error=False,
        run_config={**QUIET, "ops": {"rebalance_proposal": {"config": {"as_of": day.isoformat(),
                                                                       "optimize_method": "sleeves"}}}})
    if report_failures(proposal, f"The what-if on {day}"):
        return None
    rid = _materialized(proposal, "target_book")["rebalance_id"]
    trades = _materialized(proposal, "rebalance_trades")
    if not trades.get("trades"):  # every trade deferred by the turnover budget or vetoed: nothing to send
        return rid, {"deferred": trades.get("deferred", 0), "vetoed": trades.get("vetoed", 0)}
    approval = run_in_process(
        defs.resolve_job_def("portfolio_approve_job"), instance=instance, tags=TAGS, raise_on_error=False,
        run_config={**QUIET, "ops": {"position_approvals": {"config": {"rebalance_id": rid, "decision": "approve",
                                                                       "decided_by": "demo"}}}})
    if report_failures(approval, f"The approval of {rid}"):
        return None
    execution = run_in_process(
        defs.resolve_job_def("execution_job"), instance=instance, raise_on_error=False,
        tags={**TAGS, "meridian/rebalance_id": rid}, run_config={**QUIET, **execution_run_config(rid)})
    if report_failures(execution, f"The execution of {rid}"):
        return None
    return rid, _materialized(execution, "execution_fills")


def run_book(end: dt.date, cfg: MeridianConfig, weeks: int = BOOK_WEEKS, meta_every: int = META_EVERY,
             scored_from: dt.date | None = None) -> int:
    """The book over ``weeks`` weekly rebalances ending on ``end`` (fewer when the scores start later than
    ``MIN_SCORED`` sessions before the first: module docstring); 0 when every run passed."""
    from meridian_assets.definitions import build_definitions

    _reset_state(cfg)
    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    dates = rebalance_dates(end, weeks, scored_from)
    instance = prepare_instance()  # one instance for every run of the book (each would otherwise open its own)
    print(f"Book: {len(dates)} weekly rebalances {dates[0]}..{dates[-1]} following the meta layer's allocation "
          f"(every {meta_every} weeks), executed on the {cfg.execution.broker} venue", flush=True)
    for i, day in enumerate(dates):
        last = i == len(dates) - 1
        if last or i % meta_every == 0:
            result = _meta(defs, instance, day, None if last else META_ALLOCATE, cfg)
            if report_failures(result, f"The meta layer on {day}"):
                return 1
            weights = _materialized(result, "sleeve_allocation").get("weights") or {}
            print(f"{day} meta allocation: " + ", ".join(f"{k} {v:.0%}" for k, v in sorted(weights.items())),
                  flush=True)
        done = _week(defs, instance, day)
        if done is None:
            return 1
        rid, fills = done
        counts = {k[len("status_"):]: v for k, v in fills.items() if k.startswith("status_") and v}
        held = "; ".join(f"{fills[k]} {k}" for k in ("deferred", "vetoed") if k in fills)
        print(f"{day} {rid}: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                                  or f"no orders ({held or 'no trades'}: not sent to the venue)"), flush=True)
    result = run_in_process(defs.resolve_job_def("risk_check_job"), run_config=QUIET, instance=instance,
                            tags=TAGS, raise_on_error=False)
    if report_failures(result, "Risk check"):
        return 1
    print_book()
    state = json.loads(cfg.risk_state_path().read_text())
    print(f"Risk state: {state['trading_state']}; alerts: {'; '.join(state['alerts']) or 'none'}")
    return 0


def print_outputs(cfg: MeridianConfig) -> None:
    """Where each output of the demo is, and what to do next."""
    from meridian_assets import dbread

    with dbread.read_only(cfg.database_path()) as conn:
        def count(sql: str) -> int:
            try:
                return int(conn.execute(sql).fetchall()[0][0])
            except Exception:  # noqa: BLE001 - a table the run did not make counts as none
                return 0
        fills = count("SELECT count(*) FROM execution_fills WHERE shares > 0")
        sleeves = count("SELECT count(DISTINCT sleeve) FROM backtest_runs")
        pending = count("SELECT count(*) FROM meta_controller_config_proposals WHERE status = 'PENDING'")
    print("=== Outputs ===")
    print(f"Database (every table): {cfg.database_path()}")
    print(f"Execution fills on the simulated venue: {fills} (venue state: {cfg.home() / 'broker'})")
    print(f"Sleeves backtested: {sleeves}; meta proposals pending: {pending} (`meridian meta proposals`, "
          "`meridian meta approve ID`)")
    print(f"Risk state file: {cfg.risk_state_path()}")
    print(f"Reports, letters and charts: {cfg.output_dir()}")
