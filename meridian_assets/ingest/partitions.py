"""The trading-day partitions every daily Layer-1 table shares.

One partition per weekday (NYSE holidays are partitions that load no rows), keyed YYYY-MM-DD in New York
time. `end_offset=1` makes the current weekday's partition exist, so the after-close schedule can load it.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from meridian_assets.config import get_config

TRADING_DAY_CRON = "0 0 * * 1-5"
TIMEZONE = "America/New_York"


def trading_day_partitions(start: dt.date | None = None) -> dg.TimeWindowPartitionsDefinition:
    start = start or get_config().history.partitions_start
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule=TRADING_DAY_CRON,
        start=start.isoformat(),
        fmt="%Y-%m-%d",
        timezone=TIMEZONE,
        end_offset=1,
    )


trading_days = trading_day_partitions()


def partition_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[dt.date, dt.date]:
    """The inclusive [first, last] calendar dates covered by the run's partition (range)."""
    op_ctx = context.op_execution_context if isinstance(context, dg.AssetCheckExecutionContext) else context
    keys = op_ctx.partition_key_range
    first = dt.date.fromisoformat(keys.start)
    last_key = dt.date.fromisoformat(keys.end)
    # A weekday partition's window runs to the next weekday: Friday's covers the weekend too.
    last = last_key + dt.timedelta(days=3 if last_key.weekday() == 4 else 1) - dt.timedelta(days=1)
    return first, last
