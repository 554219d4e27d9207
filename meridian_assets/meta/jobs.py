"""The meta layer's jobs (asset selections by key)."""

import dagster as dg

from meridian_assets.meta.executors import research_executor

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

# Fanned-out sleeve backtests (meta/fanout_assets.py): the plan (one research_sleeves partition per
# sleeve@version), then one run over a range of those partitions: the history, one step per sleeve side by side
# on the multiprocess executor, one publishing step.
RESEARCH_PLAN_JOB, RESEARCH_SLEEVES_JOB = "meta_research_plan_job", "meta_research_sleeves_job"
meta_research_plan_job = dg.define_asset_job(
    RESEARCH_PLAN_JOB, selection=dg.AssetSelection.assets("sleeve_configs", "research_plan"),
    tags={"meridian/layer": "meta"},
    description="Plan a research sweep: its window and sleeves, and one research_sleeves partition per "
                "sleeve@version (run config: sleeves, start, end, purpose; grid for a parameter sweep; evidence "
                "for this week's proposal evidence).")
# One process per core (Dagster's default; DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT in the run worker's
# environment sets another number), each step forked from a server that has imported, in this order: the
# one-library-thread settings (meta/fanout_worker.py, first: before any numerical library), the optimizer, the
# code location and the Dagster instance's storages (SQLite with alembic; PostgreSQL where installed: the fork
# server skips a module it cannot import). A step then starts without an interpreter or imports: ~2 s for the
# code location and cvxpy, ~1 s more to open the instance. The research executor (meta/executors.py)
# starts the server with the run and computes the history step in the run worker meanwhile.
RESEARCH_PRELOAD = [
    "meridian_assets.meta.fanout_worker", "cvxpy", "meridian_assets.definitions", "meridian_assets.meta.backtest",
    "dagster._core.execution.api", "dagster._core.executor.child_process_executor",
    "dagster._core.storage.fs_io_manager", "dagster._core.instance.factory", "dagster._core.secrets.env_file",
    "dagster._core.storage.sqlite_storage", "dagster._core.storage.runs.sqlite",
    "dagster._core.storage.event_log.sqlite", "dagster._core.storage.schedules.sqlite",
    "dagster._core.storage.migration.utils", "alembic.command", "alembic.config", "fsspec.implementations.local",
    "dagster_postgres"]
RESEARCH_EXECUTOR = research_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": RESEARCH_PRELOAD}}}, name="research_executor")
meta_research_sleeves_job = dg.define_asset_job(
    RESEARCH_SLEEVES_JOB, selection=dg.AssetSelection.assets("research_sleeve_backtests"),
    tags={"meridian/layer": "meta"}, executor_def=RESEARCH_EXECUTOR,
    description="Over a range of research_sleeves partitions (all of them: one run): the plan's history read "
                "once, one backtest step per sleeve@version side by side (one process per core, no DuckDB), "
                "then one step publishing them into backtest_runs, backtest_daily, backtest_trades.")
