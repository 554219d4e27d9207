"""Win/loss slices and streaks, sector-relative alpha, turnover and FIFO tax, live vs simulated P&L and
CVaR by regime, each against hand-computed values."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from meridian_assets.reporting import regimes, stats
from meridian_assets.reporting.live_vs_sim import live_vs_sim, simulate_target_books
from meridian_assets.reporting.positions import executed_ledger
from meridian_assets.reporting.sector_relative import sector_relative_alpha
from meridian_assets.reporting.turnover_tax import turnover_and_tax
from meridian_assets.reporting.win_loss import holding_bucket, score_quintile, streaks, win_loss_table

D = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(10)]


def _trips() -> pl.DataFrame:
    # in exit order: A W +100, B W +200, C L -50, D L -100, E L -10, G flat, F W +30
    return pl.DataFrame({
        "ticker": list("ABCDEFG"), "side": ["LONG", "SHORT", "LONG", "LONG", "SHORT", "LONG", "LONG"],
        "sector": ["Energy", "Energy", "Utilities", "Energy", "Utilities", "Energy", "Energy"],
        "entry_date": [D[0], D[0], D[1], D[2], D[2], D[3], D[3]],
        "exit_date": [D[4], D[5], D[6], D[7], D[8], D[9], D[8]],
        "holding_days": [3, 5, 6, 25, 70, 4, 4], "entry_score": [85.0, 10.0, 19.99, 20.0, 55.0, 99.0, 60.0],
        "pnl": [100.0, 200.0, -50.0, -100.0, -10.0, 30.0, 0.0],
    })


def _vix() -> pl.DataFrame:
    return pl.DataFrame({"date": D[:4], "ticker": ["^VIX"] * 4, "close": [12.0, 20.0, 30.0, 14.0]})


def test_win_rate_and_profit_loss_ratio_by_slice():
    t = win_loss_table(_trips(), _vix(), D[9])
    row = lambda dim, b: t.filter((pl.col("dimension") == dim) & (pl.col("bucket") == b)).row(0, named=True)  # noqa: E731
    a = row("all", "ALL")
    assert (a["trades"], a["wins"], a["losses"]) == (7, 3, 3)
    assert a["win_rate"] == pytest.approx(3 / 7)
    assert a["avg_win"] == pytest.approx(110.0) and a["avg_loss"] == pytest.approx(-160 / 3)
    assert a["pl_ratio"] == pytest.approx(110.0 / (160 / 3))
    assert row("side", "SHORT")["total_pnl"] == pytest.approx(190.0)
    assert row("holding_period", "<=5d")["trades"] == 4 and row("holding_period", ">60d")["trades"] == 1
    assert row("holding_period", "20-60d")["wins"] == 0
    # VIX at entry: D0 12 (LOW), D1 20 (NORMAL), D2 30 (HIGH), D3 14 (LOW)
    assert row("vix_regime", "LOW")["trades"] == 4 and row("vix_regime", "HIGH")["trades"] == 2
    assert row("entry_score_quintile", "Q1")["trades"] == 2 and row("entry_score_quintile", "Q5")["trades"] == 2
    assert row("sector", "Utilities")["pl_ratio"] is None  # no winning trip: undefined


def test_streaks_run_over_trips_in_exit_order():
    s = streaks(_trips())
    assert s["longest_win"] == ("WIN", 2) and s["longest_loss"] == ("LOSS", 3)
    assert s["current"] == ("WIN", 1)  # F's +30 closes last, after the flat trip G
    assert streaks(_trips().head(0))["current"] == ("NONE", 0)


def test_buckets_and_quintiles():
    assert [holding_bucket(d, (5, 20, 60)) for d in (0, 5, 6, 20, 60, 61)] == [
        "<=5d", "<=5d", "5-20d", "5-20d", "20-60d", ">60d"]
    assert [score_quintile(s) for s in (0.0, 19.99, 20.0, 79.9, 80.0, 100.0, None)] == [
        "Q1", "Q1", "Q2", "Q4", "Q5", "Q5", "UNKNOWN"]


def _sector_prices():
    # over the window: A +10%, B -5%, XLK +4%; C has no price on its entry date before the window -> window start
    rows = []
    for t, p0, p1 in (("A", 100.0, 110.0), ("B", 40.0, 38.0), ("XLK", 50.0, 52.0)):
        rows += [{"date": D[0], "ticker": t, "close": p0, "adj_close": p0},
                 {"date": D[9], "ticker": t, "close": p1, "adj_close": p1}]
    return pl.DataFrame(rows)


def test_sector_relative_alpha_by_hand():
    positions = pl.DataFrame({"ticker": ["A", "B"], "sector": ["Information Technology"] * 2, "weight": [0.03, -0.01],
                              "entry_date": [D[0], D[0]]})
    out = sector_relative_alpha(positions, _sector_prices(), {"Information Technology": "XLK"}, D[9], window_days=9)
    tech = out.filter(pl.col("sector") == "Information Technology").row(0, named=True)
    # picks: (0.03 x 10% + 0.01 x 5%) / 0.04 = 8.75%; benchmark: (0.03 x 4% - 0.01 x 4%) / 0.04 = 2%
    assert tech["picks_return"] == pytest.approx(0.0875) and tech["benchmark_return"] == pytest.approx(0.02)
    assert tech["selection_alpha"] == pytest.approx(0.0675) and tech["etf_return"] == pytest.approx(0.04)
    assert tech["gross_weight"] == pytest.approx(0.04) and tech["net_weight"] == pytest.approx(0.02)
    total = out.filter(pl.col("sector") == "TOTAL").row(0, named=True)
    assert total["selection_alpha"] == pytest.approx(0.0675) and total["positions"] == 2


def _ledger(rows):
    return executed_ledger(pl.DataFrame([{
        "rebalance_id": rid, "date": d, "ticker": t, "sector": "Energy", "action": a, "shares": n, "price": p,
        "score": 50.0, "status": "EXECUTED", "decided_at": dt.datetime.combine(d, dt.time(16))}
        for rid, d, t, a, n, p in rows]))


def test_turnover_against_the_budget_and_fifo_tax_by_term():
    y0, y1 = dt.date(2023, 1, 3), dt.date(2024, 3, 1)
    ledger = _ledger([
        ("rb-old", y0, "LT", "BUY", 100, 10.0),        # held 400+ days: long-term
        ("rb-1", dt.date(2024, 2, 20), "ST", "BUY", 100, 20.0),
        ("rb-1", dt.date(2024, 2, 20), "SH", "SHORT", 50, 40.0),
        ("rb-2", y1, "LT", "SELL", 100, 20.0),        # +1,000 long-term
        ("rb-2", y1, "ST", "SELL", 100, 25.0),        # +500 short-term
        ("rb-2", y1, "SH", "COVER", 50, 44.0),        # -200 short-term
    ])
    history = pl.DataFrame({"date": [dt.date(2024, 2, 20), y1], "nav": [100_000.0, 100_000.0]})
    t = turnover_and_tax(ledger, history, y1, windows=(30,), budget=0.30)
    w30 = t.filter(pl.col("period") == "30d").row(0, named=True)
    # traded in the 30 days: 2,000 + 2,000 + 2,000 + 2,500 + 2,200 = 10,700 over an average NAV of 100,000
    assert w30["traded_notional"] == pytest.approx(10_700.0) and w30["turnover"] == pytest.approx(0.107)
    assert w30["turnover_annualised"] == pytest.approx(0.107 * 12)
    assert w30["rebalances"] == 2 and w30["max_rebalance_turnover"] == pytest.approx(0.067)
    assert w30["within_budget"] and w30["budget_utilisation"] == pytest.approx(0.107 / 0.6)
    assert w30["short_term_gain"] == pytest.approx(300.0) and w30["long_term_gain"] == pytest.approx(1000.0)
    assert w30["short_term_tax"] == pytest.approx(111.0) and w30["long_term_tax"] == pytest.approx(200.0)
    assert w30["estimated_tax"] == pytest.approx(311.0) and w30["closed_lots"] == 3
    over = turnover_and_tax(ledger, history, y1, windows=(30,), budget=0.05)
    assert not over.filter(pl.col("period") == "30d")["within_budget"][0]


def test_simulated_pnl_marks_the_target_weights_to_market():
    prices = pl.DataFrame({"date": D[:3] * 2, "ticker": ["A"] * 3 + ["B"] * 3,
                           "close": [100.0, 110.0, 99.0, 50.0, 45.0, 45.0], "adj_close": [100.0, 110.0, 99.0,
                                                                                            50.0, 45.0, 45.0]})
    book = pl.DataFrame({"rebalance_id": ["r1", "r1", "r2"], "as_of": [D[0], D[0], D[1]], "ticker": ["A", "B", "A"],
                         "weight": [0.5, -0.5, 1.0]})
    sim = simulate_target_books(book, prices, D[2])
    # day 1 under r1: 0.5 x +10% - 0.5 x -10% = +10%; day 2 under r2 (set at day 1's close): 1.0 x -10%
    assert sim["sim_return"].to_list() == pytest.approx([0.10, -0.10])
    assert sim["rebalance_id"].to_list() == ["r1", "r2"]
    live = pl.DataFrame({"date": D[1:3], "ret": [0.05, 0.01]})
    out = live_vs_sim(live, sim, D[1], D[2])
    assert out["live_cum_bps"].to_list() == pytest.approx([500.0, (1.05 * 1.01 - 1) * 1e4])
    assert out["sim_cum_bps"].to_list() == pytest.approx([1000.0, (1.1 * 0.9 - 1) * 1e4])
    assert out["difference_bps"][-1] == pytest.approx((1.05 * 1.01 - 1.1 * 0.9) * 1e4)


def test_cvar_by_regime_cells_and_margins():
    rng = np.random.default_rng(4)
    r = rng.normal(0, 0.01, 60)
    labelled = pl.DataFrame({"date": [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)], "ret": r,
                             "vix_regime": ["LOW"] * 30 + ["HIGH"] * 30,
                             "market_regime": ["calm"] * 40 + ["crisis"] * 20})
    cells = regimes.cvar_by_regime(labelled, dt.date(2024, 1, 1), dt.date(2024, 3, 1))
    get = lambda v, m: cells.filter((pl.col("vix_regime") == v) & (pl.col("market_regime") == m)).row(0, named=True)  # noqa: E731
    assert get("ALL", "ALL")["cvar_bps"] == pytest.approx(stats.cvar(r) * 1e4)
    assert get("HIGH", "crisis")["observations"] == 20 and get("HIGH", "calm")["observations"] == 10
    assert get("LOW", "ALL")["cvar_bps"] == pytest.approx(stats.cvar(r[:30]) * 1e4)
    assert not cells.filter((pl.col("vix_regime") == "LOW") & (pl.col("market_regime") == "crisis")).height
    # the window is selected by date, not by row count
    later = regimes.cvar_by_regime(labelled, dt.date(2024, 2, 10), dt.date(2024, 3, 1))
    assert later.filter(pl.col("vix_regime") == "ALL").filter(pl.col("market_regime") == "ALL")["observations"][0] == 20


def test_vix_regime_labels_use_the_configured_thresholds():
    v = regimes.vix_regimes(_vix(), 15.0, 25.0)
    assert v["vix_regime"].to_list() == ["LOW", "NORMAL", "HIGH", "LOW"]


def test_the_embedded_market_regime_replays_the_simulated_path():
    from meridian_assets.ingest.synthetic.world import get_world

    world = get_world(20240601, 22, dt.date(2018, 1, 2), 2018)
    dates = [d.item() for d in world.clock.dates]
    replay = regimes.embedded_market_regimes(20240601, dt.date(2018, 1, 2), dates[0], dates[-1])
    names = [regimes.MARKET_REGIME_NAMES[int(s)] for s in world.core.regime]
    assert replay["date"].to_list() == dates and replay["market_regime"].to_list() == names
    assert {"calm", "stressed", "crisis"} <= set(names)
