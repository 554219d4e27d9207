"""The desk's page data on a small demo instance (read from the published snapshot), and its pure helpers."""

import datetime as dt

import polars as pl
import pytest

from meridian_assets.config import load_config
from meridian_assets.desk import actions, hours
from meridian_assets.desk.data import execution, letter, performance, portfolio, research, risk
from meridian_assets.desk.source import Snapshot
from tests.conftest import query
from tests.desk_world import demo_home

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def snap(monkeypatch_module=None):
    home = demo_home()
    mp = pytest.MonkeyPatch()
    mp.setenv("MERIDIAN_HOME", str(home))
    yield Snapshot.of(load_config(str(home / "meridian.yaml")))
    mp.undo()


def test_kpis_are_the_books_latest_row(snap):
    k = portfolio.kpis(snap)
    live = query(snap.cfg.database_path(), "SELECT * FROM portfolio_history ORDER BY date")
    last = live.row(-1, named=True)
    assert k["as_of"] == last["date"] and k["nav"] == pytest.approx(last["nav"])
    assert k["positions"] == last["positions"] and k["gross"] == pytest.approx(last["gross"])
    assert k["week"] == pytest.approx(last["nav"] / live["nav"][-6] - 1)
    before_month = live.filter(pl.col("date") < last["date"].replace(day=1))
    assert k["mtd"] == pytest.approx(last["nav"] / before_month["nav"][-1] - 1)
    s = portfolio.status(snap)
    assert s["trading_state"] in ("ACTIVE", "REDUCING", "HALTED") and s["provider"] == "synthetic"
    assert s["vix_regime"] in ("LOW", "NORMAL", "HIGH")


def test_heatmap_is_top_and_bottom_30_by_composite_with_the_8_parents(snap):
    heat = research.heatmap(snap)
    assert set(research.PARENTS) <= set(heat.columns)
    longs, shorts = heat.filter(pl.col("side") == "LONG"), heat.filter(pl.col("side") == "SHORT")
    assert longs.height == 30 and shorts.height >= 1 and heat["ticker"].n_unique() == heat.height
    assert longs["composite"].to_list() == sorted(longs["composite"].to_list(), reverse=True)
    assert longs["composite"].min() >= shorts["composite"].max()


def test_latest_proposal_and_its_cards(snap):
    p = research.latest_proposal(snap, "mvo") or research.latest_proposal(snap)
    assert p is not None and p["decision"] == "EXECUTED"  # the demo commits its rebalances
    cards = research.candidates(snap, p["rebalance_id"])
    assert 0 < cards.filter(pl.col("side") == "LONG").height <= research.CARDS_N
    assert (cards.filter(pl.col("side") == "SHORT")["weight"] < 0).all()


def test_risk_page_data(snap):
    doc = risk.state(snap)
    bars = risk.breaker_bars(doc, snap.cfg)
    assert [b["threshold"] for b in bars] == [0.015, 0.025, 0.04, 0.08]
    mctr = risk.mctr_table(doc)
    assert mctr.height and {"ticker", "mctr", "flagged", "ratio_to_weight"} <= set(mctr.columns)
    assert risk.stress(doc).height == 6
    assert risk.decomposition(doc)["factor_share"] + risk.decomposition(doc)["specific_share"] == pytest.approx(1)


def test_breaker_bars_fire_strictly_above_the_threshold(snap):
    doc = {"daily_return": -0.02, "weekly_return": -0.01, "drawdown": 0.09, "breakers": {"events": []}}
    fired = {b["breaker"]: b["fired"] for b in risk.breaker_bars(doc, snap.cfg)}
    assert fired == {"Daily loss (size down)": True, "Daily loss (close all)": False, "5-day loss": False,
                     "Drawdown (kill switch)": True}


def test_performance_page_data(snap):
    eq = performance.equity_vs_spy(snap)
    assert eq["book"][0] == pytest.approx(100) and eq["spy"][0] == pytest.approx(100) and eq.height > 20
    att = performance.attribution(snap)
    assert set(att["component"].unique()) == {"Beta", "Sector", "Factor", "Alpha"}
    best, worst = performance.contributors(snap)
    assert best["pnl"][0] >= best["pnl"][-1] and worst["pnl"][0] <= best["pnl"][0]
    assert performance.win_loss(snap)["trades"] > 0
    assert performance.commentary(snap)["body"]


def test_execution_and_letter_page_data(snap):
    recent = execution.fills(snap)
    assert recent.is_empty()  # the simulated demo book has no broker fills
    assert execution.slippage_kpis(recent) == {"filled": 0, "avg_bps": None, "total_dollars": 0.0}
    orders, why = execution.open_orders(snap.cfg)
    assert orders is None and "No broker configured" in why
    assert letter.latest_letter(snap)["doc_id"].startswith("MCP-IM-")
    assert letter.latest_weekly_pdf(snap)["exists"]


def test_slippage_kpis_weigh_by_shares():
    df = pl.DataFrame({"shares": [100, 300, 0], "slippage_bps": [10.0, 2.0, 50.0], "slippage_dollars": [5.0, 3.0, 0]})
    assert execution.slippage_kpis(df) == {"filled": 2, "avg_bps": pytest.approx(4.0), "total_dollars": 8.0}
    assert execution.worst_fills(df)["slippage_bps"].to_list() == [10.0, 2.0]


def test_auto_refresh_only_in_nyse_hours():
    ny = hours.NEW_YORK
    assert hours.refresh_seconds(300, dt.datetime(2024, 3, 27, 10, 0, tzinfo=ny)) == 300
    assert hours.refresh_seconds(300, dt.datetime(2024, 3, 27, 16, 0, tzinfo=ny)) is None
    assert hours.refresh_seconds(300, dt.datetime(2024, 3, 29, 11, 0, tzinfo=ny)) is None  # Good Friday
    assert hours.refresh_seconds(300, dt.datetime(2024, 3, 30, 11, 0, tzinfo=ny)) is None  # Saturday


def test_actions_carry_the_jobs_run_config():
    a = actions.decide("rb-1", "approve")
    assert a.job == "approve_rebalance_job"
    assert a.run_config["ops"]["position_approvals"]["config"] == {"rebalance_id": "rb-1", "decision": "approve",
                                                                    "decided_by": "desk"}
    with pytest.raises(ValueError):
        actions.decide("rb-1", "commit")  # the desk never commits as filled
    assert actions.execute("rb-1").run_config["ops"]["execute_rebalance"]["config"]["rebalance_id"] == "rb-1"
