"""The execution domain's Definitions: its assets and `execution_job` (the `approved_rebalance_sensor` that
launches it is in `sensors/execution.py`; resources are bound by the code location: "db", "settings", "broker")."""

import dagster as dg

from meridian_assets.execution.assets import EXECUTION_ASSETS, GROUP

EXECUTION_JOB = "execution_job"

execution_job = dg.define_asset_job(
    EXECUTION_JOB,
    selection=dg.AssetSelection.groups(GROUP),
    description="Execute an approved rebalance: plan, reconcile with the broker, trade, record, summarise "
                "slippage. Run config: rebalance_id. Trades live only when launched by `meridian execute` "
                "after the operator's typed confirmation.",
    tags={"meridian/layer": "execution"},
)


def defs() -> dg.Definitions:
    return dg.Definitions(assets=EXECUTION_ASSETS, jobs=[execution_job])
