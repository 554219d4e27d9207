"""The executor when the venue misbehaves mid-order, on the simulated venue with a manual clock: a cancel the
venue never confirms (polled, waited on, noted, and the order kept for the cancellation hook), an order the
venue rejects after accepting it (its reason on the row), an adopted order whose broker is lost while it works
(an OPEN row with what had filled, the caller's price and the chunk and attempt of its client id), and a filled
order that the cancellation hook leaves alone."""

from __future__ import annotations

import dataclasses

from meridian_assets.config import MeridianConfig
from meridian_assets.execution.broker import OrderRequest, OrderStatus, Side, client_order_id
from meridian_assets.execution.executor import CANCEL_CONFIRM_POLLS, CANCEL_CONFIRM_SECONDS, Executor
from meridian_assets.execution.faults import FaultPlan
from meridian_assets.execution.fills import Status
from meridian_assets.execution.planning import TradeIntent
from meridian_assets.execution.settings import SimulatedVenueConfig
from tests.execution_world import RID, venue
from tests.test_mut_executor import PRICES, context

CFG = MeridianConfig()
SLOW = SimulatedVenueConfig(fill_delay_seconds=10, fill_duration_seconds=20, fill_slices=2)


def executor_cfg(**update):
    return CFG.execution.model_copy(update={"executor": CFG.execution.executor.model_copy(update=update)})


class DeafToCancels:
    """The venue, except that a cancel is accepted and never acted on (the order keeps working)."""

    def __init__(self, inner) -> None:
        self.inner, self.cancels = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def cancel_order(self, order_id: str) -> None:
        self.cancels.append(order_id)


def test_a_cancel_the_venue_never_confirms_is_polled_noted_and_left_to_the_hook(tmp_path):
    raw, safe, clock = venue(tmp_path, PRICES, cfg=SLOW)
    broker = DeafToCancels(safe)
    ex = Executor(broker, executor_cfg(time_in_force_seconds=2, poll_seconds=1, max_retries=0), clock=clock)
    start = clock.time()
    report = ex.run([TradeIntent("AAA", 0, 100, 10.0, 5e8)], context())
    [r] = report.records
    [order] = raw.list_orders()
    assert (r.status, r.shares) == (Status.OPEN, 0)
    assert r.notes == "cancelled at time in force; cancel not confirmed yet; the next run reconciles it"
    # the time in force, then one wait between each of the confirmation polls
    assert clock.time() - start == 2 + CANCEL_CONFIRM_POLLS * CANCEL_CONFIRM_SECONDS
    assert broker.cancels == [order.order_id]
    assert ex.cancel_pending() == [order.order_id] and broker.cancels == [order.order_id] * 2


def test_a_filled_order_is_not_left_for_the_cancellation_hook(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW)
    ex = Executor(broker, CFG.execution, clock=clock)
    report = ex.run([TradeIntent("AAA", 0, 100, 10.0, 5e8)], context())
    assert [r.status for r in report.records] == [Status.FILLED]
    assert ex.cancel_pending() == [] and "cancel_order" not in raw.calls.counts


class RejectsAfterAccepting:
    """The venue, except that an accepted order is later rejected with a reason."""

    def __init__(self, inner, reason: str) -> None:
        self.inner, self.reason = inner, reason

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get_order(self, order_id: str):
        order = self.inner.get_order(order_id)
        return dataclasses.replace(order, status=OrderStatus.REJECTED, reject_reason=self.reason)


def test_an_order_rejected_after_it_was_accepted_carries_the_venues_reason(tmp_path):
    raw, safe, clock = venue(tmp_path, PRICES, cfg=SLOW)
    report = Executor(RejectsAfterAccepting(safe, "symbol halted by the exchange"), executor_cfg(max_retries=0),
                      clock=clock).run([TradeIntent("AAA", 0, 100, 10.0, 5e8)], context())
    assert [(r.status, r.notes, r.shares) for r in report.records] == [
        (Status.REJECTED, "symbol halted by the exchange", 0)]
    assert raw.calls.counts["submit_order"] == 1


def test_a_rejection_after_acceptance_stops_the_leg_instead_of_resubmitting(tmp_path):
    """Retries are for orders that did not fill; a venue that refused the order (here after accepting it) would
    refuse a resubmitted copy too, so the leg stops with one REJECTED record and one order sent."""
    raw, safe, clock = venue(tmp_path, PRICES, cfg=SLOW)
    report = Executor(RejectsAfterAccepting(safe, "short locate failed"), executor_cfg(max_retries=2),
                      clock=clock).run([TradeIntent("AAA", 0, 100, 10.0, 5e8)], context())
    assert [(r.status, r.attempt, r.notes) for r in report.records] == [(Status.REJECTED, 0, "short locate failed")]
    assert raw.calls.counts["submit_order"] == 1


def test_an_adopted_order_whose_broker_is_lost_keeps_what_filled_and_its_key(tmp_path):
    plan = FaultPlan()
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW, faults=plan)
    raw.submit_order(OrderRequest(client_order_id(RID, "BBB", 3, 2), "BBB", Side.BUY, 100, 20.02))
    clock.sleep(15)  # the first of two slices has filled when the next run adopts it
    [order] = raw.open_orders()
    assert order.filled_qty == 50
    real_sleep = clock.sleep

    def sleep(seconds):  # the connection drops at the first poll
        real_sleep(seconds)
        plan.start_outage(1000)

    clock.sleep = sleep
    report = Executor(broker, CFG.execution, clock=clock).finish_adopted([order], context(), prices={"BBB": 19.5})
    [r] = report.records
    assert (r.status, r.client_order_id, r.action, r.ordered_shares) == (Status.OPEN, order.client_order_id, "BUY", 100)
    assert (r.chunk, r.attempt, r.signal_price, r.limit_price) == (3, 2, 19.5, 20.02)
    assert r.shares == 50 and r.fill_ids and r.notes.startswith("broker lost while working: ")
    assert report.aborted


def test_an_order_lost_on_its_retry_is_recorded_at_the_retrys_price(tmp_path):
    from meridian_assets.execution.faults import FaultKind

    plan = FaultPlan()
    plan.add(FaultKind.NO_FILL, ticker="AAA", times=1)
    raw, broker, clock = venue(tmp_path, PRICES, cfg=SLOW, faults=plan)
    real_sleep = clock.sleep

    def sleep(seconds):  # the connection drops while the second attempt works
        real_sleep(seconds)
        if raw.calls.counts.get("submit_order", 0) >= 2:
            plan.start_outage(1000)

    clock.sleep = sleep
    report = Executor(broker, executor_cfg(time_in_force_seconds=5, poll_seconds=1), clock=clock).run(
        [TradeIntent("AAA", 0, 100, 10.0, 5e8)], context(refresh_price=lambda ticker: 9.5))
    first, lost = report.records
    assert (first.status, first.signal_price, first.attempt) == (Status.CANCELLED, 10.0, 0)
    assert (lost.status, lost.signal_price, lost.attempt, lost.chunk) == (Status.OPEN, 9.5, 1, 0)
    assert report.aborted


def test_the_report_counts_rows_by_status(tmp_path):
    raw, broker, clock = venue(tmp_path, PRICES)
    intents = [TradeIntent(t, 0, round(400_000 / p), p, 5e8) for t, p in PRICES.items()]  # the 4th breaks net
    report = Executor(broker, CFG.execution, clock=clock).run(intents, context())
    assert report.counts() == {Status.FILLED: 3, Status.VETOED: 1}
    assert Executor(broker, CFG.execution, clock=clock).report.counts() == {}
