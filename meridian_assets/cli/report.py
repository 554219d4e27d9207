"""`meridian report --daily | --weekly | --tearsheet | --letter [--force] | --commentary [--as-of D]`.

    --daily       attribution (and output/daily_attribution.csv), trade analytics, turnover and tax, the tear
                  sheet, the backtest tear sheet, allocation snapshots, capital movement, the report charts and
                  the LP letter
    --weekly      the week's change summary, weekly PDF and commentary (with the reporting tables refreshed)
    --tearsheet   just the tear sheet (output/tear_sheet_latest.md) and the tables it reads
    --letter      the LP letter for the latest session (--force writes it again)
    --commentary  just this week's commentary (and the week's change summary it is written from)

Each is a run of `reporting_job` or `reporting_weekly_job` on the project's Dagster instance, so it shows in the UI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import TYPE_CHECKING

from meridian_assets.config import get_config
from meridian_assets.errors import MeridianError

if TYPE_CHECKING:  # dagster is imported by the commands that run, so `--help` does not pay for it
    import dagster as dg

DAILY = ["daily_attribution", "position_attribution", "win_loss", "sector_relative_alpha", "turnover_and_tax",
         "tear_sheet", "allocation_snapshots", "capital_movement", "cvar_by_regime", "live_vs_sim",
         "backtest_tear_sheet", "lp_letter"]
TEARSHEET = ["daily_attribution", "position_attribution", "win_loss", "turnover_and_tax", "tear_sheet"]
LETTER = ["allocation_snapshots", "daily_attribution", "lp_letter"]
WEEKLY = ["daily_attribution", "position_attribution", "win_loss", "turnover_and_tax", "tear_sheet",
          "allocation_snapshots", "capital_movement", "cvar_by_regime", "live_vs_sim",
          "weekly_change_summary", "weekly_report_pdf", "weekly_commentary"]
COMMENTARY = ["allocation_snapshots", "daily_attribution", "weekly_change_summary", "weekly_commentary"]
# metadata entries worth printing: where the documents are
SHOW = {"daily_attribution": "csv", "tear_sheet": "markdown", "backtest_tear_sheet": "markdown", "lp_letter": "pdf",
        "weekly_report_pdf": "path",
        "weekly_commentary": "path", "cvar_by_regime": "png", "live_vs_sim": "png"}


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="Layer 7: attribution, tear sheet, weekly PDF, commentary and LP letter")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--daily", dest="kind", action="store_const", const="daily",
                      help="attribution CSV, analytics, tear sheet, charts and the LP letter")
    what.add_argument("--weekly", dest="kind", action="store_const", const="weekly",
                      help="this week's change summary, PDF and commentary")
    what.add_argument("--tearsheet", dest="kind", action="store_const", const="tearsheet",
                      help="just output/tear_sheet_latest.md (and the HTML)")
    what.add_argument("--letter", dest="kind", action="store_const", const="letter", help="the LP letter")
    what.add_argument("--commentary", dest="kind", action="store_const", const="commentary",
                      help="just this week's commentary")
    p.add_argument("--force", action="store_true", help="with --letter: write today's letter again")
    p.add_argument("--as-of", type=_date, help="report as of this session (default: the book's latest)")
    return p


def latest_book_session(end: dt.date | None = None) -> dt.date:
    from meridian_assets import dbread

    db = get_config().database_path()
    if not db.exists():
        raise MeridianError(f"no database at {db}: run `meridian demo` (or `meridian data`) first")
    conn = dbread.connect(db)
    try:
        from meridian_assets.reporting.inputs import report_as_of

        day = report_as_of(conn, end)
    finally:
        conn.close()
    if day is None:
        raise MeridianError("no portfolio history yet: build and rebalance the book before reporting on it")
    return day


def execute(defs: dg.Definitions, kind: str, as_of: dt.date, force: bool = False,
            instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """One run of the reporting job for ``kind`` as of ``as_of``."""
    import dagster as dg

    from meridian_assets.cli.runner import run_in_process
    from meridian_assets.reporting.partitions import REPORT_AS_OF_TAG, WEEKLY_JOB, week_key

    assets = {"daily": DAILY, "tearsheet": TEARSHEET, "letter": LETTER, "weekly": WEEKLY,
              "commentary": COMMENTARY}[kind]
    weekly = kind in ("weekly", "commentary")
    job = defs.resolve_job_def(WEEKLY_JOB if weekly else "reporting_job")
    run_config: dict = {"loggers": {"progress": {"config": {"log_level": "INFO"}}}}
    if "lp_letter" in assets:
        run_config["ops"] = {"lp_letter": {"config": {"force": force, "as_of": as_of.isoformat()}}}
    return run_in_process(
        job, run_config=run_config, instance=instance,
        partition_key=week_key(as_of) if weekly else None,
        tags={REPORT_AS_OF_TAG: as_of.isoformat(), "meridian/source": "cli"},
        asset_selection=[dg.AssetKey(a) for a in assets], raise_on_error=False,
    )


def outputs(result: dg.ExecuteInProcessResult) -> list[str]:
    """'asset: path' lines of the documents a run wrote."""
    lines = []
    for ev in result.all_events:
        if ev.event_type_value != "ASSET_MATERIALIZATION":
            continue
        m = ev.event_specific_data.materialization
        key = m.asset_key.to_user_string()
        entry = m.metadata.get(SHOW.get(key, ""))
        if entry is not None:
            lines.append(f"{key}: {entry.value}")
        elif "status" in m.metadata:
            lines.append(f"{key}: {m.metadata['status'].value}")
    return lines


def run_reports(kinds: list[str], as_of: dt.date | None = None, force: bool = False) -> int:
    """Run each kind of report in turn as of the book's latest session on or before ``as_of`` (what `make demo`
    calls after the book is built: ``run_reports(["daily", "weekly"])``)."""
    from meridian_assets.cli.runner import progress_logger, report_failures
    from meridian_assets.definitions import build_definitions

    day = latest_book_session(as_of)
    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    for kind in kinds:
        print(f"Reporting ({kind}) as of {day}", flush=True)
        result = execute(defs, kind, day, force=force)
        if report_failures(result, f"The {kind} report run"):
            return 1
        for line in outputs(result):
            print(line)
    return 0


def run(args: argparse.Namespace) -> int:
    return run_reports([args.kind], args.as_of, args.force)
