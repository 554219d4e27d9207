"""`meridian data` and `meridian summary`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from meridian_assets import calendar
from meridian_assets.cli.runner import (failures, last_loaded_session, prepare_instance, progress_logger,
                                        report_warnings, run_assets, stopped_on_input)
from meridian_assets.config import MeridianConfig, get_config
from meridian_assets.errors import MeridianError
from meridian_assets.ingest.assets import FETCHED_TABLES, INGEST_ASSETS
from meridian_assets.ingest.jobs import FILINGS_ASSETS, THIRTEEN_F_ASSETS
from meridian_assets.ingest.partitions import ingest_window
from meridian_assets.summary import render_summary

CONFIGURABLE = ("universe", *FETCHED_TABLES)  # the assets that take IngestConfig


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


def load_tables(assets: list[str], start: dt.date, end: dt.date, op_config: dict, cfg: MeridianConfig,
             job: str = "ingest_job", ui: str = "make ui") -> int:
    from meridian_assets.definitions import build_definitions

    instance = prepare_instance()
    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    n_sessions = len(calendar.sessions(start, end))
    print(f"Loading {len(assets)} tables for {start}..{end} ({n_sessions} sessions) into {cfg.database_path()}",
          flush=True)
    result = run_assets(defs, job, assets, start, end, op_config=op_config, instance=instance)
    problems = failures(result)
    ok = result.success and not problems
    print(render_summary(cfg, run_id=result.run_id, dagster_home=os.environ.get("DAGSTER_HOME"), ok=ok, ui=ui))
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
    return load_tables(assets, start, end, op_config, cfg)


def print_summary() -> int:
    print(render_summary(get_config(), dagster_home=os.environ.get("DAGSTER_HOME")))
    return 0
