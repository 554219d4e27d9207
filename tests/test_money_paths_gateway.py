"""`SafeBroker` on a scripted venue: every path of a submit (duplicate id, ambiguous outcome settled by lookup,
retries exhausted, lookups exhausted, 429 storm with Retry-After), the retry budget of reads and cancels, and
the live gate. The scripted venue records each call, so the tests count exactly how often an order was sent."""

from __future__ import annotations

import random

import pytest

from meridian_assets.config import ExecutionConfig
from meridian_assets.execution.broker import (
    AmbiguousOrderState, BrokerOrder, BrokerUnavailable, DuplicateClientOrderId, LiveTradingNotConfirmed,
    OrderRequest, OrderStatus, RateLimited, Side,
)
from meridian_assets.execution.gateway import SafeBroker

CID = "mer-rb1-AAA-1"
REQ = OrderRequest(CID, "AAA", Side.BUY, 10, 100.0)
ORDER = BrokerOrder("ord-1", CID, "AAA", Side.BUY, 10, 100.0, OrderStatus.NEW)


class Scripted:
    """A venue whose answers are scripted per operation: each item is returned, or raised if an exception."""

    name = "scripted"

    def __init__(self, **script) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[tuple[str, object]] = []

    def _answer(self, op: str, arg=None):
        self.calls.append((op, arg))
        answers = self.script.get(op)
        if not answers:
            raise AssertionError(f"unscripted call {op}({arg})")
        a = answers.pop(0)
        if isinstance(a, BaseException):
            raise a
        return a

    def submit_order(self, request):
        return self._answer("submit", request.client_order_id)

    def get_order_by_client_id(self, cid):
        return self._answer("lookup", cid)

    def get_order(self, oid):
        return self._answer("get", oid)

    def cancel_order(self, oid):
        return self._answer("cancel", oid)

    def cancel_all_open_orders(self):
        return self._answer("cancel_all")

    def positions(self):
        return self._answer("positions")

    def last_price(self, ticker):
        return self._answer("price", ticker)


def safe(inner, cfg: ExecutionConfig | None = None, **kw) -> tuple[SafeBroker, list[float]]:
    slept: list[float] = []
    return SafeBroker(inner, cfg or ExecutionConfig(), sleep=slept.append, rng=random.Random(3), **kw), slept


def ops(inner) -> list[str]:
    return [op for op, _ in inner.calls]


def test_a_duplicate_id_returns_the_order_that_landed_without_sending_again():
    inner = Scripted(submit=[DuplicateClientOrderId(CID)], lookup=[ORDER])
    broker, _ = safe(inner)
    assert broker.submit_order(REQ) is ORDER
    assert ops(inner) == ["submit", "lookup"] and inner.calls[1] == ("lookup", CID)


def test_a_duplicate_id_the_venue_cannot_find_is_ambiguous():
    inner = Scripted(submit=[DuplicateClientOrderId(CID)], lookup=[None])
    broker, _ = safe(inner)
    with pytest.raises(AmbiguousOrderState, match="says the id is used but cannot find the order"):
        broker.submit_order(REQ)
    assert ops(inner) == ["submit", "lookup"]


def test_a_timeout_on_an_accepted_submit_is_settled_by_lookup():
    inner = Scripted(submit=[BrokerUnavailable("504", status=504)], lookup=[ORDER])
    broker, slept = safe(inner)
    assert broker.submit_order(REQ) is ORDER
    assert ops(inner) == ["submit", "lookup"] and broker.settled == 1 and slept == []


def test_a_submit_that_never_lands_is_resent_with_the_same_id_until_the_attempts_run_out():
    cfg = ExecutionConfig()
    n = cfg.retries.max_attempts
    inner = Scripted(submit=[BrokerUnavailable("503", status=503)] * n, lookup=[None] * n)
    broker, slept = safe(inner, cfg)
    with pytest.raises(BrokerUnavailable, match=f"order {CID} not placed after {n} attempts") as err:
        broker.submit_order(REQ)
    assert err.value.status == 503 and not isinstance(err.value, AmbiguousOrderState)
    assert ops(inner) == ["submit", "lookup"] * n  # looked up before every resend
    assert {arg for _, arg in inner.calls} == {CID}  # always the same client order id
    assert broker.retries == n - 1 and len(slept) == n - 1


def test_a_resend_that_lands_on_the_second_attempt_is_one_order():
    inner = Scripted(submit=[BrokerUnavailable("dropped"), ORDER], lookup=[None])
    broker, slept = safe(inner)
    assert broker.submit_order(REQ) is ORDER
    assert ops(inner) == ["submit", "lookup", "submit"] and broker.retries == 1 and len(slept) == 1


def test_lookups_that_keep_failing_stop_with_an_ambiguous_state():
    cfg = ExecutionConfig()
    k = cfg.order_lookup_attempts
    inner = Scripted(submit=[BrokerUnavailable("504", status=504)],
                     lookup=[BrokerUnavailable("lookup 503", status=503)] * k)
    broker, slept = safe(inner, cfg)
    with pytest.raises(AmbiguousOrderState, match="last lookup: lookup 503") as err:
        broker.submit_order(REQ)
    assert err.value.client_order_id == CID
    assert ops(inner) == ["submit"] + ["lookup"] * k  # never re-sent blindly
    assert len(slept) == k and broker.retries == k


def test_a_429_storm_is_ridden_out_honouring_retry_after_then_gives_up():
    cfg = ExecutionConfig()
    r = cfg.rate_limit_retries
    inner = Scripted(submit=[RateLimited(retry_after=7.0)] * r + [ORDER])
    broker, slept = safe(inner, cfg)
    assert broker.submit_order(REQ) is ORDER
    assert ops(inner) == ["submit"] * (r + 1) and len(slept) == r and min(slept) >= 7.0
    storm = Scripted(submit=[RateLimited(retry_after=1.0)] * (r + 1))
    broker, slept = safe(storm, cfg)
    with pytest.raises(RateLimited):
        broker.submit_order(REQ)
    assert len(storm.calls) == r + 1 and len(slept) == r  # no lookup: a 429 was not processed


def test_reads_and_cancels_retry_transient_failures_up_to_the_budget():
    cfg = ExecutionConfig()
    n = cfg.retries.max_attempts
    inner = Scripted(positions=[BrokerUnavailable("503")] * (n - 1) + [{"AAA": 5}])
    broker, slept = safe(inner, cfg)
    assert broker.positions() == {"AAA": 5} and len(inner.calls) == n and len(slept) == n - 1
    down = Scripted(cancel=[BrokerUnavailable("503")] * n)
    broker, _ = safe(down, cfg)
    with pytest.raises(BrokerUnavailable):
        broker.cancel_order("ord-1")
    assert len(down.calls) == n
    limited = Scripted(get=[RateLimited(retry_after=2.5)] * cfg.rate_limit_retries + [ORDER])
    broker, slept = safe(limited, cfg)
    assert broker.get_order("ord-1") is ORDER and min(slept) >= 2.5
    over = Scripted(get=[RateLimited()] * (cfg.rate_limit_retries + 1))
    broker, _ = safe(over, cfg)
    with pytest.raises(RateLimited):
        broker.get_order("ord-1")
    assert len(over.calls) == cfg.rate_limit_retries + 1


def test_an_unconfirmed_live_account_refuses_submits_but_still_cancels():
    inner = Scripted(cancel_all=[["ord-1", "ord-2"]])
    broker, _ = safe(inner, allow_submit=False, refusal="live trading needs `--confirm-live` for this run")
    with pytest.raises(LiveTradingNotConfirmed, match=f"order {CID} not sent: live trading needs `--confirm-live`"):
        broker.submit_order(REQ)
    assert broker.cancel_all_open_orders() == ["ord-1", "ord-2"]
    assert ops(inner) == ["cancel_all"]  # the submit never reached the venue
    default, _ = safe(Scripted(), allow_submit=False)
    with pytest.raises(LiveTradingNotConfirmed, match="live trading needs the operator's confirmation"):
        default.submit_order(REQ)


def test_a_price_the_venue_cannot_give_is_none():
    broker, _ = safe(Scripted(price=[BrokerUnavailable("503"), 101.5]))
    assert broker.last_price("AAA") is None
    assert broker.last_price("AAA") == 101.5
