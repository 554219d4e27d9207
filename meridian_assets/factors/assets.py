"""Layer-2 assets: factor scores, the scored universe, factor returns, crowding and the factor tear sheet.

Thin wiring: `inputs` reads Layer 1 as known on each date, `scoring` ranks within sector, `returns`,
`crowding` and `tearsheet` analyse the scores. Every asset first refuses inputs whose latest blocking check
failed (`gates`); `factor_scores` audits its staged rows and publishes them only if they pass. `factor_scores` shares the trading-day partitions of
`daily_prices` (a full-history rescore is one run); the others follow the run's window.
"""

import datetime as dt
import time
from typing import Optional

import dagster as dg
import polars as pl

from meridian_assets import calendar
from meridian_assets.factors import plots
from meridian_assets.factors.checks import SCORES_VALID
from meridian_assets.factors.crowding import crowding_correlations as compute_crowding
from meridian_assets.factors.inputs import load_inputs
from meridian_assets.factors.returns import factor_returns as compute_factor_returns
from meridian_assets.factors.schemas import (
    CROWDING_CORRELATIONS, FACTOR_RETURNS, FACTOR_SCORES, FACTOR_TEARSHEET, PARENTS, SCORED_UNIVERSE_COLUMNS,
)
from meridian_assets.factors.scoring import score_history
from meridian_assets.factors.tearsheet import factor_tearsheet as compute_tearsheet
from meridian_assets.factors.weights import coverage_table
from meridian_assets.factors.validation import score_violations
from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.checks import audit, not_published, staged_result, valid_spec
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.ingest.partitions import load_window, trading_days
from meridian_assets.tables import TableSchema
from meridian_assets.storage import (
    kept_rows_sharing_keys, publish, read, replace_all, replace_window, stage_window, table_exists,
)
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

GROUP = "factors"
LAYER1_INPUTS = [
    "universe", "daily_prices", "corporate_actions", "fundamentals_raw", "fundamental_ratios",
    "analyst_estimates", "short_interest", "insider_transactions", "insider_cluster_flags",
    "institutional_summary",
]
SCORED_UNIVERSE = TableSchema(
    name="scored_universe",
    columns={c: FACTOR_SCORES.columns[c] for c in SCORED_UNIVERSE_COLUMNS},
    key=("ticker",),
    partition_column=None,
    description="The latest session's scores, one row per constituent (also output/scored_universe_latest.csv).",
)


class ScoreConfig(dg.Config):
    """Run options of `factor_scores` (the `meridian score` flags)."""

    regime_weights: Optional[bool] = None  # VIX-conditional composite weights; default scoring.regime_weights_enabled


@dg.asset(
    group_name=GROUP,
    deps=LAYER1_INPUTS,
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    kinds={"duckdb", "polars"},
    check_specs=[valid_spec("factor_scores", SCORES_VALID)],
)
def factor_scores(context: dg.AssetExecutionContext, config: ScoreConfig, db: DuckDBStore, settings: MeridianSettings):
    """Every sub-factor (44), parent (11) and composite score, 0-100 percentile within GICS sector per
    session, LONG (top quintile) / SHORT (bottom quintile) flags, Piotroski F and Altman Z with their bands
    and insider-cluster flags. A score for date D uses only data known by D. A parent or sub-factor with no
    source data is empty (null), never a neutral 50, and the composite re-weights over the parents present;
    the metadata `factor_coverage` says which were live, their coverage and the weights used."""
    t0 = time.perf_counter()
    require_clean_inputs(context)
    cfg = settings.get()
    use_regime = cfg.scoring.regime_weights_enabled if config.regime_weights is None else config.regime_weights
    with db.connect() as conn:
        start, end = load_window(context, None, conn, FACTOR_SCORES, cfg)
        dates = calendar.sessions(start, end)
        inputs = load_inputs(conn, start, end)
    loaded = time.perf_counter()
    result = score_history(inputs, dates, cfg.scoring, use_regime_weights=use_regime)
    with db.connect() as conn:
        staged = stage_window(FACTOR_SCORES, result.frame, start, end)
        violations = audit(FACTOR_SCORES, staged.frame, kept_rows_sharing_keys(conn, staged),
                           score_violations)
        n = 0 if violations else publish(conn, staged)
    yield staged_result(context, "factor_scores", violations, staged.frame.height)
    if violations:
        raise not_published("factor_scores", violations)
    frame = staged.frame
    span = f"{dates[0]}..{dates[-1]}" if dates else f"none in {start}..{end}"
    context.log.info(f"factor_scores: {n} rows for {len(dates)} sessions {span}")
    last_day = frame.filter(pl.col("date") == frame["date"].max()) if frame.height else frame
    top = last_day.sort("composite", descending=True).select("ticker", "sector", "composite", "long_flag")
    degenerate = result.degenerate_frame()
    coverage = result.coverage if result.coverage is not None else coverage_table(frame, cfg.scoring)
    parents = coverage.filter(pl.col("level") == "parent")
    live = parents.filter(pl.col("dates_live") > 0)
    absent = parents.filter(pl.col("dates_live") == 0)["name"].to_list()
    context.log.info("factor_scores: live parents " + ", ".join(
        f"{r['name']} ({r['coverage']:.0%}, weight {r['weight_used'] or 0:.2f})" for r in live.iter_rows(named=True))
        + (f"; absent (no source data, left empty): {', '.join(absent)}" if absent else ""))
    yield dg.MaterializeResult(metadata={
        "rows": dg.MetadataValue.int(n),
        "window": dg.MetadataValue.text(f"{start}..{end}"),
        "sessions": dg.MetadataValue.int(len(dates)),
        "regime_weights": dg.MetadataValue.bool(use_regime),
        "long_names_last_day": dg.MetadataValue.int(int(last_day["long_flag"].sum()) if n else 0),
        "short_names_last_day": dg.MetadataValue.int(int(last_day["short_flag"].sum()) if n else 0),
        "degenerate_factors": dg.MetadataValue.md(preview_markdown(degenerate, n=50)),
        "live_parents": dg.MetadataValue.text(", ".join(live["name"].to_list())),
        "absent_parents": dg.MetadataValue.text(", ".join(absent)),
        "factor_coverage": dg.MetadataValue.md(preview_markdown(coverage, n=coverage.height + 1)),
        "factor_coverage_rows": dg.MetadataValue.json(coverage.to_dicts()),
        "top_composite_last_day": dg.MetadataValue.md(preview_markdown(top, n=10)),
        "seconds_loading": dg.MetadataValue.float(round(loaded - t0, 3)),
        "seconds_scoring": dg.MetadataValue.float(round(time.perf_counter() - loaded, 3)),
    })


@dg.asset(group_name=GROUP, deps=[factor_scores], pool=DUCKDB_POOL, kinds={"duckdb", "polars", "csv"})
def scored_universe(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """The latest scored session, one row per constituent with the specification's columns; also written to
    `output/scored_universe_latest.csv` for people who want the file."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        if not table_exists(conn, "factor_scores"):
            raise dg.Failure("scored_universe: factor_scores is empty; materialize it first")
        latest = read(conn, "SELECT * FROM factor_scores WHERE date = (SELECT max(date) FROM factor_scores)")
        frame = SCORED_UNIVERSE.conform(latest.sort(["sector", "sector_rank"]))
        replace_all(conn, SCORED_UNIVERSE, frame)
    path = cfg.output_dir() / "scored_universe_latest.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    return dg.MaterializeResult(metadata={
        "date": dg.MetadataValue.text(str(frame["date"].max()) if frame.height else "-"),
        "rows": dg.MetadataValue.int(frame.height),
        "long": dg.MetadataValue.int(int(frame["long_flag"].sum())),
        "short": dg.MetadataValue.int(int(frame["short_flag"].sum())),
        "csv": dg.MetadataValue.path(str(path)),
        "preview": dg.MetadataValue.md(preview_markdown(
            frame.select("ticker", "sector", "composite", "sector_rank", "long_flag", "short_flag"), n=10)),
    })


def _scores_and_prices(conn, start: dt.date, end: dt.date, lookback_days: int = 10):
    scores = read(conn, "SELECT * FROM factor_scores WHERE date BETWEEN ? AND ?",
                  [start - dt.timedelta(days=lookback_days), end])
    prices = read(conn, "SELECT date, ticker, adj_close FROM daily_prices WHERE date BETWEEN ? AND ?",
                  [start - dt.timedelta(days=lookback_days), end + dt.timedelta(days=45)])
    return scores, prices


@dg.asset(group_name=GROUP, deps=[factor_scores], pool=DUCKDB_POOL, kinds={"duckdb", "polars"})
def factor_returns(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Daily long-minus-short return of each parent factor and the composite: equal-weight top quintile
    minus bottom quintile within each sector, scores known at the previous close."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        start, end = load_window(context, None, conn, FACTOR_RETURNS, cfg)
        scores, prices = _scores_and_prices(conn, start, end)
        prices = prices.filter(pl.col("date") <= end)
        frame = FACTOR_RETURNS.conform(compute_factor_returns(scores, prices, quintile=cfg.scoring.quintile))
        frame = frame.filter(pl.col("date").is_between(start, end))
        n = replace_window(conn, FACTOR_RETURNS, frame, start, end)
    cum = frame.group_by("factor").agg(
        cumulative=(pl.col("long_short_return") + 1).product() - 1).sort("cumulative", descending=True)
    return dg.MaterializeResult(metadata={
        "rows": dg.MetadataValue.int(n),
        "window": dg.MetadataValue.text(f"{start}..{end}"),
        "cumulative_long_short": dg.MetadataValue.md(preview_markdown(cum, n=10)),
        "chart": dg.MetadataValue.md(plots.png_markdown(plots.cumulative_factor_returns(frame),
                                                        "cumulative factor returns")) if n else "",
    })


@dg.asset(group_name=GROUP, deps=[factor_returns], pool=DUCKDB_POOL, kinds={"duckdb", "polars"})
def crowding_correlations(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Pairwise correlations of the parent factors' returns over the crowding window (60 sessions) at each
    session, against baselines from the academic literature; flagged when they deviate."""
    require_clean_inputs(context)
    cfg = settings.get()
    sc = cfg.scoring
    with db.connect() as conn:
        start, end = load_window(context, None, conn, CROWDING_CORRELATIONS, cfg)
        returns = read(conn, "SELECT * FROM factor_returns WHERE date BETWEEN ? AND ?",
                       [start - dt.timedelta(days=2 * sc.factor_return_window_days), end])
        days = sorted(d for d in returns["date"].unique().to_list() if start <= d <= end)
        parts = [compute_crowding(returns, d, window_days=sc.factor_return_window_days,
                                  baselines=sc.crowding_baselines, deviation=sc.crowding_deviation) for d in days]
        frame = CROWDING_CORRELATIONS.conform(pl.concat(parts)) if parts else CROWDING_CORRELATIONS.empty()
        n = replace_window(conn, CROWDING_CORRELATIONS, frame, start, end)
    latest = frame.filter(pl.col("as_of") == frame["as_of"].max()) if n else frame
    flagged = latest.filter(pl.col("flagged"))
    return dg.MaterializeResult(metadata={
        "rows": dg.MetadataValue.int(n),
        "window": dg.MetadataValue.text(f"{start}..{end}"),
        "flagged_pairs_latest": dg.MetadataValue.int(flagged.height),
        "latest": dg.MetadataValue.md(preview_markdown(
            latest.select("factor_a", "factor_b", "correlation", "baseline", "flagged"), n=30)),
        "heatmap": dg.MetadataValue.md(plots.png_markdown(plots.crowding_heatmap(frame), "crowding correlations")),
    })


@dg.asset(group_name=GROUP, deps=[factor_scores], pool=DUCKDB_POOL, kinds={"duckdb", "polars"})
def factor_tearsheet(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Per factor, what alphalens shows: daily information coefficient (Spearman of score vs forward 1/5/21
    session returns) with its mean, t-stat and decay, quintile returns and their spread, and score turnover.
    Charts are in this materialization's metadata and in output/factor_tearsheet/."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        scores = read(conn, "SELECT * FROM factor_scores")
        prices = read(conn, "SELECT date, ticker, adj_close FROM daily_prices")
        if scores.height == 0:
            raise dg.Failure("factor_tearsheet: factor_scores is empty; materialize it first")
        as_of = scores["date"].max()
        frame = FACTOR_TEARSHEET.conform(compute_tearsheet(scores, prices, as_of))
        replace_window(conn, FACTOR_TEARSHEET, frame, as_of, as_of)
    out = cfg.output_dir() / "factor_tearsheet"
    out.mkdir(parents=True, exist_ok=True)
    charts = {"ic_decay": plots.ic_decay(frame), "quintile_returns": plots.quintile_returns(frame)}
    md = {}
    for name, png in charts.items():
        (out / f"{name}.png").write_bytes(png)
        md[name] = dg.MetadataValue.md(plots.png_markdown(png, name.replace("_", " ")))
    summary = frame.filter(pl.col("horizon_days") == 21).select(
        "factor", "ic_mean", "ic_t_stat", "n_independent", "ic_t_stat_overlapping", "quintile_spread_annual",
        "rank_autocorrelation").sort("ic_t_stat", descending=True, nulls_last=True)
    return dg.MaterializeResult(metadata={
        "as_of": dg.MetadataValue.text(str(as_of)),
        "ic_days": dg.MetadataValue.int(int(frame["n_days"].max() or 0) if frame.height else 0),
        "summary_21d": dg.MetadataValue.md(preview_markdown(summary, n=len(PARENTS) + 1, max_chars=12)),
        "charts": dg.MetadataValue.path(str(out)),
        **md,
    })


FACTOR_ASSETS = [factor_scores, scored_universe, factor_returns, crowding_correlations, factor_tearsheet]
