"""The serving domain's Definitions: the snapshot asset and `serving_snapshot_job` (`jobs.py`)."""

import dagster as dg

from meridian_assets.serving.assets import SERVING_ASSETS
from meridian_assets.serving.jobs import serving_snapshot_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=SERVING_ASSETS, jobs=[serving_snapshot_job])
