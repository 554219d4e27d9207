"""Corporate actions: the one function the live ledger and the backtest's book both apply, checked directly."""

from __future__ import annotations

import datetime as dt

import pytest

from meridian_assets.meta.book import Order, SimBook
from meridian_assets.portfolio.costs import CostModel
from meridian_assets.portfolio.ledger import Holding, apply_corporate_action

DAY = dt.date(2024, 3, 4)


def book() -> dict[str, Holding]:
    return {"AAA": Holding(101, 100.0, dt.date(2024, 1, 2), 80.0, "Energy"),
            "SHT": Holding(-20, 30.0, dt.date(2024, 1, 2), 10.0, "Utilities")}


def test_split_keeps_whole_shares_and_pays_the_fraction_at_the_close():
    h = book()
    e = apply_corporate_action(h, DAY, "AAA", "split", 2.5, None, close=40.0)
    assert (h["AAA"].shares, h["AAA"].avg_cost) == (252, pytest.approx(40.0))  # 252.5 shares -> 252 + cash
    assert e.cash == pytest.approx(0.5 * 40.0) and e.sector == "Energy" and "2.5-for-1 split" in e.event
    # no close known that day: the fraction is paid at avg_cost x ratio
    h = book()
    assert apply_corporate_action(h, DAY, "AAA", "split", 2.5, None, close=None).cash == pytest.approx(0.5 * 250.0)
    # a whole split pays nothing; a split of a short keeps it short
    h = book()
    assert apply_corporate_action(h, DAY, "SHT", "split", 3.0, None, close=10.0).cash == 0.0
    assert (h["SHT"].shares, h["SHT"].avg_cost) == (-60, pytest.approx(10.0))


def test_rename_moves_the_holding_with_its_cost_entry_and_score():
    h = book()
    e = apply_corporate_action(h, DAY, "AAA", "ticker_change", None, "BBB", close=None)
    assert "AAA" not in h and h["BBB"] == Holding(101, 100.0, dt.date(2024, 1, 2), 80.0, "Energy")
    assert e.cash == 0.0 and e.event == f"{DAY} AAA renamed BBB"


def test_dividend_is_received_on_a_long_and_paid_on_a_short():
    h = book()
    assert apply_corporate_action(h, DAY, "AAA", "dividend", 0.5, None, close=None).cash == pytest.approx(50.5)
    paid = apply_corporate_action(h, DAY, "SHT", "dividend", 0.5, None, close=None)
    assert paid.cash == pytest.approx(-10.0) and paid.event is None and h["SHT"].shares == -20


def test_delisting_closes_at_the_close_else_the_last_mark_else_the_cost():
    for close, mark, px in ((25.0, 28.0, 25.0), (None, 28.0, 28.0), (None, None, 30.0)):
        h = book()
        e = apply_corporate_action(h, DAY, "SHT", "delisting", None, None, close=close, last_mark=mark)
        assert "SHT" not in h and e.cash == pytest.approx(-20 * px) and f"closed at {px:.2f}" in e.event


def test_names_not_held_and_empty_actions_change_nothing():
    h = book()
    for args in (("ZZZ", "delisting", None, None), ("AAA", "split", 0.0, None), ("AAA", "ticker_change", None, None),
                 ("AAA", "dividend", 0.0, None), ("AAA", "merger", 1.0, None)):
        assert apply_corporate_action(h, DAY, *args, close=10.0) is None
    assert h == book()


def test_the_backtest_book_applies_them_and_its_waiting_orders_follow_the_holding():
    sim = SimBook(cash=0.0, holdings=book(), marks={"AAA": 100.0, "SHT": 28.0})
    sim.start_session()
    costs = CostModel().for_names([0.02], [0.02], [1e7], nav=1e6)
    orders = [Order(DAY, "AAA", "Energy", "BUY", 11, 100.0, 80.0, costs),
              Order(DAY, "SHT", "Utilities", "COVER", 20, 30.0, 10.0, costs)]
    left = sim.corporate_actions(DAY, [("AAA", "split", 2.0, None), ("AAA", "dividend", 1.0, None),
                                       ("SHT", "delisting", None, None)],
                                 lambda t: None, orders)
    assert [(o.ticker, o.shares, o.signal_price) for o in left] == [("AAA", 22, 50.0)]  # split-adjusted; SHT dropped
    assert sim.holdings["AAA"].shares == 202 and "SHT" not in sim.holdings and "SHT" not in sim.marks
    assert sim.cash == pytest.approx(202 * 1.0 - 20 * 28.0)  # dividend on the split shares; short closed at its mark
    renamed = sim.corporate_actions(DAY, [("AAA", "ticker_change", None, "AAB")], lambda t: None, left)
    assert [o.ticker for o in renamed] == ["AAB"] and sim.marks == {"AAB": 100.0} and "AAB" in sim.holdings
