"""The analysis domain's Definitions (no resources: the code location binds "db", "settings",
"anthropic" and "openai")."""

import dagster as dg

from meridian_assets.llm.assets import ANALYSIS_ASSETS

analysis_job = dg.define_asset_job(
    "analysis_job",
    selection=dg.AssetSelection.groups("analysis"),
    description="LLM analysts on the candidates of the latest scored session (cost ceiling, cache, audit), "
    "the combined scores and the research notes.",
)


def defs() -> dg.Definitions:
    return dg.Definitions(assets=ANALYSIS_ASSETS, jobs=[analysis_job])
