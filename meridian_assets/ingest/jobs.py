"""Ingestion jobs: the full load (with SEC filings) and the fast daily refresh."""

from __future__ import annotations

import dagster as dg

from meridian_assets.ingest.partitions import trading_days

# SEC-sourced tables: skipped by `meridian data --no-filings` and the daily refresh.
FILINGS_ASSETS = (
    "fundamentals_raw", "fundamental_ratios", "sec_filings", "insider_transactions", "insider_cluster_flags",
    "institutional_holdings", "institutional_summary", "earnings_transcripts",
)
THIRTEEN_F_ASSETS = ("institutional_holdings", "institutional_summary")

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    partitions_def=trading_days,
    description="Every Layer-1 table for a range of sessions (one run for any range).",
)

ingest_daily_job = dg.define_asset_job(
    "ingest_daily_job",
    selection=dg.AssetSelection.groups("ingest") - dg.AssetSelection.assets(*FILINGS_ASSETS),
    partitions_def=trading_days,
    description="Prices, corporate actions, short interest, estimates, calendar and macro for one session.",
)
