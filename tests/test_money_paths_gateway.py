"""`SafeBroker` on a scripted venue: every path of a submit (duplicate id, ambiguous outcome settled by lookup,
retries exhausted, lookups exhausted, 429 storm with Retry-After), the retry budget of reads and cancels, and
the live gate. The scripted venue records each call, so the tests count exactly how often an order was sent."""

from __future__ import annotations

import random

import pytest

from meridian_assets.execution.settings import ExecutionConfig
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

    def list_orders(self, after=None):
        return self._answer("list", after)

    def open_orders(self):
        return self._answer("open")

    def position_details(self):
        return self._answer("details")

    def account(self):
        return self._answer("account")

    def asset(self, ticker):
        return self._answer("asset", ticker)


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


def expected_pauses(attempts: list[int], floors: list[float | None], cfg: ExecutionConfig, seed: int = 3) -> list[float]:
    """Jittered exponential backoff from its definition: d = min(cap, base * 2^k), wait = d/2 + U(0, d/2),
    never below the server's Retry-After."""
    rng = random.Random(seed)
    out = []
    for k, floor in zip(attempts, floors):
        d = min(cfg.retries.backoff_max_seconds, cfg.retries.backoff_base_seconds * 2 ** max(k, 0))
        out.append(max(d / 2 + rng.uniform(0, d / 2), floor or 0.0))
    return out


def test_backoff_grows_per_attempt_and_respects_retry_after():
    cfg = ExecutionConfig()
    inner = Scripted(submit=[RateLimited(retry_after=0.2), RateLimited(), RateLimited(retry_after=0.1), ORDER])
    broker, slept = safe(inner, cfg)
    assert broker.submit_order(REQ) is ORDER and broker.retries == 3
    assert slept == pytest.approx(expected_pauses([0, 1, 2], [0.2, None, 0.1], cfg))
    n = cfg.retries.max_attempts
    inner = Scripted(submit=[BrokerUnavailable("503")] * n, lookup=[None] * n)
    broker, slept = safe(inner, cfg)
    with pytest.raises(BrokerUnavailable):
        broker.submit_order(REQ)
    assert slept == pytest.approx(expected_pauses(list(range(n - 1)), [None] * (n - 1), cfg))
    reads = Scripted(positions=[BrokerUnavailable("503")] * (n - 1) + [{}], get=[RateLimited(retry_after=0.3), ORDER])
    broker, slept = safe(reads, cfg)
    broker.positions()
    broker.get_order("ord-1")
    assert broker.retries == n
    assert slept == pytest.approx(expected_pauses([*range(n - 1), 0], [None] * (n - 1) + [0.3], cfg))


def test_lookups_pause_for_the_venues_retry_after():
    cfg = ExecutionConfig()
    inner = Scripted(submit=[BrokerUnavailable("504", status=504)],
                     lookup=[RateLimited(retry_after=9.0), BrokerUnavailable("503"), ORDER])
    broker, slept = safe(inner, cfg)
    assert broker.submit_order(REQ) is ORDER and broker.settled == 1 and broker.retries == 2
    assert slept == pytest.approx(expected_pauses([0, 1], [9.0, None], cfg))


def test_the_messages_name_the_order_and_the_cause(caplog):
    caplog.set_level("WARNING", logger="meridian_assets.execution.gateway")
    cfg = ExecutionConfig()
    k = cfg.order_lookup_attempts
    dup = Scripted(submit=[DuplicateClientOrderId(CID)], lookup=[BrokerUnavailable("lookup 503")] * k)
    broker, _ = safe(dup, cfg)
    with pytest.raises(AmbiguousOrderState) as err:
        broker.submit_order(REQ)
    assert str(err.value) == (f"order {CID}: outcome unknown after lookups (the client order id was already used; "
                              "last lookup: lookup 503); nothing more is submitted, the next run's reconciliation "
                              "settles it")
    gone = Scripted(submit=[DuplicateClientOrderId(CID)], lookup=[None])
    broker, _ = safe(gone, cfg)
    with pytest.raises(AmbiguousOrderState) as err:
        broker.submit_order(REQ)
    assert err.value.client_order_id == CID and "(the broker says the id is used but cannot find the order)" in str(err.value)
    timeout = Scripted(submit=[BrokerUnavailable("504 gateway timeout", status=504)], lookup=[BrokerUnavailable("x")] * k)
    broker, _ = safe(timeout, cfg)
    with pytest.raises(AmbiguousOrderState, match=r"\(504 gateway timeout; last lookup: x\)"):
        broker.submit_order(REQ)
    caplog.clear()
    twice = Scripted(submit=[BrokerUnavailable("dropped"), BrokerUnavailable("504"), ORDER], lookup=[None, ORDER])
    broker, _ = safe(twice, cfg)
    assert broker.submit_order(REQ) is ORDER
    assert [r.getMessage() for r in caplog.records] == [
        f"order {CID}: not at the broker after dropped; sending it again with the same id",
        f"order {CID}: submit answered 504 but the order exists; adopted"]
    caplog.clear()
    reads = Scripted(positions=[BrokerUnavailable("503 busy"), {}])
    broker, _ = safe(reads, cfg)
    broker.positions()
    assert [r.getMessage() for r in caplog.records] == [f"positions: 503 busy; retrying (1/{cfg.retries.max_attempts - 1})"]


def test_each_call_reaches_the_venue_with_its_argument_and_a_name():
    inner = Scripted(get=[ORDER], cancel=[None], price=[10.0], cancel_all=[[]], positions=[{}],
                     lookup=[ORDER])
    broker, _ = safe(inner)
    assert broker.name == "scripted"
    broker.get_order("ord-9")
    broker.cancel_order("ord-8")
    broker.last_price("ZZZ")
    broker.cancel_all_open_orders()
    broker.positions()
    assert broker.get_order_by_client_id(CID) is ORDER
    assert inner.calls == [("get", "ord-9"), ("cancel", "ord-8"), ("price", "ZZZ"), ("cancel_all", None),
                           ("positions", None), ("lookup", CID)]


def test_two_settled_submits_are_counted():
    inner = Scripted(submit=[BrokerUnavailable("504")] * 2, lookup=[ORDER, ORDER])
    broker, _ = safe(inner)
    broker.submit_order(REQ)
    broker.submit_order(REQ)
    assert broker.settled == 2 and broker.retries == 0


def test_the_default_refusal_is_exact():
    broker, _ = safe(Scripted(), allow_submit=False)
    with pytest.raises(LiveTradingNotConfirmed) as err:
        broker.submit_order(REQ)
    assert str(err.value) == f"order {CID} not sent: live trading needs the operator's confirmation"


def test_every_read_rides_out_one_transient_failure(caplog):
    import datetime as dt

    caplog.set_level("WARNING", logger="meridian_assets.execution.gateway")

    since = dt.datetime(2024, 3, 28, 13, 30)
    down = BrokerUnavailable("503")
    inner = Scripted(list=[down, [ORDER]], open=[down, [ORDER]], details=[down, ["p"]], account=[down, "acct"],
                     asset=[down, "info"], lookup=[down, None])
    broker, slept = safe(inner)
    assert broker.list_orders(since) == [ORDER] and broker.open_orders() == [ORDER]
    assert broker.position_details() == ["p"] and broker.account() == "acct" and broker.asset("AAA") == "info"
    assert broker.get_order_by_client_id(CID) is None
    assert inner.calls == [("list", since)] * 2 + [("open", None)] * 2 + [("details", None)] * 2 + \
        [("account", None)] * 2 + [("asset", "AAA")] * 2 + [("lookup", CID)] * 2
    assert broker.retries == 6 and len(slept) == 6
    more = Scripted(get=[down, ORDER], cancel=[down, None], cancel_all=[down, []], positions=[down, {}])
    broker, _ = safe(more)
    broker.get_order("ord-7")
    broker.cancel_order("ord-7")
    broker.cancel_all_open_orders()
    broker.positions()
    n = ExecutionConfig().retries.max_attempts - 1
    labels = [r.getMessage().split(": 503", 1)[0] for r in caplog.records]
    assert labels == ["list orders", "open orders", "positions", "account", "asset AAA", f"lookup {CID}",
                      "get order ord-7", "cancel ord-7", "cancel all open orders", "positions"]
    assert all(r.getMessage().endswith(f"; retrying (1/{n})") for r in caplog.records)


def test_a_read_rate_limited_twice_backs_off_longer_the_second_time():
    cfg = ExecutionConfig()
    inner = Scripted(get=[RateLimited(), RateLimited(), ORDER])
    broker, slept = safe(inner, cfg)
    assert broker.get_order("ord-1") is ORDER
    assert slept == pytest.approx(expected_pauses([0, 1], [None, None], cfg))
