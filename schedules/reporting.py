"""The weekly report schedule: the week's documents after the close of the configured weekday (Friday).

Stopped by default (the demo instance); running when MERIDIAN_PROFILE=deployment.
"""

import dagster as dg

from meridian_assets import calendar
from meridian_assets.config import get_config
from meridian_assets.ingest.partitions import TIMEZONE
from meridian_assets.reporting.jobs import reporting_weekly_job
from meridian_assets.reporting.partitions import REPORT_AS_OF_TAG, week_key
from schedules.ingest import default_status

DAY_OF_WEEK = {"Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5}
# 20:00 New York: after the daily refresh (18:30) and scoring (19:15) of the session
WEEKLY_REPORT_CRON = f"0 20 * * {DAY_OF_WEEK[get_config().reporting.commentary_weekday]}"


@dg.schedule(job=reporting_weekly_job, cron_schedule=WEEKLY_REPORT_CRON, execution_timezone=TIMEZONE,
             default_status=default_status())
def weekly_report_schedule(context: dg.ScheduleEvaluationContext):
    """Builds this week's summary, PDF and commentary (and refreshes the reporting tables as of the day)."""
    day = context.scheduled_execution_time.date()
    as_of = calendar.session_on_or_before(day)
    return dg.RunRequest(run_key=f"weekly-report-{week_key(day)}", partition_key=week_key(day),
                         tags={REPORT_AS_OF_TAG: as_of.isoformat()})
