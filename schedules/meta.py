"""`meta_proposal_schedule`: the weekly meta run, Saturday morning after the weekly full refresh.

Stopped by default (the demo instance); running when MERIDIAN_PROFILE=deployment.
"""

import dagster as dg

from meridian_assets.ingest.partitions import TIMEZONE
from meridian_assets.meta.jobs import meta_proposal_job
from schedules.ingest import default_status

META_PROPOSAL_CRON = "0 9 * * 6"  # Saturday 09:00 New York, after the weekly full refresh (06:00)


@dg.schedule(job=meta_proposal_job, cron_schedule=META_PROPOSAL_CRON, execution_timezone=TIMEZONE,
             default_status=default_status())
def meta_proposal_schedule(context: dg.ScheduleEvaluationContext):
    """Backtests the sleeves, decides, allocates, diagnoses and proposes config changes, once a week."""
    day = context.scheduled_execution_time.date()
    return dg.RunRequest(run_key=f"meta-{day}", tags={"meridian/meta_week": day.isoformat()})
