"""The gate on two independent branches (a1 -> b1, a2 -> b2): a step that builds both is guarded by both
branches' checks, and a check that failed inside a run names that run so the reader can open it."""

from __future__ import annotations

import dagster as dg

from meridian_assets.gates import failed_checks, upstream_blocking_checks


@dg.asset
def a1() -> None: ...


@dg.asset
def a2() -> None: ...


@dg.asset(deps=[a1])
def b1() -> None: ...


@dg.asset(deps=[a2])
def b2() -> None: ...


@dg.asset_check(asset=a1, blocking=True)
def a1_valid() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="a1 2024-03-05 AAA close=-1.0 (must be > 0)")


@dg.asset_check(asset=a2, blocking=True)
def a2_valid() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


A1_VALID = dg.AssetCheckKey(dg.AssetKey("a1"), "a1_valid")
A2_VALID = dg.AssetCheckKey(dg.AssetKey("a2"), "a2_valid")


def test_a_step_building_two_branches_is_guarded_by_both():
    graph = dg.Definitions(assets=[a1, a2, b1, b2], asset_checks=[a1_valid, a2_valid]).resolve_asset_graph()
    for keys in ([dg.AssetKey("b1"), dg.AssetKey("b2")], [dg.AssetKey("b2"), dg.AssetKey("b1")]):
        assert upstream_blocking_checks(graph, keys) == [A1_VALID, A2_VALID]


def test_a_check_failed_in_a_run_names_the_run():
    inst = dg.DagsterInstance.ephemeral()
    result = dg.materialize([a1, a1_valid], instance=inst, raise_on_error=False)
    assert failed_checks(inst, [A1_VALID]) == [
        f"a1:a1_valid failed in run {result.run_id[:8]}: a1 2024-03-05 AAA close=-1.0 (must be > 0)"]


@dg.asset(deps=[a1])
def guarded(context) -> None:
    from meridian_assets.gates import require_clean_inputs

    require_clean_inputs(context)


def test_the_code_location_handed_over_as_it_loads_guards_each_asset():
    import meridian_assets.gates as gates

    before = gates._code_location
    inst = dg.DagsterInstance.ephemeral()
    try:
        gates.use_code_location(dg.Definitions(assets=[a1, guarded], asset_checks=[a1_valid]))
        dg.materialize([a1, a1_valid], instance=inst, raise_on_error=False)  # the check fails
        result = dg.materialize([guarded], instance=inst, raise_on_error=False)  # a run of the one asset
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.event_specific_data.error.message
        assert "guarded: refusing inputs whose latest blocking check failed" in message
    finally:
        gates._code_location = before
        gates._code_location_graph.cache_clear()
