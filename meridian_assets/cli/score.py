"""`meridian score [--start D] [--end D] [--ticker T] [--regime-weights] [--output PATH]`."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import polars as pl

from meridian_assets import calendar, dbread
from meridian_assets.cli.runner import (last_loaded_session, prepare_instance, progress_logger, report_failures,
                                        report_warnings, run_assets, stopped_on_input)
from meridian_assets.config import get_config
from meridian_assets.errors import MeridianError
from meridian_assets.factors.assets import FACTOR_ASSETS
from meridian_assets.summary import render_scoring_summary

FACTOR_ASSET_NAMES = [k.to_user_string() for a in FACTOR_ASSETS for k in a.keys]


def run_score(args: argparse.Namespace) -> int:
    from meridian_assets.definitions import build_definitions

    cfg = get_config()
    last = last_loaded_session(cfg)
    if last is None:
        raise MeridianError("no prices loaded yet: run `meridian data` (or `make demo`) first")
    end = calendar.session_on_or_before(args.end) if args.end else last
    start = calendar.session_on_or_after(args.start) if args.start else end
    if start > end:
        raise MeridianError(f"--start {start} is after --end {end}")
    op_config = {"factor_scores": {"regime_weights": True}} if args.regime_weights else {}
    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    print(f"Scoring {start}..{end} ({len(calendar.sessions(start, end))} sessions)", flush=True)
    result = run_assets(defs, "factors_job", FACTOR_ASSET_NAMES, start, end, op_config=op_config,
                        instance=prepare_instance())
    if report_failures(result, "Scoring"):
        return 2 if stopped_on_input(result) else 1  # 2: refused bad input (e.g. a failed blocking check upstream)
    csv = cfg.output_dir() / "scored_universe_latest.csv"
    print(render_scoring_summary(cfg))
    print()
    print("\n".join(coverage_report(result)))
    report_warnings(result, "Scoring")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(csv, args.output)
        print(f"Copied to {args.output}")
    if args.ticker:
        print()
        print(factor_card(cfg, args.ticker.upper(), end))
    return 0


def coverage_report(result) -> list[str]:
    """Which parents and sub-factors this run scored from data, their coverage and the weights actually used
    (from the run's `factor_scores` materialization metadata)."""
    from meridian_assets.factors.weights import coverage_lines

    for ev in result.all_events:
        if ev.event_type_value != "ASSET_MATERIALIZATION":
            continue
        mat = ev.event_specific_data.materialization
        if mat.asset_key.to_user_string() == "factor_scores" and "factor_coverage_rows" in mat.metadata:
            rows = mat.metadata["factor_coverage_rows"].value
            window = mat.metadata["window"].value if "window" in mat.metadata else ""
            return [f"Factors live in this run ({window}; weights re-normalised over the parents present):",
                    *coverage_lines(pl.DataFrame(rows, infer_schema_length=None))]
    return ["This run recorded no factor coverage (factor_scores was not materialized)."]


def factor_card(cfg, ticker: str, day) -> str:
    from meridian_assets.factors.scoring import single_stock_card

    with dbread.read_only(cfg.database_path()) as conn:
        scores = conn.sql("SELECT * FROM factor_scores WHERE date = ?", params=[day]).pl()
    if scores.filter(pl.col("ticker") == ticker).height == 0:
        raise MeridianError(f"{ticker} has no scores on {day} (not an index member, or not loaded)")
    return single_stock_card(scores, ticker, day)
