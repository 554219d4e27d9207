"""The portfolio domain's Definitions: the proposal, decision and book assets and their jobs."""

import dagster as dg

from meridian_assets.portfolio.assets import PORTFOLIO_ASSETS

PROPOSAL = ["target_book", "rebalance_trades", "portfolio_factor_exposures"]
BOOK = ["portfolio_positions", "portfolio_history"]

rebalance_job = dg.define_asset_job(
    "rebalance_job", selection=PROPOSAL,
    description="What-if: propose a rebalance (target book, trades, factor spreads); commits nothing.")
rebalance_commit_job = dg.define_asset_job(
    "rebalance_commit_job", selection=[*PROPOSAL, "position_approvals", *BOOK, "risk_state"],
    config={"ops": {"position_approvals": {"config": {"decision": "commit", "decided_by": "simulated"}}}},
    description="Simulated book: propose, commit the trades as filled, mark the book and refresh the risk state.")
approve_rebalance_job = dg.define_asset_job(
    "approve_rebalance_job", selection=["position_approvals"],
    description="Approve (or reject) a proposal for the broker; approved_rebalance_sensor launches execution.")
risk_check_job = dg.define_asset_job(
    "risk_check_job", selection=[*BOOK, "risk_state"],
    description="Mark the book to market and refresh the risk state (breakers, monitors, stress); "
                "the kill_switch_sensor reads the result.")


def defs() -> dg.Definitions:
    return dg.Definitions(assets=PORTFOLIO_ASSETS,
                          jobs=[rebalance_job, rebalance_commit_job, approve_rebalance_job, risk_check_job])
