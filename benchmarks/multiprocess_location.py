"""A code location for bench_startup's baseline: Meridian's own, plus `daily_refresh_job` on Dagster's multiprocess
executor (a fresh interpreter per step: how runs launched from the UI executed before `RUN_EXECUTOR`)."""

import dagster as dg

from meridian_assets import definitions as meridian
from meridian_assets.ingest.jobs import daily_refresh_job

MULTIPROCESS_JOB = "daily_refresh_job_multiprocess"

defs = dg.Definitions.merge(meridian.defs, dg.Definitions(jobs=[dg.define_asset_job(
    MULTIPROCESS_JOB, selection=daily_refresh_job.selection, partitions_def=daily_refresh_job.partitions_def,
    executor_def=dg.multiprocess_executor)]))
