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
    meridian reset --stale-runs [--run RUN_ID] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from meridian_assets.errors import MeridianError

# Exit codes: 0 done; 1 a run failed; 2 bad input (argument, configuration, data file or data); 130 interrupted.
EXIT_BAD_INPUT = 2


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def positive_int(s: str) -> int:
    """An argparse type: a whole number >= 1 (``--limit 5``)."""
    try:
        n = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {s!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


def _config_option(argv: list[str] | None) -> str | None:
    """``--config PATH`` read before anything else: the subcommands' modules read the configuration when
    they are imported, so it must be in place (and its errors caught) first."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    return pre.parse_known_args(argv)[0].config


def build_parser() -> argparse.ArgumentParser:
    # Imported here, inside main's error handler: importing them reads meridian.yaml.
    from meridian_assets.cli import analyze, execute, portfolio, report
    from meridian_assets.cli import meta as meta_cli

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
    d.add_argument("--limit", type=positive_int, help="cap per-ticker loops to the first N stocks (quick test)")
    d.add_argument("--force", action="store_true", help="refresh the universe even if refreshed this week")

    m = sub.add_parser("demo", help="load the configured history on the embedded market and print the summary")
    m.add_argument("--real", action="store_true", help="use ../shared/realdata through the files provider")
    m.add_argument("--weeks", type=positive_int, default=52, help="weekly rebalances of the demo book (default 52)")
    m.add_argument("--meta-every", type=positive_int, default=13,
                   help="weeks between the meta layer's allocations across sleeves (default 13)")

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
                 ("all", "delete the whole Meridian home"),
                 ("stale-runs", "mark runs whose process died failed and free their DuckDB pool slots")):
        tier.add_argument(f"--{t}", dest="tier", action="store_const", const=t, help=h)
    r.add_argument("--run", metavar="RUN_ID", help="with --stale-runs: this run (from another host, or untagged)")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    r.add_argument("--dry-run", action="store_true", help="show what would be removed, change nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; a `MeridianError` (bad configuration, file, data, argument) is one line on stderr and
    exit code 2, never a traceback."""
    try:
        return _run(argv)
    except MeridianError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str] | None) -> int:
    config = _config_option(argv)
    if config:
        os.environ["MERIDIAN_CONFIG"] = config
    args = build_parser().parse_args(argv)
    from meridian_assets.cli import analyze, execute, portfolio, report
    from meridian_assets.cli import meta as meta_cli

    if args.command == "data":
        from meridian_assets.cli.data import run_data

        return run_data(args)
    if args.command == "demo":
        from meridian_assets.cli.demo import run_demo

        return run_demo(args)
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
    return 1


if __name__ == "__main__":
    sys.exit(main())
