"""The reporting jobs: the daily reports (unpartitioned) and the weekly documents (weekly partitions)."""

import dagster as dg

from meridian_assets.reporting.assets import ANALYTICS_ASSETS
from meridian_assets.reporting.document_assets import WEEKLY_ASSETS, lp_letter
from meridian_assets.reporting.partitions import WEEKLY_JOB, weekly_partitions

DAILY_REPORT_ASSETS = [*ANALYTICS_ASSETS, lp_letter]

reporting_job = dg.define_asset_job(
    "reporting_job",
    selection=dg.AssetSelection.assets(*DAILY_REPORT_ASSETS),
    description="Attribution (and its CSV), trade analytics, turnover and tax, the tear sheet, allocation "
                "snapshots and capital movement, the report charts and the LP letter, as of the latest session.",
)

reporting_weekly_job = dg.define_asset_job(
    WEEKLY_JOB,
    selection=dg.AssetSelection.assets(*ANALYTICS_ASSETS, *WEEKLY_ASSETS),
    partitions_def=weekly_partitions,
    description="A week's documents: the reporting tables refreshed as of the week's last session, then the "
                "weekly change summary, the weekly PDF and the commentary.",
)

# What a job over every asset of the code location must leave out: assets partitioned by week cannot share
# a run with trading-day partitions.
WEEKLY_PARTITIONED_ASSETS = dg.AssetSelection.assets(*WEEKLY_ASSETS)
