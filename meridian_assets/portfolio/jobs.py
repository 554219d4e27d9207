"""The portfolio domain's jobs: propose a rebalance, commit it to the simulated book, or approve it for the
broker (`approved_rebalance_sensor` then launches `execution_job`)."""

import dagster as dg

PROPOSAL = ["target_book", "rebalance_trades", "portfolio_factor_exposures"]
BOOK = ["portfolio_positions", "portfolio_history"]

rebalance_job = dg.define_asset_job(
    "rebalance_job", selection=dg.AssetSelection.assets(*PROPOSAL),
    description="What-if: propose a rebalance (target book, trades, factor spreads); commits nothing.")
rebalance_commit_job = dg.define_asset_job(
    "rebalance_commit_job", selection=dg.AssetSelection.assets(*PROPOSAL, "position_approvals", *BOOK, "risk_state"),
    config={"ops": {"position_approvals": {"config": {"decision": "commit", "decided_by": "simulated"}}}},
    description="Simulated book: propose, commit the trades as filled, mark the book and refresh the risk state.")
approve_rebalance_job = dg.define_asset_job(
    "approve_rebalance_job", selection=dg.AssetSelection.assets("position_approvals"),
    description="Approve (or reject) a proposal for the broker; approved_rebalance_sensor launches execution.")
