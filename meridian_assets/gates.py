"""Gates: nothing builds on a table whose latest blocking check failed.

A checked table publishes only rows that passed its blocking checks (`ingest.checks`); a failed load leaves
the previous rows and a failed evaluation in Dagster's event log. In its own run Dagster then skips every
downstream step; a *later*, separate run would not know. So every asset that reads checked tables calls
`require_clean_inputs` first. It takes, from the code location's asset graph, the blocking checks on the
asset's upstream assets (all ancestors: scores built from prices count as reading prices), looks up each
check's latest evaluation in Dagster's event log (never DuckDB) and stops with the check's own message if
it failed. A later passing evaluation (a good reload) clears it; a check never evaluated does not block.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph


# A run's own job graph holds only its selected assets' checks, and an in-process run (the CLI, tests)
# carries no repository, so the checks guarding each table come from the code location itself. The code
# location hands itself over when it is built (meridian_assets/definitions.py): every process that runs an
# asset has loaded it, and the wiring never imports the layer above it.
_code_location: dg.Definitions | None = None


def use_code_location(defs: dg.Definitions) -> None:
    """The Definitions whose blocking checks guard each table (set by the code location as it loads)."""
    global _code_location
    _code_location = defs
    _code_location_graph.cache_clear()


@functools.cache
def _code_location_graph() -> BaseAssetGraph | None:
    return _code_location.resolve_asset_graph() if _code_location is not None else None


def upstream_blocking_checks(graph: BaseAssetGraph, keys: Iterable[dg.AssetKey]) -> list[dg.AssetCheckKey]:
    """The blocking checks on every ancestor of ``keys`` in ``graph`` (the assets' own checks excluded)."""
    keys = set(keys)
    ancestors: set[dg.AssetKey] = set()
    for key in keys:
        if graph.has(key):
            ancestors |= graph.get_ancestor_asset_keys(key)
    ancestors -= keys
    return sorted((ck for ck in graph.asset_check_keys
                   if ck.asset_key in ancestors and graph.get_check_spec(ck).blocking),
                  key=lambda ck: (ck.asset_key.to_user_string(), ck.name))


def failed_checks(instance: dg.DagsterInstance, checks: Sequence[dg.AssetCheckKey]) -> list[str]:
    """One line per check whose latest completed evaluation failed with ERROR severity (empty: all clear).

    "Completed": a run that planned the check but died before evaluating it neither clears nor sets it.
    """
    out = []
    for key in checks:
        history = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=1, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
        evaluation = history[0].evaluation if history else None
        if evaluation is None or evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        first = (evaluation.description or "").strip().splitlines()[:3]
        run = f" in run {history[0].run_id[:8]}" if history[0].run_id else ""
        out.append(f"{key.asset_key.to_user_string()}:{key.name} failed{run}: " + " | ".join(first))
    return out


def input_checks(context: dg.AssetExecutionContext) -> list[dg.AssetCheckKey]:
    """The blocking checks guarding what the executing asset(s) read."""
    keys = set(context.selected_asset_keys)
    graph = _code_location_graph()
    if graph is None or not all(graph.has(k) for k in keys):  # no code location loaded, or an asset outside it
        graph = context.job_def.asset_layer.asset_graph
    return upstream_blocking_checks(graph, keys)


def require_clean_inputs(context: dg.AssetExecutionContext, what: str | None = None,
                         checks: Sequence[dg.AssetCheckKey] | None = None) -> None:
    """Raise `dg.Failure` naming every failed input check; fix the data and reload its table to clear it."""
    checks = input_checks(context) if checks is None else checks
    failed = failed_checks(context.instance, checks)
    if failed:
        what = what or ", ".join(sorted(k.to_user_string() for k in context.selected_asset_keys))
        raise dg.Failure(f"{what}: refusing inputs whose latest blocking check failed; fix the data and "
                         "reload the table:\n" + "\n".join(f"- {f}" for f in failed), allow_retries=False)
