"""`SafeBroker`: any `Broker` made safe to call under faults (nautilus_trader's rule: an ambiguous outcome
is settled by looking the order up, never by blindly sending it again).

- **Reads and cancels** are idempotent: retried on `BrokerUnavailable` (timeouts, 5xx, dropped
  connections) up to ``retries.max_attempts`` times and on `RateLimited` (429) up to ``rate_limit_retries``
  times, with jittered exponential backoff (`throttle.Backoff`).
- **Submits** are not idempotent, so:
  - 429 -> the request was not processed: pause and send it again *with the same client order id*;
  - timeout / 5xx / dropped connection -> unknown: look the order up by client order id (itself retried);
    found -> that is the order; definitely absent -> send it again with the same id (a venue refuses a
    second order with one id, so even a late-landing first copy cannot make two orders);
  - `DuplicateClientOrderId` -> the id landed before: look it up and return that order;
  - the lookups themselves keep failing -> `AmbiguousOrderState`: the caller stops submitting and the
    next run's reconciliation settles it.
- A live account without the operator's confirmation refuses submits (`LiveTradingNotConfirmed`); reads
  and cancels still go through, so the kill switch can always cancel.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from typing import TypeVar

from meridian_assets.execution.settings import ExecutionConfig
from meridian_assets.execution.broker import (
    Account, AmbiguousOrderState, AssetInfo, Broker, BrokerOrder, BrokerUnavailable, DuplicateClientOrderId,
    LiveTradingNotConfirmed, OrderRequest, Position, RateLimited,
)
from meridian_assets.execution.throttle import Backoff

log = logging.getLogger(__name__)
T = TypeVar("T")


class SafeBroker:
    """Wraps ``inner``; implements `Broker`. ``allow_submit=False`` for an unconfirmed live account."""

    def __init__(
        self,
        inner: Broker,
        cfg: ExecutionConfig,
        *,
        sleep: Callable[[float], None],
        rng: random.Random | None = None,
        allow_submit: bool = True,
        refusal: str = "",
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.cfg = cfg
        self.backoff = Backoff(cfg.retries.backoff_base_seconds, cfg.retries.backoff_max_seconds,
                               sleep=sleep, rng=rng)
        self.allow_submit = allow_submit
        self.refusal = refusal or "live trading needs the operator's confirmation"
        self.retries = 0  # transient failures ridden out (for metadata and tests)
        self.settled = 0  # ambiguous submits settled by lookup

    # ------------------------------------------------------------------ plumbing
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        transient = limited = 0
        while True:
            try:
                return fn()
            except RateLimited as err:
                limited += 1
                if limited > self.cfg.rate_limit_retries:
                    raise
                self.retries += 1
                self.backoff.pause(limited - 1, err.retry_after)
            except BrokerUnavailable as err:
                transient += 1
                if transient >= self.cfg.retries.max_attempts:
                    raise
                self.retries += 1
                log.warning("%s: %s; retrying (%d/%d)", what, err, transient, self.cfg.retries.max_attempts - 1)
                self.backoff.pause(transient - 1)

    # ------------------------------------------------------------------ submits
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        if not self.allow_submit:
            raise LiveTradingNotConfirmed(f"order {request.client_order_id} not sent: {self.refusal}")
        cid = request.client_order_id
        limited = resent = 0
        while True:
            try:
                return self.inner.submit_order(request)
            except DuplicateClientOrderId:
                found = self._settle(cid, "the client order id was already used")
                if found is not None:
                    return found
                raise AmbiguousOrderState(cid, "the broker says the id is used but cannot find the order")
            except RateLimited as err:
                limited += 1
                if limited > self.cfg.rate_limit_retries:
                    raise
                self.retries += 1
                self.backoff.pause(limited - 1, err.retry_after)
            except BrokerUnavailable as err:
                found = self._settle(cid, str(err))
                if found is not None:
                    self.settled += 1
                    log.warning("order %s: submit answered %s but the order exists; adopted", cid, err)
                    return found
                resent += 1
                if resent >= self.cfg.retries.max_attempts:
                    raise BrokerUnavailable(f"order {cid} not placed after {resent} attempts: {err}",
                                            status=err.status) from err
                self.retries += 1
                log.warning("order %s: not at the broker after %s; sending it again with the same id", cid, err)
                self.backoff.pause(resent - 1)

    def _settle(self, cid: str, detail: str) -> BrokerOrder | None:
        """The order with client id ``cid`` or None when the broker definitely has none."""
        last: Exception | None = None
        for attempt in range(self.cfg.order_lookup_attempts):
            try:
                return self.inner.get_order_by_client_id(cid)
            except BrokerUnavailable as err:
                last = err
                self.retries += 1
                self.backoff.pause(attempt, getattr(err, "retry_after", None))
        raise AmbiguousOrderState(cid, f"{detail}; last lookup: {last}")

    # ------------------------------------------------------------------ everything else (idempotent)
    def get_order(self, order_id: str) -> BrokerOrder:
        return self._call(f"get order {order_id}", lambda: self.inner.get_order(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        return self._call(f"lookup {client_order_id}", lambda: self.inner.get_order_by_client_id(client_order_id))

    def cancel_order(self, order_id: str) -> None:
        self._call(f"cancel {order_id}", lambda: self.inner.cancel_order(order_id))

    def list_orders(self, after: dt.datetime | None = None) -> list[BrokerOrder]:
        return self._call("list orders", lambda: self.inner.list_orders(after))

    def open_orders(self) -> list[BrokerOrder]:
        return self._call("open orders", self.inner.open_orders)

    def cancel_all_open_orders(self) -> list[str]:
        return self._call("cancel all open orders", self.inner.cancel_all_open_orders)

    def positions(self) -> dict[str, int]:
        return self._call("positions", self.inner.positions)

    def position_details(self) -> list[Position]:
        return self._call("positions", self.inner.position_details)

    def account(self) -> Account:
        return self._call("account", self.inner.account)

    def asset(self, ticker: str) -> AssetInfo:
        return self._call(f"asset {ticker}", lambda: self.inner.asset(ticker))

    def last_price(self, ticker: str) -> float | None:
        try:
            return self.inner.last_price(ticker)
        except BrokerUnavailable:
            return None
