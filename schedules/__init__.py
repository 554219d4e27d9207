"""Every schedule of the Meridian code location."""

from schedules.factors import daily_score_schedule
from schedules.ingest import daily_refresh_schedule, weekly_full_refresh_schedule
from schedules.meta import meta_proposal_schedule
from schedules.reporting import weekly_report_schedule
from schedules.risk import daily_risk_schedule

SCHEDULES = [daily_refresh_schedule, weekly_full_refresh_schedule, daily_score_schedule, daily_risk_schedule,
             weekly_report_schedule, meta_proposal_schedule]

__all__ = ["SCHEDULES", "daily_refresh_schedule", "meta_proposal_schedule", "daily_risk_schedule", "daily_score_schedule",
           "weekly_full_refresh_schedule", "weekly_report_schedule"]
