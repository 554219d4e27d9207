"""The execution assets, job and sensor on the embedded market in a temporary Meridian home (tier 2)."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from meridian_assets.config import get_config
from meridian_assets.execution.faults import FaultKind, FaultPlan
from sensors.execution import approved_rebalance_sensor
from meridian_assets.execution.simulated import SimulatedBroker
from meridian_assets.risk.halt_lock import HaltLock
from resources.execution import BrokerResource
from tests.conftest import query
from tests.execution_world import RID, synthetic_market, write_rebalance


@pytest.fixture
def home(meridian_home, monkeypatch):
    """A 40-name embedded market with an approved rebalance of 6 names (one of them DEFERRED by the budget). The
    simulated venue runs on virtual time (the default), so polling and time in force take no real time."""
    tickers, sectors, prices, uni = synthetic_market()
    targets = {t: (200 if i % 2 == 0 else -150) for i, t in enumerate(tickers[:6])}
    write_rebalance(get_config().database_path(), targets, statuses={tickers[5]: "DEFERRED"}, prices=prices,
                    sectors=sectors, universe=uni)
    return {"targets": targets, "deferred": tickers[5], "db": get_config().database_path(), "home": meridian_home}


def definitions() -> dg.Definitions:
    from meridian_assets.cli.execute import build_execution_definitions

    return build_execution_definitions()


def materialize(selection: list[str], rid: str = RID, raise_on_error: bool = True):
    job = definitions().resolve_job_def("execution_job")
    cfg = {"config": {"rebalance_id": rid}}
    ops = {"execution_plan": cfg} if "execution_plan" in selection else {}
    if "execution_fills" in selection:
        ops["execute_rebalance"] = cfg
    return job.execute_in_process(run_config={"ops": ops}, instance=dg.DagsterInstance.ephemeral(),
                                  asset_selection=[dg.AssetKey(a) for a in selection], raise_on_error=raise_on_error)


def venue_positions(home) -> dict[str, int]:
    v = SimulatedBroker(home / "broker")
    try:
        return v.positions()
    finally:
        v.close()


def test_dry_run_plans_chunks_and_limits_without_any_broker_call(home, monkeypatch):
    def no_broker(*a, **k):
        raise AssertionError("a dry run must not touch the broker")

    monkeypatch.setattr(BrokerResource, "client", no_broker)
    res = materialize(["execution_plan"])
    assert res.success and not (home["home"] / "broker").exists()
    plan = query(home["db"], "SELECT p.*, d.close FROM execution_plan p JOIN daily_prices d ON d.ticker = p.ticker "
                             "AND d.date = p.as_of ORDER BY p.ticker")
    planned = plan.filter(plan["status"] == "PLANNED")
    assert set(planned["ticker"]) == set(home["targets"]) - {home["deferred"]}
    for r in planned.iter_rows(named=True):
        bound = r["close"] * (1.001 if r["action"] == "BUY" else 0.999)
        assert abs(r["limit_price"] - bound) < 0.01 and r["adv_pct"] <= 0.02 and r["signal_price"] == r["close"]
    meta = res.asset_materializations_for_node("execution_plan")[0].metadata
    assert meta["orders"].value == planned.height and meta["rebalance_id"].value == RID


def test_execution_job_trades_an_approved_rebalance_then_a_rerun_trades_nothing(home):
    res = materialize(["execution_plan", "execution_fills", "broker_positions", "short_availability",
                       "execution_reconciliation", "slippage_summary"])
    assert res.success
    want = {t: q for t, q in home["targets"].items() if t != home["deferred"]}
    held = venue_positions(home["home"])
    fills = query(home["db"], "SELECT * FROM execution_fills")
    filled = fills.filter(fills["shares"] > 0)
    by_ticker = {t: int(sum(r["shares"] * (1 if r["action"] in ("BUY", "COVER") else -1)
                            for r in filled.iter_rows(named=True) if r["ticker"] == t)) for t in want}
    assert held == {t: q for t, q in by_ticker.items() if q}  # every share at the broker is recorded
    assert sum(held.get(t) == q for t, q in want.items()) >= 4  # the next session's bars filled (nearly) all
    assert all(held.get(t, 0) == q or set(fills.filter(fills["ticker"] == t)["status"]) - {"FILLED"} for t, q in want.items())
    assert fills.filter(fills["ticker"] == home["deferred"])["status"].to_list() == ["SKIPPED"]
    pos = query(home["db"], "SELECT ticker, shares, source FROM portfolio_positions")
    assert dict(zip(pos["ticker"], pos["shares"])) == held and set(pos["source"]) == {"broker"}
    shorts = {t for t, q in want.items() if q < 0}
    assert set(query(home["db"], "SELECT ticker FROM short_availability")["ticker"]) == shorts
    assert query(home["db"], "SELECT fills FROM slippage_summary")["fills"][0] == filled.height
    meta = res.asset_materializations_for_node("execute_rebalance")
    assert {m.asset_key.to_user_string() for m in meta} == {"execution_fills", "broker_positions", "short_availability",
                                                            "execution_reconciliation"}
    before = query(home["db"], "SELECT count(*) AS n FROM execution_fills")["n"][0]
    again = materialize(["execution_plan", "execution_fills", "broker_positions", "short_availability",
                         "execution_reconciliation", "slippage_summary"])
    assert again.success and venue_positions(home["home"]) == held
    fills_meta = next(m for m in again.asset_materializations_for_node("execute_rebalance")
                      if m.asset_key.to_user_string() == "execution_fills").metadata
    assert fills_meta["submitted"].value == 0
    assert query(home["db"], "SELECT count(*) AS n FROM execution_fills")["n"][0] == before


def test_reconciliation_failure_fails_the_run_and_trades_nothing(home, monkeypatch):
    real = BrokerResource.client
    faults = FaultPlan()
    faults.add(FaultKind.OUTAGE, op="list", calls=50)
    monkeypatch.setattr(BrokerResource, "client", lambda self, **kw: real(self, **{**kw, "faults": faults}))
    res = materialize(["execution_fills", "broker_positions", "short_availability", "execution_reconciliation"],
                      raise_on_error=False)
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
    assert "stopped before trading" in failure.event_specific_data.error.message
    assert SimulatedBroker(home["home"] / "broker").list_orders() == []


def test_halt_lock_means_no_orders(home):
    HaltLock(get_config().halt_lock_path()).write("kill switch: drawdown 9%")
    res = materialize(["execution_fills", "broker_positions", "short_availability", "execution_reconciliation"])
    assert res.success
    statuses = set(query(home["db"], "SELECT status FROM execution_fills")["status"])
    assert statuses == {"HALTED", "SKIPPED"} and SimulatedBroker(home["home"] / "broker").list_orders() == []


def test_sensor_launches_one_run_per_approved_rebalance_from_the_event_log(meridian_home, monkeypatch):
    instance = dg.DagsterInstance.ephemeral()
    d = definitions()
    job = d.resolve_job_def("execution_job")

    def approve(rid, status="APPROVED"):
        instance.report_runless_asset_event(dg.AssetMaterialization(
            "position_approvals", metadata={"rebalance_id": rid, "status": status, "approved_by": "pm"}))

    approve("rb-20240328-mvo-aaaaaaaa")
    approve("rb-20240328-mvo-aaaaaaaa")  # approved twice
    approve("rb-20240329-mvo-bbbbbbbb")
    approve("rb-20240329-mvo-cccccccc", status="REJECTED")
    instance.report_runless_asset_event(dg.AssetMaterialization("target_book", metadata={"rebalance_id": "rb-x",
                                                                                       "status": "APPROVED"}))

    def no_duckdb(*a, **k):
        raise AssertionError("the sensor must not open DuckDB")

    monkeypatch.setattr(duckdb, "connect", no_duckdb)
    ctx = dg.build_sensor_context(instance=instance, definitions=d)
    result = approved_rebalance_sensor(ctx)
    keys = [r.run_key for r in result.run_requests]
    assert keys == ["rb-20240328-mvo-aaaaaaaa", "rb-20240329-mvo-bbbbbbbb"]
    req = result.run_requests[0]
    assert req.run_config["ops"]["execute_rebalance"]["config"] == {"rebalance_id": keys[0]}
    assert dg.validate_run_config(job, req.run_config)  # a run config execution_job accepts
    assert req.tags["meridian/rebalance_id"] == keys[0] and "confirm_live" not in str(req.run_config)
    # the next tick starts after the events it has seen: nothing new, nothing requested
    again = approved_rebalance_sensor(dg.build_sensor_context(instance=instance, definitions=d, cursor=result.cursor))
    assert again.run_requests == []
    approve("rb-20240401-conviction-dddddddd")
    third = approved_rebalance_sensor(dg.build_sensor_context(instance=instance, definitions=d, cursor=result.cursor))
    assert [r.run_key for r in third.run_requests] == ["rb-20240401-conviction-dddddddd"]
