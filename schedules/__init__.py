"""Every schedule of the Meridian code location."""

from schedules.ingest import daily_refresh_schedule, weekly_full_refresh_schedule

SCHEDULES = [daily_refresh_schedule, weekly_full_refresh_schedule]

__all__ = ["SCHEDULES", "daily_refresh_schedule", "weekly_full_refresh_schedule"]
