"""The risk domain's Definitions."""

import dagster as dg

from meridian_assets.risk.assets import RISK_ASSETS


def defs() -> dg.Definitions:
    return dg.Definitions(assets=RISK_ASSETS)
