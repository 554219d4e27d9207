"""`meridian score [--start D] [--end D] [--ticker T] [--regime-weights] [--output PATH]`."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import polars as pl

from meridian_assets import calendar, dbread
from meridian_assets.cli.data import last_loaded_session
from meridian_assets.cli.runner import prepare_instance, progress_logger, report_failures, run_assets
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
    result = run_assets(defs, "factor_job", FACTOR_ASSET_NAMES, start, end, op_config=op_config,
                        instance=prepare_instance())
    if report_failures(result, "Scoring"):
        return 1
    csv = cfg.output_dir() / "scored_universe_latest.csv"
    print(render_scoring_summary(cfg))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(csv, args.output)
        print(f"Copied to {args.output}")
    if args.ticker:
        print()
        print(factor_card(cfg, args.ticker.upper(), end))
    return 0


def factor_card(cfg, ticker: str, day) -> str:
    from meridian_assets.factors.scoring import single_stock_card

    with dbread.read_only(cfg.database_path()) as conn:
        scores = conn.sql("SELECT * FROM factor_scores WHERE date = ?", params=[day]).pl()
    if scores.filter(pl.col("ticker") == ticker).height == 0:
        raise MeridianError(f"{ticker} has no scores on {day} (not an index member, or not loaded)")
    return single_stock_card(scores, ticker, day)
