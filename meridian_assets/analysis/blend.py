"""The combined score: the quant composite blended with the LLM fundamental score, re-ranked and re-flagged.

For each name on the scored date::

    llm_score      = mean of the available analyzer sub-scores (earnings, filing, risk_factor, insider),
                     each 0-100, from the latest ok result whose inputs were known that day
    combined_score = quant_weight * composite + llm_weight * llm_score   (0.6 / 0.4)
                   = composite                                           when the name has no analysis

so a name without analysis is 100% quant and carries no penalty. Within each sector names are ranked by
combined score (ties: composite, composite_raw, then ticker, as in Layer 2; rank 1 = best) and flagged with
the scoring rule of Layer 2: in a sector of ``n >= 2`` names, ``k = min(max(1, floor(quintile * n)),
floor(n / 2))``; ranks ``1..k`` are LONG, ranks ``n-k+1..n`` SHORT; a one-name sector has no flags. With no
analysis at all the flags are exactly the quant flags.
"""

from __future__ import annotations

import polars as pl

from meridian_assets.analysis.schemas import COMBINED_SCORES


def llm_scores(results: pl.DataFrame, analyzers: tuple[str, ...]) -> pl.DataFrame:
    """``(ticker, llm_score, n_analyzers)`` from `analysis_results` rows (latest ok row per analyzer/ticker)."""
    usable = results.filter(pl.col("analyzer").is_in(list(analyzers)) & (pl.col("status") == "ok")
                            & pl.col("score").is_not_null() & pl.col("score").is_finite())
    if usable.height == 0:
        return pl.DataFrame(schema={"ticker": pl.Utf8, "llm_score": pl.Float64, "n_analyzers": pl.Int64})
    return usable.group_by("ticker").agg(
        llm_score=pl.col("score").clip(0, 100).mean(), n_analyzers=pl.col("analyzer").n_unique().cast(pl.Int64))


def flag_k(n: pl.Expr, quintile: float) -> pl.Expr:
    return pl.min_horizontal(pl.max_horizontal((n.cast(pl.Float64) * quintile + 1e-9).floor().cast(pl.Int64),
                                               pl.lit(1)), n // 2)


def blend(scores: pl.DataFrame, llm: pl.DataFrame | None, *, quant_weight: float, llm_weight: float,
          quintile: float) -> pl.DataFrame:
    """`COMBINED_SCORES` rows for one date's ``factor_scores`` rows (module docstring)."""
    if scores.height == 0:
        return COMBINED_SCORES.empty()
    raw = pl.col("composite_raw") if "composite_raw" in scores.columns else pl.col("composite")
    base = scores.select("date", "ticker", "sector", "composite", raw.alias("_raw"))
    if llm is not None and llm.height:
        base = base.join(llm.select("ticker", "llm_score", "n_analyzers"), on="ticker", how="left")
    else:
        base = base.with_columns(llm_score=pl.lit(None, dtype=pl.Float64), n_analyzers=pl.lit(None, dtype=pl.Int64))
    analyzed = pl.col("llm_score").is_not_null()
    out = base.with_columns(
        analyzed=analyzed,
        n_analyzers=pl.col("n_analyzers").fill_null(0),
        combined_score=pl.when(analyzed)
        .then(quant_weight * pl.col("composite") + llm_weight * pl.col("llm_score"))
        .otherwise(pl.col("composite")),
    )
    out = out.sort(["sector", "combined_score", "composite", "_raw", "ticker"],
                   descending=[False, True, True, True, False])
    out = out.with_columns(
        sector_rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("sector"),
        sector_size=pl.len().over("sector").cast(pl.Int64),
    )
    n, k = pl.col("sector_size"), flag_k(pl.col("sector_size"), quintile)
    out = out.with_columns(long_flag=(n >= 2) & (pl.col("sector_rank") <= k),
                           short_flag=(n >= 2) & (pl.col("sector_rank") > n - k))
    return COMBINED_SCORES.conform(out.sort(["sector", "sector_rank"]))


def flag_changes(combined: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """Names whose LONG/SHORT flag differs from the quant flags of the same day."""
    quant = scores.select("ticker", quant_long=pl.col("long_flag"), quant_short=pl.col("short_flag"))
    return (combined.join(quant, on="ticker", how="left")
            .filter((pl.col("long_flag") != pl.col("quant_long")) | (pl.col("short_flag") != pl.col("quant_short")))
            .select("ticker", "sector", "composite", "llm_score", "combined_score", "quant_long", "long_flag",
                    "quant_short", "short_flag"))


def combined_violations(frame: pl.DataFrame, quant_weight: float, llm_weight: float) -> list[str]:
    """What is wrong with one date's combined scores (empty: nothing)."""
    problems = []
    if frame.height == 0:
        return problems
    if frame.select(pl.struct("date", "ticker").is_duplicated().any()).item():
        problems.append("more than one row per (date, ticker)")
    out = frame.filter((pl.col("combined_score") < 0) | (pl.col("combined_score") > 100)
                       | pl.col("combined_score").is_null())
    if out.height:
        problems.append(f"combined_score outside [0, 100]: {', '.join(out['ticker'].head(5).to_list())}")
    both = frame.filter(pl.col("long_flag") & pl.col("short_flag"))
    if both.height:
        problems.append(f"both LONG and SHORT: {', '.join(both['ticker'].head(5).to_list())}")
    quant = frame.filter(~pl.col("analyzed") & ((pl.col("combined_score") - pl.col("composite")).abs() > 1e-9))
    if quant.height:
        problems.append(f"not analysed but not 100% quant: {', '.join(quant['ticker'].head(5).to_list())}")
    expected = quant_weight * pl.col("composite") + llm_weight * pl.col("llm_score")
    off = frame.filter(pl.col("analyzed") & ((pl.col("combined_score") - expected).abs() > 1e-6))
    if off.height:
        problems.append(f"combined_score is not the configured blend: {', '.join(off['ticker'].head(5).to_list())}")
    return problems
