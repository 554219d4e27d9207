"""Schedules: the daily refresh loads the session that closed and skips holidays; the weekly refresh
asks for the past week as one range run; both are stopped unless deployed."""

import datetime as dt
import importlib
from zoneinfo import ZoneInfo

import dagster as dg

from schedules import daily_refresh_schedule, weekly_full_refresh_schedule

NY = ZoneInfo("America/New_York")


def _ctx(d: dt.datetime):
    from meridian_assets.definitions import defs

    return dg.build_schedule_context(scheduled_execution_time=d, repository_def=defs.get_repository_def())


def test_daily_refresh_requests_the_session_that_closed():
    req = daily_refresh_schedule.evaluate_tick(_ctx(dt.datetime(2024, 3, 5, 18, 30, tzinfo=NY))).run_requests
    assert len(req) == 1 and req[0].partition_key == "2024-03-05"


def test_daily_refresh_skips_holidays():
    data = daily_refresh_schedule.evaluate_tick(_ctx(dt.datetime(2024, 7, 4, 18, 30, tzinfo=NY)))
    assert not data.run_requests and "not an NYSE session" in data.skip_message


def test_weekly_refresh_is_one_range_run():
    req = weekly_full_refresh_schedule.evaluate_tick(_ctx(dt.datetime(2024, 3, 9, 6, 0, tzinfo=NY))).run_requests
    assert len(req) == 1
    assert req[0].tags["dagster/asset_partition_range_start"] == "2024-03-04"
    assert req[0].tags["dagster/asset_partition_range_end"] == "2024-03-08"


def test_schedules_stopped_in_demo_and_running_when_deployed(monkeypatch):
    import schedules.ingest as mod

    assert daily_refresh_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    monkeypatch.setenv("MERIDIAN_PROFILE", "deployment")
    try:
        reloaded = importlib.reload(mod)
        assert reloaded.daily_refresh_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    finally:
        monkeypatch.delenv("MERIDIAN_PROFILE")
        importlib.reload(mod)


def test_daily_scoring_follows_the_refresh_and_skips_holidays():
    from schedules import daily_score_schedule

    req = daily_score_schedule.evaluate_tick(_ctx(dt.datetime(2024, 3, 5, 19, 15, tzinfo=NY))).run_requests
    assert len(req) == 1 and req[0].partition_key == "2024-03-05"
    assert not daily_score_schedule.evaluate_tick(_ctx(dt.datetime(2024, 12, 25, 19, 15, tzinfo=NY))).run_requests


def test_daily_risk_check_follows_scoring_and_skips_holidays():
    from schedules import daily_risk_schedule

    assert daily_risk_schedule.cron_schedule == "45 19 * * 1-5"
    req = daily_risk_schedule.evaluate_tick(_ctx(dt.datetime(2024, 3, 5, 19, 45, tzinfo=NY))).run_requests
    assert [r.run_key for r in req] == ["risk-2024-03-05"]
    assert daily_risk_schedule.job_name == "risk_check_job"
    assert not daily_risk_schedule.evaluate_tick(_ctx(dt.datetime(2024, 12, 25, 19, 45, tzinfo=NY))).run_requests
