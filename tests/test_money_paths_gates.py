"""The gate on a three-asset graph of its own (raw -> mid -> top, blocking and advisory checks) on an ephemeral
instance: which checks guard an asset (every ancestor's blocking checks, not its own, not advisory ones), what
counts as failed (the latest completed ERROR evaluation; a later pass clears it; never evaluated or a WARN does
not block), and the refusal a materialization raises, naming each failed check with its first lines."""

from __future__ import annotations

import dagster as dg
import pytest

from meridian_assets.gates import failed_checks, input_checks, require_clean_inputs, upstream_blocking_checks


@dg.asset
def raw() -> None: ...


@dg.asset(deps=[raw])
def mid() -> None: ...


seen: dict[str, object] = {}


@dg.asset(deps=[mid])
def top(context) -> None:
    seen["checks"] = input_checks(context)
    require_clean_inputs(context)


@dg.asset(deps=[raw])
def side(context) -> None:
    require_clean_inputs(context, "side report", checks=[dg.AssetCheckKey(dg.AssetKey("mid"), "mid_valid")])


@dg.asset_check(asset=raw, blocking=True)
def raw_valid() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=raw, blocking=False)
def raw_advisory() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=mid, blocking=True)
def mid_valid() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=top, blocking=True)
def top_valid() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


ASSETS = [raw, mid, top, side]
CHECKS = [raw_valid, raw_advisory, mid_valid, top_valid]
RAW_VALID = dg.AssetCheckKey(dg.AssetKey("raw"), "raw_valid")
MID_VALID = dg.AssetCheckKey(dg.AssetKey("mid"), "mid_valid")


def graph():
    return dg.Definitions(assets=ASSETS, asset_checks=CHECKS).resolve_asset_graph()


def evaluate(instance, key: dg.AssetCheckKey, passed: bool, severity=dg.AssetCheckSeverity.ERROR,
             description: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=key.asset_key, check_name=key.name, passed=passed, severity=severity, description=description))


def test_the_checks_that_guard_an_asset():
    g = graph()
    assert upstream_blocking_checks(g, [dg.AssetKey("top")]) == [MID_VALID, RAW_VALID]  # sorted by asset, name
    assert upstream_blocking_checks(g, [dg.AssetKey("mid")]) == [RAW_VALID]  # not its own, not advisory
    assert upstream_blocking_checks(g, [dg.AssetKey("mid"), dg.AssetKey("top")]) == [RAW_VALID]
    assert upstream_blocking_checks(g, [dg.AssetKey("raw")]) == []
    assert upstream_blocking_checks(g, [dg.AssetKey("elsewhere")]) == []


def test_what_counts_as_failed():
    inst = dg.DagsterInstance.ephemeral()
    assert failed_checks(inst, [RAW_VALID, MID_VALID]) == []  # never evaluated: does not block
    evaluate(inst, RAW_VALID, False, description="raw 2024-03-05 AAA close=-1.0 (must be > 0)\nsecond\nthird\nfourth")
    evaluate(inst, MID_VALID, False, severity=dg.AssetCheckSeverity.WARN, description="only a warning")
    (line,) = failed_checks(inst, [RAW_VALID, MID_VALID])
    assert line.startswith("raw:raw_valid failed")
    assert line.endswith(": raw 2024-03-05 AAA close=-1.0 (must be > 0) | second | third")
    evaluate(inst, MID_VALID, False)  # no description
    assert failed_checks(inst, [MID_VALID]) == ["mid:mid_valid failed: "]
    evaluate(inst, RAW_VALID, True)  # a good reload clears it
    assert failed_checks(inst, [RAW_VALID]) == []
    evaluate(inst, RAW_VALID, False, description="again")
    assert failed_checks(inst, [RAW_VALID]) == ["raw:raw_valid failed: again"]


def materialize(instance, selection):
    return dg.materialize([*ASSETS, *CHECKS], instance=instance, selection=selection, raise_on_error=False)


def failure_message(result) -> str:
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return event.event_specific_data.error.message


@pytest.fixture
def location(monkeypatch):
    """This graph stands in for the code location's (a subset run's own graph holds only what it selected)."""
    import meridian_assets.gates as gates

    monkeypatch.setattr(gates, "_code_location_graph", graph)


def test_a_materialization_refuses_inputs_whose_latest_check_failed(location):
    inst = dg.DagsterInstance.ephemeral()
    assert materialize(inst, [dg.AssetKey("top")]).success
    assert seen["checks"] == [MID_VALID, RAW_VALID]
    evaluate(inst, RAW_VALID, False, description="raw 2024-03-05 AAA close=-1.0 (must be > 0)")
    result = materialize(inst, [dg.AssetKey("top")])
    assert not result.success
    message = failure_message(result)
    assert "Failure: top: refusing inputs whose latest blocking check failed; fix the data and reload" in message
    assert "\n- raw:raw_valid failed: raw 2024-03-05 AAA close=-1.0 (must be > 0)" in message
    evaluate(inst, RAW_VALID, True)
    assert materialize(inst, [dg.AssetKey("top")]).success


def test_explicit_checks_and_a_name_for_the_refusal(location):
    inst = dg.DagsterInstance.ephemeral()
    evaluate(inst, RAW_VALID, False, description="not asked about")
    assert materialize(inst, [dg.AssetKey("side")]).success  # only the checks it was given count
    evaluate(inst, MID_VALID, False, description="mid broke")
    result = materialize(inst, [dg.AssetKey("side")])
    assert not result.success and "Failure: side report: refusing inputs" in failure_message(result)
    assert "- mid:mid_valid failed: mid broke" in failure_message(result)


def test_a_refusal_is_not_retried():
    inst = dg.DagsterInstance.ephemeral()
    evaluate(inst, RAW_VALID, False)
    with pytest.raises(dg.Failure) as err:
        class Ctx:
            selected_asset_keys = {dg.AssetKey("top")}
            instance = inst
        require_clean_inputs(Ctx(), checks=[RAW_VALID])
    assert err.value.allow_retries is False
    assert str(err.value).startswith("top: refusing")


def test_an_asset_outside_the_code_location_reads_its_runs_graph():
    seen.clear()
    assert materialize(dg.DagsterInstance.ephemeral(), None).success  # the whole graph in one run
    assert seen["checks"] == [MID_VALID, RAW_VALID]


def test_a_refusal_lists_every_failed_check_for_every_selected_asset():
    inst = dg.DagsterInstance.ephemeral()
    evaluate(inst, RAW_VALID, False, description="raw broke")
    evaluate(inst, MID_VALID, False, description="mid broke")

    class Ctx:
        selected_asset_keys = {dg.AssetKey("top"), dg.AssetKey("side")}
        instance = inst

    with pytest.raises(dg.Failure) as err:
        require_clean_inputs(Ctx(), checks=[MID_VALID, RAW_VALID])
    assert str(err.value) == ("side, top: refusing inputs whose latest blocking check failed; fix the data and "
                              "reload the table:\n- mid:mid_valid failed: mid broke\n- raw:raw_valid failed: raw broke")
