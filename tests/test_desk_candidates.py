"""Per-candidate decisions from the desk's Research cards: the desk's approval carries the refused candidates in
`portfolio_approve_job`'s run config; the job records their trades REJECTED and `execution_job` (the run the
approved_rebalance_sensor launches) sends no order for them while the rest of the proposal trades."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from meridian_assets.config import get_config
from meridian_assets.desk import actions
from meridian_assets.execution.simulated import SimulatedBroker
from meridian_assets.portfolio.assets import decide
from tests.conftest import query
from tests.execution_world import AS_OF, RID, synthetic_market, write_rebalance


@pytest.fixture
def home(meridian_home):
    """An unapproved 6-name proposal on the 40-name embedded market (the decision is the test's to make)."""
    tickers, sectors, prices, uni = synthetic_market()
    targets = {t: (200 if i % 2 == 0 else -150) for i, t in enumerate(tickers[:6])}
    write_rebalance(get_config().database_path(), targets, prices=prices, sectors=sectors, universe=uni)
    db = get_config().database_path()
    import duckdb

    conn = duckdb.connect(str(db))
    conn.execute("DELETE FROM position_approvals")  # proposed, not yet decided
    conn.close()
    return {"targets": targets, "db": db, "home": meridian_home}


def run(action: actions.Action, raise_on_error: bool = True):
    """``action`` executed in process exactly as the desk submits it (job, run config, asset selection)."""
    if action.job == "execution_job":
        from meridian_assets.cli.execute import build_execution_definitions

        job = build_execution_definitions().resolve_job_def(action.job)
    else:  # bound to this test's home (the module-level `defs` keeps the database of its first import)
        from meridian_assets.definitions import build_definitions

        job = build_definitions().resolve_job_def(action.job)
    kwargs = {"asset_selection": [dg.AssetKey(a) for a in action.assets]} if action.assets else {}
    return job.execute_in_process(run_config=action.run_config, instance=dg.DagsterInstance.ephemeral(),
                                  raise_on_error=raise_on_error, **kwargs)


def test_a_rejected_candidate_is_not_traded_by_the_execution_run(home):
    long_out, short_out = sorted(home["targets"])[0], sorted(home["targets"])[1]
    assert home["targets"][long_out] > 0 > home["targets"][short_out]
    approval = actions.decide(RID, "approve", rejected=[short_out, long_out])
    assert approval.run_config["ops"]["position_approvals"]["config"]["rejected_tickers"] == sorted([long_out,
                                                                                                     short_out])
    res = run(approval)
    assert res.success
    meta = res.asset_materializations_for_node("position_approvals")[0].metadata
    assert meta["status"].value == "APPROVED" and meta["trades"].value == 4
    ledger = query(home["db"], "SELECT ticker, status, reason FROM position_approvals ORDER BY ticker")
    refused = ledger.filter(pl.col("status") == "REJECTED")
    assert sorted(refused["ticker"]) == sorted([long_out, short_out])
    assert set(refused["reason"]) == {"rejected by desk"}
    assert set(ledger.filter(~pl.col("ticker").is_in([long_out, short_out]))["status"]) == {"APPROVED"}

    assert run(actions.execute(RID)).success
    venue = SimulatedBroker(home["home"] / "broker")
    try:
        held = venue.positions()
        sent = {o.ticker for o in venue.list_orders()}
    finally:
        venue.close()
    assert long_out not in held and short_out not in held
    assert not {long_out, short_out} & sent and len(sent) == 4  # every other candidate had its orders
    fills = query(home["db"], "SELECT ticker, status, notes FROM execution_fills")
    for t in (long_out, short_out):
        row = fills.filter(pl.col("ticker") == t)
        assert row["status"].to_list() == ["SKIPPED"] and "rejected" in row["notes"][0]


def test_rejecting_a_ticker_outside_the_proposal_fails_the_run_and_records_nothing(home):
    res = run(actions.decide(RID, "approve", rejected=["ZZZZ"]), raise_on_error=False)
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
    assert "ZZZZ have no trade in " + RID in failure.event_specific_data.error.message
    assert query(home["db"], "SELECT count(*) AS n FROM position_approvals")["n"][0] == 0


def test_a_commit_fills_everything_but_the_rejected_candidates():
    trades = pl.DataFrame([
        {"rebalance_id": RID, "as_of": AS_OF, "ticker": t, "sector": "Energy", "action": a, "current_shares": cur,
         "delta_shares": d, "price": 50.0, "score": 70.0, "cost_bps": 10.0, "status": s, "reason": None}
        for t, a, cur, d, s in [("AAA", "BUY", 0, 100, "PROPOSED"), ("BBB", "SELL", 100, -300, "PROPOSED"),
                                ("CCC", "SHORT", 0, -50, "PROPOSED"), ("DDD", "BUY", 0, 10, "VETOED")]])
    rows = decide(trades, "commit", "pm", rejected=frozenset({"BBB", "DDD"}))
    status = {(r["ticker"], r["action"]): r["status"] for r in rows.iter_rows(named=True)}
    price = {(r["ticker"], r["action"]): r["price"] for r in rows.iter_rows(named=True)}
    assert status == {("AAA", "BUY"): "EXECUTED", ("BBB", "SELL"): "REJECTED", ("BBB", "SHORT"): "REJECTED",
                      ("CCC", "SHORT"): "EXECUTED", ("DDD", "BUY"): "VETOED"}
    # a refused trade through zero is refused on both legs, at the signal price (nothing was filled)
    assert price[("BBB", "SELL")] == price[("BBB", "SHORT")] == 50.0
    assert price[("AAA", "BUY")] == pytest.approx(50.05) and price[("CCC", "SHORT")] == pytest.approx(49.95)
    # under the halt lock the PM's refusal stays a refusal; everything else is stopped
    halted = decide(trades, "approve", "pm", halted=True, rejected=frozenset({"AAA"}))
    assert dict(zip(halted["ticker"], halted["status"])) == {"AAA": "REJECTED", "BBB": "VETOED", "CCC": "VETOED",
                                                             "DDD": "VETOED"}
