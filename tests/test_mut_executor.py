"""The executor's rows and journal, field by field, on the simulated venue with a manual clock: orders an earlier
run left working are adopted with the right action for the book they trade from (BUY / SELL / SHORT / COVER),
their chunk and attempt, signal and limit, and an "adopt" event before anything else; rows for legs that never
reached the broker (halted, vetoed, skipped); fills booked as they happen, so the next trade's veto sees them;
the cancellation hook journaling each cancel and carrying on past one the broker refuses."""

from __future__ import annotations

import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.execution.broker import BrokerUnavailable, OrderRequest, Side, client_order_id
from meridian_assets.execution.clock import utc
from meridian_assets.execution.executor import ExecutionContext, Executor
from meridian_assets.execution.faults import FaultKind, FaultPlan
from meridian_assets.execution.fills import Status
from meridian_assets.execution.planning import TradeIntent
from meridian_assets.execution.settings import SimulatedVenueConfig
from meridian_assets.risk.pre_trade import MarketInfo
from tests.execution_world import RID, venue

CFG = MeridianConfig()
SLOW = SimulatedVenueConfig(fill_delay_seconds=10, fill_duration_seconds=20, fill_slices=2)
PRICES = {"AAA": 10.0, "BBB": 20.0, "CCC": 30.0, "DDD": 40.0}


def context(*, nav: float = 1e7, **kw) -> ExecutionContext:
    market = MarketInfo(sector={t: "Industrials" for t in PRICES}, adv_usd={t: 5e8 for t in PRICES})
    return ExecutionContext(RID, nav, kw.pop("positions_value", {}), market, CFG.risk, run_id="run-7", **kw)


class Journal:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def __call__(self, kind: str, **fields) -> None:
        self.events.append((kind, fields))

    def of(self, kind: str) -> list[dict]:
        return [f for k, f in self.events if k == kind]


def test_orders_left_working_are_adopted_with_the_action_of_the_book_they_trade_from(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW)
    left = [("AAA", Side.BUY, 100, 2, 1), ("BBB", Side.SELL, 50, 0, 0), ("CCC", Side.SELL, 30, 1, 0),
            ("DDD", Side.BUY, 20, 3, 2)]
    for ticker, side, qty, chunk, attempt in left:
        limit = PRICES[ticker] * (1.001 if side is Side.BUY else 0.999)
        raw.submit_order(OrderRequest(client_order_id(RID, ticker, chunk, attempt), ticker, side, qty, round(limit, 2)))
    clock.sleep(15)  # the first slice of each has filled when the next run starts
    orders = [raw.get_order(o.order_id) for o in raw.open_orders()]
    assert sorted(o.filled_qty for o in orders) == [10, 15, 25, 50]
    journal = Journal()
    ex = Executor(broker, CFG.execution, clock=clock, on_event=journal)
    # the book before: flat AAA and CCC, long BBB, short DDD
    ctx = context(positions_value={"BBB": 2000.0, "DDD": -800.0})
    report = ex.finish_adopted(orders, ctx, prices=PRICES)
    assert report.adopted == 4 and report.submitted == 0
    expected = {"AAA": ("BUY", "LONG"), "BBB": ("SELL", "LONG"), "CCC": ("SHORT", "SHORT"), "DDD": ("COVER", "SHORT")}
    by = {r.ticker: r for r in report.records}
    for ticker, side, qty, chunk, attempt in left:
        r, o = by[ticker], next(o for o in orders if o.ticker == ticker)
        assert (r.action, r.side) == expected[ticker]
        assert (r.chunk, r.attempt, r.status, r.shares, r.ordered_shares) == (chunk, attempt, Status.FILLED, qty, qty)
        assert (r.signal_price, r.limit_price, r.run_id, r.alpaca_order_id) == (PRICES[ticker], o.limit_price, "run-7",
                                                                                o.order_id)
        assert r.notes == f"adopted from an earlier run ({o.filled_qty} filled then)"
    adopts = journal.of("adopt")
    assert [a["cid"] for a in adopts] == [o.client_order_id for o in orders]
    for a, o in zip(adopts, orders):
        action, book_side = expected[o.ticker]
        assert a == {"cid": o.client_order_id, "rebalance_id": RID, "ticker": o.ticker, "side": o.side.value,
                     "qty": o.qty, "limit": o.limit_price, "action": action, "book_side": book_side,
                     "signal": PRICES[o.ticker], "chunk": by[o.ticker].chunk, "attempt": by[o.ticker].attempt,
                     "order_id": o.order_id}
    assert journal.events[0][0] == "adopt"  # journaled before it is polled
    assert raw.positions() == {"AAA": 100, "BBB": -50, "CCC": -30, "DDD": 20}
    assert not raw.open_orders()


def test_rows_for_legs_that_never_reach_the_broker(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES)
    ex = Executor(broker, CFG.execution, clock=clock)
    # a long of 50 going to a short of 50: two legs, SELL then SHORT, each with its own row
    report = ex.run([TradeIntent("AAA", 50, -50, 10.0, 5e8)], context(halted=lambda: True,
                                                                       positions_value={"AAA": 500.0}))
    now = utc(clock)
    assert [(r.client_order_id, r.action, r.side, r.ordered_shares) for r in report.records] == [
        (f"{RID}:AAA:SELL:halted", "SELL", "LONG", 50), (f"{RID}:AAA:SHORT:halted", "SHORT", "SHORT", 50)]
    for r in report.records:
        assert (r.rebalance_id, r.ticker, r.shares, r.signal_price, r.limit_price) == (RID, "AAA", 0, 10.0, None)
        assert (r.status, r.broker) == (Status.HALTED, broker.name)
        assert r.notes == "trading halted (halt lock or HALTED state)"
        assert (r.finished_at, r.recorded_at, r.run_id) == (now, now, "run-7")
    assert report.halted and "submit_order" not in raw.calls.counts


def test_a_vetoed_trade_names_every_reason(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES)
    report = Executor(broker, CFG.execution, clock=clock).run(
        [TradeIntent("BBB", 0, -40_000, 20.0, 5e8)], context(nav=1e6))
    [r] = report.records
    assert (r.client_order_id, r.status, r.action, r.ordered_shares) == (f"{RID}:BBB:SHORT:vetoed", Status.VETOED,
                                                                        "SHORT", 40_000)
    codes, _, message = r.notes.partition(": ")
    assert codes.split(",")[0] == "POSITION_SIZE" and "," in codes and message


def test_each_fill_is_booked_before_the_next_trade_is_checked(tmp_path):
    # four buys of 4% of NAV each: net goes 4, 8, 12, then 16% > the 15% net limit, so the fourth is vetoed
    raw, broker, clock = venue(tmp_path, PRICES)
    intents = [TradeIntent(t, 0, round(400_000 / p), p, 5e8) for t, p in PRICES.items()]
    report = Executor(broker, CFG.execution, clock=clock).run(intents, context())
    statuses = [r.status for r in report.records]
    assert statuses.count(Status.FILLED) == 3 and statuses.count(Status.VETOED) == 1
    vetoed = next(r for r in report.records if r.status == Status.VETOED)
    assert vetoed.notes.startswith("GROSS_NET") and len(raw.positions()) == 3
    assert report.filled() == {r.ticker: r.shares for r in report.records if r.status == Status.FILLED}


class RefusingCancel:
    """The venue, except that it refuses to cancel one order (the run goes on to cancel the others)."""

    def __init__(self, inner, refuse: str) -> None:
        self.inner, self.refuse, self.cancelled = inner, refuse, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def cancel_order(self, order_id: str) -> None:
        if order_id == self.refuse:
            raise BrokerUnavailable("simulated venue: cancel refused")
        self.inner.cancel_order(order_id)
        self.cancelled.append(order_id)


def test_the_cancellation_hook_journals_each_cancel_and_carries_on_past_a_refusal(tmp_path):
    raw, safe, clock = venue(tmp_path, PRICES, cfg=SLOW)
    for t in ("AAA", "BBB", "CCC"):
        raw.submit_order(OrderRequest(client_order_id(RID, t, 0, 0), t, Side.BUY, 100, PRICES[t]))
    orders = raw.open_orders()
    refuse = orders[1].order_id
    journal = Journal()
    ex = Executor(RefusingCancel(safe, refuse), CFG.execution, clock=clock, on_event=journal)
    for o in orders:  # working orders this run placed
        ex._working[o.order_id] = o
    done = ex.cancel_pending()
    assert done == [orders[0].order_id, orders[2].order_id] and ex.report.cancelled == done
    assert journal.of("cancel") == [{"cid": o.client_order_id, "order_id": o.order_id, "why": "run stopping"}
                                    for o in orders]
    assert [o.order_id for o in raw.open_orders()] == [refuse]  # still working: the next run reconciles it
    assert ex.cancel_pending() == [] and ex.report.cancelled == done  # the refused one is tried again, in vain


@pytest.mark.parametrize("held", [0, 30])
def test_a_sale_from_a_flat_book_is_a_short(tmp_path, held):
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW)
    raw.submit_order(OrderRequest(client_order_id(RID, "CCC", 0, 0), "CCC", Side.SELL, 30, 29.9))
    [order] = raw.open_orders()
    report = Executor(broker, CFG.execution, clock=clock).finish_adopted(
        [order], context(positions_value={"CCC": held * 30.0}), prices=PRICES)
    assert report.records[0].action == ("SELL" if held else "SHORT")


class Recording:
    """The venue, recording each order request as sent."""

    def __init__(self, inner) -> None:
        self.inner, self.requests = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def submit_order(self, request: OrderRequest):
        self.requests.append(request)
        return self.inner.submit_order(request)


def test_each_order_is_journaled_before_it_is_sent_with_its_position_intent(tmp_path):
    raw, safe, clock = venue(tmp_path, PRICES)
    broker, journal = Recording(safe), Journal()
    # long 50 to short 50: the closing SELL, then the opening SHORT once the SELL has filled in full
    report = Executor(broker, CFG.execution, clock=clock, on_event=journal).run(
        [TradeIntent("AAA", 50, -50, 10.0, 5e8)], context(positions_value={"AAA": 500.0}))
    assert [(r.action, r.status, r.shares) for r in report.records] == [("SELL", Status.FILLED, 50),
                                                                          ("SHORT", Status.FILLED, 50)]
    assert [(q.side, q.qty, q.intent) for q in broker.requests] == [(Side.SELL, 50, "sell_to_close"),
                                                                      (Side.SELL, 50, "sell_to_open")]
    intents = journal.of("intent")
    assert intents == [
        {"cid": f"{RID}:AAA:{c}:0", "rebalance_id": RID, "ticker": "AAA", "side": "sell", "qty": 50, "limit": 9.99,
         "action": action, "book_side": book_side, "signal": 10.0, "chunk": c, "attempt": 0}
        for c, action, book_side in ((0, "SELL", "LONG"), (1, "SHORT", "SHORT"))]
    kinds = [k for k, _ in journal.events]
    assert kinds == ["intent", "ack", "fill"] * 2
    orders = raw.list_orders()
    assert journal.of("ack") == [{"cid": o.client_order_id, "order_id": o.order_id, "status": "filled",
                                  "filled_qty": 50} for o in orders]  # the instant venue fills on accept
    assert report.submitted == 2
    assert raw.positions() == {"AAA": -100}  # the venue itself started flat
    assert report.filled() == {"AAA": -100}


def test_a_halt_between_chunks_stops_before_the_next_submit(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES)
    halted = lambda: raw.calls.counts.get("submit_order", 0) >= 1  # noqa: E731  (the lock lands after chunk 0)
    # $2M ADV: 2% = $40k = 4,000 shares of a $10 stock per chunk
    report = Executor(broker, CFG.execution, clock=clock).run(
        [TradeIntent("AAA", 0, 10_000, 10.0, 2e6)], context(nav=1e9, halted=halted))
    assert [(r.status, r.notes) for r in report.records] == [
        (Status.FILLED, None), (Status.HALTED, "chunk 1: trading halted before submit")]
    halted_row = report.records[1]
    assert (halted_row.client_order_id, halted_row.action, halted_row.ordered_shares) == (f"{RID}:AAA:BUY:halted",
                                                                                            "BUY", 10_000)
    assert raw.calls.counts["submit_order"] == 1 and raw.positions() == {"AAA": 3334}


@pytest.mark.parametrize("adv", [None, 0.0])
def test_a_trade_without_an_adv_is_skipped(tmp_path, adv):
    raw, broker, clock = venue(tmp_path, PRICES)
    report = Executor(broker, CFG.execution, clock=clock).run([TradeIntent("AAA", 0, 100, 10.0, adv)], context())
    [r] = report.records
    assert (r.client_order_id, r.status, r.notes) == (f"{RID}:AAA:BUY:skipped", Status.SKIPPED,
                                                      "no 20-day ADV: cannot size chunks")
    assert "submit_order" not in raw.calls.counts


def test_any_positive_adv_sizes_chunks_of_at_least_one_share(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES)
    report = Executor(broker, CFG.execution, clock=clock).run([TradeIntent("AAA", 0, 2, 10.0, 0.5)], context())
    assert [(r.status, r.shares) for r in report.records] == [(Status.FILLED, 1), (Status.FILLED, 1)]
    assert report.filled() == {"AAA": 2}


def test_a_sale_from_the_smallest_long_is_a_sale(tmp_path):
    raw, broker, clock = venue(tmp_path, {"PNY": 0.4}, cfg=SLOW)
    raw.submit_order(OrderRequest(client_order_id(RID, "PNY", 0, 0), "PNY", Side.SELL, 1, 0.39))
    [order] = raw.open_orders()
    report = Executor(broker, CFG.execution, clock=clock).finish_adopted(
        [order], context(positions_value={"PNY": 0.4}), prices={"PNY": 0.4})
    assert report.records[0].action == "SELL"  # one share worth 40 cents is still a long


def test_a_submit_whose_outcome_stays_unknown_is_recorded_and_stops_the_run(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.DISCONNECT_AFTER_ACCEPT, ticker="AAA", calls=40)  # outlasts every lookup
    raw, broker, clock = venue(tmp_path, PRICES, faults=plan)
    journal = Journal()
    report = Executor(broker, CFG.execution, clock=clock, on_event=journal).run(
        [TradeIntent("AAA", 0, 100, 10.0, 5e8), TradeIntent("BBB", 0, -50, 20.0, 5e8)], context())
    [r] = report.records
    cid = f"{RID}:AAA:0:0"
    assert (r.rebalance_id, r.client_order_id, r.ticker, r.action, r.side) == (RID, cid, "AAA", "BUY", "LONG")
    assert (r.status, r.shares, r.ordered_shares) == (Status.UNKNOWN, 0, 100)
    assert (r.signal_price, r.limit_price) == (10.0, 10.01)
    assert (r.broker, r.chunk, r.attempt, r.finished_at) == (broker.name, 0, 0, utc(clock))
    assert report.aborted == f"AmbiguousOrderState: {r.notes}" and "outcome unknown" in r.notes
    [unknown] = journal.of("unknown")
    assert unknown == {"cid": cid, "detail": r.notes}
    assert report.submitted == 0 and raw.calls.counts["submit_order"] == 1  # BBB never sent


def test_a_rejected_order_is_recorded_and_journaled_with_the_venues_reason(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.REJECT, ticker="AAA")
    raw, broker, clock = venue(tmp_path, PRICES, faults=plan)
    journal = Journal()
    report = Executor(broker, CFG.execution, clock=clock, on_event=journal).run(
        [TradeIntent("AAA", 0, 100, 10.0, 5e8)], context())
    [r] = report.records
    cid = f"{RID}:AAA:0:0"
    assert (r.rebalance_id, r.client_order_id, r.ticker, r.action, r.side) == (RID, cid, "AAA", "BUY", "LONG")
    assert (r.status, r.ordered_shares, r.signal_price, r.limit_price) == (Status.REJECTED, 100, 10.0, 10.01)
    assert (r.broker, r.chunk, r.attempt, r.finished_at) == (broker.name, 0, 0, utc(clock))
    assert r.notes == "REJECTED: rejected by the venue (injected fault)"
    reason = "rejected by the venue (injected fault)"
    assert journal.of("reject") == [{"cid": cid, "code": "REJECTED", "reason": reason}]
    assert raw.calls.counts["submit_order"] == 1  # a definite rejection is not retried


def test_an_order_whose_broker_is_lost_while_it_works_is_left_open_for_the_next_run(tmp_path):
    plan = FaultPlan()
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW, faults=plan)
    real_sleep = clock.sleep

    def sleep(seconds):  # the connection drops after the first poll
        real_sleep(seconds)
        if not plan.in_outage():
            plan.start_outage(1000)

    clock.sleep = sleep
    start = utc(clock)
    report = Executor(broker, CFG.execution, clock=clock).run([TradeIntent("AAA", 0, 100, 10.0, 5e8)], context())
    [r] = report.records
    assert (r.client_order_id, r.rebalance_id, r.ticker, r.action, r.side) == (f"{RID}:AAA:0:0", RID, "AAA", "BUY",
                                                                               "LONG")
    assert (r.status, r.ordered_shares, r.signal_price, r.limit_price) == (Status.OPEN, 100, 10.0, 10.01)
    assert (r.broker, r.chunk, r.attempt, r.run_id) == (broker.name, 0, 0, "run-7")
    assert start < r.finished_at <= utc(clock) and r.alpaca_order_id  # the order the broker acknowledged
    assert r.notes.startswith("broker lost while working: ") and report.aborted


def test_an_order_is_cancelled_at_its_time_in_force_and_journaled(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.PARTIAL, ticker="AAA", fraction=0.4)
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW, faults=plan)
    cfg = CFG.execution.model_copy(update={"executor": CFG.execution.executor.model_copy(
        update={"time_in_force_seconds": 42, "poll_seconds": 5})})
    journal, start = Journal(), clock.time()
    at = []
    ex = Executor(broker, cfg, clock=clock, on_event=lambda kind, **f: (journal(kind, **f), at.append(clock.time())))
    report = ex.run([TradeIntent("AAA", 0, 500, 10.0, 5e8)], context())
    [r] = report.records
    assert (r.status, r.shares, r.notes) == (Status.PARTIAL, 200, "cancelled at time in force")
    order = raw.list_orders()[0]
    [cancel] = journal.of("cancel")
    assert cancel == {"cid": order.client_order_id, "order_id": order.order_id, "why": "time in force"}
    kinds = [k for k, _ in journal.events]
    assert at[kinds.index("cancel")] - start == 42  # at the time in force, not at the next poll after it


def test_a_retry_is_repriced_from_the_callers_price_for_that_ticker_when_it_has_one(tmp_path):
    from meridian_assets.execution.planning import limit_price

    plan = FaultPlan()
    plan.add(FaultKind.NO_FILL, times=4)
    raw, broker, clock = venue(tmp_path, {"AAA": 1.0}, faults=plan)
    fresh = iter([None, 0.8, 0.9, 0.7])  # asked after each of the four attempts
    asked = []

    def refresh(ticker):
        asked.append(ticker)
        return next(fresh)

    report = Executor(broker, CFG.execution, clock=clock).run(
        [TradeIntent("AAA", 0, 100, 1.0, 5e8)], context(refresh_price=refresh))
    offset = CFG.execution.executor.limit_offset_pct
    assert [r.limit_price for r in report.records] == [limit_price(p, Side.BUY, offset) for p in (1.0, 1.0, 0.8, 0.9)]
    assert [r.signal_price for r in report.records] == [1.0, 1.0, 0.8, 0.9] and asked == ["AAA"] * 4


def test_an_order_cancelled_by_a_halt_says_so(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW)
    start = clock.time()
    halted = lambda: clock.time() - start >= 12  # noqa: E731  (the lock appears after the first slice filled)
    report = Executor(broker, CFG.execution, clock=clock).run(
        [TradeIntent("AAA", 0, 1000, 10.0, 5e8)], context(halted=halted))
    [r] = report.records
    assert (r.status, r.shares, r.notes) == (Status.PARTIAL, 500, "cancelled: trading halted")


def test_the_opening_leg_waits_when_the_closing_leg_did_not_complete(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.REJECT, ticker="AAA")
    raw, broker, clock = venue(tmp_path, PRICES, faults=plan)
    report = Executor(broker, CFG.execution, clock=clock).run(
        [TradeIntent("AAA", 50, -50, 10.0, 5e8)], context(positions_value={"AAA": 500.0}))
    assert [(r.action, r.status) for r in report.records] == [("SELL", Status.REJECTED), ("SHORT", Status.SKIPPED)]
    skipped = report.records[1]
    assert (skipped.client_order_id, skipped.ordered_shares, skipped.side) == (f"{RID}:AAA:SHORT:skipped", 50, "SHORT")
    assert skipped.notes == "the closing leg did not complete; not opening the other side"
    assert raw.calls.counts["submit_order"] == 1


def test_a_reducing_book_only_shrinks_positions_and_every_row_reaches_the_caller(tmp_path):
    from meridian_assets.risk.states import TradingState

    raw, broker, clock = venue(tmp_path, PRICES)
    seen = []
    report = Executor(broker, CFG.execution, clock=clock, on_record=seen.append).run(
        [TradeIntent("AAA", 0, 100, 10.0, 5e8), TradeIntent("BBB", 100, 50, 20.0, 5e8)],
        context(trading_state=TradingState.REDUCING, positions_value={"BBB": 2000.0}))
    by = {r.ticker: r for r in report.records}
    assert by["AAA"].status == Status.VETOED and by["AAA"].notes.startswith("TRADING_REDUCING: ")
    assert by["BBB"].status == Status.FILLED and by["BBB"].action == "SELL"
    assert seen == report.records


def test_a_veto_row_carries_every_denial_message(tmp_path):
    from meridian_assets.risk.pre_trade import BookState, Trade, check_trade

    raw, broker, clock = venue(tmp_path, PRICES)
    ctx = context(nav=1e6)
    report = Executor(broker, CFG.execution, clock=clock).run([TradeIntent("BBB", 0, -40_000, 20.0, 5e8)], ctx)
    decision = check_trade(Trade("BBB", -800_000.0), BookState(nav=1e6, positions={}), ctx.market, ctx.risk, False)
    assert len(decision.denials) > 1
    codes = ",".join(r.value for r in decision.reasons)
    assert report.records[0].notes == f"{codes}: " + "; ".join(d.message for d in decision.denials)


def test_each_fill_is_journaled_once_with_its_price(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW)
    journal = Journal()
    report = Executor(broker, CFG.execution, clock=clock, on_event=journal).run(
        [TradeIntent("AAA", 0, 100, 10.0, 5e8)], context())
    [r] = report.records
    [order] = raw.list_orders()
    fills = journal.of("fill")
    assert [f["fill_id"] for f in fills] == r.fill_ids.split(",") and sum(f["qty"] for f in fills) == 100
    assert all(f["cid"] == order.client_order_id and f["order_id"] == order.order_id for f in fills)
    assert sum(f["qty"] * f["price"] for f in fills) / 100 == pytest.approx(r.fill_price)
    assert (r.rebalance_id, r.broker, r.status, r.finished_at) == (RID, broker.name, Status.FILLED, utc(clock))
