"""Gates: a run that builds a book or sends orders refuses inputs whose latest blocking check failed.

A blocking check stops downstream assets in its own run; a *later*, separate run would otherwise read the bad
rows. So the rebalance and execution assets first look up, in Dagster's event log (never DuckDB), the latest
evaluation of each blocking check on their inputs and stop with the check's own message if it failed. A check
never evaluated (e.g. a table loaded before checks existed) does not block.
"""

from collections.abc import Iterable

import dagster as dg

# The blocking checks on what a book is built from.
BOOK_INPUT_CHECKS: tuple[tuple[str, str], ...] = (
    ("universe", "valid"), ("daily_prices", "valid"), ("corporate_actions", "valid"),
    ("earnings_calendar", "valid"), ("factor_scores", "valid"),
)


def failed_checks(instance: dg.DagsterInstance, checks: Iterable[tuple[str, str]] = BOOK_INPUT_CHECKS) -> list[str]:
    """One line per check whose latest evaluation failed with ERROR severity (empty: all clear)."""
    keys = [dg.AssetCheckKey(dg.AssetKey(asset), name) for asset, name in checks]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    out = []
    for key in keys:
        record = latest.get(key)
        evaluation = record.evaluation if record is not None else None
        if evaluation is None or evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        first = (evaluation.description or "").strip().splitlines()[:3]
        out.append(f"{key.asset_key.to_user_string()}:{key.name} failed in run {record.run_id[:8]}: "
                   + " | ".join(first))
    return out


def require_clean_inputs(context, what: str, checks: Iterable[tuple[str, str]] = BOOK_INPUT_CHECKS) -> None:
    """Raise `dg.Failure` naming every failed input check; fix the data and re-run its asset to clear it."""
    failed = failed_checks(context.instance, checks)
    if failed:
        raise dg.Failure(f"{what}: refusing inputs whose latest blocking check failed; fix the data and "
                         "re-materialize the table:\n" + "\n".join(f"- {f}" for f in failed), allow_retries=False)
