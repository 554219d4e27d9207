"""The `meridian` command: everyday operations mapped onto asset materializations on the project instance.

    meridian data [--start D] [--end D] [--no-filings] [--no-13f] [--forms 10-K,4] [--limit N] [--force]
    meridian demo [--real]
    meridian score [--start D] [--end D] [--ticker T] [--regime-weights] [--output PATH]
    meridian analyze [--estimate-cost] [--ticker T] [--sector S] [--force]
    meridian portfolio --current | --whatif | --rebalance [--optimize-method mvo|conviction] [--scored-csv PATH]
    meridian approve REBALANCE_ID [--reject]
    meridian execute --dry-run | --execute [--scored-csv PATH] [--rebalance-id ID]
    meridian risk [--stress] [--tail-only] [--clear-halt]
    meridian report --daily | --weekly | --tearsheet | --letter [--force] | --commentary [--as-of D]
    meridian meta proposals [--all|--status S] | approve ID | reject ID | revert ID [--by NAME]
    meridian backtest --sleeve S [--sleeve S2] [--start D] [--end D]
    meridian summary
    meridian reset --halt|--state|--db|--all [--yes] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from meridian_assets.cli import analyze, execute, portfolio, report
from meridian_assets.cli import meta as meta_cli
from meridian_assets.errors import MeridianError


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="meridian", description="Meridian long/short research-to-execution platform.")
    p.add_argument("--config", help="path to meridian.yaml (default: MERIDIAN_CONFIG or the project's)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="Layer 1: load market data, fundamentals and filings into DuckDB")
    d.add_argument("--start", type=_date, help="first session to load (default: the day after the last loaded, "
                   "or the configured history on an empty database)")
    d.add_argument("--end", type=_date, help="last session to load (default: history.end_date / latest)")
    d.add_argument("--no-filings", action="store_true", help="skip SEC filings, Form 4, 13-F, fundamentals, transcripts")
    d.add_argument("--no-13f", action="store_true", help="skip 13-F holdings")
    d.add_argument("--forms", help="SEC forms to pull, comma separated (e.g. 10-K,4)")
    d.add_argument("--limit", type=int, help="cap per-ticker loops to the first N stocks (quick test)")
    d.add_argument("--force", action="store_true", help="refresh the universe even if refreshed this week")

    m = sub.add_parser("demo", help="load the configured history on the embedded market and print the summary")
    m.add_argument("--real", action="store_true", help="use ../shared/realdata through the files provider")

    s = sub.add_parser("score", help="Layer 2: within-sector factor scores, composite and LONG/SHORT flags")
    s.add_argument("--start", type=_date, help="first session to score (default: the last loaded session)")
    s.add_argument("--end", type=_date, help="last session to score (default: the last loaded session)")
    s.add_argument("--ticker", help="print the single-stock factor card")
    s.add_argument("--regime-weights", action="store_true", help="VIX-conditional composite weights for this run")
    s.add_argument("--output", help="also write the scored universe CSV to this path")

    analyze.add_parser(sub)
    portfolio.add_parsers(sub)
    execute.add_parser(sub)
    report.add_parser(sub)
    meta_cli.add_parser(sub)
    sub.add_parser("summary", help="print the tables, row counts and date ranges")

    r = sub.add_parser("reset", help="start fresh: four tiers, from the halt lock to everything")
    tier = r.add_mutually_exclusive_group(required=True)
    for t, h in (("halt", "clear the kill-switch halt lock only"),
                 ("state", "drop portfolio/risk/execution state, keep market data"),
                 ("db", "delete the database and outputs, keep caches"),
                 ("all", "delete the whole Meridian home")):
        tier.add_argument(f"--{t}", dest="tier", action="store_const", const=t, help=h)
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    r.add_argument("--dry-run", action="store_true", help="show what would be removed, change nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.config:
        os.environ["MERIDIAN_CONFIG"] = args.config
    try:
        if args.command in ("data", "demo"):
            from meridian_assets.cli.data import run_data, run_demo

            return run_demo(args) if args.command == "demo" else run_data(args)
        if args.command == "score":
            from meridian_assets.cli.score import run_score

            return run_score(args)
        if args.command == "analyze":
            return analyze.run(args)
        if args.command == "portfolio":
            return portfolio.run_portfolio(args)
        if args.command == "approve":
            return portfolio.run_approve(args)
        if args.command == "risk":
            return portfolio.run_risk(args)
        if args.command == "execute":
            return execute.run(args)
        if args.command in ("meta", "backtest"):
            return meta_cli.run(args)
        if args.command == "report":
            return report.run(args)
        if args.command == "summary":
            from meridian_assets.cli.data import print_summary

            return print_summary()
        if args.command == "reset":
            from meridian_assets.cli.reset import run_reset

            return run_reset(args)
    except MeridianError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
