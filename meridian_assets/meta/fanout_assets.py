"""Meta-layer assets, fanned out: sleeve backtests as dynamic partitions, one Dagster run per sleeve@version.

    research_history           (duckdb pool)  the window's MarketHistory -> $MERIDIAN_HOME/research, the plan,
                                              and one `research_sleeves` partition per sleeve@version
    research_sleeve_backtests  (no pool)      one partition: the sleeve's backtest from the history file ->
                                              Parquet under research/<window>/results/<sleeve@version>
    research_backtests         (duckdb pool)  every partition's result published into backtest_runs,
                                              backtest_daily, backtest_trades (delete-then-insert by run id)

Why runs, not steps: a dynamic partition is a run's partition key, so one run materializes one partition; the
partitions run side by side as a backfill of `meta_research_sleeves_job` (one run per partition:
`BackfillPolicy.multi_run(1)`), as many at once as the run queue allows (`max_concurrent_runs` in
dagster.yaml), each in its own run worker — a process of its own, or a pod / container under the K8s / Docker
run launchers, which is what lets a sweep grow past one machine. A multiprocess executor would parallelise
only the steps of one run on one host, and every step would re-import the code location just as a run worker
does. A partition step never opens DuckDB, so it holds no pool slot: the ingest and the kill switch's
`risk_halt_job` are not queued behind a sweep, and DuckDB's file lock (one writer process) is never contended.

The same backtests as `sleeve_backtests` (one code path, `backtest.run_backtest` on the same history): the
published rows equal the in-step sweep's (tests/test_fanout.py). `sleeve_backtests` and the weekly
`meta_proposal_job` are unchanged; fanning out is the operator's choice of job (docs/scaling.md).
"""

import resource

import dagster as dg
import polars as pl

from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.meta import fanout
from meridian_assets.meta.assets import GROUP, MD, BacktestConfig, sweep_plan
from meridian_assets.meta.backtest import write_results
from meridian_assets.meta.history import load_history
from meridian_assets.meta.schemas import BACKTEST_DAILY, BACKTEST_RUNS, BACKTEST_TRADES
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

RESEARCH_SLEEVES = dg.DynamicPartitionsDefinition(name="research_sleeves")
RESEARCH_DIR = "research"  # under $MERIDIAN_HOME: shared by every run worker (docs/scaling.md)


def research_root(settings: MeridianSettings):
    return settings.get().home() / RESEARCH_DIR


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, kinds={"duckdb"},
          deps=["sleeve_configs", "factor_scores", "combined_scores", "daily_prices", "earnings_calendar",
                "corporate_actions", "macro_series", "risk_exposures", "risk_factor_covariance",
                "risk_specific_variance"])
def research_history(context: dg.AssetExecutionContext, config: BacktestConfig, db: DuckDBStore,
                     settings: MeridianSettings):
    """The research window's market history, read from DuckDB once and written to a file every partition run
    reads; the plan (window, purpose, sleeves in force) and one `research_sleeves` partition per sleeve@version
    (partitions of sleeves no longer in the plan are removed)."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        window, chosen, skipped = sweep_plan(context, config, conn, cfg, "research_history")
        if not chosen:
            raise dg.Failure(f"research_history: no sleeve to backtest ({'; '.join(skipped) or 'none enabled'})",
                             allow_retries=False)
        history = load_history(conn, *window, cfg)
    plan = fanout.write_plan(research_root(settings), history, chosen, *window, config.purpose, context.run_id)
    keys = list(plan.sleeves)
    name = RESEARCH_SLEEVES.name
    for old in set(context.instance.get_dynamic_partitions(name)) - set(keys):
        context.instance.delete_dynamic_partition(name, old)
    context.instance.add_dynamic_partitions(name, keys)
    for s in skipped:
        context.log.info(f"skipped {s}")
    return dg.MaterializeResult(metadata={
        "window": MD.text(f"{plan.start}..{plan.end}"), "purpose": MD.text(plan.purpose),
        "plan_id": MD.text(plan.plan_id), "partitions": MD.json(keys),
        "sessions": len(history.window(*window)), "names": len(history.tickers),
        "history_path": MD.path(str(plan.history_path)),
        "history_mb": MD.float(round(plan.history_path.stat().st_size / 2**20, 2)),
        "skipped": MD.md("\n".join(f"- {s}" for s in skipped) or "none")})


@dg.asset(group_name=GROUP, partitions_def=RESEARCH_SLEEVES, deps=[research_history], kinds={"parquet", "cvxpy"},
          backfill_policy=dg.BackfillPolicy.multi_run(1))
def research_sleeve_backtests(context: dg.AssetExecutionContext, settings: MeridianSettings):
    """One sleeve's daily-rebalance backtest over the research window, from the history file (never DuckDB):
    its daily book, trades and final target as Parquet files for `research_backtests` to publish."""
    require_clean_inputs(context)  # from Dagster's event log: a history filed before a failed check is not used
    key = context.partition_key
    plan = fanout.read_plan(research_root(settings))
    try:
        result = fanout.run_partition(plan, key, settings.get())
    except fanout.FanoutError as err:
        raise dg.Failure(str(err), allow_retries=False) from err
    context.log.info(str(result))
    s = result.summary()
    return dg.MaterializeResult(metadata={
        "run_id": MD.text(result.run_id), "plan_id": MD.text(plan.plan_id),
        "window": MD.text(f"{plan.start}..{plan.end}"), "sessions": result.sessions,
        "files": MD.path(str(plan.result_dir(key))),
        **{k: MD.float(float(s[k] or 0.0)) for k in ("total_return", "sharpe", "max_drawdown", "cost_bps")},
        "trades": s["trades"], "seconds": MD.float(round(result.seconds, 3)),
        # the run worker's CPU so far: its start-up (imports) and the backtest, what a run per partition costs
        "worker_cpu_seconds": MD.float(round(_process_cpu(), 3))})


def _process_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, deps=[research_sleeve_backtests], kinds={"duckdb"})
def research_backtests(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Every partition of the research plan published into backtest_runs / backtest_daily / backtest_trades
    (each run's rows replaced by run id); refused, leaving the tables as they were, while a partition is missing
    or was computed for another plan."""
    require_clean_inputs(context)
    plan = fanout.read_plan(research_root(settings))
    try:
        results = fanout.collect(plan)
    except fanout.FanoutError as err:
        raise dg.Failure(str(err), allow_retries=False) from err
    with db.connect() as conn:
        write_results(conn, results)
    table = pl.DataFrame([{"sleeve": r.sleeve.name, "version": r.sleeve_version, **{
        k: v for k, v in r.summary().items() if k in ("total_return", "sharpe", "max_drawdown", "cost_bps",
                                                      "trades")}} for r in results])
    common = {"window": MD.text(f"{plan.start}..{plan.end}"), "purpose": MD.text(plan.purpose),
              "plan_id": MD.text(plan.plan_id), "run_ids": MD.json({r.sleeve.name: r.run_id for r in results})}
    # The tables are sleeve_backtests' assets: record that this run replaced rows in them too.
    for t, n in ((BACKTEST_RUNS, len(results)), (BACKTEST_DAILY, sum(r.sessions for r in results)),
                 (BACKTEST_TRADES, sum(r.trades.height for r in results))):
        context.log_event(dg.AssetMaterialization(t.name, metadata={**common, "rows": n,
                                                                    "published_by": MD.text("research_backtests")}))
    return dg.MaterializeResult(metadata={**common, "runs": len(results),
                                          "preview": MD.md(preview_markdown(table, n=10))})


RESEARCH_ASSETS = [research_history, research_sleeve_backtests, research_backtests]


def submit_research_backfill(instance: dg.DagsterInstance, asset_graph, tags: dict[str, str] | None = None) -> str:
    """Submit what the UI's "Materialize" of research_sleeve_backtests (all partitions) with research_backtests
    submits: an asset backfill the daemon turns into one run per registered partition, queued side by side, and,
    once every partition has run, one publish run. Returns the backfill id."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)
    if not keys:
        raise dg.DagsterInvariantViolationError("no research_sleeves partitions: materialize research_history first")
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=asset_graph, partition_names=keys,
        asset_selection=[research_sleeve_backtests.key, research_backtests.key],
        backfill_timestamp=get_current_timestamp(), tags=tags or {}, dynamic_partitions_store=instance,
        all_partitions=False, title="research sleeves", description=None, run_config=None)
    instance.add_backfill(backfill)
    return backfill.backfill_id
