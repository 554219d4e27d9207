"""The analysis domain's Definitions (no resources: the code location binds "db", "settings",
"anthropic" and "openai")."""

import dagster as dg

from meridian_assets.analysis.assets import ANALYSIS_ASSETS
from meridian_assets.analysis.jobs import analysis_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=ANALYSIS_ASSETS, jobs=[analysis_job])
