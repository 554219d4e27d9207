"""The serving domain's job, launched by `serving_snapshot_sensor` (`sensors/serving.py`) and by the desk when
its copy is older than the database."""

import dagster as dg

SERVING_SNAPSHOT_JOB = "serving_snapshot_job"

serving_snapshot_job = dg.define_asset_job(
    SERVING_SNAPSHOT_JOB, selection=dg.AssetSelection.assets("serving_snapshot"),
    description="Publish the read-only copy of the database that the desk reads.")
