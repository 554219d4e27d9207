"""A code location for bench_startup's baseline: Meridian's own, plus `ingest_daily_job` on Dagster's multiprocess
executor (a fresh interpreter per step: how runs launched from the UI executed before `RUN_EXECUTOR`)."""

import dagster as dg

from meridian_assets import definitions as meridian
from meridian_assets.ingest.jobs import ingest_daily_job

MULTIPROCESS_JOB = "daily_refresh_job_multiprocess"

defs = dg.Definitions.merge(meridian.defs, dg.Definitions(jobs=[dg.define_asset_job(
    MULTIPROCESS_JOB, selection=ingest_daily_job.selection, partitions_def=ingest_daily_job.partitions_def,
    executor_def=dg.multiprocess_executor)]))
