"""The risk domain's Definitions: the risk model and state assets, the kill switch's `halt_lock`, and their
jobs (`jobs.py`)."""

import dagster as dg

from meridian_assets.risk.assets import RISK_ASSETS
from meridian_assets.risk.jobs import risk_halt_job, risk_check_job
from meridian_assets.risk.kill_switch import halt_lock


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[*RISK_ASSETS, halt_lock], jobs=[risk_check_job, risk_halt_job])
