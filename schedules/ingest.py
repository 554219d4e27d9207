"""Ingestion schedules: the daily refresh after the close and the weekly full refresh with SEC filings.

Stopped by default (the demo instance); running when MERIDIAN_PROFILE=deployment.
"""


import datetime as dt
import os

import dagster as dg

from meridian_assets import calendar
from meridian_assets.ingest.jobs import ingest_daily_job, ingest_job
from meridian_assets.ingest.partitions import TIMEZONE

DAILY_REFRESH_CRON = "30 18 * * 1-5"  # 18:30 New York, after the close and the data vendors' updates
WEEKLY_FULL_REFRESH_CRON = "0 6 * * 6"  # Saturday 06:00 New York


def default_status() -> dg.DefaultScheduleStatus:
    deployed = os.environ.get("MERIDIAN_PROFILE", "demo") == "deployment"
    return dg.DefaultScheduleStatus.RUNNING if deployed else dg.DefaultScheduleStatus.STOPPED


@dg.schedule(job=ingest_daily_job, cron_schedule=DAILY_REFRESH_CRON, execution_timezone=TIMEZONE,
             default_status=default_status())
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext):
    """Loads the session that just closed; skips NYSE holidays."""
    day = context.scheduled_execution_time.date()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day} is not an NYSE session")
    return dg.RunRequest(run_key=f"daily-{day}", partition_key=day.isoformat())


@dg.schedule(job=ingest_job, cron_schedule=WEEKLY_FULL_REFRESH_CRON, execution_timezone=TIMEZONE,
             default_status=default_status())
def weekly_full_refresh_schedule(context: dg.ScheduleEvaluationContext):
    """Reloads the past week's sessions with every table, SEC filings and 13-Fs included, in one run."""
    saturday = context.scheduled_execution_time.date()
    monday = saturday - dt.timedelta(days=5)
    friday = saturday - dt.timedelta(days=1)
    return dg.RunRequest(
        run_key=f"weekly-{saturday}",
        tags={
            "dagster/asset_partition_range_start": monday.isoformat(),
            "dagster/asset_partition_range_end": friday.isoformat(),
        },
    )
