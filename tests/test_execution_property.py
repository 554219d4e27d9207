"""Property: under any schedule of broker faults, re-running until a run completes ends with the broker holding
the intended positions (or a difference explained by recorded outcomes), every order recorded, nothing
executed twice and nothing left working."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meridian_assets.execution.settings import SimulatedVenueConfig
from meridian_assets.execution.broker import OrderRequest, Side, parse_client_order_id
from meridian_assets.execution.faults import Fault, FaultKind, FaultPlan
from tests.execution_world import INSTANT, RID, drive, venue

TICKERS = ("AAA", "BBB", "CCC", "DDD", "EEE")
EXPLAINED = {"REJECTED", "PARTIAL", "CANCELLED", "SKIPPED", "VETOED", "UNKNOWN", "HALTED"}
SLOW = SimulatedVenueConfig(fill_delay_seconds=10, fill_duration_seconds=30, fill_slices=3)

submit_faults = st.builds(
    Fault,
    kind=st.sampled_from([FaultKind.REJECT, FaultKind.REFUSE_SHORT, FaultKind.TIMEOUT, FaultKind.RATE_LIMIT,
                          FaultKind.ACCEPT_THEN_TIMEOUT, FaultKind.DISCONNECT_AFTER_ACCEPT, FaultKind.PARTIAL,
                          FaultKind.NO_FILL]),
    op=st.just("submit"), at_call=st.one_of(st.none(), st.integers(1, 6)), times=st.integers(1, 2),
    fraction=st.floats(0.1, 0.9), calls=st.integers(1, 14))
other_faults = st.builds(
    Fault, kind=st.sampled_from([FaultKind.OUTAGE, FaultKind.RATE_LIMIT, FaultKind.TIMEOUT]),
    op=st.sampled_from(["get", "list", "cancel", "any"]), at_call=st.one_of(st.none(), st.integers(1, 40)),
    times=st.integers(1, 3), calls=st.integers(1, 10))
book = st.dictionaries(st.sampled_from(TICKERS), st.tuples(st.integers(-400, 400), st.integers(-400, 400),
                                                           st.floats(5.0, 300.0)), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(book=book, faults=st.lists(st.one_of(submit_faults, other_faults), max_size=7), slow=st.booleans())
def test_random_fault_schedules_converge_without_duplicates(book, faults, slow):
    prices = {t: round(p, 2) for t, (_, _, p) in book.items()}
    initial = {t: c for t, (c, _, _) in book.items() if c}
    targets = {t: tg for t, (_, tg, _) in book.items()}
    with tempfile.TemporaryDirectory() as tmp:
        raw, broker, clock = venue(Path(tmp), prices, cfg=INSTANT)
        for t, c in initial.items():  # the book before the rebalance
            raw.submit_order(OrderRequest(f"seed-{t}", t, Side.BUY if c > 0 else Side.SELL, abs(c), prices[t] * 1.05
                                          if c > 0 else prices[t] * 0.95))
        assert raw.positions() == initial
        raw.cfg = SLOW if slow else INSTANT
        raw.faults = FaultPlan([dataclasses.replace(f) for f in faults])  # the plan consumes its copies
        records: dict = {}
        for _ in range(60):  # re-run until a run completes (every failed run uses up some of the finite faults)
            rec, rep = drive(broker, targets, prices, clock=clock, records=records)
            if rec is not None and rep.aborted is None:
                break
        else:
            raise AssertionError(f"no run completed: {rep.aborted if rep else 'reconciliation failed'}; "
                                 f"pending faults {raw.faults.pending}")
        raw.faults.clear()  # the checks below read the venue's books directly
        final = raw.positions()
        orders = [o for o in raw.list_orders() if parse_client_order_id(o.client_order_id)]
        assert not raw.open_orders(), "orders left working"
        for t, target in targets.items():
            start, end = initial.get(t, 0), final.get(t, 0)
            executed = sum(o.filled_qty * (1 if o.side is Side.BUY else -1) for o in orders if o.ticker == t)
            assert end - start == executed
            # never beyond the target: a duplicate order would overshoot
            lo, hi = sorted((start, target))
            assert lo <= end <= hi, (t, start, end, target)
            statuses = {r.status for r in records.values() if r.ticker == t}
            assert end == target or statuses & EXPLAINED, (t, start, end, target, statuses)
        for o in orders:  # every order at the broker is recorded, with the broker's filled shares
            r = records.get(o.client_order_id)
            assert r is not None and r.shares == o.filled_qty, (o.client_order_id, r)
        keys = [parse_client_order_id(o.client_order_id) for o in orders]
        assert len({(k.ticker, k.chunk, k.attempt) for k in keys}) == len(keys)
        assert all(k.rebalance_id == RID for k in keys)
