"""Partitions and load windows of the Layer-1 tables.

`daily_prices` has one partition per NYSE weekday (holidays are partitions that load no rows), keyed
YYYY-MM-DD in New York time; `end_offset=1` makes the current weekday's partition exist so the after-close
schedule can load it.

Every other Layer-1 table is *windowed*: one asset materialization loads the rows that became known in a
window of sessions (delete-then-insert on its known-date column). The window is, first match wins:
1. `start`/`end` in the asset's run config;
2. the run's partition or partition range (so a backfill of daily_prices over a range loads the same range
   of every other table in the same run);
3. incremental: from the day after the latest known date already loaded (the configured history on an
   empty table) to the last completed session.
Dagster records one event per partition, so keeping these tables unpartitioned keeps a three-year load to a
few thousand events instead of tens of thousands, while the rows still carry the date they became known.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg
import duckdb

from meridian_assets import calendar
from meridian_assets.config import MeridianConfig, get_config
from meridian_assets.tables import TableSchema
from meridian_assets.storage import table_exists

TRADING_DAY_CRON = "0 0 * * 1-5"
TIMEZONE = "America/New_York"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
PARTITION = "dagster/partition"


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


def _key_window(first_key: str, last_key: str) -> tuple[dt.date, dt.date]:
    first = dt.date.fromisoformat(first_key)
    last_key_date = dt.date.fromisoformat(last_key)
    # A weekday partition's window runs to the next weekday: Friday's covers the weekend too.
    last = last_key_date + dt.timedelta(days=3 if last_key_date.weekday() == 4 else 1) - dt.timedelta(days=1)
    return first, last


def partition_window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The inclusive [first, last] calendar dates covered by a partitioned asset's partition (range)."""
    keys = context.partition_key_range
    return _key_window(keys.start, keys.end)


def tagged_window(tags: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The window of a run launched for a partition or a partition range, from its tags."""
    if RANGE_START in tags and RANGE_END in tags:
        return _key_window(tags[RANGE_START], tags[RANGE_END])
    if PARTITION in tags:
        return _key_window(tags[PARTITION], tags[PARTITION])
    return None


def history_window(cfg: MeridianConfig) -> tuple[dt.date, dt.date]:
    """[first, last] sessions of the configured history (history.years ending history.end_date)."""
    end = calendar.last_completed_session() if cfg.history.end_date == "latest" else cfg.history.end_date
    end = calendar.session_on_or_before(end)
    start = calendar.session_on_or_after(end.replace(year=end.year - cfg.history.years) + dt.timedelta(days=1))
    return start, end


def ingest_window(cfg: MeridianConfig) -> tuple[dt.date, dt.date]:
    """The history window plus `history.warmup_days` before it: what an empty database is loaded with."""
    start, end = history_window(cfg)
    return calendar.session_on_or_after(start - dt.timedelta(days=cfg.history.warmup_days)), end


def incremental_window(last_loaded: dt.date | None, cfg: MeridianConfig) -> tuple[dt.date, dt.date]:
    """From the day after ``last_loaded`` (or the history start) to the last session; never empty."""
    hist_start, end = ingest_window(cfg)
    if cfg.history.end_date == "latest":
        end = calendar.last_completed_session()
    start = hist_start if last_loaded is None else last_loaded + dt.timedelta(days=1)
    return (min(start, end), end)


def load_window(
    context: dg.AssetExecutionContext, config: Any, conn: duckdb.DuckDBPyConnection,
    schema: TableSchema, cfg: MeridianConfig,
) -> tuple[dt.date, dt.date]:
    """The window of known dates this materialization loads (rules in the module docstring).

    ``config`` is any run config with optional ``start``/``end`` fields (None: no override).
    """
    if context.assets_def.partitions_def is not None:
        return partition_window(context)
    if config is not None and getattr(config, "start", None):
        start = dt.date.fromisoformat(config.start)
        end = dt.date.fromisoformat(config.end) if config.end else calendar.last_completed_session()
        return start, end
    tagged = tagged_window(context.run.tags)
    if tagged:
        return tagged
    col = schema.partition_column
    last = (conn.execute(f'SELECT max("{col}") FROM "{schema.name}"').fetchall()[0][0]
            if table_exists(conn, schema.name) else None)
    return incremental_window(last, cfg)
