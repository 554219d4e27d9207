"""Blocking checks on the factor scores: in [0, 100], one row per (date, ticker), every sector with a LONG
and a SHORT name. The rules are in `meridian_assets.factors.validation`."""

import dagster as dg

from meridian_assets.factors.schemas import FACTOR_SCORES
from meridian_assets.factors.validation import score_violations
from meridian_assets.ingest.checks import check_result, written_window
from meridian_assets.storage import read_window
from resources import DUCKDB_POOL, DuckDBStore

VALID = "valid"


@dg.asset_check(asset="factor_scores", name=VALID, blocking=True, pool=DUCKDB_POOL,
                description="Blocking: scores within [0, 100], one row per (date, ticker), no name both LONG and "
                "SHORT, every sector with 2+ names has a LONG and a SHORT name on every date.")
def factor_scores_valid(context: dg.AssetCheckExecutionContext, db: DuckDBStore) -> dg.AssetCheckResult:
    window = written_window(context, "factor_scores")
    if window is None:
        return dg.AssetCheckResult(passed=True, description="factor_scores has not been materialized yet")
    with db.connect() as conn:
        df = read_window(conn, FACTOR_SCORES, *window)
    violations = score_violations(df)
    if violations:
        context.log.error(str(violations[0]))
    return check_result(violations, df.height)


FACTOR_CHECKS = [factor_scores_valid]
