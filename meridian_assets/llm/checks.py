"""Blocking check on the combined scores: the blend, the 100%-quant rule and the flags hold on the latest
date written (rules in `meridian_assets.llm.blend.combined_violations`)."""

import dagster as dg

from meridian_assets.llm.blend import combined_violations
from meridian_assets.storage import read, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

VALID = "valid"


@dg.asset_check(asset="combined_scores", name=VALID, blocking=True, pool=DUCKDB_POOL,
                description="Blocking: one row per (date, ticker), combined scores within [0, 100] and equal to "
                "the configured blend for analysed names and to the composite otherwise, never both LONG and SHORT.")
def combined_scores_valid(context: dg.AssetCheckExecutionContext, db: DuckDBStore,
                          settings: MeridianSettings) -> dg.AssetCheckResult:
    cfg = settings.get().analysis
    with db.connect() as conn:
        if not table_exists(conn, "combined_scores"):
            return dg.AssetCheckResult(passed=True, description="combined_scores has not been written yet")
        frame = read(conn, "SELECT * FROM combined_scores WHERE date = (SELECT max(date) FROM combined_scores)")
    problems = combined_violations(frame, cfg.quant_weight, cfg.llm_weight)
    for p in problems:
        context.log.error(f"combined_scores: {p}")
    return dg.AssetCheckResult(passed=not problems, metadata={"rows": frame.height, "problems": len(problems)},
                               description="; ".join(problems) or "ok")


ANALYSIS_CHECKS = [combined_scores_valid]
