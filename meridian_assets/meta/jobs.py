"""The meta layer's jobs (asset selections by key)."""

import dagster as dg

BACKTESTS = ["backtest_runs", "backtest_daily", "backtest_trades"]
WEEKLY = ["sleeve_configs", *BACKTESTS, "sleeve_decisions", "sleeve_allocation", "meta_target_book",
          "meta_performance", "meta_live_vs_backtest", "meta_risk_events", "meta_information",
          "meta_controller_config_proposals"]
APPLY_JOB = "meta_apply_job"

meta_proposal_job = dg.define_asset_job(
    "meta_proposal_job", selection=dg.AssetSelection.assets(*WEEKLY), tags={"meridian/layer": "meta"},
    description="Backtest every sleeve, decide PROMOTE / KEEP / KILL / RETIRE, allocate capital across sleeves, "
                "run the diagnostics and propose config changes with evidence (all PENDING until applied).")
meta_apply_job = dg.define_asset_job(
    APPLY_JOB, selection=dg.AssetSelection.assets("config_change_log"), tags={"meridian/layer": "meta"},
    description="Approve (apply), reject or revert config-change proposals: run config proposal_ids, action, "
                "decided_by, applied_by (HUMAN, or AUTO from the proposal_sensor).")
meta_backtest_job = dg.define_asset_job(
    "meta_backtest_job", selection=dg.AssetSelection.assets("sleeve_configs", *BACKTESTS),
    tags={"meridian/layer": "meta"},
    description="Backtest sleeves over a window (run config: sleeves, start, end, purpose).")

# Fanned-out sleeve backtests (meta/fanout_assets.py): the history and plan, then a backfill of
# meta_research_sleeves_job (one run per sleeve@version partition), then the publish.
RESEARCH_HISTORY_JOB, RESEARCH_SLEEVES_JOB, RESEARCH_PUBLISH_JOB = (
    "meta_research_history_job", "meta_research_sleeves_job", "meta_research_publish_job")
meta_research_history_job = dg.define_asset_job(
    RESEARCH_HISTORY_JOB, selection=dg.AssetSelection.assets("sleeve_configs", "research_history"),
    tags={"meridian/layer": "meta"},
    description="Write the research window's market history to a file and register one research_sleeves "
                "partition per sleeve@version (run config: sleeves, start, end, purpose).")
meta_research_sleeves_job = dg.define_asset_job(
    RESEARCH_SLEEVES_JOB, selection=dg.AssetSelection.assets("research_sleeve_backtests"),
    tags={"meridian/layer": "meta"},
    description="One sleeve's backtest from the research history file, without DuckDB; backfill every "
                "research_sleeves partition to run them side by side (one run each).")
meta_research_publish_job = dg.define_asset_job(
    RESEARCH_PUBLISH_JOB, selection=dg.AssetSelection.assets("research_backtests"), tags={"meridian/layer": "meta"},
    description="Publish every research partition's results into backtest_runs, backtest_daily, backtest_trades.")
