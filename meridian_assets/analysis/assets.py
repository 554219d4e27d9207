"""Layer-3 assets: five LLM analysts, the combined score and the research notes.

Thin wiring over plain modules: `candidates` picks the names and the as-of session, each analyzer builds
its input, `runner` calls the model through `structured.ask_structured` (cost ceiling, cache, audit), `blend`
combines, `reports` writes Markdown. The analysts share one ``analysis`` budget per run: each step's
tracker starts from what the run already spent (`llm_calls`), so the $25 ceiling holds across steps.

Without the key of a task's provider the analyst is skipped (metadata ``status: skipped`` with the
reason) and `combined_scores` is 100% quant.
"""

import datetime as dt
from typing import Optional

import dagster as dg
import polars as pl

from meridian_assets.errors import MeridianError
from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.ingest.partitions import tagged_window
from meridian_assets.analysis.analyzers import ALL_ANALYZERS, BLENDED, Analyzer
from meridian_assets.analysis.audit import AuditLog, run_totals, utc_now
from meridian_assets.analysis.blend import blend, combined_violations, flag_changes, llm_scores
from meridian_assets.analysis.checks import COMBINED_VALID, combined_result, not_published
from meridian_assets.analysis.cache import AnalysisCache
from meridian_assets.analysis.candidates import latest_scored_date, scores_on, select_candidates
from meridian_assets.analysis.costs import CostTracker
from meridian_assets.analysis.reports import write_reports
from meridian_assets.analysis.runner import COMPLETED, SKIPPED, run_analyzer
from meridian_assets.analysis.schemas import COMBINED_SCORES
from meridian_assets.analysis.secrets import redact
from meridian_assets.analysis.store import Store
from meridian_assets.storage import read, replace_window, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings
from resources.analysis import AnthropicResource, OpenAIResource

GROUP = "analysis"
BUDGET = "analysis"
QUANT_ONLY = "the book stays 100% quant"
WRITE_BATCH_SECONDS = 1.0  # results and audit rows reach DuckDB at most this long after their call returns


class AnalysisRunConfig(dg.Config):
    """Run options of the analysis assets (the `meridian analyze` flags)."""

    tickers: Optional[list[str]] = None  # analyse these names instead of the candidates
    sector: Optional[str] = None  # analyse every scored name of this sector
    force: bool = False  # ignore the analysis cache


def _as_of(context: dg.AssetExecutionContext, conn) -> dt.date:
    window = tagged_window(context.run.tags)
    as_of = latest_scored_date(conn, window[1] if window else None)
    if as_of is None:
        raise dg.Failure("analysis: no factor scores yet; materialize factor_scores first", allow_retries=False)
    return as_of


def _skip_reason(providers: dict, names: tuple[str, ...], cfg) -> Optional[str]:
    """Why none of ``names`` can run (every provider they use lacks its key), else None."""
    used = {cfg.task(n).provider for n in names}
    if any(providers[p].available() for p in used):
        return None
    return "; ".join(providers[p].missing_reason() for p in sorted(used))


def _metadata(md: dict) -> dict:
    """Plain values as typed Dagster metadata (text, int, float)."""
    out = {}
    for k, v in md.items():
        if isinstance(v, bool) or isinstance(v, str):
            out[k] = dg.MetadataValue.text(str(v))
        elif isinstance(v, int):
            out[k] = dg.MetadataValue.int(v)
        elif isinstance(v, float):
            out[k] = dg.MetadataValue.float(v)
        else:
            out[k] = v
    return out


def _analyze(context: dg.AssetExecutionContext, config: AnalysisRunConfig, analyzer: Analyzer, db: DuckDBStore,
             settings: MeridianSettings, providers: dict) -> dg.MaterializeResult:
    """One analyst over the candidates of the as-of session (the body of every analyst asset)."""
    require_clean_inputs(context)
    cfg = settings.get().analysis
    task = cfg.task(analyzer.name)
    provider = providers[task.provider]
    with db.connect() as conn:
        as_of = _as_of(context, conn)
        if not provider.available():
            reason = f"{analyzer.name} analysis skipped: {provider.missing_reason()}"
            context.log.warning(reason)
            return dg.MaterializeResult(metadata=_metadata({"status": SKIPPED, "reason": reason,
                                                         "as_of": str(as_of), "calls": 0, "cost_usd": 0.0}))
        try:
            candidates = select_candidates(scores_on(conn, as_of), cfg.candidates_long, cfg.candidates_short,
                                           tickers=config.tickers, sector=config.sector)
        except MeridianError as err:
            raise dg.Failure(f"{analyzer.asset_name}: {err}", allow_retries=False) from None
        inputs = analyzer.load(conn, candidates, as_of, cfg)
    store = Store(db.connect, flush_seconds=WRITE_BATCH_SECONDS)
    cache = AnalysisCache(store, cfg.cache_ttl_days)
    now = utc_now()
    evicted = cache.evict_expired(now)
    audit = AuditLog(store, context.run_id)
    tracker = CostTracker(BUDGET, cfg.cost_ceiling_usd, cfg.pricing, spent_usd=audit.spent(BUDGET))
    llm = provider.client(task.model, max_retries=cfg.max_retries, timeout_seconds=cfg.timeout_seconds)
    context.log.info(f"{analyzer.name}: {len(inputs)} subjects as of {as_of} with {task.provider} {task.model}; "
                     f"run budget ${tracker.spent_usd:.4f} of ${tracker.ceiling_usd:.2f} spent")
    try:
        run = run_analyzer(analyzer, inputs, llm=llm, tracker=tracker, audit=audit, cache=cache, cfg=cfg,
                           as_of=as_of, force=config.force, now=now, log=context.log.info)
    except MeridianError as err:  # a refused key (every call would fail), a model without a price
        raise dg.Failure(f"{analyzer.asset_name}: {redact(str(err))}", allow_retries=False) from None
    if run.status != COMPLETED:
        context.log.warning(f"{analyzer.name}: {run.status}: {run.message}")
    preview = pl.DataFrame(run.rows).select("ticker", "status", "score", "summary", "call_id") if run.rows else \
        pl.DataFrame()
    md = {"as_of": str(as_of), "provider": task.provider, "model": task.model, **run.counts(),
          **tracker.summary(), "evicted": evicted}
    if run.message:
        md["message"] = run.message
    result = _metadata(md)
    result["results"] = dg.MetadataValue.md(preview_markdown(preview, n=40, max_chars=60))
    if run.error_messages:
        result["problems"] = dg.MetadataValue.json([redact(m) for m in run.error_messages[:50]])
    return dg.MaterializeResult(metadata=result)


def _analyzer_asset(analyzer: Analyzer, deps: list) -> dg.AssetsDefinition:
    @dg.asset(name=analyzer.asset_name, group_name=GROUP, deps=deps, pool=DUCKDB_POOL,
              kinds={"duckdb", "anthropic", "openai"}, description=analyzer.description)
    def _asset(context: dg.AssetExecutionContext, config: AnalysisRunConfig, db: DuckDBStore,
               settings: MeridianSettings, anthropic: AnthropicResource, openai: OpenAIResource):
        return _analyze(context, config, analyzer, db, settings, {"anthropic": anthropic, "openai": openai})

    return _asset


ANALYZER_ASSETS = {a.name: _analyzer_asset(a, ["factor_scores", *a.source_tables]) for a in ALL_ANALYZERS
                   if a.name != "sector"}
sector_analysis = _analyzer_asset(
    next(a for a in ALL_ANALYZERS if a.name == "sector"), ["factor_scores", *ANALYZER_ASSETS.values()])


@dg.asset(group_name=GROUP, deps=["factor_scores", *ANALYZER_ASSETS.values()], pool=DUCKDB_POOL,
          kinds={"duckdb", "polars", "csv"}, check_specs=[COMBINED_VALID])
def combined_scores(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings,
                    anthropic: AnthropicResource, openai: OpenAIResource):
    """0.6 x quant composite + 0.4 x LLM fundamental score (the mean of the available analyst sub-scores,
    0-100) for every name on the latest scored session, re-ranked within sector and re-flagged on the
    scoring quintile. Names without analysis, and every name when no LLM key is set, stay 100% quant.
    Also written to output/combined_scores_latest.csv."""
    require_clean_inputs(context)
    full = settings.get()
    cfg = full.analysis
    skipped = _skip_reason({"anthropic": anthropic, "openai": openai}, BLENDED, cfg)
    with db.connect() as conn:
        as_of = _as_of(context, conn)
        scores = read(conn, "SELECT * FROM factor_scores WHERE date = ?", [as_of])
    store = Store(db.connect)
    llm = None
    if skipped is None:
        llm = llm_scores(AnalysisCache(store, cfg.cache_ttl_days).latest_results(as_of, utc_now(), BLENDED), BLENDED)
    else:
        context.log.warning(f"combined_scores: LLM layer skipped ({skipped}); {QUANT_ONLY}")
    frame = blend(scores, llm, quant_weight=cfg.quant_weight, llm_weight=cfg.llm_weight,
                  quintile=full.scoring.quintile)
    # audit the staged rows, publish only when they pass (a failure leaves the previous rows as they were)
    frame = COMBINED_SCORES.conform(frame)
    problems = combined_violations(frame, cfg.quant_weight, cfg.llm_weight)
    for p in problems:
        context.log.error(f"combined_scores: {p}")
    n = 0
    if not problems:
        with db.connect() as conn:
            n = replace_window(conn, COMBINED_SCORES, frame, as_of, as_of)
    yield combined_result(problems, frame.height)
    if problems:
        raise not_published(problems)
    path = full.output_dir() / "combined_scores_latest.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    changes = flag_changes(frame, scores)
    totals = run_totals(AuditLog(store, context.run_id).calls(BUDGET))
    analyzed = frame.filter(pl.col("analyzed")) if n else frame
    md = {"status": "quant only (LLM layer skipped)" if skipped else "blended", "date": str(as_of), "rows": n,
          "analyzed": analyzed.height, "flag_changes": changes.height,
          "mean_abs_shift": round(float((analyzed["combined_score"] - analyzed["composite"]).abs().mean()), 3)
          if analyzed.height else 0.0,
          **{f"run_{k}": v for k, v in totals.items()}}
    if skipped:
        md["reason"] = skipped
    result = _metadata(md)
    result["csv"] = dg.MetadataValue.path(str(path))
    result["changed_flags"] = dg.MetadataValue.md(preview_markdown(changes, n=30))
    result["analyzed_preview"] = dg.MetadataValue.md(preview_markdown(
        analyzed.sort("combined_score", descending=True).select(
            "ticker", "sector", "composite", "llm_score", "combined_score", "sector_rank", "long_flag", "short_flag"),
        n=15))
    yield dg.MaterializeResult(metadata=result)


@dg.asset(group_name=GROUP, deps=[combined_scores, sector_analysis, "earnings_calendar"], pool=DUCKDB_POOL,
          kinds={"duckdb", "markdown"})
def analysis_reports(context: dg.AssetExecutionContext, config: AnalysisRunConfig, db: DuckDBStore,
                     settings: MeridianSettings, anthropic: AnthropicResource,
                     openai: OpenAIResource) -> dg.MaterializeResult:
    """One Markdown research note per candidate (scores, each analyst's findings with the call that produced
    them, sector view, upcoming catalysts, consolidated risk flags) and an INDEX.md, under
    output/reports_<timestamp>/."""
    require_clean_inputs(context)
    full = settings.get()
    cfg = full.analysis
    skipped = _skip_reason({"anthropic": anthropic, "openai": openai}, BLENDED, cfg)
    if skipped is not None:
        context.log.warning(f"analysis_reports: skipped ({skipped})")
        return dg.MaterializeResult(metadata=_metadata({"status": SKIPPED, "reason": f"{skipped}; {QUANT_ONLY}"}))
    with db.connect() as conn:
        as_of = _as_of(context, conn)
        try:
            candidates = select_candidates(scores_on(conn, as_of), cfg.candidates_long, cfg.candidates_short,
                                           tickers=config.tickers, sector=config.sector)
        except MeridianError as err:
            raise dg.Failure(f"analysis_reports: {err}", allow_retries=False) from None
        combined = read(conn, "SELECT * FROM combined_scores WHERE date = ?", [as_of]) \
            if table_exists(conn, "combined_scores") else COMBINED_SCORES.empty()
        catalysts = read(conn, "SELECT * FROM earnings_calendar WHERE known_at <= ? AND earnings_date > ? "
                               "AND earnings_date <= ?", [as_of, as_of, as_of + dt.timedelta(days=90)]) \
            if table_exists(conn, "earnings_calendar") else pl.DataFrame()
    store = Store(db.connect)
    subjects = [*candidates["ticker"].to_list(), *candidates["sector"].unique().to_list()]
    results = AnalysisCache(store, cfg.cache_ttl_days).latest_results(as_of, utc_now(), subjects=subjects)
    totals = run_totals(AuditLog(store, context.run_id).calls(BUDGET))
    out_dir = full.output_dir() / f"reports_{dt.datetime.now().strftime('%Y%m%d_%H%M%S')}"
    rows = write_reports(out_dir, candidates, combined, results, catalysts, as_of, totals)
    index = pl.DataFrame(rows) if rows else pl.DataFrame()
    return dg.MaterializeResult(metadata={
        **_metadata({f"run_{k}": v for k, v in totals.items()}),
        "status": dg.MetadataValue.text("written"),
        "as_of": dg.MetadataValue.text(str(as_of)),
        "reports": dg.MetadataValue.int(len(rows)),
        "with_findings": dg.MetadataValue.int(sum(1 for r in rows if r["n_analyzers"])),
        "folder": dg.MetadataValue.path(str(out_dir)),
        "index": dg.MetadataValue.path(str(out_dir / "INDEX.md")),
        "preview": dg.MetadataValue.md(preview_markdown(index, n=20)),
    })


ANALYSIS_ASSETS = [*ANALYZER_ASSETS.values(), sector_analysis, combined_scores, analysis_reports]
