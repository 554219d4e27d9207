"""The serving domain's Definitions: the snapshot asset and `serving_snapshot_job` (launched by
`serving_snapshot_sensor` in `sensors/serving.py`, and by the desk when its copy is older than the database)."""

import dagster as dg

from meridian_assets.serving.assets import SERVING_ASSETS

SERVING_SNAPSHOT_JOB = "serving_snapshot_job"

serving_snapshot_job = dg.define_asset_job(
    SERVING_SNAPSHOT_JOB, selection=["serving_snapshot"],
    description="Publish the read-only copy of the database that the desk reads.")


def defs() -> dg.Definitions:
    return dg.Definitions(assets=SERVING_ASSETS, jobs=[serving_snapshot_job])
