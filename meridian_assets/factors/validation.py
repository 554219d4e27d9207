"""What cannot be true of factor scores (the blocking check of `factor_scores`), as quality rules."""

from __future__ import annotations

import polars as pl

from meridian_assets.factors.schemas import ALL_SUB_FACTORS, FACTOR_SCORES, PARENTS
from meridian_assets.ingest.quality import Rule, Violations, evaluate, key_violations

SCORE_COLUMNS: tuple[str, ...] = (*ALL_SUB_FACTORS, *(f"{p}_score" for p in PARENTS), "composite")


def score_violations(scores: pl.DataFrame) -> Violations:
    """Blocking rules: one row per (date, ticker); every score in [0, 100] and not NaN; no name both LONG
    and SHORT; on every date every sector with two or more names has at least one LONG and one SHORT."""
    if scores.height == 0:
        return Violations()
    rows = evaluate("factor_scores", scores, [
        *(Rule("score_range", ~pl.col(c).is_between(0.0, 100.0) | pl.col(c).is_nan(),
               "must be within [0, 100]", field=c) for c in SCORE_COLUMNS),
        Rule("long_and_short", pl.col("long_flag") & pl.col("short_flag"), "flagged both LONG and SHORT",
             field="long_flag"),
    ])
    sectors = scores.group_by("date", "sector").agg(
        n=pl.len(), n_long=pl.col("long_flag").sum(), n_short=pl.col("short_flag").sum())
    groups = evaluate("factor_scores", sectors, [
        Rule("sector_without_long", (pl.col("n") >= 2) & (pl.col("n_long") == 0),
             "sector has {n} names and no LONG", field="sector"),
        Rule("sector_without_short", (pl.col("n") >= 2) & (pl.col("n_short") == 0),
             "sector has {n} names and no SHORT", field="sector"),
    ])
    return key_violations(scores, FACTOR_SCORES).merged(rows).merged(groups)
