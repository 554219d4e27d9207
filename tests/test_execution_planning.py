"""The arithmetic of execution: targets, legs, limits, chunks, ordering, fills and slippage (tier 1)."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.execution.broker import (
    BrokerOrder, Fill, OrderStatus, Side, client_order_id, parse_client_order_id,
)
from meridian_assets.execution.fills import FillLedger, slippage_bps, slippage_summary
from meridian_assets.execution.planning import (
    Action, TradeIntent, chunk_sizes, intended_targets, legs, limit_price, order_trades,
)
from meridian_assets.execution.schemas import EXECUTION_FILLS
from meridian_assets.execution.throttle import Backoff, WindowLimiter
from meridian_assets.execution.clock import ManualClock
from meridian_assets.portfolio.schemas import POSITION_APPROVALS, REBALANCE_TRADES, TARGET_BOOK

T0 = dt.datetime(2024, 3, 29, 14, tzinfo=dt.timezone.utc)


# ------------------------------------------------------------------ limits and chunks
def test_limit_price_pays_up_for_buys_and_marks_down_for_sells():
    assert limit_price(100.0, Side.BUY, 0.001) == 100.10
    assert limit_price(100.0, Side.SELL, 0.001) == 99.90
    # rounded inwards to the cent: never more aggressive than signal x (1 +/- offset)
    assert limit_price(123.456, Side.BUY, 0.001) == 123.57  # 123.579456 -> 123.57
    assert limit_price(123.456, Side.SELL, 0.001) == 123.34  # 123.332544 -> 123.34
    assert limit_price(0.5, Side.BUY, 0.001) == 0.5005  # sub-dollar: $0.0001 ticks
    with pytest.raises(ValueError):
        limit_price(0.0, Side.BUY, 0.001)


@settings(max_examples=200, deadline=None)
@given(qty=st.integers(1, 200_000), price=st.floats(1.0, 2_000.0), adv=st.floats(1e4, 1e10),
       pct=st.sampled_from([0.005, 0.02, 0.05]))
def test_chunks_are_whole_shares_within_the_adv_cap_and_as_few_as_possible(qty, price, adv, pct):
    chunks = chunk_sizes(qty, price, adv, pct)
    cap = max(math.floor(pct * adv / price + 1e-9), 1)
    assert sum(chunks) == qty and all(isinstance(c, int) and c > 0 for c in chunks)
    assert max(chunks) <= cap  # each chunk <= pct x ADV (one share when a single share is already more)
    assert len(chunks) == -(-qty // cap)  # the fewest that fit
    assert max(chunks) - min(chunks) <= 1 and chunks == sorted(chunks, reverse=True)


def test_chunking_on_two_percent_of_adv():
    # $2M ADV, 2% = $40k per chunk at $100 = 400 shares: 1000 shares -> 334/333/333
    assert chunk_sizes(1000, 100.0, 2e6, 0.02) == [334, 333, 333]
    assert chunk_sizes(400, 100.0, 2e6, 0.02) == [400]
    with pytest.raises(ValueError, match="ADV"):
        chunk_sizes(10, 100.0, 0.0, 0.02)


@pytest.mark.parametrize("current,target,expected", [
    (0, 100, [(Action.BUY, 100)]),
    (100, 40, [(Action.SELL, 60)]),
    (0, -50, [(Action.SHORT, 50)]),
    (-50, -20, [(Action.COVER, 30)]),
    (-50, -80, [(Action.SHORT, 30)]),
    (100, -50, [(Action.SELL, 100), (Action.SHORT, 50)]),  # never through zero in one order
    (-30, 70, [(Action.COVER, 30), (Action.BUY, 70)]),
    (25, 25, []),
])
def test_legs_close_before_opening_the_other_side(current, target, expected):
    assert [(leg.action, leg.qty) for leg in legs(current, target)] == expected


@given(current=st.integers(-10_000, 10_000), target=st.integers(-10_000, 10_000))
def test_legs_add_up_to_the_trade(current, target):
    plan = legs(current, target)
    assert sum(leg.action.sign * leg.qty for leg in plan) == target - current
    pos = current
    for leg in plan:  # no leg takes the position through zero
        after = pos + leg.action.sign * leg.qty
        assert pos * after >= 0
        pos = after


def test_order_trades_reduces_first_then_balances_net():
    intents = [TradeIntent("L1", 0, 100, 100.0, 1e9), TradeIntent("L2", 0, 100, 100.0, 1e9),
               TradeIntent("S1", 0, -100, 100.0, 1e9), TradeIntent("S2", 0, -100, 100.0, 1e9),
               TradeIntent("R1", 500, 100, 100.0, 1e9)]
    order = [i.ticker for i in order_trades(intents)]
    assert order[0] == "R1"  # reducing first
    net, worst = 400 * 100.0, 0.0  # R1 reduced to 100 shares
    for i in order_trades(intents)[1:]:
        net += i.notional
        worst = max(worst, abs(net))
    assert worst <= 50_000  # never more than one trade's worth away from flat


# ------------------------------------------------------------------ targets of an approved rebalance
def _frames(book: dict, trades: list[tuple], approvals: list[tuple]):
    tb = TARGET_BOOK.conform(pl.DataFrame([{"ticker": t, "target_shares": q} for t, q in book.items()]))
    rt = REBALANCE_TRADES.conform(pl.DataFrame([{"ticker": t, "target_shares": q, "status": s} for t, q, s in trades]))
    pa = POSITION_APPROVALS.conform(pl.DataFrame([{"ticker": t, "status": s} for t, s in approvals]))
    return tb, rt, pa


def test_intended_targets_follow_approvals_and_the_budget():
    tb, rt, pa = _frames(
        {"A": 100, "B": -50, "C": 80, "D": 40, "E": 10},
        [("A", 100, "PROPOSED"), ("B", -30, "PROPOSED"), ("C", 80, "DEFERRED"), ("D", 40, "PROPOSED"),
         ("X", 0, "PROPOSED")],
        [("A", "APPROVED"), ("B", "APPROVED"), ("D", "REJECTED"), ("X", "APPROVED")])
    targets, skipped = intended_targets(tb, rt, pa, held={"A": 20, "X": 15, "Y": 5})
    # B: the budget-aware trade target (-30), not the book's -50; X: closed; E: no trade row, no approval
    assert targets == {"A": 100, "B": -30, "X": 0}
    assert "DEFERRED" in skipped["C"] and "rejected" in skipped["D"]
    assert "left unchanged" in skipped["Y"] and "E" not in targets


# ------------------------------------------------------------------ fills and slippage
def _fill(fid: str, qty: int, price: float) -> Fill:
    return Fill(fid, "o1", "rb-x:A:0:0", "A", Side.BUY, qty, price, T0)


def test_fill_ledger_deduplicates_by_fill_id_and_refuses_overfills():
    ledger = FillLedger(100)
    assert ledger.add(_fill("f1", 60, 10.0)) and not ledger.add(_fill("f1", 60, 10.0))
    assert ledger.duplicates == 1 and ledger.filled == 60
    assert not ledger.add(_fill("f2", 50, 10.0))  # 110 > 100: refused
    assert ledger.refused == ["f2"] and ledger.filled == 60
    assert ledger.add(_fill("f3", 40, 11.0)) and ledger.vwap == pytest.approx(10.4)


def test_fill_ledger_derives_fills_from_cumulative_snapshots():
    def snap(cum, avg, status=OrderStatus.PARTIALLY_FILLED):
        return BrokerOrder("o1", "rb-x:A:0:0", "A", Side.BUY, 100, 10.5, status, cum, avg, T0, T0)

    ledger = FillLedger(100)
    for s in (snap(30, 10.0), snap(30, 10.0), snap(70, 10.2), snap(70, 10.2)):  # repeated polls
        ledger.observe(s)
    assert sorted(ledger.fills) == ["o1:30", "o1:70"] and ledger.filled == 70
    assert ledger.vwap == pytest.approx(10.2) and ledger.fills["o1:70"].price == pytest.approx(10.35)
    ledger.observe(snap(120, 10.2, OrderStatus.FILLED))  # the broker reports more than ordered
    assert ledger.filled == 100 and ledger.refused


def test_slippage_sign_is_positive_when_adverse():
    assert slippage_bps(Side.BUY, 101.0, 100.0) == pytest.approx(100.0)  # paid up
    assert slippage_bps(Side.SELL, 99.0, 100.0) == pytest.approx(100.0)  # sold lower
    assert slippage_bps(Side.SELL, 101.0, 100.0) == pytest.approx(-100.0)  # sold higher: favourable


def test_slippage_summary_window_stats_and_worst_fills():
    today = dt.date(2024, 4, 30)
    rows = [{"ticker": f"T{i}", "action": "BUY", "shares": 100, "signal_price": 50.0, "fill_price": 50.0,
             "slippage_bps": float(i), "slippage_dollars": i / 1e4 * 50 * 100, "status": "FILLED",
             "client_order_id": f"c{i}", "finished_at": dt.datetime(2024, 4, 30 - i % 20, 15)} for i in range(1, 11)]
    rows.append({**rows[0], "client_order_id": "old", "slippage_bps": 999.0,
                 "finished_at": dt.datetime(2024, 2, 1)})  # outside the 30 days
    rows.append({**rows[0], "client_order_id": "nofill", "shares": 0, "slippage_bps": None})
    s = slippage_summary(EXECUTION_FILLS.conform(pl.DataFrame(rows)), today, 30, 5)
    assert s.fills == 10 and s.avg_bps == pytest.approx(5.5) and s.median_bps == pytest.approx(5.5)
    assert s.p95_bps == pytest.approx(9.55) and s.total_dollars == pytest.approx(sum(range(1, 11)) * 0.5)
    assert s.worst["slippage_bps"].to_list() == [10.0, 9.0, 8.0, 7.0, 6.0]
    assert "T10 BUY +10.0bps" in s.row()["worst_fills"]


# ------------------------------------------------------------------ ids, limiter, backoff
def test_client_order_ids_are_deterministic_and_parse_back():
    cid = client_order_id("rb-20240328-mvo-0a1b2c3d", "BRK.B", 2, 1)
    assert cid == "rb-20240328-mvo-0a1b2c3d:BRK.B:2:1" and len(cid) <= 128
    k = parse_client_order_id(cid)
    assert (k.rebalance_id, k.ticker, k.chunk, k.attempt) == ("rb-20240328-mvo-0a1b2c3d", "BRK.B", 2, 1)
    assert parse_client_order_id("eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4") is None  # not Meridian's


def test_window_limiter_never_admits_more_than_200_in_any_60_seconds():
    clock = ManualClock(0.0)
    lim = WindowLimiter(200, 60.0, clock=clock.time, sleep=clock.sleep)
    times = []
    for i in range(650):
        lim.wait()
        times.append(clock.time())
        clock.advance(0.01 if i % 3 else 0.2)  # bursts faster than the limit
    j = 0
    for i, t in enumerate(times):  # sliding window over every start point
        while times[j] <= t - 60.0:
            j += 1
        assert i - j + 1 <= 200
    assert lim.waited > 0


def test_backoff_is_jittered_exponential_with_a_cap_and_a_floor():
    import random

    b = Backoff(1.0, 30.0, sleep=lambda s: None, rng=random.Random(3))
    for k in range(8):
        d = min(30.0, 2 ** k)
        assert d / 2 <= b.delay(k) <= d
    assert len({round(b.delay(3), 6) for _ in range(20)}) > 1  # jittered
    assert b.delay(0, floor=7.5) == 7.5  # Retry-After is a floor
