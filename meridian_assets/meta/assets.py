"""Meta-layer assets, part 1: sleeve configs, sleeve backtests, sleeve decisions and the allocation across sleeves.

    sleeve_configs     →  meta_config_versions (seeds the shipped sleeves; lists the versions in force)
    sleeve_backtests   →  backtest_runs, backtest_daily, backtest_trades   (every enabled sleeve, in parallel)
    sleeve_decisions   →  PROMOTE / KEEP / KILL / RETIRE with evidence
    sleeve_allocation  →  sleeve_allocation, meta_target_book (+ a snapshot appended to allocation_snapshots)

Thin wiring over `config_store`, `history`, `backtest`, `decisions` and `allocation`.
"""

import datetime as dt
import json

import dagster as dg
import polars as pl

from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.ingest.partitions import tagged_window
from meridian_assets.meta import config_store as store
from meridian_assets.meta import runs as rd
from meridian_assets.meta.allocation import allocate, combined_book
from meridian_assets.meta.backtest import write_results
from meridian_assets.meta.decisions import SleeveRecord, decide
from meridian_assets.meta.history import load_history
from meridian_assets.meta.schemas import (
    BACKTEST_DAILY, BACKTEST_RUNS, BACKTEST_TRADES, META_TARGET_BOOK, SLEEVE_ALLOCATION, SLEEVE_DECISIONS,
)
from meridian_assets.meta.sweep import run_sweep, start_workers
from meridian_assets.reporting.allocation import append_snapshot, book_pnl_bps
from meridian_assets.storage import read, replace_window, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

GROUP = "meta"
MD = dg.MetadataValue


class BacktestConfig(dg.Config):
    """Which sleeves to backtest over which window (`meridian backtest` sets these)."""

    sleeves: list[str] = []  # default: every enabled sleeve
    start: str = ""  # default: meta.backtest_sessions scored sessions before the end
    end: str = ""  # default: the latest scored session (within the run's window)
    purpose: str = "sweep"  # sweep (the weekly meta run) | cli | evidence


def _sleeve_table(sleeves) -> pl.DataFrame:
    return pl.DataFrame([{"sleeve": s.name, "version": v, "hash": s.hash[:12], "enabled": s.enabled,
                          "source": s.score_source, "optimizer": s.optimizer or "(portfolio)",
                          "factor_weights": json.dumps(s.factor_weights) if s.factor_weights else "(scored)"}
                         for s, v in sleeves])


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, kinds={"duckdb"})
def sleeve_configs(context: dg.AssetExecutionContext, db: DuckDBStore):
    """The sleeve and allocation configs in force (versioned, content-hashed); seeds the shipped ones the first
    time and any shipped sleeve added since."""
    with db.connect() as conn:
        seeded = store.seed(conn)
        sleeves = store.sleeves_in_force(conn)
        policy, pv = store.policy_in_force(conn)
    for key in seeded:
        context.log.info(f"seeded {key} v1")
    return dg.MaterializeResult(metadata={
        "sleeves": len(sleeves), "seeded": MD.text(", ".join(seeded) or "none"),
        "allocation_policy": MD.json({"version": pv, **policy.doc()}),
        "preview": MD.md(preview_markdown(_sleeve_table(sleeves), n=20, max_chars=80))})


def _active(conn, sleeves, wanted: list[str], window) -> tuple[list, list[str]]:
    chosen, skipped = [], []
    for s, v in sleeves:
        if wanted and s.name not in wanted:
            continue
        if not wanted and not s.enabled:
            skipped.append(f"{s.name}: disabled")
            continue
        if s.score_source == "combined_scores":
            rows = (conn.execute("SELECT count(*) FROM combined_scores WHERE date BETWEEN ? AND ?", list(window))
                    .fetchall()[0][0] if table_exists(conn, "combined_scores") else 0)
            if not rows:
                skipped.append(f"{s.name}: combined_scores has no rows in the window (Layer 3 not run)")
                continue
        chosen.append((s, v))
    unknown = set(wanted) - {s.name for s, _ in sleeves}
    if unknown:
        raise dg.Failure(f"unknown sleeve(s) {', '.join(sorted(unknown))}; the sleeves are "
                         f"{', '.join(s.name for s, _ in sleeves)}", allow_retries=False)
    return chosen, skipped


def sweep_plan(context: dg.AssetExecutionContext, config: BacktestConfig, conn, cfg, step: str):
    """The window a sweep backtests (the run config's dates, else the run's tagged window's end and
    ``meta.backtest_sessions`` scored sessions before it) and its sleeves: (window, chosen, skipped)."""
    tagged = tagged_window(context.run.tags)
    end = dt.date.fromisoformat(config.end) if config.end else (tagged[1] if tagged else None)
    start = dt.date.fromisoformat(config.start) if config.start else None
    store.seed(conn)
    window = rd.backtest_window(conn, cfg.meta.backtest_sessions, start, end)
    if window is None:
        raise dg.Failure(f"{step}: no factor scores yet; run `meridian score` first", allow_retries=False)
    chosen, skipped = _active(conn, store.sleeves_in_force(conn), config.sleeves, window)
    return window, chosen, skipped


@dg.multi_asset(
    specs=[dg.AssetSpec(t.name, group_name=GROUP, kinds={"duckdb", "cvxpy"}, description=t.description,
                        deps=["sleeve_configs", "factor_scores", "combined_scores", "daily_prices",
                              "earnings_calendar", "corporate_actions", "macro_series", "risk_exposures",
                              "risk_factor_covariance", "risk_specific_variance"])
           for t in (BACKTEST_RUNS, BACKTEST_DAILY, BACKTEST_TRADES)],
    pool=DUCKDB_POOL, name="sleeve_backtests")
def sleeve_backtests(context: dg.AssetExecutionContext, config: BacktestConfig, db: DuckDBStore,
                     settings: MeridianSettings):
    """Daily-rebalance backtests of the sleeves through the live book's proposal code (one code path), sleeves in
    parallel processes: returns, Sharpe, drawdown, turnover, each cost type and the time per simulated day."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        window, chosen, skipped = sweep_plan(context, config, conn, cfg, "sleeve_backtests")
        start_workers(cfg, len(chosen))  # the sweep's worker processes start while the history is read
        history = load_history(conn, *window, cfg) if chosen else None
    for s in skipped:
        context.log.info(f"skipped {s}")
    results = run_sweep(history, chosen, cfg, *window, purpose=config.purpose) if chosen else []
    with db.connect() as conn:
        write_results(conn, results)
    for r in results:
        context.log.info(str(r))
    table = pl.DataFrame([{"sleeve": r.sleeve.name, "version": r.sleeve_version, **{
        k: v for k, v in r.summary().items() if k in ("total_return", "sharpe", "max_drawdown", "avg_turnover",
                                                      "cost_bps", "trades", "vetoed", "seconds_per_day")}}
                          for r in results]) if results else pl.DataFrame()
    common = {"window": MD.text(f"{window[0]}..{window[1]}"), "purpose": MD.text(config.purpose),
              "run_ids": MD.json({r.sleeve.name: r.run_id for r in results}),
              "skipped": MD.md("\n".join(f"- {s}" for s in skipped) or "none")}
    yield dg.MaterializeResult(asset_key=BACKTEST_RUNS.name, metadata={
        **common, "runs": len(results), "preview": MD.md(preview_markdown(table, n=10))})
    yield dg.MaterializeResult(asset_key=BACKTEST_DAILY.name, metadata={
        **common, "sessions": sum(r.sessions for r in results),
        "seconds_per_session": MD.float(sum(r.seconds_per_day() * r.sessions for r in results)
                                        / max(sum(r.sessions for r in results), 1))})
    yield dg.MaterializeResult(asset_key=BACKTEST_TRADES.name, metadata={
        **common, "trades": sum(r.trades.height for r in results),
        "costs_by_type": MD.json({r.sleeve.name: {k: round(r.cost(k), 2) for k in
                                                  ("commission", "spread", "impact", "borrow")} for r in results})})


def sweep_inputs(conn, cfg):
    """(runs of the latest sweep, sleeve -> (date, ret, nav, trading_state), regime labels)."""
    runs = rd.latest_runs(conn)
    if runs.is_empty():
        raise dg.Failure("no sleeve backtests yet: materialize sleeve_backtests first", allow_retries=False)
    returns = rd.returns_by_sleeve(runs, rd.daily(conn, runs["run_id"].to_list()))
    labels = rd.regime_labels(conn, cfg, runs["start"].min(), runs["end"].max())
    return runs, returns, labels


@dg.asset(group_name=GROUP, deps=[BACKTEST_RUNS.name, BACKTEST_DAILY.name], pool=DUCKDB_POOL,
          kinds={"duckdb"})
def sleeve_decisions(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """PROMOTE / KEEP / KILL / RETIRE per sleeve from its live window against its backtest, its drawdown and its
    behaviour in the current regime; every decision carries its evidence."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        runs, returns, labels = sweep_inputs(conn, cfg)
        dates = rd.version_dates(conn)
        records = [SleeveRecord(r["sleeve"], int(r["sleeve_version"] or 0), returns[r["sleeve"]],
                                dates.get((store.config_key(store.SLEEVE, r["sleeve"]), int(r["sleeve_version"] or 0))))
                   for r in runs.iter_rows(named=True) if r["sleeve"] in returns]
        as_of = runs["end"].max()
        rows = decide(records, labels, cfg.meta, as_of, context.run_id)
        replace_window(conn, SLEEVE_DECISIONS, rows, as_of, as_of)
    counts = dict(rows.group_by("decision").len().iter_rows()) if rows.height else {}
    return dg.MaterializeResult(metadata={
        "as_of": MD.text(str(as_of)), **{d.lower(): counts.get(d, 0) for d in ("PROMOTE", "KEEP", "KILL", "RETIRE")},
        "decisions": MD.json({r["sleeve"]: {"decision": r["decision"], "reason": r["reason"],
                                            "confidence": r["confidence"]} for r in rows.iter_rows(named=True)}),
        "preview": MD.md(preview_markdown(rows.select("sleeve", "decision", "confidence", "live_sharpe",
                                                      "backtest_sharpe", "live_drawdown", "current_regime", "reason"),
                                          n=10, max_chars=90))})


@dg.multi_asset(
    specs=[dg.AssetSpec(t.name, group_name=GROUP, kinds={"duckdb", "cvxpy"}, description=t.description,
                        deps=[SLEEVE_DECISIONS.name, BACKTEST_DAILY.name, "sleeve_configs"])
           for t in (SLEEVE_ALLOCATION, META_TARGET_BOOK)],
    pool=DUCKDB_POOL, name="sleeve_allocation_assets")
def sleeve_allocation(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Capital across sleeves by risk parity on their return covariance with a CVaR penalty (weights, method and
    inputs in the metadata); the live book as the capital-weighted combination of the sleeves' targets. Each
    run appends a snapshot (sleeve and position weights) to allocation_snapshots."""
    require_clean_inputs(context)
    cfg, m = settings.get(), settings.get().meta
    with db.connect() as conn:
        runs, returns, _ = sweep_inputs(conn, cfg)
        as_of = runs["end"].max()
        dec = (read(conn, "SELECT sleeve, decision FROM sleeve_decisions WHERE as_of = ?", [as_of])
               if table_exists(conn, SLEEVE_DECISIONS.name) else pl.DataFrame(schema={"sleeve": pl.Utf8,
                                                                                    "decision": pl.Utf8}))
        decisions = dict(dec.iter_rows())
        policy, pv = store.policy_in_force(conn)
        alloc = allocate({s: f.select("date", "ret") for s, f in returns.items()}, decisions, policy,
                         lookback=m.allocation_lookback_sessions, kappa=m.cvar_penalty, confidence=m.cvar_confidence,
                         min_weight=m.min_sleeve_weight, max_weight=m.max_sleeve_weight, promote_tilt=m.promote_tilt)
        targets = {r["sleeve"]: rd.final_target(r) for r in runs.iter_rows(named=True)}
        book = combined_book(targets, alloc.weights)
        details = alloc.details.with_columns(as_of=pl.lit(as_of), method=pl.lit(alloc.method),
                                             run_id=pl.lit(context.run_id),
                                             decision=pl.col("sleeve").replace_strict(decisions, default="KEEP"))
        replace_window(conn, SLEEVE_ALLOCATION, details, as_of, as_of)
        replace_window(conn, META_TARGET_BOOK, book.with_columns(as_of=pl.lit(as_of), run_id=pl.lit(context.run_id)),
                       as_of, as_of)
        history = read(conn, "SELECT date, nav FROM portfolio_history ORDER BY date") \
            if table_exists(conn, "portfolio_history") else pl.DataFrame()
        pnl, dd = book_pnl_bps(history, as_of) if history.height else _combined_pnl(returns, alloc.weights, as_of)
        sid, appended = append_snapshot(conn, run_id=context.run_id, method=alloc.method, as_of=as_of,
                                        position_weights=dict(zip(book["ticker"], book["weight"])),
                                        sleeve_weights=alloc.weights, pnl_bps=pnl, max_drawdown_bps=dd)
    meta = {"as_of": MD.text(str(as_of)), "method": MD.text(alloc.method),
            "weights": MD.json({k: round(v, 6) for k, v in alloc.weights.items()}),
            "inputs": MD.json({**alloc.inputs, "policy_version": pv, "decisions": decisions})}
    yield dg.MaterializeResult(asset_key=SLEEVE_ALLOCATION.name, metadata={
        **meta, "snapshot_id": MD.text(sid), "snapshot_appended": MD.bool(appended),
        "preview": MD.md(preview_markdown(details.select("sleeve", "weight", "decision", "volatility",
                                                        "risk_contribution", "cvar_contribution"), n=10))})
    yield dg.MaterializeResult(asset_key=META_TARGET_BOOK.name, metadata={
        **meta, "names": book.height, "gross": MD.float(float(book["weight"].abs().sum()) if book.height else 0.0),
        "net": MD.float(float(book["weight"].sum()) if book.height else 0.0),
        "preview": MD.md(preview_markdown(book.select("ticker", "sector", "weight", "sleeves_json"), n=10,
                                          max_chars=80))})


def _combined_pnl(returns: dict[str, pl.DataFrame], weights: dict[str, float], as_of: dt.date):
    """Cumulative P&L and max drawdown (bps) of the allocation-weighted sleeves when there is no live book."""
    frames = [f.select("date", (pl.col("ret") * weights.get(s, 0.0)).alias(s)) for s, f in returns.items()]
    if not frames:
        return None, None
    j = frames[0]
    for f in frames[1:]:
        j = j.join(f, on="date", how="full", coalesce=True)
    r = j.sort("date").filter(pl.col("date") <= as_of).fill_null(0.0).select(
        pl.sum_horizontal(pl.exclude("date"))).to_series()
    nav = (r + 1).cum_prod()
    return float((nav[-1] - 1) * 1e4), float((nav / nav.cum_max() - 1).min() * 1e4)


META_ASSETS = [sleeve_configs, sleeve_backtests, sleeve_decisions, sleeve_allocation]
