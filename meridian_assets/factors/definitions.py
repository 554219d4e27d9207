"""The factor domain's Definitions."""

import dagster as dg

from meridian_assets.factors.assets import FACTOR_ASSETS
from meridian_assets.factors.checks import FACTOR_CHECKS
from meridian_assets.factors.jobs import factors_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=FACTOR_ASSETS, asset_checks=FACTOR_CHECKS, jobs=[factors_job])
