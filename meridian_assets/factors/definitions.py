"""The factor domain's Definitions."""

import dagster as dg

from meridian_assets.factors.assets import FACTOR_ASSETS
from meridian_assets.factors.checks import FACTOR_CHECKS
from meridian_assets.ingest.partitions import trading_days

factor_job = dg.define_asset_job(
    "factor_job",
    selection=dg.AssetSelection.groups("factors"),
    partitions_def=trading_days,
    description="Score a range of sessions (one run) and refresh factor returns, crowding and the tear sheet.",
)


def defs() -> dg.Definitions:
    return dg.Definitions(assets=FACTOR_ASSETS, asset_checks=FACTOR_CHECKS, jobs=[factor_job])
