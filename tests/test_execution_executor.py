"""The executor's flow and its safety under faults, on the simulated venue with a manual clock (no real sleeps)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.execution.settings import SimulatedVenueConfig
from meridian_assets.execution.broker import parse_client_order_id
from meridian_assets.execution.clock import ManualClock
from meridian_assets.execution.executor import ExecutionContext, Executor
from meridian_assets.execution.faults import FaultKind, FaultPlan
from meridian_assets.execution.market import Bar
from meridian_assets.execution.planning import TradeIntent
from meridian_assets.execution.short_availability import ShortAvailabilityCache
from meridian_assets.execution.schemas import SHORT_AVAILABILITY
from meridian_assets.risk.pre_trade import MarketInfo
from tests.execution_world import RID, drive, venue

CFG = MeridianConfig()
SLOW = SimulatedVenueConfig(fill_delay_seconds=10, fill_duration_seconds=20, fill_slices=2)


def context(prices: dict[str, float], *, nav: float = 1e7, adv: float = 5e8, **kw) -> ExecutionContext:
    market = MarketInfo(sector={t: "Industrials" for t in prices}, adv_usd={t: adv for t in prices})
    return ExecutionContext(RID, nav, kw.pop("positions_value", {}), market, CFG.risk, **kw)


def run(broker, clock, intents, ctx):
    return Executor(broker, CFG.execution, clock=clock).run(intents, ctx)


def test_chunks_limits_and_deterministic_client_ids(tmp_path):
    raw, broker, clock = venue(tmp_path, {"AAA": 100.0})
    # $2M ADV: 2% = $40k = 400 shares per chunk
    rep = run(broker, clock, [TradeIntent("AAA", 0, 1000, 100.0, 2e6)], context({"AAA": 100.0}, adv=2e6, nav=1e9))
    orders = raw.list_orders()
    assert [o.client_order_id for o in orders] == [f"{RID}:AAA:{c}:0" for c in range(3)]
    assert [o.qty for o in orders] == [334, 333, 333] and {o.limit_price for o in orders} == {100.10}
    assert [r.status for r in rep.records] == ["FILLED"] * 3 and raw.positions() == {"AAA": 1000}
    r = rep.records[0]
    assert r.signal_price == 100.0 and r.slippage_bps == pytest.approx((r.fill_price - 100.0) / 100.0 * 1e4)


def test_partial_fill_is_kept_and_the_residual_dropped(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.PARTIAL, ticker="AAA", fraction=0.4)
    raw, broker, clock = venue(tmp_path, {"AAA": 50.0}, cfg=SLOW, faults=plan)
    rep = run(broker, clock, [TradeIntent("AAA", 0, 500, 50.0, 5e8)], context({"AAA": 50.0}))
    assert [(r.status, r.shares, r.ordered_shares) for r in rep.records] == [("PARTIAL", 200, 500)]
    assert len(raw.list_orders()) == 1 and raw.calls.counts["cancel_order"] == 1  # cancelled at TIF, not retried
    assert raw.positions() == {"AAA": 200} and "cancelled at time in force" in rep.records[0].notes
    assert clock.slept >= CFG.execution.executor.time_in_force_seconds
    assert rep.records[0].fill_ids.count(",") == 1  # two slices, each booked once over many polls


class GapBars:
    """Opens at 105 after a close of 100 and never trades below 104: a limit at 100.10 cannot fill."""

    def bar(self, ticker):
        return Bar(dt.date(2024, 3, 29), 105.0, 106.0, 104.0, 105.5, 5e6)


@pytest.mark.parametrize("no_fills,expected", [(4, ["CANCELLED"] * 4), (2, ["CANCELLED", "CANCELLED", "FILLED"])])
def test_zero_fill_is_retried_up_to_three_times_with_a_refreshed_price(tmp_path, no_fills, expected):
    plan = FaultPlan()
    plan.add(FaultKind.NO_FILL, times=no_fills)
    raw, broker, clock = venue(tmp_path, {"AAA": 100.0}, faults=plan)
    raw.bars = GapBars()
    rep = run(broker, clock, [TradeIntent("AAA", 0, 100, 100.0, 5e8)], context({"AAA": 100.0}))
    assert [r.status for r in rep.records] == expected
    assert [parse_client_order_id(r.client_order_id).attempt for r in rep.records] == list(range(len(expected)))
    assert rep.records[0].limit_price == 100.10  # signal: the latest close
    assert {r.limit_price for r in rep.records[1:]} == {105.10}  # re-priced from the venue's current price
    assert rep.records[-1].signal_price == 105.0


def test_pre_trade_veto_blocks_with_reason_codes_and_no_order(tmp_path):
    raw, broker, clock = venue(tmp_path, {"AAA": 100.0})
    rep = run(broker, clock, [TradeIntent("AAA", 0, 1000, 100.0, 5e8)], context({"AAA": 100.0}, nav=1e6))
    assert rep.records[0].status == "VETOED" and rep.records[0].notes.startswith("POSITION_SIZE")
    assert "submit_order" not in raw.calls.counts


def test_short_availability_and_a_short_refused_although_shortable(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.REFUSE_SHORT, ticker="BBB")
    raw, broker, clock = venue(tmp_path, {"AAA": 20.0, "BBB": 30.0}, faults=plan)
    raw.set_asset("AAA", shortable=True, easy_to_borrow=False)
    cache = ShortAvailabilityCache(SHORT_AVAILABILITY.empty(), broker.asset, now=dt.datetime(2024, 3, 29),
                                   max_age_days=7, broker="simulated")
    rep = run(broker, clock, [TradeIntent("AAA", 0, -100, 20.0, 5e8), TradeIntent("BBB", 0, -100, 30.0, 5e8)],
              context({"AAA": 20.0, "BBB": 30.0}, short_check=cache.check))
    by = {r.ticker: r for r in rep.records}
    assert by["AAA"].status == "SKIPPED" and "easy to borrow" in by["AAA"].notes
    assert by["BBB"].status == "REJECTED" and by["BBB"].notes.startswith("SHORT_REFUSED")
    assert raw.calls.counts["submit_order"] == 1 and raw.positions() == {}  # BBB tried once, never re-sent
    assert cache.frame()["ticker"].to_list() == ["AAA", "BBB"]  # cached for the next 7 days


def test_halted_submits_nothing(tmp_path):
    raw, broker, clock = venue(tmp_path, {"AAA": 10.0, "BBB": 10.0})
    rep = run(broker, clock, [TradeIntent("AAA", 0, 100, 10.0, 5e8), TradeIntent("BBB", 0, -100, 10.0, 5e8)],
              context({"AAA": 10.0, "BBB": 10.0}, halted=lambda: True))
    assert {r.status for r in rep.records} == {"HALTED"} and rep.halted
    assert "submit_order" not in raw.calls.counts


def test_halt_during_the_run_cancels_working_orders_and_stops_submitting(tmp_path):
    raw, broker, clock = venue(tmp_path, {"AAA": 10.0, "BBB": 10.0, "CCC": 10.0}, cfg=SLOW)
    start = clock.time()
    halted = lambda: clock.time() - start >= 12  # noqa: E731  (the lock appears after the first slice filled)
    rep = run(broker, clock, [TradeIntent(t, 0, 1000, 10.0, 5e8) for t in ("AAA", "BBB", "CCC")],
              context({"AAA": 10.0, "BBB": 10.0, "CCC": 10.0}, halted=halted))
    assert raw.calls.counts["submit_order"] == 1 and raw.calls.counts["cancel_order"] >= 1
    assert not raw.open_orders() and raw.positions() == {"AAA": 500}  # the fill before the halt stays
    assert [r.status for r in rep.records] == ["PARTIAL", "HALTED", "HALTED"]


class InterruptingClock(ManualClock):
    def __init__(self, after: int, error: type[BaseException]) -> None:
        super().__init__()
        self.after, self.error = after, error

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.after -= 1
        if self.after == 0:
            raise self.error


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, dg.DagsterExecutionInterruptedError],
                         ids=["ctrl-c", "run-terminated"])
def test_interrupt_cancels_every_pending_order_and_keeps_positions(tmp_path, interrupt):
    clock = InterruptingClock(after=3, error=interrupt)  # 15 s in: the first slice has filled, the order works on
    raw, broker, _ = venue(tmp_path, {"AAA": 10.0}, cfg=SLOW, clock=clock)
    ex = Executor(broker, CFG.execution, clock=clock)
    with pytest.raises(interrupt):
        ex.run([TradeIntent("AAA", 0, 1000, 10.0, 5e8)], context({"AAA": 10.0}))
    assert not raw.open_orders() and ex.report.cancelled == [raw.list_orders()[0].order_id]
    assert raw.positions() == {"AAA": 500}


def test_504_on_an_accepted_submit_is_settled_by_lookup_never_resent(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.ACCEPT_THEN_TIMEOUT)
    raw, broker, clock = venue(tmp_path, {"AAA": 10.0}, faults=plan)
    rep = run(broker, clock, [TradeIntent("AAA", 0, 100, 10.0, 5e8)], context({"AAA": 10.0}))
    assert raw.calls.counts["submit_order"] == 1 and raw.calls.counts["get_order_by_client_id"] == 1
    assert len(raw.list_orders()) == 1 and rep.records[0].status == "FILLED" and broker.settled == 1


def test_429_storm_is_ridden_out_with_backoff(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.RATE_LIMIT, op="any", times=8)
    raw, broker, clock = venue(tmp_path, {"AAA": 10.0}, faults=plan)
    rep = run(broker, clock, [TradeIntent("AAA", 0, 100, 10.0, 5e8)], context({"AAA": 10.0}))
    assert rep.records[0].status == "FILLED" and len(raw.list_orders()) == 1
    assert broker.retries == 8 and broker.backoff.slept > 0


def test_unsettled_submit_stops_the_run_and_the_next_run_adopts_the_order(tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.DISCONNECT_AFTER_ACCEPT, ticker="AAA", calls=40)  # outlasts every lookup
    raw, broker, clock = venue(tmp_path, {"AAA": 10.0, "BBB": 20.0}, cfg=SLOW, faults=plan)
    targets, prices, records = {"AAA": 800, "BBB": 300}, {"AAA": 10.0, "BBB": 20.0}, {}
    _, rep = drive(broker, targets, prices, clock=clock, records=records)
    assert rep.aborted and "outcome unknown" in rep.aborted
    assert [r.status for r in rep.records] == ["UNKNOWN"]  # and BBB never submitted
    plan.clear()  # the connection is back
    assert [o.client_order_id for o in raw.list_orders()] == [f"{RID}:AAA:0:0"]
    rec, rep2 = drive(broker, targets, prices, clock=clock, records=records)
    assert [e.action for e in rec.events if e.kind == "order"] == ["adopted"] and rep2.adopted == 1
    assert raw.positions() == targets
    assert len(raw.list_orders()) == 2  # the accepted AAA order (adopted) + BBB: nothing sent twice
    assert records[f"{RID}:AAA:0:0"].status == "FILLED"
