"""Meta-layer assets, fanned out: sleeve backtests as dynamic partitions (one per sleeve@version), computed side
by side by the research executor (Dagster's multiprocess executor, `meta/executors.py`) in one run and
published by one writer step.

    research_plan              (duckdb pool)  the window, purpose and sleeves -> $MERIDIAN_HOME/research/plan.json,
                                              one `research_sleeves` partition per sleeve@version
    research_sleeve_backtests  a graph over a range of those partitions (one run), three kinds of step:
        research_history           (duckdb pool)  the window's MarketHistory read once -> a file; one mapped
                                                  step per partition of the run. Runs in the run worker,
                                                  while the fork server starts
        research_sleeve_backtest   (no pool)      one sleeve's backtest from that file -> Parquet under
                                                  research/<window>/results/<sleeve@version>; never DuckDB
        research_publish           (duckdb pool)  every result into backtest_runs, backtest_daily,
                                                  backtest_trades (delete-then-insert by run id). Runs in
                                                  the run worker, alone at the end of the run

`meta_research_sleeves_job` materializes a range of partitions (`BackfillPolicy.single_run()`: all of them is
one run) on `meta.jobs.RESEARCH_EXECUTOR`: one process per core, each sleeve step forked from a fork server that
has already imported the code location and cvxpy (`meta.jobs.RESEARCH_PRELOAD`), so a step costs no interpreter
start-up or imports. The server starts with the run and imports while the history step computes in the run
worker (tagged `RUN_WORKER_TAG`), which has loaded the code location already; the publish step, alone at the end,
runs there too. Each partition is its own materialization in the UI, with its own backtest's figures. A sleeve
step never opens DuckDB and holds no pool slot; the history and publish steps hold the `duckdb` pool, as every
writer does.

The same backtests as `sleeve_backtests` (one code path, `backtest.run_backtest` on the same history): the
published rows equal the in-step sweep's (tests/test_fanout.py). `sleeve_backtests` and the weekly
`meta_proposal_job` are unchanged; fanning out is the operator's choice of job (docs/scaling.md).
"""

import re
import resource

import dagster as dg
import duckdb
import polars as pl

from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.meta import fanout
from meridian_assets.meta.assets import GROUP, MD, BacktestConfig, sweep_plan
from meridian_assets.meta.backtest import write_results
from meridian_assets.meta.executors import RUN_WORKER_TAG
from meridian_assets.meta.history import load_history
from meridian_assets.meta.proposal_assets import EVIDENCE, evidence_backtests, proposal_inputs
from meridian_assets.meta.runs import SWEEP
from meridian_assets.meta.schemas import BACKTEST_DAILY, BACKTEST_RUNS, BACKTEST_TRADES
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

RESEARCH_SLEEVES = dg.DynamicPartitionsDefinition(name="research_sleeves")
RESEARCH_DIR = "research"  # under $MERIDIAN_HOME: shared by every step's process (docs/scaling.md)
ONE_RUN = dg.BackfillPolicy.single_run()  # a range of sleeve partitions is one run; its steps fan out
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def research_root(settings: MeridianSettings):
    return settings.get().home() / RESEARCH_DIR


class ResearchPlanConfig(BacktestConfig):
    """A sweep's window and sleeves (as `sleeve_backtests`), optionally over a grid of sleeve knobs."""

    # knob -> values (as text, read as the sleeve's field reads it), e.g. {"risk_aversion": ["1", "2", "5"]}: one
    # partition per sleeve and combination of values (fanout.grid_partitions)
    grid: dict[str, list[str]] = {}
    purpose: str = ""  # default: sweep (the weekly meta run's), research with a grid, evidence with evidence
    # the evidence backtests of this week's proposal batch (each sleeve candidate's current and proposed config,
    # over the evidence window) instead of the sleeves in force; meta_controller_config_proposals then reads them
    # back instead of computing them (proposal_assets.published_evidence)
    evidence: bool = False


def _purpose(config: ResearchPlanConfig) -> str:
    """A grid's variants carry their sleeve's name: published as the weekly sweep's, the meta layer would take
    them for the sleeves themselves."""
    if config.evidence:
        if config.grid or config.sleeves or config.start or config.end or config.purpose not in ("", EVIDENCE):
            raise dg.Failure("research_plan: evidence plans the proposal batch's own configs and window; leave "
                             "sleeves, grid, start, end and purpose empty", allow_retries=False)
        return EVIDENCE
    purpose = config.purpose or ("research" if config.grid else "sweep")
    if config.grid and purpose == SWEEP:
        raise dg.Failure("research_plan: a grid's variants cannot be published as the weekly sweep (purpose "
                         "sweep); leave purpose empty (research) or name another", allow_retries=False)
    return purpose


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, kinds={"duckdb"},
          deps=["sleeve_configs", "factor_scores", "combined_scores", "daily_prices", "earnings_calendar",
                "corporate_actions", "macro_series", "risk_exposures", "risk_factor_covariance",
                "risk_specific_variance"])
def research_plan(context: dg.AssetExecutionContext, config: ResearchPlanConfig, db: DuckDBStore,
                  settings: MeridianSettings):
    """The research plan: the window, the purpose and the sleeves in force, with one `research_sleeves` partition
    per sleeve@version, or with a grid per sleeve@version and point of the grid (a parameter sweep; partitions no
    longer in the plan are removed)."""
    require_clean_inputs(context)
    cfg = settings.get()
    purpose = _purpose(config)
    if config.evidence:
        window, partitions, skipped = _evidence_plan(db, cfg)
    else:
        with db.connect() as conn:
            window, chosen, skipped = sweep_plan(context, config, conn, cfg, "research_plan")
        if not chosen:
            raise dg.Failure(f"research_plan: no sleeve to backtest ({'; '.join(skipped) or 'none enabled'})",
                             allow_retries=False)
        try:
            partitions = fanout.grid_partitions(chosen, config.grid, cfg)
        except fanout.FanoutError as err:
            raise dg.Failure(str(err), allow_retries=False) from err
    plan = fanout.write_plan(research_root(settings), partitions, *window, purpose, context.run_id)
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
        "launch_tags": MD.json(research_run_tags(context.instance)),  # meta_research_sleeves_job over all of them
        "skipped": MD.md("\n".join(f"- {s}" for s in skipped) or "none")})


def _evidence_plan(db: DuckDBStore, cfg):
    """The window and partitions of this week's proposal evidence: the candidates the proposals asset would
    backtest now (rules over the latest sweep; those already pending left out)."""
    with db.connect() as conn:
        inputs = proposal_inputs(conn, cfg)
    jobs = evidence_backtests(inputs.cands)
    if not jobs:
        raise dg.Failure(f"research_plan: no sleeve proposal to evidence as of {inputs.as_of} ("
                         f"{len(inputs.cands)} candidates, {len(inputs.duplicates)} already pending)",
                         allow_retries=False)
    skipped = [f"{k}: already pending as {d}" for k, d in inputs.duplicates.items()]
    return inputs.window, fanout.evidence_partitions(jobs), skipped


def _mapping_key(key: str) -> str:
    """``core@1`` -> ``core_v1``, ``core@1~risk_aversion=2.5`` -> ``core_v1__risk_aversion_2_5`` (mapping keys are
    [A-Za-z0-9_])."""
    return re.sub(r"[^A-Za-z0-9_]", "_", key.replace("@", "_v").replace("~", "__"))


@dg.op(ins={"research_plan": dg.In(dg.Nothing)}, out=dg.DynamicOut(str), pool=DUCKDB_POOL,
       tags={RUN_WORKER_TAG: "true"})  # computed in the run worker while the fork server starts
def research_history(context: dg.OpExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """The plan's window of market history, read from DuckDB once and written to a file every sleeve step reads;
    then one mapped step per partition of the run, in the plan's (sweep) order. A partition the plan does not
    hold fails here, before any backtest starts."""
    require_clean_inputs(context)  # from Dagster's event log: nothing is read past a failed check
    plan = fanout.read_plan(research_root(settings))
    keys = set(context.partition_keys)
    unknown = sorted(keys - set(plan.sleeves))
    if unknown:
        raise dg.Failure(f"research plan {plan.plan_id}: partitions {', '.join(unknown)} are not in the plan "
                         f"({', '.join(plan.sleeves)}); materialize research_plan again", allow_retries=False)
    with db.connect() as conn:
        history = load_history(conn, plan.start, plan.end, settings.get())
        timed = {**_seconds_per_day(conn), **fanout.read_timings(research_root(settings))}  # steps' first
    fanout.write_history(plan, history)
    context.log.info(f"history {plan.start}..{plan.end}: {len(history.window(plan.start, plan.end))} sessions, "
                     f"{len(history.tickers)} names, {plan.history_path.stat().st_size / 2**20:.1f} MB")
    for key in fanout.longest_first(plan, keys, timed):  # the executor starts mapped steps in this order
        yield dg.DynamicOutput(key, mapping_key=_mapping_key(key))


def _seconds_per_day(conn) -> dict[str, float]:
    """Each sleeve's latest backtest's seconds per simulated day (none before its first backtest)."""
    try:
        rows = conn.sql(f"SELECT sleeve, arg_max(seconds_per_day, created_at) FROM {BACKTEST_RUNS.name} "
                        "GROUP BY sleeve").fetchall()
    except duckdb.CatalogException:
        return {}
    return {sleeve: float(spd) for sleeve, spd in rows if spd is not None}


@dg.op
def research_sleeve_backtest(context: dg.OpExecutionContext, key: str, settings: MeridianSettings) -> dict:
    """One sleeve's daily-rebalance backtest over the research window, from the history file (never DuckDB):
    its daily book, trades and final target as Parquet files; returns the partition's metadata."""
    plan = fanout.read_plan(research_root(settings))
    try:
        result = fanout.run_partition(plan, key, settings.get())
    except fanout.FanoutError as err:
        raise dg.Failure(str(err), allow_retries=False) from err
    context.log.info(str(result))
    s = result.summary()
    return {"key": key, "metadata": {
        "run_id": MD.text(result.run_id), "plan_id": MD.text(plan.plan_id),
        "window": MD.text(f"{plan.start}..{plan.end}"), "sessions": result.sessions,
        "files": MD.path(str(plan.result_dir(key))),
        **{k: MD.float(float(s[k] or 0.0)) for k in ("total_return", "sharpe", "max_drawdown", "cost_bps")},
        "trades": s["trades"], "seconds": MD.float(round(result.seconds, 3)),
        # the step process's CPU: the backtest and what the step itself costs beyond it (forked, no imports)
        "step_cpu_seconds": MD.float(round(_process_cpu(), 3))}}


def _process_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dg.op(out=dg.Out(dg.Nothing), pool=DUCKDB_POOL, tags={RUN_WORKER_TAG: "true"})  # alone, last: no fork
def research_publish(context: dg.AssetExecutionContext, results: list[dict], db: DuckDBStore,
                     settings: MeridianSettings) -> None:
    """The run's partitions published into backtest_runs / backtest_daily / backtest_trades (each backtest's rows
    replaced by run id); refused, leaving the tables as they were, while one of them is missing or was computed
    for another plan. Each partition's figures go on its own materialization."""
    plan = fanout.read_plan(research_root(settings))
    try:
        published = fanout.collect(plan, [r["key"] for r in results])
    except fanout.FanoutError as err:
        raise dg.Failure(str(err), allow_retries=False) from err
    with db.connect() as conn:
        write_results(conn, published)
    for r in results:
        context.add_asset_metadata(r["metadata"], partition_key=r["key"])
    run = {r["key"] for r in results}
    keyed = list(zip([k for k in plan.sleeves if k in run], published))  # collect's order: the plan's
    fanout.record_timings(research_root(settings), keyed)  # the next run starts its longest step first
    common = {"window": MD.text(f"{plan.start}..{plan.end}"), "purpose": MD.text(plan.purpose),
              "plan_id": MD.text(plan.plan_id), "run_ids": MD.json({key: r.run_id for key, r in keyed})}
    # The tables are sleeve_backtests' assets: record that this run replaced rows in them too.
    for t, n in ((BACKTEST_RUNS, len(published)), (BACKTEST_DAILY, sum(r.sessions for r in published)),
                 (BACKTEST_TRADES, sum(r.trades.height for r in published))):
        context.log_event(dg.AssetMaterialization(t.name, metadata={
            **common, "rows": n, "published_by": MD.text("research_sleeve_backtests")}))
    table = pl.DataFrame([{"partition": key, **{
        k: v for k, v in r.summary().items() if k in ("total_return", "sharpe", "max_drawdown", "cost_bps",
                                                      "trades")}} for key, r in keyed])
    context.log.info("published\n" + preview_markdown(table, n=10))


@dg.graph_asset(group_name=GROUP, partitions_def=RESEARCH_SLEEVES, backfill_policy=ONE_RUN,
                kinds={"duckdb", "parquet", "cvxpy"}, ins={"research_plan": dg.AssetIn(dagster_type=dg.Nothing)})
def research_sleeve_backtests(research_plan):
    """Each sleeve@version partition's daily-rebalance backtest over the plan's window, published into
    backtest_runs / backtest_daily / backtest_trades. Steps: the window's history from DuckDB to a file (duckdb
    pool); one backtest step per partition from that file, side by side, never opening DuckDB; one publishing
    step (duckdb pool)."""
    partitions = research_history(research_plan)
    return research_publish(partitions.map(research_sleeve_backtest).collect())


RESEARCH_ASSETS = [research_plan, research_sleeve_backtests]


def research_run_tags(instance: dg.DagsterInstance) -> dict[str, str]:
    """The tags of one run of `meta_research_sleeves_job` over every registered `research_sleeves` partition (a
    partition range): `dagster job launch -m meridian_assets.definitions -j meta_research_sleeves_job --tags
    '<these, as JSON>'` queues it; `research_plan` shows them as its `launch_tags` metadata."""
    keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)
    if not keys:
        raise dg.DagsterInvariantViolationError("no research_sleeves partitions: materialize research_plan first")
    return {RANGE_START: keys[0], RANGE_END: keys[-1]}
