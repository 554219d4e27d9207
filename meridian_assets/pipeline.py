"""The main job: every layer's assets for a range of sessions, in one run (what `make demo` runs)."""

import dagster as dg

from meridian_assets.ingest.partitions import trading_days

main_job = dg.define_asset_job(
    "main_job",
    selection=dg.AssetSelection.all(),
    partitions_def=trading_days,
    description="Layer 1 through the latest built layer for a range of sessions, as one run.",
)
