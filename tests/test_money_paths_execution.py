"""Execution reads the risk layer's trading state (`risk_state.json`) and the halt lock at its entry points:
the execution job materialized in process, and the run the approved_rebalance_sensor launches. REDUCING lets
only position-shrinking orders through, HALTED and an unreadable state file send nothing, and the dry run
shows the same outcome row by row (halted, vetoed, a short the broker cannot lend skipped)."""

from __future__ import annotations

import json

import dagster as dg
import polars as pl
import pytest

from meridian_assets.config import get_config
from meridian_assets.execution.simulated import SimulatedBroker
from meridian_assets.risk.halt_lock import HaltLock
from sensors.execution import approved_rebalance_sensor
from tests.conftest import query
from tests.execution_world import RID, synthetic_market, write_rebalance

TRADE = ["execution_fills", "broker_positions", "short_availability", "execution_reconciliation"]


@pytest.fixture
def home(meridian_home):
    """An approved rebalance of 4 new positions on the 40-name embedded market (simulated venue, virtual time)."""
    tickers, sectors, prices, uni = synthetic_market()
    targets = {t: (200 if i % 2 == 0 else -150) for i, t in enumerate(tickers[:4])}
    write_rebalance(get_config().database_path(), targets, prices=prices, sectors=sectors, universe=uni)
    return {"targets": targets, "db": get_config().database_path(), "home": meridian_home}


def definitions() -> dg.Definitions:
    from meridian_assets.cli.execute import build_execution_definitions

    return build_execution_definitions()


def materialize(selection: list[str], instance=None):
    job = definitions().resolve_job_def("execution_job")
    cfg = {"config": {"rebalance_id": RID}}
    ops = {"execution_plan": cfg} if "execution_plan" in selection else {}
    if "execution_fills" in selection:
        ops["execute_rebalance"] = cfg
    return job.execute_in_process(run_config={"ops": ops}, instance=instance or dg.DagsterInstance.ephemeral(),
                                  asset_selection=[dg.AssetKey(a) for a in selection])


def orders_at_venue(home) -> list:
    if not (home["home"] / "broker").exists():
        return []
    v = SimulatedBroker(home["home"] / "broker")
    try:
        return v.list_orders()
    finally:
        v.close()


def fills(home) -> pl.DataFrame:
    return query(home["db"], "SELECT * FROM execution_fills")


def write_state(text: str) -> None:
    path = get_config().risk_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("doc", [{"trading_state": "HALTED"}, {"state": "halted"}])
def test_a_halted_risk_state_sends_nothing(home, doc):
    write_state(json.dumps(doc))
    assert materialize(TRADE).success
    f = fills(home)
    assert f.height == len(home["targets"]) and set(f["status"]) == {"HALTED"}
    assert orders_at_venue(home) == []


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"trading_state": "PANIC"}', ""])
def test_an_unreadable_risk_state_counts_as_halted(home, text):
    write_state(text)
    assert materialize(TRADE).success
    assert set(fills(home)["status"]) == {"HALTED"} and orders_at_venue(home) == []


def test_reducing_refuses_every_order_that_opens_a_position(home):
    write_state(json.dumps({"trading_state": "REDUCING", "as_of": "2024-03-28"}))
    assert materialize(TRADE).success
    f = fills(home)
    assert f.height == len(home["targets"]) and set(f["status"]) == {"VETOED"}
    assert all("TRADING_REDUCING" in r for r in f["notes"])
    assert orders_at_venue(home) == []


def test_an_active_or_absent_state_trades(home):
    write_state(json.dumps({"trading_state": "ACTIVE"}))
    assert materialize(TRADE).success
    assert {o.ticker for o in orders_at_venue(home)} == set(home["targets"])
    assert "HALTED" not in set(fills(home)["status"])


def test_the_dry_run_shows_the_halt_and_the_veto_per_row(home):
    HaltLock(get_config().halt_lock_path()).write("kill switch: drawdown 9%")
    assert materialize(["execution_plan"]).success
    plan = query(home["db"], "SELECT * FROM execution_plan")
    assert set(plan["status"]) == {"HALTED"} and set(plan["ticker"]) == set(home["targets"])
    HaltLock(get_config().halt_lock_path()).clear()
    write_state(json.dumps({"trading_state": "REDUCING"}))
    assert materialize(["execution_plan"]).success
    plan = query(home["db"], "SELECT * FROM execution_plan")
    assert set(plan["status"]) == {"VETOED"} and all("TRADING_REDUCING" in r for r in plan["reason"])
    assert not (home["home"] / "broker").exists()  # a dry run never opens the venue


def test_the_run_the_sensor_launches_under_the_lock_sends_nothing(home):
    instance = dg.DagsterInstance.ephemeral()
    d = definitions()
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "position_approvals", metadata={"rebalance_id": RID, "status": "APPROVED", "approved_by": "pm"}))
    requests = approved_rebalance_sensor(dg.build_sensor_context(instance=instance, definitions=d)).run_requests
    assert [r.run_key for r in requests] == [RID]
    HaltLock(get_config().halt_lock_path()).write("CLOSE_ALL_TODAY on 2024-03-28")
    job = d.resolve_job_def("execution_job")
    result = job.execute_in_process(run_config=requests[0].run_config, instance=instance, tags=requests[0].tags)
    assert result.success
    assert set(fills(home)["status"]) == {"HALTED"} and orders_at_venue(home) == []
    meta = next(m for m in result.asset_materializations_for_node("execute_rebalance")
                if m.asset_key.to_user_string() == "execution_fills").metadata
    assert meta["halted"].value is True and meta["submitted"].value == 0


def test_the_dry_run_skips_a_short_the_broker_last_said_it_cannot_borrow(home):
    import datetime as dt

    import duckdb

    from meridian_assets.execution.schemas import SHORT_AVAILABILITY
    from meridian_assets.storage import replace_all

    shorts = sorted(t for t, q in home["targets"].items() if q < 0)
    fetched = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(hours=1)
    rows = pl.DataFrame({"ticker": shorts, "shortable": [False] + [True] * (len(shorts) - 1),
                         "easy_to_borrow": [True] * len(shorts), "fetched_at": [fetched] * len(shorts),
                         "broker": ["simulated"] * len(shorts)})
    conn = duckdb.connect(str(home["db"]))
    try:
        replace_all(conn, SHORT_AVAILABILITY, SHORT_AVAILABILITY.conform(rows))
    finally:
        conn.close()
    assert materialize(["execution_plan"]).success
    plan = query(home["db"], "SELECT * FROM execution_plan")
    refused = plan.filter(pl.col("ticker") == shorts[0])
    assert refused["status"].to_list() == ["SKIPPED"]
    assert refused["reason"][0].startswith(f"short not available: {shorts[0]} not shortable (cached ")
    others = plan.filter(pl.col("ticker") != shorts[0])
    assert set(others["status"]) == {"PLANNED"}
    assert set(others.filter(pl.col("ticker").is_in(shorts[1:]))["reason"].to_list()) <= {None}  # cached and fine
