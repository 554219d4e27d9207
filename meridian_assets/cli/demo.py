"""`meridian demo`: load the configured history, score it, estimate the risk model, run the book for a year of
weekly rebalances through every layer, and write the reports, each step the same run its own command makes.

The book (`demo_book.run_book`): every sleeve backtested and capital allocated across them (`meta_proposal_job`),
each week a what-if that follows the meta layer's target (`portfolio_rebalance_job`, method ``sleeves``), its approval
(`portfolio_approve_job`) and its execution on the simulated venue (`execution_job`, the run the
`approved_rebalance_sensor` launches); at the end the whole meta job again, leaving its proposals pending.

The one command that runs others: `data`, `score`, `portfolio` and `report` never import each other or this.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

from meridian_assets.cli.data import load_tables, select_assets
from meridian_assets.cli.demo_book import print_outputs, run_book
from meridian_assets.cli.report import run_reports
from meridian_assets.cli.runner import prepare_instance, progress_logger, report_failures, run_assets
from meridian_assets.cli.score import run_score
from meridian_assets.config import PROJECT_ROOT, MeridianConfig, get_config, meridian_home
from meridian_assets.errors import MeridianError
from meridian_assets.ingest.partitions import history_window, ingest_window


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
    else:
        cfg = get_config()
    assets = select_assets(False, False, None)
    start, end = ingest_window(cfg)
    ui = "make ui-real" if args.real else "make ui"
    rc = load_tables(assets, start, end, {"universe": {"force": True}}, cfg, ui=ui)
    if rc:
        return rc
    score_start, _ = history_window(cfg)
    rc = run_score(argparse.Namespace(start=score_start, end=end, ticker=None, regime_weights=False, output=None))
    if rc:
        return rc
    if _risk_model(end, cfg) or run_book(end, cfg, args.weeks, args.meta_every, score_start):
        return 1
    rc = run_reports(["daily", "weekly"])
    if not rc:
        print_outputs(cfg)
        if not args.real:  # the desk serves the default home
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


