"""The analysis domain's job: the LLM analysts, the combined scores and the research notes (`meridian analyze`).
It spends money, so it is never part of `main_job`."""

import dagster as dg

analysis_job = dg.define_asset_job(
    "analysis_job",
    selection=dg.AssetSelection.groups("analysis"),
    description="LLM analysts on the candidates of the latest scored session (cost ceiling, cache, audit), "
    "the combined scores and the research notes.",
)
