"""Meta-layer assets, part 2: diagnostics, config-change proposals, and decisions on them.

    meta_diagnostics                  →  meta_performance, meta_live_vs_backtest, meta_risk_events, meta_information
    meta_controller_config_proposals  →  proposals from rules over the diagnostics, each with evidence backtests
                                         (read back when a research run published them: `research_plan` with
                                         evidence; else computed in the step)
    config_change_log                 →  apply / reject / revert proposals (meta_apply_job; the sensor, the CLI)

The proposals' materialization carries ``batch_id`` and, per proposal, its target type, confidence, data
sufficiency and auto-apply eligibility: the proposal sensor reads only that (Dagster's event log).
"""

from dataclasses import dataclass

import dagster as dg
import polars as pl

from meridian_assets.errors import MeridianError
from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.meta import changes
from meridian_assets.meta import config_store as store
from meridian_assets.meta import diagnostics as dx
from meridian_assets.meta import information, proposals
from meridian_assets.meta import runs as rd
from meridian_assets.meta.assets import GROUP, MD, sweep_inputs
from meridian_assets.meta.backtest import run_id_for, write_results
from meridian_assets.meta.history import load_history
from meridian_assets.meta.rationale import write as write_rationale
from meridian_assets.meta.schemas import (
    BACKTEST_DAILY, BACKTEST_RUNS, META_INFORMATION, META_LIVE_VS_BACKTEST, META_PERFORMANCE, META_PROPOSALS,
    META_RISK_EVENTS, SLEEVE_ALLOCATION, SLEEVE_DECISIONS,
)
from meridian_assets.meta.sleeves import CORE, Sleeve, parse_policy, parse_sleeve
from meridian_assets.meta.sweep import run_sweep
from meridian_assets.storage import read, replace_where, replace_window, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

DIAGNOSTIC_TABLES = (META_PERFORMANCE, META_LIVE_VS_BACKTEST, META_RISK_EVENTS, META_INFORMATION)


@dg.multi_asset(
    specs=[dg.AssetSpec(t.name, group_name=GROUP, kinds={"duckdb", "polars"}, description=t.description,
                        deps=["backtest_runs", "backtest_daily", "backtest_trades", "portfolio_history",
                              "rebalance_trades", "risk_state"])
           for t in DIAGNOSTIC_TABLES],
    pool=DUCKDB_POOL, name="meta_diagnostics")
def meta_diagnostics(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Performance by regime, sector, sleeve and score bucket; the live book against its sleeve's backtest;
    frequency and impact of vetoes and breakers; entropy of returns by regime and the mutual information
    between each config knob and the outcome across sleeve runs."""
    require_clean_inputs(context)
    cfg = settings.get()
    m = cfg.meta
    with db.connect() as conn:
        runs, returns, labels = sweep_inputs(conn, cfg)
        as_of = runs["end"].max()
        ids = runs["run_id"].to_list()
        trades = rd.trades(conn, ids)
        live = rd.live_book(conn)
        start = runs["start"].min()
        live_trades = rd.live_trades(conn, start, as_of, m.forward_sessions)
        every = rd.all_runs(conn)
        every_daily = rd.daily(conn, every["run_id"].to_list())
    by_run = {r: trades.filter(pl.col("run_id") == r) for r in ids}
    sleeve_of = dict(zip(runs["run_id"], runs["sleeve"]))
    series = {s: f.select("date", "ret") for s, f in returns.items()}
    if live.height:
        series[dx.LIVE] = live.filter(pl.col("date") >= start).select("date", "ret")
    perf = pl.concat([
        dx.performance(series, labels, as_of),
        dx.sectors({r["sleeve"]: rd.metrics(r).get("sector_pnl", {}) for r in runs.iter_rows(named=True)}, as_of),
        dx.score_buckets({sleeve_of[r]: t for r, t in by_run.items()}, as_of)], how="diagonal_relaxed")
    followed = CORE if CORE in returns else next(iter(returns), None)
    gap_rows, gap = (dx.live_vs_backtest(live, returns[followed], followed, as_of) if followed and live.height
                     else (META_LIVE_VS_BACKTEST.empty(), {"sessions": 0}))
    events = [dx.risk_events("backtest", sleeve_of[r], t, returns.get(sleeve_of[r], pl.DataFrame()), as_of)
              for r, t in by_run.items()]
    if live.height or live_trades.height:
        events.append(dx.risk_events("live", dx.LIVE, live_trades, live, as_of))
    risk = pl.concat([e for e in events if e.height], how="diagonal_relaxed") if any(e.height for e in events) \
        else META_RISK_EVENTS.empty()
    knob_runs = [(r["run_id"], parse_sleeve(r["config_json"]).knobs(cfg),
                  every_daily.filter(pl.col("run_id") == r["run_id"]).select(
                      "date", pl.col("daily_return").alias("ret")))
                 for r in every.iter_rows(named=True)]
    info = pl.concat([information.entropy_by_regime(series, labels, m.entropy_bins, as_of),
                      information.knob_information(knob_runs, m.mi_bins, m.mi_permutations, as_of)],
                     how="diagonal_relaxed")
    frames = [(META_PERFORMANCE, perf), (META_LIVE_VS_BACKTEST, gap_rows), (META_RISK_EVENTS, risk),
              (META_INFORMATION, info)]
    with db.connect() as conn:
        for schema, f in frames:
            replace_window(conn, schema, f, as_of, as_of)
    common = {"as_of": MD.text(str(as_of)), "sleeves": MD.text(", ".join(sorted(returns)))}
    regime = perf.filter(pl.col("dimension").is_in(["vix_regime", "market_regime"]))
    yield dg.MaterializeResult(asset_key=META_PERFORMANCE.name, metadata={
        **common, "rows": perf.height, "by_regime": MD.md(preview_markdown(regime.select(
            "sleeve", "dimension", "bucket", "observations", "mean_bps", "sharpe", "cvar_bps"), n=30)),
        "by_score_bucket": MD.md(preview_markdown(perf.filter(pl.col("dimension") == "score_bucket").select(
            "sleeve", "bucket", "observations", "mean_bps", "hit_rate"), n=25))})
    yield dg.MaterializeResult(asset_key=META_LIVE_VS_BACKTEST.name, metadata={
        **common, "summary": MD.json(gap), "rows": gap_rows.height})
    yield dg.MaterializeResult(asset_key=META_RISK_EVENTS.name, metadata={
        **common, "rows": risk.height, "preview": MD.md(preview_markdown(risk.select(
            "source", "sleeve", "kind", "reason", "events", "frequency", "impact_bps"), n=25))})
    knobs = info.filter(pl.col("measure") == "knob_mutual_information")
    yield dg.MaterializeResult(asset_key=META_INFORMATION.name, metadata={
        **common, "runs": len(knob_runs), "knobs": MD.md(preview_markdown(knobs.select(
            "subject", "value", "normalized", "p_value", "samples"), n=25)),
        "entropy": MD.md(preview_markdown(info.filter(pl.col("measure") == "return_entropy").select(
            "subject", "bucket", "value", "normalized", "samples"), n=25))})


EVIDENCE = "evidence"  # the purpose of evidence backtests (their run ids depend on it)


def evidence_backtests(cands) -> list[tuple[Sleeve, int, bool]]:
    """The sleeve configs a batch's evidence backtests, once each, as (sleeve, version, proposed): every sleeve
    candidate's current config (its version) and proposed one (the next version)."""
    jobs, seen = [], set()
    for c in cands:
        if c.target_type == "ALLOCATION_CONFIG":
            continue
        for doc, version, proposed in ((c.current.doc, c.current.version, False),
                                       (c.proposed, c.current.version + 1, True)):
            s = parse_sleeve(doc)
            if s.hash not in seen:
                seen.add(s.hash)
                jobs.append((s, version, proposed))
    return jobs


@dataclass(frozen=True)
class PublishedRun:
    """An evidence backtest read back from backtest_runs / backtest_daily: what `_evidence` reads of a result."""

    run_id: str
    daily: pl.DataFrame  # date, daily_return
    row: dict

    def summary(self) -> dict:
        return self.row


def published_evidence(conn, jobs, cfg, window, since) -> dict[str, PublishedRun]:
    """The evidence backtests of ``jobs`` over ``window`` already in the tables and written after ``since`` (the
    sweep the proposals read), by run id: a research run's fanned-out evidence (`research_plan` with ``evidence``)
    or an earlier materialization's, on the same data. Run ids are deterministic in the sleeve config, the
    configuration, the window and the purpose, so the same backtest has the same id wherever it ran."""
    ids = [run_id_for(s, cfg, *window, EVIDENCE) for s, _, _ in jobs]
    if not ids or not table_exists(conn, BACKTEST_RUNS.name) or since is None:
        return {}
    marks = ", ".join("?" * len(ids))
    runs = read(conn, f"SELECT * FROM {BACKTEST_RUNS.name} WHERE run_id IN ({marks}) AND purpose = ? "
                      "AND created_at > ?", [*ids, EVIDENCE, since])
    daily = read(conn, f"SELECT run_id, date, daily_return FROM {BACKTEST_DAILY.name} WHERE run_id IN ({marks}) "
                       "ORDER BY run_id, date", ids)
    return {r["run_id"]: PublishedRun(r["run_id"], daily.filter(pl.col("run_id") == r["run_id"]).drop("run_id"), r)
            for r in runs.iter_rows(named=True) if r["sessions"]}


def to_compute(jobs, published: dict[str, PublishedRun], cfg, window) -> list[tuple[Sleeve, int]]:
    """The evidence backtests of ``jobs`` not in ``published``, as (sleeve, version) for `run_sweep`."""
    return [(s, v) for s, v, _ in jobs if run_id_for(s, cfg, *window, EVIDENCE) not in published]


def _evidence(cands, history, cfg, window, returns, decisions,
              published: dict[str, PublishedRun] | None = None) -> tuple[list[dict], list]:
    """One evidence dict per candidate: sleeve changes backtested (current and proposed, one parallel sweep of
    those not in ``published``), allocation changes evaluated on the sleeves' returns. Returns the evidence and
    the backtests computed here (to be written)."""
    published = published or {}
    jobs = evidence_backtests(cands)
    todo = to_compute(jobs, published, cfg, window)
    results = run_sweep(history, todo, cfg, *window, purpose=EVIDENCE) if todo else []
    by_hash = {r.sleeve.hash: r for r in results}
    by_hash.update({s.hash: published[rid] for s, _, _ in jobs
                    if (rid := run_id_for(s, cfg, *window, EVIDENCE)) in published})
    out = []
    pick = ("total_return", "sharpe", "max_drawdown", "cost_bps", "avg_turnover", "vetoed")
    for c in cands:
        if c.target_type == "ALLOCATION_CONFIG":
            out.append(proposals.allocation_evidence(returns, decisions, parse_policy(c.current.doc),
                                                     parse_policy(c.proposed), window, cfg))
            continue
        a, b = (by_hash[parse_sleeve(d).hash] for d in (c.current.doc, c.proposed))
        sa, sb = a.summary(), b.summary()
        ev = proposals.compare(a.daily.select("date", pl.col("daily_return").alias("ret")),
                               b.daily.select("date", pl.col("daily_return").alias("ret")),
                               cfg.meta.min_evidence_sessions,
                               {"current": {k: sa[k] for k in pick}, "proposed": {k: sb[k] for k in pick}})
        ev["run_ids"] = {"current": a.run_id, "proposed": b.run_id}
        out.append(ev)
    return out, results


@dataclass
class ProposalInputs:
    """What a proposal batch is built from (`proposal_inputs`)."""

    runs: pl.DataFrame  # the latest sweep's backtest_runs rows
    returns: dict  # sleeve -> daily returns of that sweep
    as_of: object
    dec: pl.DataFrame
    cands: list  # candidates not already pending
    duplicates: dict  # rule:target -> the pending proposal it repeats
    window: tuple


def proposal_inputs(conn, cfg) -> ProposalInputs:
    """The candidates of this week's batch (rules over the latest sweep, its decisions, performance and
    allocation; less those already pending) and their evidence window: what `meta_controller_config_proposals`
    and an evidence research plan (`research_plan` with ``evidence``) both start from."""
    store.seed(conn)
    runs, returns, _ = sweep_inputs(conn, cfg)
    as_of = runs["end"].max()
    versions = store.current(conn)
    sleeves = {s.name: (s, versions[store.config_key(store.SLEEVE, s.name)])
               for s, _ in store.sleeves_in_force(conn)}
    policy, _ = store.policy_in_force(conn)
    dec = read(conn, "SELECT * FROM sleeve_decisions WHERE as_of = ?", [as_of]) \
        if table_exists(conn, SLEEVE_DECISIONS.name) else SLEEVE_DECISIONS.empty()
    perf = read(conn, "SELECT * FROM meta_performance WHERE as_of = ?", [as_of]) \
        if table_exists(conn, META_PERFORMANCE.name) else META_PERFORMANCE.empty()
    alloc = read(conn, "SELECT * FROM sleeve_allocation WHERE as_of = ?", [as_of]) \
        if table_exists(conn, SLEEVE_ALLOCATION.name) else SLEEVE_ALLOCATION.empty()
    existing = changes.load(conn)
    ctx = proposals.Context(sleeves={n: v for n, v in sleeves.items() if n in returns},
                            policy=(policy, versions[store.ALLOCATION_KEY]),
                            summaries={r["sleeve"]: r for r in runs.iter_rows(named=True)},
                            performance=perf, decisions=dec, allocation=alloc, base=cfg)
    cands = proposals.rules(ctx)
    duplicates = {f"{c.rule}:{c.target_id}": d for c in cands if (d := proposals.pending_duplicates(existing, c))}
    cands = [c for c in cands if f"{c.rule}:{c.target_id}" not in duplicates]
    window = rd.backtest_window(conn, cfg.meta.evidence_sessions, None, as_of)
    return ProposalInputs(runs, returns, as_of, dec, cands, duplicates, window)


def _llm(cfg, run_id: str):
    """The LLM layer's structured-call helper when a key is set, else None (the template writes)."""
    from meridian_assets.analysis.client import key_available

    if not key_available(cfg.meta.rationale_provider):
        return None
    from meridian_assets.analysis.service import structured_llm

    return structured_llm(cfg.meta.rationale_provider, run_id=run_id, budget="meta", config=cfg,
                          database=cfg.database_path())


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, kinds={"duckdb", "cvxpy"},
          deps=[*(t.name for t in DIAGNOSTIC_TABLES), SLEEVE_DECISIONS.name, SLEEVE_ALLOCATION.name])
def meta_controller_config_proposals(context: dg.AssetExecutionContext, db: DuckDBStore,
                                     settings: MeridianSettings):
    """Config-change proposals from rules over the diagnostics, each backtested against the current config on
    the same window, with a confidence, a rationale (LLM when configured, else a template) and a revert
    snapshot; all PENDING until applied automatically (policy) or by a person."""
    require_clean_inputs(context)
    cfg = settings.get()
    m = cfg.meta
    with db.connect() as conn:
        inputs = proposal_inputs(conn, cfg)
        cands, window, as_of, dec, returns = inputs.cands, inputs.window, inputs.as_of, inputs.dec, inputs.returns
        duplicates, jobs = inputs.duplicates, evidence_backtests(inputs.cands)
        # Evidence a research run fanned out (or an earlier materialization wrote) since the sweep is read back.
        published = published_evidence(conn, jobs, cfg, window, inputs.runs["created_at"].max())
        history = load_history(conn, *window, cfg) if to_compute(jobs, published, cfg, window) else None
    batch_id = f"batch-{as_of:%Y%m%d}-{context.run_id[:8]}"
    sleeve_returns = {s: f.select("date", "ret") for s, f in returns.items()}
    decided = dict(zip(dec["sleeve"].to_list(), dec["decision"].to_list()))
    evidence, results = _evidence(cands, history, cfg, window, sleeve_returns, decided, published) \
        if cands else ([], [])
    ask = _llm(cfg, context.run_id) if cands else None  # after the connection is closed: the archive opens its own
    now, rows, unsupported = store.now(), [], []
    for c, ev in zip(cands, evidence):
        if not ev.get("supported"):
            unsupported.append(f"{c.rule} on {c.target_id}: the evidence does not support it "
                               f"(mean difference {ev.get('mean_difference_bps') or 0:+.2f} bps/day)")
            continue
        text = write_rationale(proposals.context_for_rationale(c, ev), ask, provider=m.rationale_provider,
                               model=m.rationale_model, ceiling_usd=m.rationale_cost_ceiling_usd)
        rows.append(proposals.row(batch_id, now, c, ev, text, cfg))
    frame = proposals.frame(rows)
    with db.connect() as conn:
        write_results(conn, results)
        replace_where(conn, META_PROPOSALS, frame, "batch_id", batch_id)
    listed = [{"proposal_id": r["proposal_id"], "target_type": r["target_type"], "target_id": r["target_id"],
               "rule": r["rule"], "confidence": r["confidence"], "data_sufficient": r["data_sufficient"],
               "auto_eligible": r["auto_eligible"]} for r in rows]
    return dg.MaterializeResult(metadata={
        "batch_id": MD.text(batch_id), "as_of": MD.text(str(as_of)), "proposals": len(rows),
        "evidence_backtests": len(jobs), "evidence_published": len(published),  # read back, not recomputed
        "proposals_json": MD.json(listed), "auto_eligible": sum(r["auto_eligible"] for r in rows),
        "not_supported": MD.md("\n".join(f"- {u}" for u in unsupported) or "none"),
        "already_pending": MD.json(duplicates),
        "preview": MD.md(preview_markdown(frame.select("proposal_id", "rule", "target_type", "target_id", "confidence",
                                                       "data_sufficient", "auto_eligible", "rationale_source"),
                                          n=20) if frame.height else "_no proposals_")})


class ProposalDecisionConfig(dg.Config):
    """Decide on proposals: approve (apply), reject or revert; AUTO applies only what the policy allows."""

    proposal_ids: list[str] = []
    action: str = "approve"  # approve | reject | revert
    decided_by: str = "operator"
    applied_by: str = "HUMAN"  # HUMAN | AUTO (the proposal sensor)


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, kinds={"duckdb"},
          deps=[META_PROPOSALS.name])
def config_change_log(context: dg.AssetExecutionContext, config: ProposalDecisionConfig, db: DuckDBStore,
                      settings: MeridianSettings):
    """Apply, reject or revert proposals: a new config version and a change-log entry (who, when, before,
    after) per applied or reverted proposal, its status updated in the same transaction."""
    cfg = settings.get()
    if config.action not in ("approve", "reject", "revert") or config.applied_by not in (changes.AUTO, changes.HUMAN):
        raise dg.Failure(f"action must be approve, reject or revert and applied_by HUMAN or AUTO, got "
                         f"{config.action!r} / {config.applied_by!r}", allow_retries=False)
    if not config.proposal_ids:
        raise dg.Failure("config_change_log: no proposal_ids given", allow_retries=False)
    outcomes, refused = [], {}
    with db.connect() as conn:
        store.seed(conn)
        for pid in config.proposal_ids:
            try:
                outcomes.append(changes.decide(conn, pid, config.action, by=config.decided_by,
                                               applied_by=config.applied_by, cfg=cfg.meta))
            except MeridianError as err:
                refused[pid] = str(err)
                context.log.warning(str(err))
    if refused and not outcomes and config.applied_by == changes.HUMAN:
        raise dg.Failure("; ".join(refused.values())[:500], allow_retries=False)
    done = [{"proposal_id": o.proposal_id, "status": o.status, "config_key": o.config_key,
             "from_version": o.from_version, "to_version": o.to_version, "before_hash": o.before_hash,
             "after_hash": o.after_hash} for o in outcomes]
    return dg.MaterializeResult(metadata={
        "action": MD.text(config.action), "decided_by": MD.text(config.decided_by),
        "applied_by": MD.text(config.applied_by), "decided": len(outcomes), "refused": MD.json(refused),
        "outcomes": MD.json(done),
        "preview": MD.md(preview_markdown(pl.DataFrame(done), n=20) if done else "_nothing decided_")})


PROPOSAL_ASSETS = [meta_diagnostics, meta_controller_config_proposals, config_change_log]
