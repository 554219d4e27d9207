"""The factor domain's job: score a range of sessions in one run (the daily schedule in `schedules/factors.py`,
`meridian score`)."""

import dagster as dg

from meridian_assets.ingest.partitions import trading_days

factors_job = dg.define_asset_job(
    "factors_job",
    selection=dg.AssetSelection.groups("factors"),
    partitions_def=trading_days,
    description="Score a range of sessions (one run) and refresh factor returns, crowding and the tear sheet.",
)
