"""The portfolio domain's Definitions: the proposal, decision and book assets and their jobs (`jobs.py`)."""

import dagster as dg

from meridian_assets.portfolio.assets import PORTFOLIO_ASSETS
from meridian_assets.portfolio.jobs import approve_rebalance_job, rebalance_commit_job, rebalance_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=PORTFOLIO_ASSETS, jobs=[rebalance_job, rebalance_commit_job, approve_rebalance_job])
