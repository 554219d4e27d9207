"""Weekly partitions of the weekly documents, and the session a reporting run reports as of.

A weekly partition is an NYSE week keyed by its Monday (``2024-03-18`` covers Monday 18 to Sunday 24 March
in New York); its report is as of the last session on or before the Sunday. ``end_offset=1`` makes the
current week's partition exist, so the Friday schedule can build it.

The unpartitioned reporting assets report as of the latest book session on or before the end of the run's
window: the week of a `reporting_weekly_job` run, the tag ``meridian/report_as_of`` when given (the CLI sets it),
or the trading-day window of any other partitioned run (a `main_job` backfill), else the latest session.
"""

import datetime as dt

import dagster as dg

from meridian_assets import calendar
from meridian_assets.config import get_config
from meridian_assets.ingest.partitions import PARTITION, RANGE_END, TIMEZONE, tagged_window

WEEKLY_JOB = "reporting_weekly_job"
REPORT_AS_OF_TAG = "meridian/report_as_of"


def _first_monday(d: dt.date) -> dt.date:
    return d + dt.timedelta(days=(7 - d.weekday()) % 7)


weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=_first_monday(get_config().history.partitions_start).isoformat(),
    day_offset=1,  # weeks start on Monday
    timezone=TIMEZONE,
    fmt="%Y-%m-%d",
    end_offset=1,
)


def week_of(key: str) -> tuple[dt.date, dt.date]:
    """(Monday, last session on or before Sunday) of the week keyed ``key``."""
    monday = dt.date.fromisoformat(key)
    return monday, calendar.session_on_or_before(monday + dt.timedelta(days=6))


def week_key(day: dt.date) -> str:
    """The key of the week holding ``day``."""
    return (day - dt.timedelta(days=day.weekday())).isoformat()


def run_end(context: dg.AssetExecutionContext) -> dt.date | None:
    """The last date an unpartitioned reporting asset reports on in this run (None: the latest)."""
    tags = context.run.tags
    if REPORT_AS_OF_TAG in tags:
        return dt.date.fromisoformat(tags[REPORT_AS_OF_TAG])
    if context.job_name == WEEKLY_JOB:
        key = tags.get(RANGE_END) or tags.get(PARTITION)
        return week_of(key)[1] if key else None
    window = tagged_window(tags)
    return window[1] if window else None
