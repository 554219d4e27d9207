"""The portfolio domain's jobs: propose a rebalance, commit it to the simulated book, or approve it for the
broker (`approved_rebalance_sensor` then launches `execution_job`)."""

import dagster as dg

PROPOSAL = ["target_book", "rebalance_trades", "portfolio_factor_exposures"]
BOOK = ["portfolio_positions", "portfolio_history"]

portfolio_rebalance_job = dg.define_asset_job(
    "portfolio_rebalance_job", selection=dg.AssetSelection.assets(*PROPOSAL),
    description="What-if: propose a rebalance (target book, trades, factor spreads); commits nothing.")
portfolio_commit_job = dg.define_asset_job(
    "portfolio_commit_job", selection=dg.AssetSelection.assets(*PROPOSAL, "position_approvals", *BOOK, "risk_state"),
    config={"ops": {"position_approvals": {"config": {"decision": "commit", "decided_by": "simulated"}}}},
    description="Simulated book: propose, commit the trades as filled, mark the book and refresh the risk state.")
portfolio_approve_job = dg.define_asset_job(
    "portfolio_approve_job", selection=dg.AssetSelection.assets("position_approvals"),
    description="Approve (or reject) a proposal for the broker; approved_rebalance_sensor launches execution.")
