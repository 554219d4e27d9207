"""Daily risk check: mark the book and refresh the risk state after scoring; the kill_switch_sensor reads it.

Stopped by default (the demo instance); running when MERIDIAN_PROFILE=deployment.
"""

import dagster as dg

from meridian_assets import calendar
from meridian_assets.ingest.partitions import TIMEZONE
from meridian_assets.risk.jobs import risk_check_job
from schedules.ingest import default_status

DAILY_RISK_CRON = "45 19 * * 1-5"  # 19:45 New York, after the daily scores


@dg.schedule(job=risk_check_job, cron_schedule=DAILY_RISK_CRON, execution_timezone=TIMEZONE,
             default_status=default_status())
def daily_risk_schedule(context: dg.ScheduleEvaluationContext):
    """Marks the book to market and writes the risk state (breakers, monitors, stress) for the session."""
    day = context.scheduled_execution_time.date()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day} is not an NYSE session")
    return dg.RunRequest(run_key=f"risk-{day}")
