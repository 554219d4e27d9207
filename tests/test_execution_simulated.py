"""The simulated venue: its fill model, its rules, its own persistent books and its injectable faults."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from meridian_assets.execution.settings import SimulatedVenueConfig
from meridian_assets.execution.broker import (
    BrokerUnavailable, DuplicateClientOrderId, OrderRejected, OrderRequest, OrderStatus, RateLimited, ShortRefused,
    Side,
)
from meridian_assets.execution.clock import ManualClock
from meridian_assets.execution.faults import FaultKind, FaultPlan
from meridian_assets.execution.market import Bar, StaticBars
from meridian_assets.execution.simulated import SimulatedBroker, fill_price, slices
from tests.execution_world import INSTANT

BAR = Bar(dt.date(2024, 3, 29), open=100.0, high=102.0, low=98.0, close=101.0, volume=1_000_000)


def req(cid: str, side: Side, qty: int, limit: float, ticker: str = "AAA") -> OrderRequest:
    return OrderRequest(f"rb-x:{ticker}:{cid}:0", ticker, side, qty, limit)


def test_fill_price_model_spread_impact_and_limit():
    half = 0.05 * 4.0 / 101.0 * 100.0  # the half-spread: 5% of the range / close, of the open = $0.198
    impact = 0.10 * (4.0 / 101.0) * (10_000 / 1e6) ** 0.5 * 100.0
    assert fill_price(Side.BUY, 10_000, 101.0, BAR) == pytest.approx(100.0 + half + impact)  # marketable at the open
    assert fill_price(Side.SELL, 10_000, 99.0, BAR) == pytest.approx(100.0 - half - impact)
    assert fill_price(Side.BUY, 10_000, 99.0, BAR) == 99.0  # rests; the low comes down to it
    assert fill_price(Side.BUY, 10_000, 97.0, BAR) is None  # never traded that low
    assert fill_price(Side.SELL, 10_000, 103.0, BAR) is None
    assert slices(10, 3) == [4, 3, 3] and slices(2, 3) == [1, 1]


def test_fills_arrive_over_time_capped_by_participation(tmp_path):
    clock = ManualClock()
    cfg = SimulatedVenueConfig(fill_delay_seconds=5, fill_duration_seconds=20, fill_slices=2, max_participation=0.01)
    v = SimulatedBroker(tmp_path, cfg, bars=StaticBars({"AAA": 100.0}, volume=1_000_000), clock=clock)
    o = v.submit_order(req("0", Side.BUY, 15_000, 100.5))
    assert o.status is OrderStatus.ACCEPTED and o.filled_qty == 0
    clock.advance(5)
    o = v.get_order(o.order_id)
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == 5_000 and len(o.fills) == 1
    clock.advance(20)
    o = v.get_order(o.order_id)
    assert o.filled_qty == 10_000 and [f.fill_id for f in o.fills] == [f"{o.order_id}-1", f"{o.order_id}-2"]
    clock.advance(600)  # 1% of the bar's volume is all it gets: the rest never fills
    assert v.get_order(o.order_id).filled_qty == 10_000
    v.cancel_order(o.order_id)
    o = v.get_order(o.order_id)
    assert o.status is OrderStatus.CANCELED and v.positions() == {"AAA": 10_000}
    acct = v.account()
    assert acct.cash == pytest.approx(cfg.starting_cash - 10_000 * o.filled_avg_price)


def test_state_lives_in_its_own_sqlite_file_and_survives_a_restart(tmp_path):
    clock = ManualClock()
    v = SimulatedBroker(tmp_path, INSTANT, bars=StaticBars({"AAA": 50.0}), clock=clock)
    v.submit_order(req("0", Side.BUY, 300, 50.5))
    v.close()
    assert (tmp_path / "simulated.sqlite").exists()
    again = SimulatedBroker(tmp_path, INSTANT, bars=None, clock=clock)
    assert again.positions() == {"AAA": 300} and len(again.list_orders()) == 1
    with sqlite3.connect(tmp_path / "simulated.sqlite") as c:  # the venue's books, not Meridian's DuckDB
        assert {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {"orders", "fills",
                                                                                                 "positions"}


def test_venue_rules_unique_ids_no_flip_and_borrow(tmp_path):
    v = SimulatedBroker(tmp_path, INSTANT, bars=StaticBars({"AAA": 50.0, "HTB": 20.0}), clock=ManualClock())
    v.submit_order(req("0", Side.BUY, 100, 50.5))
    with pytest.raises(DuplicateClientOrderId):
        v.submit_order(req("0", Side.BUY, 100, 50.5))
    with pytest.raises(OrderRejected, match="insufficient qty"):
        v.submit_order(req("1", Side.SELL, 150, 49.5))  # long 100: selling 150 would flip
    v.set_asset("HTB", shortable=True, easy_to_borrow=False)
    with pytest.raises(ShortRefused):
        v.submit_order(req("0", Side.SELL, 10, 19.9, ticker="HTB"))
    assert v.asset("HTB").easy_to_borrow is False and v.asset("AAA").shortable is True


def test_injected_faults(tmp_path):
    clock = ManualClock()
    plan = FaultPlan()
    v = SimulatedBroker(tmp_path, INSTANT, bars=StaticBars({"AAA": 50.0}), clock=clock, faults=plan)
    plan.add(FaultKind.RATE_LIMIT)
    with pytest.raises(RateLimited):
        v.submit_order(req("0", Side.BUY, 10, 50.5))
    plan.add(FaultKind.TIMEOUT)  # lost before the venue: nothing created
    with pytest.raises(BrokerUnavailable):
        v.submit_order(req("0", Side.BUY, 10, 50.5))
    assert v.get_order_by_client_id("rb-x:AAA:0:0") is None
    plan.add(FaultKind.ACCEPT_THEN_TIMEOUT)  # the 504 that was in fact accepted
    with pytest.raises(BrokerUnavailable) as e:
        v.submit_order(req("0", Side.BUY, 10, 50.5))
    assert e.value.status == 504 and v.get_order_by_client_id("rb-x:AAA:0:0").filled_qty == 10
    plan.add(FaultKind.DISCONNECT_AFTER_ACCEPT, calls=2)
    with pytest.raises(BrokerUnavailable):
        v.submit_order(req("1", Side.BUY, 10, 50.5))
    for _ in range(2):  # still down
        with pytest.raises(BrokerUnavailable):
            v.positions()
    assert v.positions() == {"AAA": 20}
    plan.add(FaultKind.PARTIAL, ticker="AAA", fraction=0.3)
    assert v.submit_order(req("2", Side.BUY, 100, 50.5)).filled_qty == 30
    plan.add(FaultKind.NO_FILL)
    assert v.submit_order(req("3", Side.BUY, 100, 50.5)).filled_qty == 0
    assert v.cancel_all_open_orders() and not v.open_orders()


def test_short_refused_although_shortable_and_scheduled_rejects(tmp_path):
    plan = FaultPlan()
    v = SimulatedBroker(tmp_path, INSTANT, bars=StaticBars({"AAA": 50.0, "BBB": 10.0}), clock=ManualClock(), faults=plan)
    plan.add(FaultKind.REFUSE_SHORT, ticker="BBB")
    plan.add(FaultKind.REJECT, at_call=3)
    v.submit_order(req("0", Side.BUY, 10, 10.5, ticker="BBB"))  # a buy: the short fault waits
    assert v.asset("BBB").shortable and v.asset("BBB").easy_to_borrow
    v.submit_order(req("1", Side.SELL, 10, 9.5, ticker="BBB"))  # closing the long is no short sale
    with pytest.raises(OrderRejected, match="injected"):
        v.submit_order(req("0", Side.BUY, 10, 50.5))  # the 3rd submit
    with pytest.raises(ShortRefused, match="borrow"):
        v.submit_order(req("2", Side.SELL, 10, 9.5, ticker="BBB"))
    assert v.positions() == {} and [f[0] for f in plan.fired] == [FaultKind.REJECT, FaultKind.REFUSE_SHORT]
