"""The main job: every layer's data assets for a range of sessions, in one run (what `make demo` runs).

It lives here, beside the code location's `definitions.py`, because it spans every domain: each domain's own
jobs are in `<domain>/jobs.py`; a job that selects across all of them belongs to no one domain.

Decisions and actions are not data and stay out of it: committing or approving a rebalance
(`position_approvals`), the kill switch (`halt_lock`) and anything that talks to a broker or spends on an LLM
have their own jobs, as do the meta layer's weekly backtests and proposals. The weekly documents are weekly-partitioned and run in `reporting_weekly_job`.
"""

import dagster as dg

from meridian_assets.ingest.partitions import trading_days
from meridian_assets.reporting.jobs import WEEKLY_PARTITIONED_ASSETS

# The LLM analysts spend money: they run in analysis_job / `meridian analyze`; combined_scores (in main_job)
# keeps blending their cached results.
ANALYSTS = ("earnings_analysis", "filing_analysis", "risk_factor_analysis", "insider_analysis", "sector_analysis")
NOT_IN_MAIN = (dg.AssetSelection.assets("position_approvals", "halt_lock", *ANALYSTS)
               | dg.AssetSelection.groups("execution", "meta", "serving"))  # serving: published after runs

main_job = dg.define_asset_job(
    "main_job",
    selection=dg.AssetSelection.all() - NOT_IN_MAIN - WEEKLY_PARTITIONED_ASSETS,
    partitions_def=trading_days,
    description="Layer 1 through the risk state for a range of sessions, as one run.",
)
