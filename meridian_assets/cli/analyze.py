"""`meridian analyze [--estimate-cost] [--ticker T] [--sector S] [--force]`: Layer 3 on the latest scored
session — the five LLM analysts, the combined scores and the research notes, as one run of `analysis_job`.

``--estimate-cost`` reads the database and prints what the run would cost; it builds no client and makes
no call. Without an API key the analysts are skipped and the combined scores are written 100% quant.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from meridian_assets.config import MeridianConfig, get_config
from meridian_assets.errors import MeridianError

if TYPE_CHECKING:  # dagster is imported by the commands that run, so `--help` does not pay for it
    import dagster as dg
    import polars as pl

JOB = "analysis_job"
ANALYZER_ASSETS = ("earnings_analysis", "filing_analysis", "risk_factor_analysis", "insider_analysis",
                   "sector_analysis")
ASSETS = (*ANALYZER_ASSETS, "combined_scores", "analysis_reports")
CONFIGURABLE = (*ANALYZER_ASSETS, "analysis_reports")  # the assets that take AnalysisRunConfig


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    a = sub.add_parser("analyze", help="Layer 3: LLM analysts on the candidates, combined scores, research notes")
    a.add_argument("--estimate-cost", action="store_true", help="print what the run would cost; makes no API calls")
    who = a.add_mutually_exclusive_group()
    who.add_argument("--ticker", help="analyse these names only (comma separated), with every analyst")
    who.add_argument("--sector", help='analyse every scored name of one sector, e.g. "Information Technology"')
    a.add_argument("--force", action="store_true", help="ignore the analysis cache (re-analyse every artifact)")
    return a


def _tickers(args: argparse.Namespace) -> list[str] | None:
    return [t.strip().upper() for t in args.ticker.split(",") if t.strip()] if args.ticker else None


def _read_state(cfg: MeridianConfig, args: argparse.Namespace):
    from meridian_assets import dbread
    from meridian_assets.analysis.candidates import latest_scored_date, scores_on, select_candidates

    db = cfg.database_path()
    if not db.exists():
        raise MeridianError("no database yet: run `meridian data` and `meridian score` (or `make demo`) first")
    conn = dbread.connect(db)
    try:
        as_of = latest_scored_date(conn)
        if as_of is None:
            raise MeridianError("no factor scores yet: run `meridian score` first")
        a = cfg.analysis
        candidates = select_candidates(scores_on(conn, as_of), a.candidates_long, a.candidates_short,
                                       tickers=_tickers(args), sector=args.sector)
        estimate = None
        if args.estimate_cost:
            from meridian_assets.analysis.estimate import estimate_run

            estimate = estimate_run(conn, a, candidates, as_of, force=args.force)
        return as_of, candidates, estimate
    finally:
        conn.close()


def render_estimate(est: pl.DataFrame, cfg: MeridianConfig, as_of, n_candidates: int) -> str:
    lines = [f"Estimated cost of `meridian analyze` on {n_candidates} candidates as of {as_of} (no calls made):", "",
             f"{'analyst':<12} {'model':<20} {'subjects':>8} {'no input':>8} {'cached':>7} {'calls':>6} "
             f"{'tokens in':>10} {'tokens out':>10} {'USD':>9}"]
    for r in est.iter_rows(named=True):
        lines.append(f"{r['analyzer']:<12} {r['model']:<20} {r['subjects']:>8} {r['no_input']:>8} {r['cached']:>7} "
                     f"{r['calls']:>6} {r['input_tokens']:>10,} {r['output_tokens']:>10,} {r['usd']:>9.4f}")
    total = float(est["usd"].sum()) if est.height else 0.0
    lines += ["", f"Total ≈ ${total:.2f} for {int(est['calls'].sum()) if est.height else 0} calls "
              f"(hard ceiling ${cfg.analysis.cost_ceiling_usd:.2f} per run; output assumed "
              f"{cfg.analysis.estimate_output_tokens} tokens per call; cached artifacts are free)."]
    return "\n".join(lines)


def _definitions() -> dg.Definitions:
    """The code location; when it does not include the analysis assets, they are added with their resources."""
    import dagster as dg

    from meridian_assets.cli.runner import progress_logger
    from meridian_assets.definitions import build_definitions

    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    try:
        defs.resolve_job_def(JOB)
        return defs
    except Exception:  # noqa: BLE001 - any lookup failure means the job is not there
        from meridian_assets.analysis.definitions import defs as analysis_defs
        from resources.analysis import AnthropicResource, OpenAIResource

        return dg.Definitions.merge(defs, analysis_defs(), dg.Definitions(
            resources={"anthropic": AnthropicResource(), "openai": OpenAIResource()}))


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    try:
        mats = result.asset_materializations_for_node(asset)
    except Exception:  # noqa: BLE001 - the step did not run
        return {}
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def render_run(result: dg.ExecuteInProcessResult) -> str:
    lines = [f"{'analyst':<22} {'status':<16} {'subjects':>8} {'no input':>8} {'cached':>7} {'calls':>6} "
             f"{'invalid':>7} {'errors':>6} {'USD':>9}"]
    for asset in ANALYZER_ASSETS:
        m = _metadata(result, asset)
        if not m:
            continue
        lines.append(f"{asset:<22} {str(m.get('status')):<16} {m.get('subjects', 0):>8} {m.get('no_input', 0):>8} "
                     f"{m.get('analysis_cache_hits', 0):>7} {m.get('calls', 0):>6} {m.get('invalid', 0):>7} "
                     f"{m.get('errors', 0):>6} {m.get('cost_usd', 0.0):>9.4f}")
        if m.get("message"):
            lines.append(f"  ! {m['message']}")
    c, r = _metadata(result, "combined_scores"), _metadata(result, "analysis_reports")
    totals = r if "run_calls" in r else c  # the reports step runs last: the whole run's figures
    if totals:
        lines += ["", f"Run: {totals.get('run_calls', 0)} calls, {totals.get('run_input_tokens', 0):,} input + "
                  f"{totals.get('run_output_tokens', 0):,} output tokens, prompt-cache hit rate "
                  f"{totals.get('run_prompt_cache_hit_rate', 0.0):.0%}, ${totals.get('run_cost_usd', 0.0):.4f}."]
    if c:
        lines.append(f"Combined scores {c.get('date')}: {c.get('status')}; {c.get('analyzed', 0)} of "
                     f"{c.get('rows', 0)} names analysed, {c.get('flag_changes', 0)} flags changed vs quant. "
                     f"CSV: {c.get('csv')}")
        if c.get("reason"):
            lines.append(f"  ({c['reason']})")
    if r.get("index"):
        lines.append(f"Reports: {r['index']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    cfg = get_config()
    as_of, candidates, estimate = _read_state(cfg, args)
    if args.estimate_cost:
        print(render_estimate(estimate, cfg, as_of, candidates.height))
        return 0
    from meridian_assets.cli.runner import prepare_instance, report_failures, run_assets
    from resources.analysis import AnthropicResource, OpenAIResource

    providers = {"anthropic": AnthropicResource(), "openai": OpenAIResource()}
    used = sorted({cfg.analysis.task(a.removesuffix("_analysis")).provider for a in ANALYZER_ASSETS})
    if not any(providers[p].available() for p in used):
        print("LLM analysis skipped: " + "; ".join(providers[p].missing_reason() for p in used)
              + ". The book stays 100% quant; writing quant-only combined scores.", flush=True)
    op = {"tickers": _tickers(args), "sector": args.sector, "force": bool(args.force)}
    print(f"Analysing {candidates.height} names as of {as_of}" + (" (cache bypassed)" if args.force else ""),
          flush=True)
    result = run_assets(_definitions(), JOB, list(ASSETS), as_of, as_of, op_config={a: op for a in CONFIGURABLE},
                        instance=prepare_instance())
    print()
    print(render_run(result))
    return 1 if report_failures(result, "Analysis") else 0
