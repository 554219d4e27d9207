"""The portfolio domain's Definitions: the proposal, decision and book assets and their jobs (`jobs.py`)."""

import dagster as dg

from meridian_assets.portfolio.assets import PORTFOLIO_ASSETS
from meridian_assets.portfolio.jobs import portfolio_approve_job, portfolio_commit_job, portfolio_rebalance_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=PORTFOLIO_ASSETS,
                          jobs=[portfolio_rebalance_job, portfolio_commit_job, portfolio_approve_job])
