"""The ingestion domain's Definitions."""

import dagster as dg

from meridian_assets.ingest.assets import INGEST_ASSETS
from meridian_assets.ingest.checks import INGEST_CHECKS
from meridian_assets.ingest.jobs import ingest_daily_job, ingest_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=INGEST_ASSETS, asset_checks=INGEST_CHECKS, jobs=[ingest_job, ingest_daily_job])
