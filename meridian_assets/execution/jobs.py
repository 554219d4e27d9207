"""The execution domain's job, launched by `approved_rebalance_sensor` (`sensors/execution.py`) for an approved
rebalance, or by `meridian execute`."""

import dagster as dg

from meridian_assets.execution.assets import GROUP

EXECUTION_JOB = "execution_job"

execution_job = dg.define_asset_job(
    EXECUTION_JOB,
    selection=dg.AssetSelection.groups(GROUP),
    description="Execute an approved rebalance: plan, reconcile with the broker, trade, record, summarise "
                "slippage. Run config: rebalance_id. Trades live only when launched by `meridian execute` "
                "after the operator's typed confirmation.",
    tags={"meridian/layer": "execution"},
)
