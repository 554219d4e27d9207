"""`meridian demo`: load the configured history, score it, estimate the risk model, run a simulated book and
write the reports, each step the same run its own command makes.

The one command that runs others: `data`, `score`, `portfolio` and `report` never import each other or this.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os

import dagster as dg

from meridian_assets import calendar
from meridian_assets.cli.data import load_tables, select_assets
from meridian_assets.cli.portfolio import print_book
from meridian_assets.cli.report import run_reports
from meridian_assets.cli.runner import prepare_instance, progress_logger, report_failures, run_assets, run_in_process
from meridian_assets.cli.score import run_score
from meridian_assets.config import PROJECT_ROOT, MeridianConfig, get_config, meridian_home
from meridian_assets.errors import MeridianError
from meridian_assets.ingest.partitions import history_window, ingest_window

REAL_DATA_ASSETS = ("universe", "daily_prices", "run_log", "ingest_errors")


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
    rc = load_tables(assets, start, end, {"universe": {"force": True}}, cfg)
    if rc:
        return rc
    score_start, _ = history_window(cfg)
    rc = run_score(argparse.Namespace(start=score_start, end=end, ticker=None, regime_weights=False, output=None))
    if rc or args.real:  # the real-data folder has no fundamentals, so no market caps for the risk model
        return rc
    if _risk_model(end, cfg) or _simulated_book(end, cfg):
        return 1
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
