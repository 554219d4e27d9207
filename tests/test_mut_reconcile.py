"""Reconciliation, field by field: the row written for an order found only at the broker (who traded, which
side of the book, at what signal, under which chunk and attempt), the reconciliation events a person reads in
`execution_reconciliation`, the warnings in the run log, chunk numbering across several local rows, an order
listed only among the open ones, one-share holdings and timestamps on a machine whose clock is not UTC."""

from __future__ import annotations

import datetime as dt
import logging
import time

import polars as pl
import pytest

from meridian_assets.execution.broker import (
    Account, BrokerOrder, OrderStatus, Position, ReconciliationError, Side, client_order_id,
)
from meridian_assets.execution.fills import Status
from meridian_assets.execution.reconcile import ReconcileEvent, check_broker_state, reconcile
from meridian_assets.portfolio.schemas import PORTFOLIO_POSITIONS

NOW = dt.datetime(2024, 3, 29, 14, 0, tzinfo=dt.timezone.utc)
SUBMITTED = dt.datetime(2024, 3, 28, 14, 30, tzinfo=dt.timezone.utc)
RID = "rb-20240328-mvo-aaaaaaaa"
OLD = "rb-20240321-mvo-bbbbbbbb"
ACCOUNT = Account(cash=1e6, equity=1e7, buying_power=2e6)
PRICES = {"AAA": 52.0, "BBB": 30.0, "CCC": 20.0, "DDD": 10.0}


def order(rid, ticker, chunk, status, *, qty=100, filled=0, side=Side.BUY, attempt=0, cid=None,
          limit=50.0, price=50.0) -> BrokerOrder:
    cid = cid or client_order_id(rid, ticker, chunk, attempt)
    return BrokerOrder(f"o-{cid}", cid, ticker, side, qty, limit, status, filled_qty=filled,
                       filled_avg_price=price if filled else None, submitted_at=SUBMITTED)


def fills_frame(rows: list[dict]) -> pl.DataFrame:
    base = {"alpaca_order_id": None, "action": "BUY", "signal_price": None, "shares": 0, "status": Status.OPEN}
    return pl.DataFrame([{**base, **r} for r in rows])


def run(positions=(), orders=(), open_orders=(), local=None, fills=None, account=ACCOUNT, **kw):
    return reconcile(rebalance_id=RID, broker_name="alpaca-paper", positions=list(positions), account=account,
                     orders=list(orders), open_orders=list(open_orders),
                     local_positions=local if local is not None else PORTFOLIO_POSITIONS.empty(),
                     local_fills=fills if fills is not None else pl.DataFrame(), sectors={"CCC": "Energy"},
                     scores={"CCC": 71.0}, prices=PRICES, now=NOW, **kw)


@pytest.mark.parametrize(("side", "held", "action", "book_side"), [
    (Side.BUY, 0, "BUY", "LONG"), (Side.SELL, 300, "SELL", "LONG"),
    (Side.SELL, -300, "SHORT", "SHORT"), (Side.BUY, -300, "COVER", "SHORT"),
])
def test_an_order_only_the_broker_knows_gets_its_full_row(side, held, action, book_side):
    o = order(OLD, "AAA", 2, OrderStatus.FILLED, filled=100, side=side, attempt=1, limit=49.5, price=50.0)
    positions = [Position("AAA", held, 50.0)] if held else []
    rec = run(positions=positions, orders=[o])
    [r] = rec.records
    assert (r.rebalance_id, r.client_order_id, r.ticker, r.action, r.side) == (OLD, o.client_order_id, "AAA",
                                                                               action, book_side)
    assert (r.shares, r.ordered_shares, r.status, r.fill_price) == (100, 100, Status.FILLED, 50.0)
    assert (r.signal_price, r.limit_price, r.broker, r.chunk, r.attempt) == (52.0, 49.5, "alpaca-paper", 2, 1)
    assert (r.alpaca_order_id, r.submitted_at, r.finished_at, r.recorded_at) == (o.order_id, SUBMITTED, NOW, NOW)
    buy = side is Side.BUY
    assert r.slippage_bps == pytest.approx((50.0 - 52.0) / 52.0 * 1e4 * (1 if buy else -1))
    assert r.fill_ids
    assert r.notes == "recorded by reconciliation: the order was at the broker but not in execution_fills"
    assert rec.events[-1] == ReconcileEvent("order", "AAA", "recorded", None, "100 filled",
                                            f"{o.client_order_id}: {r.notes}")


def test_an_overwritten_row_keeps_its_action_and_signal_price():
    # the local row says SHORT at a 31.0 signal: the broker's SELL is that short, whatever the book holds now
    o = order(RID, "BBB", 0, OrderStatus.CANCELED, filled=40, side=Side.SELL, price=30.0)
    fills = fills_frame([{"client_order_id": o.client_order_id, "ticker": "BBB", "action": "SHORT",
                          "signal_price": 31.0, "status": Status.UNKNOWN}])
    rec = run(positions=[Position("BBB", 60, 30.0)], orders=[o], fills=fills)
    [r] = rec.records
    assert (r.action, r.side, r.signal_price, r.status, r.shares) == ("SHORT", "SHORT", 31.0, Status.PARTIAL, 40)
    assert rec.events[-1] == ReconcileEvent("order", "BBB", "overwritten", "0 UNKNOWN", "40 canceled",
                                            f"{o.client_order_id}: reconciled: local 0 UNKNOWN -> broker 40 PARTIAL")


def test_a_local_row_without_a_signal_price_takes_the_latest_price():
    o = order(RID, "CCC", 0, OrderStatus.FILLED, filled=100, price=20.0)
    fills = fills_frame([{"client_order_id": o.client_order_id, "ticker": "CCC", "status": Status.UNKNOWN}])
    [r] = run(orders=[o], fills=fills).records
    assert r.signal_price == 20.0 and r.slippage_bps == 0.0


def test_chunk_numbers_go_past_every_local_row_of_this_rebalance_only():
    fills = fills_frame([
        {"client_order_id": client_order_id(RID, "AAA", 4, 0), "ticker": "AAA"},
        {"client_order_id": client_order_id(RID, "AAA", 1, 2), "ticker": "AAA"},  # an earlier chunk listed later
        {"client_order_id": client_order_id(OLD, "ZZZ", 7, 0), "ticker": "ZZZ"},  # another rebalance's
        {"client_order_id": "by-hand-9", "ticker": "YYY"},
    ])
    broker_orders = [order(RID, "BBB", 6, OrderStatus.FILLED, filled=100), order(RID, "BBB", 2, OrderStatus.FILLED,
                                                                                 filled=100)]
    rec = run(orders=broker_orders, fills=fills, positions=[Position("BBB", 200, 30.0)])
    assert rec.next_chunk == {"AAA": 5, "BBB": 7}


def test_orders_after_a_foreign_one_are_still_reconciled():
    foreign = order(RID, "AAA", 0, OrderStatus.FILLED, filled=100, cid="by-hand-1")
    ours = order(RID, "BBB", 3, OrderStatus.FILLED, filled=100)
    rec = run(orders=[foreign, ours], positions=[Position("AAA", 100, 50.0), Position("BBB", 100, 30.0)])
    assert [r.client_order_id for r in rec.records] == [ours.client_order_id]
    assert rec.next_chunk == {"BBB": 4}


def test_every_order_event_names_what_each_side_holds():
    own_listed = order(RID, "AAA", 0, OrderStatus.PARTIALLY_FILLED, filled=10)
    own_open_only = order(RID, "BBB", 1, OrderStatus.NEW)  # not among the listed orders (a listing cut short)
    stale = order(OLD, "CCC", 0, OrderStatus.ACCEPTED)
    foreign = order(RID, "DDD", 0, OrderStatus.NEW, cid="by-hand-2")
    missing = client_order_id(RID, "EEE", 3, 0)
    fills = fills_frame([{"client_order_id": missing, "ticker": "EEE", "status": Status.UNKNOWN,
                          "alpaca_order_id": "gone"}])
    rec = run(orders=[own_listed], open_orders=[own_listed, own_open_only, own_open_only, stale, foreign],
              fills=fills)
    assert rec.events == [
        ReconcileEvent("order", "AAA", "adopted", None, "partially_filled",
                       f"{own_listed.client_order_id} still working (10/100 filled); adopted"),
        ReconcileEvent("order", "EEE", "missing", "UNKNOWN", None,
                       f"{missing} recorded UNKNOWN but unknown to the broker"),
        ReconcileEvent("order", "BBB", "adopted", None, "new",
                       f"{own_open_only.client_order_id} still working (0/100 filled); adopted"),
        ReconcileEvent("order", "CCC", "stale", None, "accepted",
                       f"{stale.client_order_id} of an earlier rebalance still working; cancelled and followed to "
                       "its final state"),
        ReconcileEvent("order", "DDD", "foreign", None, "new",
                       "open order by-hand-2 was not placed by Meridian; left alone"),
    ]
    assert rec.own_open == [own_listed, own_open_only] and rec.stale_open == [stale]
    assert rec.next_chunk == {"AAA": 1, "EEE": 4}


def test_every_position_event_names_both_sides():
    local = PORTFOLIO_POSITIONS.conform(pl.DataFrame([
        {"ticker": "AAA", "sector": "Tech", "side": "LONG", "shares": 80, "avg_cost": 48.0},
        {"ticker": "DDD", "sector": "Tech", "side": "SHORT", "shares": -7, "avg_cost": 9.0},
    ]))
    rec = run(positions=[Position("AAA", 100, 49.0), Position("CCC", 5, 10.0)], local=local)
    assert rec.events == [
        ReconcileEvent("position", "AAA", "overwritten", "80", "100",
                       "AAA: local 80 vs broker 100; overwritten with the broker's"),
        ReconcileEvent("position", "CCC", "inserted", None, "5",
                       "CCC: broker holds 5, not in portfolio_positions; inserted"),
        ReconcileEvent("position", "DDD", "removed", "-7", "0", "DDD: local -7 not held at the broker; removed"),
    ]
    ccc = rec.positions.filter(pl.col("ticker") == "CCC").row(0, named=True)
    assert (ccc["sector"], ccc["entry_score"]) == ("Energy", 71.0)  # a new holding takes today's sector and score


def test_one_share_holdings_keep_their_side():
    local = PORTFOLIO_POSITIONS.conform(pl.DataFrame([
        {"ticker": "AAA", "sector": "Tech", "side": "LONG", "shares": 1, "avg_cost": 48.0,
         "entry_date": dt.date(2024, 3, 1), "entry_score": 66.0},
        {"ticker": "BBB", "sector": "Tech", "side": "LONG", "shares": 5, "avg_cost": 30.0,
         "entry_date": dt.date(2024, 3, 2), "entry_score": 61.0},
        {"ticker": "CCC", "sector": "Energy", "side": "LONG", "shares": 0, "avg_cost": 20.0,
         "entry_date": dt.date(2024, 3, 3), "entry_score": 55.0},
    ]))
    rec = run(positions=[Position("AAA", 10, 49.0), Position("BBB", 1, 30.0), Position("CCC", 4, 20.0)], local=local)
    pos = {r["ticker"]: r for r in rec.positions.iter_rows(named=True)}
    def kept(t):
        return pos[t]["side"], pos[t]["entry_date"], pos[t]["entry_score"]

    assert kept("AAA") == ("LONG", dt.date(2024, 3, 1), 66.0) and kept("BBB") == ("LONG", dt.date(2024, 3, 2), 61.0)
    # a local row of zero shares was no position: the broker's holding starts today with today's score
    assert (pos["CCC"]["entry_date"], pos["CCC"]["entry_score"]) == (NOW.date(), 71.0)


def test_differences_are_warnings_unless_expected(caplog):
    caplog.set_level(logging.INFO, logger="meridian_assets.execution.reconcile")
    run(positions=[Position("CCC", 5, 10.0)])
    [warning] = [r for r in caplog.records if r.name == "meridian_assets.execution.reconcile"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == ("reconciliation: position CCC inserted: CCC: broker holds 5, not in "
                                    "portfolio_positions; inserted")
    caplog.clear()
    run(positions=[Position("CCC", 5, 10.0)], quiet=True)  # after the run's own trades: expected
    assert [r.levelno for r in caplog.records if r.name == "meridian_assets.execution.reconcile"] == [logging.INFO]


@pytest.mark.parametrize(("account", "positions", "orders", "message"), [
    (Account(1, 1, 1, status="ACCOUNT_CLOSED"), [], [],
     "broker account is ACCOUNT_CLOSED (trading_blocked=False); resolve it with the broker before trading"),
    (ACCOUNT, [Position("AAA", 10.5, 50.0)], [],
     "broker holds a fractional or invalid quantity of AAA (10.5); Meridian trades whole shares: close the fraction "
     "at the broker"),
    (ACCOUNT, [], [order(RID, "AAA", 0, OrderStatus.FILLED, qty=100, filled=101)],
     f"order {client_order_id(RID, 'AAA', 0, 0)} (AAA) filled 101 of 100: an overfill to investigate with the broker"),
])
def test_a_refusal_says_what_to_do(account, positions, orders, message):
    with pytest.raises(ReconciliationError) as err:
        check_broker_state(positions, account, orders)
    assert str(err.value) == message


@pytest.fixture
def new_york_clock(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_stored_as_utc_on_a_machine_in_new_york(new_york_clock):
    rec = run(positions=[Position("CCC", 5, 10.0)])
    aware = dt.datetime(2024, 3, 29, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert set(rec.frame("r", RID, "after", aware)["reconciled_at"]) == {dt.datetime(2024, 3, 29, 14, 0)}
    naive = dt.datetime(2024, 3, 29, 9, 0)  # taken as UTC already, not as the machine's local time
    assert set(rec.frame("r", RID, "after", naive)["reconciled_at"]) == {naive}
    assert rec.positions["updated_at"].to_list() == [dt.datetime(2024, 3, 29, 14, 0)]
