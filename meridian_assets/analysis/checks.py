"""Blocking check on the combined scores, evaluated inside `combined_scores` on the staged rows before they
are published: one row per (date, ticker), scores within [0, 100] and equal to the configured blend for
analysed names and to the composite otherwise, never both LONG and SHORT (rules in
`meridian_assets.analysis.blend.combined_violations`). A failure writes nothing and leaves the previous rows."""

import dagster as dg

from meridian_assets.ingest.checks import valid_spec

VALID = "valid"

COMBINED_VALID = valid_spec(
    "combined_scores", "one row per (date, ticker), combined scores within [0, 100] and equal to the configured "
    "blend for analysed names and to the composite otherwise, never both LONG and SHORT")


def combined_result(problems: list[str], n_rows: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=VALID, passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows_checked": n_rows, "problems": len(problems), "published": not problems},
        description=("combined_scores: " + "; ".join(problems))[:4000] if problems else f"{n_rows} rows checked, ok")


def not_published(problems: list[str]) -> dg.Failure:
    return dg.Failure(description="combined_scores: not published, its blocking check valid failed (the previous "
                      "rows are unchanged): " + "; ".join(problems[:5]), allow_retries=False)
