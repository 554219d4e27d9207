"""The meta layer's jobs (asset selections by key)."""

import dagster as dg

BACKTESTS = ["backtest_runs", "backtest_daily", "backtest_trades"]
WEEKLY = ["sleeve_configs", *BACKTESTS, "sleeve_decisions", "sleeve_allocation", "meta_target_book",
          "meta_performance", "meta_live_vs_backtest", "meta_risk_events", "meta_information",
          "meta_controller_config_proposals"]
APPLY_JOB = "meta_apply_job"

meta_proposal_job = dg.define_asset_job(
    "meta_proposal_job", selection=WEEKLY, tags={"meridian/layer": "meta"},
    description="Backtest every sleeve, decide PROMOTE / KEEP / KILL / RETIRE, allocate capital across sleeves, "
                "run the diagnostics and propose config changes with evidence (all PENDING until applied).")
meta_apply_job = dg.define_asset_job(
    APPLY_JOB, selection=["config_change_log"], tags={"meridian/layer": "meta"},
    description="Approve (apply), reject or revert config-change proposals: run config proposal_ids, action, "
                "decided_by, applied_by (HUMAN, or AUTO from the proposal_sensor).")
meta_backtest_job = dg.define_asset_job(
    "meta_backtest_job", selection=["sleeve_configs", *BACKTESTS], tags={"meridian/layer": "meta"},
    description="Backtest sleeves over a window (run config: sleeves, start, end, purpose).")
