"""Reconciliation with the broker as plain functions: what stops a run before it trades (a blocked account, a
ticker listed twice, fractional shares, an overfill, a client id naming another ticker), positions inserted /
overwritten / removed with the broker as the truth (entry date and score kept only when the side is
unchanged), and every Meridian order accounted for: recorded, overwritten, adopted, stale, foreign, missing,
with the next free chunk number so no client order id is reused."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from meridian_assets.execution.broker import (
    Account, BrokerOrder, OrderStatus, Position, ReconciliationError, Side, client_order_id,
)
from meridian_assets.execution.fills import Status
from meridian_assets.execution.reconcile import check_broker_state, reconcile
from meridian_assets.portfolio.schemas import PORTFOLIO_POSITIONS

NOW = dt.datetime(2024, 3, 29, 14, 0, tzinfo=dt.timezone.utc)
RID = "rb-20240328-mvo-aaaaaaaa"
OLD = "rb-20240321-mvo-bbbbbbbb"
ACCOUNT = Account(cash=1e6, equity=1e7, buying_power=2e6)


def order(rid, ticker, chunk, status, qty=100, filled=0, side=Side.BUY, oid=None, cid=None) -> BrokerOrder:
    cid = cid or client_order_id(rid, ticker, chunk, 0)
    return BrokerOrder(oid or f"o-{cid}", cid, ticker, side, qty, 50.0, status, filled_qty=filled,
                       filled_avg_price=50.0 if filled else None)


def local_positions(rows: list[dict]) -> pl.DataFrame:
    return PORTFOLIO_POSITIONS.conform(pl.DataFrame(rows)) if rows else PORTFOLIO_POSITIONS.empty()


def run(positions=(), orders=(), open_orders=(), local=None, fills=None, account=ACCOUNT):
    return reconcile(rebalance_id=RID, broker_name="simulated", positions=list(positions), account=account,
                     orders=list(orders), open_orders=list(open_orders),
                     local_positions=local if local is not None else PORTFOLIO_POSITIONS.empty(),
                     local_fills=fills if fills is not None else pl.DataFrame(), sectors={"AAA": "Energy"},
                     scores={"AAA": 71.0, "BBB": 22.0}, prices={"AAA": 52.0, "BBB": 30.0}, now=NOW)


@pytest.mark.parametrize(("account", "positions", "orders", "message"), [
    (Account(1, 1, 1, status="ACCOUNT_CLOSED"), [], [], "broker account is ACCOUNT_CLOSED"),
    (Account(1, 1, 1, trading_blocked=True), [], [], "trading_blocked=True"),
    (ACCOUNT, [Position("AAA", 10, 50.0), Position("AAA", 5, 50.0)], [], "broker lists AAA twice"),
    (ACCOUNT, [Position("AAA", 10.5, 50.0)], [], "fractional or invalid quantity of AAA (10.5)"),
    (ACCOUNT, [Position("AAA", float("nan"), 50.0)], [], "fractional or invalid quantity of AAA"),
    (ACCOUNT, [], [order(RID, "AAA", 0, OrderStatus.FILLED, qty=100, filled=101)], "filled 101 of 100"),
    (ACCOUNT, [], [order(RID, "AAA", 0, OrderStatus.NEW, cid=client_order_id(RID, "BBB", 0, 0))],
     "trades AAA but its client id names BBB"),
])
def test_what_stops_a_run_before_it_trades(account, positions, orders, message):
    with pytest.raises(ReconciliationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_broker_state(positions, account, orders)


def test_the_broker_state_that_can_be_traded_on():
    held = check_broker_state([Position("AAA", 10.0, 50.0), Position("BBB", -5, 30.0), Position("CCC", 0, 9.0)],
                              Account(1, 1, 1, status="active"), [order(RID, "AAA", 0, OrderStatus.FILLED, filled=100),
                                                                   order(RID, "x", 0, OrderStatus.NEW, cid="manual-1")])
    assert held == {"AAA": 10, "BBB": -5} and all(isinstance(v, int) for v in held.values())


def test_positions_follow_the_broker():
    local = local_positions([
        {"ticker": "AAA", "sector": "Energy", "side": "LONG", "shares": 80, "avg_cost": 48.0,
         "entry_date": dt.date(2024, 3, 1), "entry_score": 66.0},
        {"ticker": "BBB", "sector": "Tech", "side": "LONG", "shares": 10, "avg_cost": 31.0,
         "entry_date": dt.date(2024, 3, 2), "entry_score": 60.0},
        {"ticker": "DDD", "sector": "Tech", "side": "SHORT", "shares": -7, "avg_cost": 9.0,
         "entry_date": dt.date(2024, 3, 3), "entry_score": 10.0},
    ])
    rec = run(positions=[Position("AAA", 100, 49.0, current_price=51.0), Position("BBB", -20, 30.5),
                         Position("CCC", 5, 10.0)], local=local)
    assert rec.held == {"AAA": 100, "BBB": -20, "CCC": 5}
    events = {(e.ticker, e.action, e.local, e.broker) for e in rec.events}
    assert events == {("AAA", "overwritten", "80", "100"), ("BBB", "overwritten", "10", "-20"),
                      ("CCC", "inserted", None, "5"), ("DDD", "removed", "-7", "0")}
    pos = {r["ticker"]: r for r in rec.positions.iter_rows(named=True)}
    assert set(pos) == {"AAA", "BBB", "CCC"} and {r["source"] for r in pos.values()} == {"broker"}
    a, b, c = pos["AAA"], pos["BBB"], pos["CCC"]
    # same side: entry date and score survive; price: the broker's current, else ours, else the entry price
    assert (a["side"], a["shares"], a["avg_cost"], a["entry_date"], a["entry_score"]) == ("LONG", 100, 49.0,
                                                                                         dt.date(2024, 3, 1), 66.0)
    assert a["last_price"] == 51.0 and a["market_value"] == 5100.0 and a["weight"] == pytest.approx(5100.0 / 1e7)
    # flipped side: a new position from today, scored now
    assert (b["side"], b["entry_date"], b["entry_score"], b["last_price"]) == ("SHORT", NOW.date(), 22.0, 30.0)
    assert b["sector"] == "Tech" and c["sector"] is None and c["last_price"] == 10.0
    assert c["entry_date"] == NOW.date() and c["entry_score"] is None
    assert a["updated_at"] == dt.datetime(2024, 3, 29, 14, 0)  # naive UTC


def test_a_zero_equity_account_leaves_weights_empty():
    rec = run(positions=[Position("AAA", 10, 50.0)], account=Account(cash=0, equity=0, buying_power=0))
    assert rec.positions["weight"].to_list() == [None]


def fills_frame(rows: list[dict]) -> pl.DataFrame:
    base = {"alpaca_order_id": None, "action": "BUY", "signal_price": 50.0}
    return pl.DataFrame([{**base, **r} for r in rows])


def test_every_meridian_order_is_accounted_for():
    done_unrecorded = order(RID, "AAA", 0, OrderStatus.FILLED, filled=100)
    done_recorded_same = order(RID, "AAA", 1, OrderStatus.FILLED, filled=100)
    done_recorded_unknown = order(RID, "BBB", 0, OrderStatus.CANCELED, filled=40, side=Side.SELL)
    working_own = order(RID, "CCC", 2, OrderStatus.PARTIALLY_FILLED, filled=10)
    working_old = order(OLD, "DDD", 0, OrderStatus.NEW)
    foreign = order(RID, "EEE", 0, OrderStatus.NEW, cid="by-hand-1")
    rejected = order(OLD, "FFF", 3, OrderStatus.REJECTED)
    fills = fills_frame([
        {"client_order_id": done_recorded_same.client_order_id, "ticker": "AAA", "shares": 100, "status": Status.FILLED},
        {"client_order_id": done_recorded_unknown.client_order_id, "ticker": "BBB", "shares": 0,
         "status": Status.UNKNOWN, "action": "SELL", "alpaca_order_id": "x"},
        {"client_order_id": client_order_id(RID, "GGG", 4, 0), "ticker": "GGG", "shares": 0, "status": Status.OPEN,
         "alpaca_order_id": "gone"},
        {"client_order_id": client_order_id(RID, "HHH", 1, 0), "ticker": "HHH", "shares": 0, "status": Status.OPEN},
    ])
    rec = run(positions=[Position("AAA", 200, 50.0), Position("BBB", -40, 30.0)],
              orders=[done_unrecorded, done_recorded_same, done_recorded_unknown, working_own, working_old, rejected,
                      done_unrecorded],  # listed twice: recorded once
              open_orders=[working_own, working_old, foreign], fills=fills)
    actions = sorted((e.ticker, e.action) for e in rec.events if e.kind == "order")
    assert actions == [("AAA", "recorded"), ("BBB", "overwritten"), ("CCC", "adopted"), ("DDD", "stale"),
                       ("EEE", "foreign"), ("FFF", "recorded"), ("GGG", "missing")]
    assert [o.client_order_id for o in rec.own_open] == [working_own.client_order_id]
    assert [o.client_order_id for o in rec.stale_open] == [working_old.client_order_id]
    records = {r.client_order_id: r for r in rec.records}
    assert set(records) == {done_unrecorded.client_order_id, done_recorded_unknown.client_order_id,
                            rejected.client_order_id}
    assert records[done_unrecorded.client_order_id].status == Status.FILLED
    assert records[done_recorded_unknown.client_order_id].status == Status.PARTIAL
    assert records[rejected.client_order_id].status == Status.REJECTED
    assert records[rejected.client_order_id].rebalance_id == OLD  # recorded under its own rebalance
    # the next chunk per ticker of this rebalance: past every chunk the broker or the local rows know
    assert rec.next_chunk == {"AAA": 2, "BBB": 1, "CCC": 3, "GGG": 5, "HHH": 2}
    frame = rec.frame("run-1", RID, "before", NOW)
    assert frame.rows(named=True) == [
        {"run_id": "run-1", "rebalance_id": RID, "phase": "before", "kind": e.kind, "ticker": e.ticker,
         "action": e.action, "local": e.local, "broker": e.broker, "message": e.message,
         "reconciled_at": dt.datetime(2024, 3, 29, 14, 0)} for e in rec.events]
    later = rec.frame("run-1", RID, "after", dt.datetime(2024, 3, 29, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4))))
    assert set(later["reconciled_at"]) == {dt.datetime(2024, 3, 29, 14, 0)}  # stored as naive UTC
    naive = rec.frame("run-1", RID, "after", dt.datetime(2024, 3, 29, 9, 0))
    assert set(naive["reconciled_at"]) == {dt.datetime(2024, 3, 29, 9, 0)}  # a naive time is taken as UTC
    messages = {(e.ticker, e.action): e.message for e in rec.events if e.kind == "order"}
    assert messages[("EEE", "foreign")] == "open order by-hand-1 was not placed by Meridian; left alone"
    assert messages[("DDD", "stale")] == (f"{working_old.client_order_id} of an earlier rebalance still working; "
                                          "cancelled and followed to its final state")
    assert messages[("CCC", "adopted")] == f"{working_own.client_order_id} still working (10/100 filled); adopted"
    assert messages[("GGG", "missing")] == f"{client_order_id(RID, 'GGG', 4, 0)} recorded OPEN but unknown to the broker"
    assert messages[("AAA", "recorded")] == (f"{done_unrecorded.client_order_id}: recorded by reconciliation: the "
                                             "order was at the broker but not in execution_fills")
    assert messages[("BBB", "overwritten")] == (f"{done_recorded_unknown.client_order_id}: reconciled: local 0 "
                                                "UNKNOWN -> broker 40 PARTIAL")
    assert empty_frame_is_typed()


def empty_frame_is_typed() -> bool:
    rec = run()
    frame = rec.frame("run-2", RID, "before", NOW)
    return frame.height == 0 and "reconciled_at" in frame.columns and rec.events == []
