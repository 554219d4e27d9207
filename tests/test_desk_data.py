"""The desk's page data on a small demo instance (read from the published snapshot), and its pure helpers."""

import datetime as dt

import dagster as dg
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
    for key, since in (("mtd", last["date"].replace(day=1)), ("ytd", last["date"].replace(month=1, day=1))):
        before = live.filter(pl.col("date") < since)
        if before.height:  # from the last close before the period
            assert k[f"{key}_since"] is None and k[key] == pytest.approx(last["nav"] / before["nav"][-1] - 1)
        else:  # the book started inside the period: since inception, from the capital it started with
            assert k[f"{key}_since"] == live["date"][0]
            assert k[key] == pytest.approx(last["nav"] / snap.cfg.portfolio.capital_base - 1)
    s = portfolio.status(snap)
    assert s["trading_state"] in ("ACTIVE", "REDUCING", "HALTED") and s["provider"] == "synthetic"
    assert s["vix_regime"] in ("LOW", "NORMAL", "HIGH")


def test_period_returns_fall_back_to_inception_inside_the_period():
    d = [dt.date(2024, 1, 9), dt.date(2024, 1, 10), dt.date(2024, 2, 1), dt.date(2024, 2, 2)]
    hist = pl.DataFrame({"date": d, "nav": [99.0, 110.0, 121.0, 133.1], "daily_return": [-0.01, 1 / 9, 0.1, 0.1]})
    assert portfolio.inception_nav(hist) == pytest.approx(100.0)  # 99 after a -1% first day
    assert portfolio.period_return(hist, dt.date(2024, 2, 1)) == (pytest.approx(133.1 / 110 - 1), None)
    assert portfolio.period_return(hist, dt.date(2024, 1, 1)) == (pytest.approx(0.331), dt.date(2024, 1, 9))


def test_heatmap_is_top_and_bottom_30_by_composite_with_the_8_parents(snap):
    heat = research.heatmap(snap)
    assert set(research.PARENTS) <= set(heat.columns)
    longs, shorts = heat.filter(pl.col("side") == "LONG"), heat.filter(pl.col("side") == "SHORT")
    assert longs.height == 30 and shorts.height >= 1 and heat["ticker"].n_unique() == heat.height
    assert longs["composite"].to_list() == sorted(longs["composite"].to_list(), reverse=True)
    assert longs["composite"].min() >= shorts["composite"].max()


def test_latest_proposal_and_its_cards(snap):
    p = research.latest_proposal(snap)
    assert p is not None and p["method"] in research.METHODS
    assert p["decision"] in ("EXECUTED", "APPROVED")  # the demo commits (or approves and executes) its rebalances
    cards = research.candidates(snap, p["rebalance_id"])
    assert 0 < cards.filter(pl.col("side") == "LONG").height <= research.CARDS_N
    assert (cards.filter(pl.col("side") == "SHORT")["weight"] < 0).all()
    traded = cards.filter(pl.col("trade_status") == "PROPOSED")
    assert traded.height and set(traded["decision"]) <= {p["decision"], "VETOED"}  # VETOED: under a halt
    deferred = cards.filter(pl.col("trade_status") == "DEFERRED")
    assert deferred.height and (deferred["delta_shares"] == 0).all() and (deferred["intended_shares"] != 0).all()
    for r in deferred.iter_rows(named=True):  # the shares that wait are the ones the target book asked for
        label = research.trade_label(r)
        assert label.startswith("DEFERRED (") and f"{r['action']} {abs(r['intended_shares']):,} sh waits" in label
        assert not research.can_refuse(r)


def test_trade_labels_read_as_words():
    row = {"action": "SELL", "delta_shares": 0, "intended_shares": -1303, "trade_status": "DEFERRED",
           "reason": "turnover budget: -1303 shares wait for a later rebalance"}
    assert research.trade_label(row) == "DEFERRED (turnover budget) · SELL 1,303 sh waits"
    row = {**row, "reason": "below the minimum trade (0.10% of NAV): waits for a later rebalance"}
    assert research.trade_label(row) == "DEFERRED (below the minimum trade (0.10% of NAV)) · SELL 1,303 sh waits"
    assert research.trade_label({"action": "COVER", "delta_shares": 58737, "intended_shares": 58737,
                                 "trade_status": "VETOED", "reason": "MAX_POSITION: 6% > 5%"}) == \
        "VETOED (MAX_POSITION) · COVER 58,737 sh not sent"
    proposed = {"action": "SHORT", "delta_shares": -498, "intended_shares": -498, "trade_status": "PROPOSED"}
    assert research.trade_label(proposed) == "SHORT 498 sh" and research.can_refuse(proposed)
    assert research.trade_label({"action": None, "trade_status": None}) == "hold (at target)"


def test_risk_page_data(snap):
    doc = risk.state(snap)
    bars = risk.breaker_bars(doc, snap.cfg)
    assert [b["threshold"] for b in bars] == [0.015, 0.025, 0.04, 0.08]
    mctr = risk.mctr_table(doc)
    assert mctr.columns == ["ticker", "weight", "mctr", "risk_share", "gross_share", "risk_to_weight", "flagged"]
    # the ratio is against each name's share of the whole book's gross, so it reproduces the model's own flag
    assert mctr["flagged"].to_list() == (mctr["risk_to_weight"] > risk.MCTR_FLAG_MULTIPLE).to_list()
    assert mctr["flagged"].any() and not mctr["flagged"].all()
    assert mctr["risk_share"].to_list() == pytest.approx((mctr["mctr"] / doc["decomposition"]["sigma"]).to_list())
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
    tt = performance.turnover_tax(snap)
    table = performance.turnover_tax_table(tt)  # every figure of every window, in the table's 4 columns
    assert table.columns == ["figure", *tt["period"]] and table.height == len(performance.TURNOVER_ROWS)
    ytd = tt.row(tt["period"].to_list().index("ytd"), named=True)
    got = dict(zip(table["figure"], table["ytd"]))
    assert got["Estimated tax"] == f"${ytd['estimated_tax']:,.0f}" and got["Rebalances"] == str(ytd["rebalances"])
    assert got["Within budget"] in ("yes", "no") and got["Turnover (traded / average NAV)"].endswith("%")
    assert performance.commentary(snap)["body"]


def test_execution_and_letter_page_data(snap):
    recent = execution.fills(snap)
    assert recent.is_empty()  # the simulated demo book has no broker fills
    assert execution.slippage_kpis(recent) == {"filled": 0, "avg_bps": None, "total_dollars": 0.0}
    orders, why = execution.open_orders(snap.cfg)
    assert orders is None and "No broker configured" in why
    assert letter.latest_letter(snap)["doc_id"].startswith("MCP-IM-")
    pdf = letter.latest_weekly_pdf(snap)
    last = snap.query("SELECT max(date) AS d FROM portfolio_history")["d"][0]
    monday = last - dt.timedelta(days=last.weekday())  # the week of the book's latest session
    assert pdf["exists"] and letter.report_week(snap) == str(pdf["week_start"]) == monday.isoformat()


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
    assert a.job == "portfolio_approve_job"
    assert a.run_config["ops"]["position_approvals"]["config"] == {"rebalance_id": "rb-1", "decision": "approve",
                                                                    "decided_by": "desk"}
    with pytest.raises(ValueError):
        actions.decide("rb-1", "commit")  # the desk never commits as filled
    assert actions.execute("rb-1").run_config["ops"]["execute_rebalance"]["config"]["rebalance_id"] == "rb-1"
    refused = actions.decide("rb-1", "approve", rejected=["ZZ", "AA", "ZZ"])
    assert refused.run_config["ops"]["position_approvals"]["config"]["rejected_tickers"] == ["AA", "ZZ"]
    assert "rejected_tickers" not in actions.decide("rb-1", "reject", rejected=["AA"]).run_config["ops"][
        "position_approvals"]["config"]  # rejecting the proposal rejects every trade
    pdf = actions.regenerate_weekly_pdf("2024-03-25")
    assert (pdf.job, pdf.partition, pdf.assets) == ("reporting_weekly_job", "2024-03-25",
                                                    ("weekly_change_summary", "weekly_report_pdf"))


def test_regenerate_actions_are_valid_runs_of_their_jobs():
    """The job, asset selection, partition and run config the desk submits are accepted by the code location
    (what the webserver checks before it launches)."""
    from dagster._config import process_config

    from meridian_assets.definitions import defs

    for action in (actions.regenerate_weekly_pdf("2024-03-25"), actions.regenerate_letter("2024-03-28")):
        job = defs.resolve_job_def(action.job)
        sub = job.get_subset(asset_selection={dg.AssetKey(a) for a in action.assets})
        assert {k.to_user_string() for k in sub.asset_layer.executable_asset_keys} == set(action.assets)
        assert process_config(sub.run_config_schema.config_type, action.run_config).success, action.label
        if action.partition:
            assert job.partitions_def.has_partition_key(action.partition)
    bad = actions.regenerate_letter("2024-03-28")
    sub = defs.resolve_job_def(bad.job).get_subset(asset_selection={dg.AssetKey(a) for a in bad.assets})
    assert not process_config(sub.run_config_schema.config_type, {"ops": {"lp_letter": {"config": {"forced": 1}}}}).success
