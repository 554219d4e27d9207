"""The execution domain's Definitions: its assets and `execution_job` (`jobs.py`; the `approved_rebalance_sensor`
that launches it is in `sensors/execution.py`; resources are bound by the code location: "db", "settings",
"broker")."""

import dagster as dg

from meridian_assets.execution.assets import EXECUTION_ASSETS
from meridian_assets.execution.jobs import execution_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=EXECUTION_ASSETS, jobs=[execution_job])
