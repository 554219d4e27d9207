"""Scoring schedule: the session's factor scores after the daily refresh has loaded it.

Stopped by default (the demo instance); running when MERIDIAN_PROFILE=deployment.
"""

import dagster as dg

from meridian_assets import calendar
from meridian_assets.factors.jobs import factors_job
from meridian_assets.ingest.partitions import TIMEZONE
from schedules.ingest import default_status

DAILY_SCORE_CRON = "15 19 * * 1-5"  # 19:15 New York, 45 minutes after the daily refresh


@dg.schedule(job=factors_job, cron_schedule=DAILY_SCORE_CRON, execution_timezone=TIMEZONE,
             default_status=default_status())
def daily_score_schedule(context: dg.ScheduleEvaluationContext):
    """Scores the session that closed (factor scores, scored universe, factor returns, crowding, tear sheet)."""
    day = context.scheduled_execution_time.date()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day} is not an NYSE session")
    return dg.RunRequest(run_key=f"score-{day}", partition_key=day.isoformat())
