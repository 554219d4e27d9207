"""`meridian data`, `meridian demo` and `meridian summary`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

import dagster as dg

from meridian_assets import calendar, dbread
from meridian_assets.cli.runner import (failures, prepare_instance, progress_logger, report_failures,
                                        report_warnings, run_assets, run_in_process, stopped_on_input)
from meridian_assets.config import PROJECT_ROOT, MeridianConfig, get_config, meridian_home
from meridian_assets.errors import MeridianError
from meridian_assets.ingest.assets import FETCHED_TABLES, INGEST_ASSETS
from meridian_assets.ingest.jobs import FILINGS_ASSETS, THIRTEEN_F_ASSETS
from meridian_assets.ingest.partitions import history_window, ingest_window
from meridian_assets.summary import render_summary

CONFIGURABLE = ("universe", *FETCHED_TABLES)  # the assets that take IngestConfig
REAL_DATA_ASSETS = ("universe", "daily_prices", "run_log", "ingest_errors")


def last_loaded_session(cfg: MeridianConfig) -> dt.date | None:
    db = cfg.database_path()
    if not db.exists():
        return None
    conn = dbread.connect(db)
    try:
        has = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name='daily_prices'").fetchall()[0][0]
        return conn.execute("SELECT max(date) FROM daily_prices").fetchall()[0][0] if has else None
    finally:
        conn.close()


def select_assets(no_filings: bool, no_13f: bool, forms: list[str] | None) -> list[str]:
    names = [k.to_user_string() for a in INGEST_ASSETS for k in a.keys]
    drop: set[str] = set()
    if no_filings:
        drop |= set(FILINGS_ASSETS)
    if no_13f:
        drop |= set(THIRTEEN_F_ASSETS)
    if forms is not None and "4" not in forms:
        drop |= {"insider_transactions", "insider_cluster_flags"}
    return [n for n in names if n not in drop]


def _execute(assets: list[str], start: dt.date, end: dt.date, op_config: dict, cfg: MeridianConfig,
             job: str = "ingest_job") -> int:
    from meridian_assets.definitions import build_definitions

    instance = prepare_instance()
    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    n_sessions = len(calendar.sessions(start, end))
    print(f"Loading {len(assets)} tables for {start}..{end} ({n_sessions} sessions) into {cfg.database_path()}",
          flush=True)
    result = run_assets(defs, job, assets, start, end, op_config=op_config, instance=instance)
    problems = failures(result)
    ok = result.success and not problems
    print(render_summary(cfg, run_id=result.run_id, dagster_home=os.environ.get("DAGSTER_HOME"), ok=ok))
    report_warnings(result, "Data load")
    if not ok:
        print("\nThe run did not complete:", file=sys.stderr)
        for line in problems:
            print(f"- {line}", file=sys.stderr)
        return 2 if stopped_on_input(result) else 1
    return 0


def run_data(args: argparse.Namespace) -> int:
    cfg = get_config()
    hist_start, hist_end = ingest_window(cfg)
    end = calendar.session_on_or_before(args.end) if args.end else hist_end
    if args.start:
        start = calendar.session_on_or_after(args.start)
    else:
        last = last_loaded_session(cfg)
        start = hist_start if last is None else min(calendar.next_session(last), end)
    if start > end:
        raise MeridianError(f"--start {start} is after --end {end}")
    forms = [f.strip() for f in args.forms.split(",")] if args.forms else None
    assets = select_assets(args.no_filings, args.no_13f, forms)
    config = {k: v for k, v in (("limit", args.limit), ("forms", forms), ("force", args.force)) if v}
    op_config = {a: config for a in assets if a in CONFIGURABLE} if config else {}
    return _execute(assets, start, end, op_config, cfg)


def run_demo(args: argparse.Namespace) -> int:
    """Load the history (with its warm-up) in one run, then score the history window in a second run."""
    if args.real:
        # Its own home (database, outputs, Dagster instance): the synthetic demo's runs and assets stay apart.
        home = meridian_home() / "real"
        os.environ["MERIDIAN_HOME"] = str(home)
        os.environ["DAGSTER_HOME"] = str(home / "dagster")
        os.environ["MERIDIAN_CONFIG"] = str(PROJECT_ROOT / "meridian.real.yaml")
        cfg = get_config()
        if not cfg.files_root().exists():
            raise MeridianError(f"real data folder not found: {cfg.files_root()} (files.root in meridian.real.yaml)")
        assets = list(REAL_DATA_ASSETS)
    else:
        cfg = get_config()
        assets = select_assets(False, False, None)
    start, end = ingest_window(cfg)
    rc = _execute(assets, start, end, {"universe": {"force": True}}, cfg)
    if rc:
        return rc
    from meridian_assets.cli.score import run_score

    score_start, _ = history_window(cfg)
    rc = run_score(argparse.Namespace(start=score_start, end=end, ticker=None, regime_weights=False, output=None))
    if rc or args.real:  # the real-data folder has no fundamentals, so no market caps for the risk model
        return rc
    if _risk_model(end, cfg) or _simulated_book(end, cfg):
        return 1
    from meridian_assets.cli.report import run_reports

    rc = run_reports(["daily", "weekly"])
    if not rc:
        print(f"The PM's desk: `make desk` then http://127.0.0.1:{cfg.desk.port}")
    return rc


RISK_MODEL_ASSETS = ["risk_exposures", "risk_factor_covariance", "risk_specific_variance", "risk_factor_returns"]


def _risk_model(end: dt.date, cfg: MeridianConfig) -> int:
    """Estimate the factor risk model as of the last scored session (a third run)."""
    from meridian_assets.definitions import build_definitions

    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    result = run_assets(defs, "main_job", RISK_MODEL_ASSETS, end, end, instance=prepare_instance())
    if report_failures(result, "Risk model"):
        return 1
    md = {e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization
          for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    cov = md["risk_factor_covariance"].metadata
    print(f"=== Risk model as of {cov['as_of'].value}: {cov['stocks'].value} stocks, {cov['factors'].value} factors, "
          f"equal-weight book vol {cov['equal_weight_vol'].value:.1%} "
          f"({cov['equal_weight_factor_share'].value:.0%} from factors) ===")
    return 0


DEMO_REBALANCES = 12  # weekly rebalances of the simulated book before the last session
DEMO_REBALANCE_EVERY = 5  # sessions


def _simulated_book(end: dt.date, cfg: MeridianConfig) -> int:
    """Run the simulated book: a rebalance committed every week over the last quarter (each its own run, each
    seeing only what was known that day), then mark it to market and refresh the risk state."""
    from meridian_assets.cli.portfolio import print_book
    from meridian_assets.definitions import build_definitions

    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    days = calendar.sessions(end - dt.timedelta(days=140), end)
    dates = days[::-DEMO_REBALANCE_EVERY][:DEMO_REBALANCES][::-1]
    print(f"Simulated book: {len(dates)} weekly rebalances {dates[0]}..{dates[-1]}", flush=True)
    job = defs.resolve_job_def("rebalance_commit_job")
    logging = {"loggers": {"progress": {"config": {"log_level": "WARNING"}}}}
    for day in dates:
        result = run_in_process(
            job, run_config={**logging, "ops": {"rebalance_proposal": {"config": {"as_of": day.isoformat()}},
                                           "position_approvals": {"config": {"decision": "commit",
                                                                             "decided_by": "simulated"}}}},
            instance=prepare_instance(), tags={"meridian/source": "demo"}, raise_on_error=False,
            asset_selection=[dg.AssetKey(k) for k in ("target_book", "rebalance_trades",
                                                      "portfolio_factor_exposures", "position_approvals")])
        if report_failures(result, f"Rebalance on {day}"):
            return 1
    result = run_in_process(defs.resolve_job_def("risk_check_job"), run_config=logging, instance=prepare_instance(),
                            tags={"meridian/source": "demo"}, raise_on_error=False)
    if report_failures(result, "Risk check"):
        return 1
    print_book()
    state = json.loads(cfg.risk_state_path().read_text())
    print(f"Risk state: {state['trading_state']}; alerts: {'; '.join(state['alerts']) or 'none'}")
    print(f"Risk state file: {cfg.risk_state_path()}")
    return 0


def print_summary() -> int:
    print(render_summary(get_config(), dagster_home=os.environ.get("DAGSTER_HOME")))
    return 0
