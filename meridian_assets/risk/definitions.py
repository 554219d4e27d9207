"""The risk domain's Definitions."""

import dagster as dg

from meridian_assets.risk.assets import RISK_ASSETS
from meridian_assets.risk.kill_switch import halt_job, halt_lock


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[*RISK_ASSETS, halt_lock], jobs=[halt_job])
