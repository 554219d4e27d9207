"""The broker interface: what every venue (the simulated one, Alpaca) offers the executor.

A `Broker` speaks whole shares and limit orders. Its methods raise the typed errors below and nothing else
the caller has to know about: `OrderRejected` is a definite "no" (nothing was created), `RateLimited` means
the request was not processed, `BrokerUnavailable` means the outcome is unknown (timeout, 5xx, a dropped
connection) and `DuplicateClientOrderId` means an order with that client id already exists. Settling the
unknown outcomes (lookup by client order id, never a blind re-send) is `gateway.SafeBroker`'s job.

Client order ids are deterministic in (rebalance id, ticker, chunk, attempt): ``rb-...:AAPL:2:0``. A venue
refuses a second order with the same id, so re-running a rebalance can never place the same chunk twice.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from meridian_assets.errors import MeridianError


# --------------------------------------------------------------------------------------------- values
class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(str, enum.Enum):
    """Order states (Alpaca's names). Terminal: filled, canceled, expired, rejected, done_for_day."""

    NEW = "new"
    ACCEPTED = "accepted"
    PENDING_NEW = "pending_new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    DONE_FOR_DAY = "done_for_day"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @classmethod
    def parse(cls, value: str) -> OrderStatus:
        """Alpaca's status string; states Meridian never creates map to the nearest one."""
        v = str(getattr(value, "value", value)).lower()
        try:
            return cls(v)
        except ValueError:
            return _OTHER_STATUS.get(v, cls.NEW)


_TERMINAL = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED,
             OrderStatus.DONE_FOR_DAY}
_OTHER_STATUS = {"replaced": OrderStatus.CANCELED, "stopped": OrderStatus.CANCELED,
                 "suspended": OrderStatus.NEW, "held": OrderStatus.NEW, "calculated": OrderStatus.NEW,
                 "pending_replace": OrderStatus.NEW, "pending_review": OrderStatus.NEW,
                 "accepted_for_bidding": OrderStatus.ACCEPTED}


@dataclass(frozen=True)
class OrderRequest:
    """A DAY limit order for whole shares. ``intent`` is Alpaca's position intent (buy_to_open, ...)."""

    client_order_id: str
    ticker: str
    side: Side
    qty: int
    limit_price: float
    intent: str | None = None
    time_in_force: str = "day"

    def __post_init__(self) -> None:
        if self.qty <= 0 or int(self.qty) != self.qty:
            raise ValueError(f"order {self.client_order_id}: qty must be a positive whole number, got {self.qty}")
        if not self.limit_price > 0:
            raise ValueError(f"order {self.client_order_id}: limit price must be > 0, got {self.limit_price}")


@dataclass(frozen=True)
class Fill:
    """One execution. ``fill_id`` is the venue's (for Alpaca: derived from the order id and the cumulative
    filled quantity it was observed at, see `alpaca.py`); fills are de-duplicated by it."""

    fill_id: str
    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    qty: int
    price: float
    timestamp: dt.datetime


@dataclass(frozen=True)
class BrokerOrder:
    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    qty: int
    limit_price: float | None
    status: OrderStatus
    filled_qty: int = 0
    filled_avg_price: float | None = None
    submitted_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    reject_reason: str | None = None
    fills: tuple[Fill, ...] = ()

    @property
    def remaining(self) -> int:
        return 0 if self.status.is_terminal else max(self.qty - self.filled_qty, 0)

    @property
    def signed_remaining(self) -> int:
        return self.remaining if self.side is Side.BUY else -self.remaining


@dataclass(frozen=True)
class Position:
    """A holding: ``qty`` signed (short < 0)."""

    ticker: str
    qty: float
    avg_entry_price: float
    current_price: float | None = None
    market_value: float | None = None


@dataclass(frozen=True)
class Account:
    cash: float
    equity: float
    buying_power: float
    currency: str = "USD"
    status: str = "ACTIVE"
    trading_blocked: bool = False
    shorting_enabled: bool = True
    long_market_value: float = 0.0
    short_market_value: float = 0.0


@dataclass(frozen=True)
class AssetInfo:
    ticker: str
    tradable: bool
    shortable: bool
    easy_to_borrow: bool


# --------------------------------------------------------------------------------------------- protocol
@runtime_checkable
class Broker(Protocol):
    """What the executor, the reconciliation and the kill switch use. Every method may raise the errors
    below; `SafeBroker` wraps an implementation with retries and the settling of ambiguous submits."""

    name: str

    def submit_order(self, request: OrderRequest) -> BrokerOrder: ...

    def get_order(self, order_id: str) -> BrokerOrder: ...

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client id, None when the venue has none (HTTP 404)."""
        ...

    def cancel_order(self, order_id: str) -> None:
        """Request a cancel; cancelling an order that is already done is not an error."""
        ...

    def list_orders(self, after: dt.datetime | None = None) -> list[BrokerOrder]:
        """Every order (open and closed) submitted after ``after`` (all when None)."""
        ...

    def open_orders(self) -> list[BrokerOrder]: ...

    def cancel_all_open_orders(self) -> list[str]:
        """Cancel every open order; the ids of those cancelled."""
        ...

    def positions(self) -> dict[str, int]:
        """Signed whole-share holdings by ticker."""
        ...

    def position_details(self) -> list[Position]: ...

    def account(self) -> Account: ...

    def asset(self, ticker: str) -> AssetInfo: ...

    def last_price(self, ticker: str) -> float | None:
        """A current price for re-pricing a retry, None when the venue has none."""
        ...


# --------------------------------------------------------------------------------------------- errors
class BrokerError(MeridianError):
    """Base class of the broker errors."""


class OrderRejected(BrokerError):
    """The venue definitely refused the order (nothing was created): buying power, not shortable, ..."""

    def __init__(self, client_order_id: str, reason: str, *, code: str = "REJECTED") -> None:
        self.client_order_id, self.reason, self.code = client_order_id, reason, code
        super().__init__(f"order {client_order_id} rejected: {reason}")


class ShortRefused(OrderRejected):
    """A short sale refused by the venue (no borrow), also when the asset was flagged shortable."""

    def __init__(self, client_order_id: str, reason: str) -> None:
        super().__init__(client_order_id, reason, code="SHORT_REFUSED")


class DuplicateClientOrderId(BrokerError):
    """The venue already has an order with this client id (an earlier submit of it landed)."""

    def __init__(self, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(f"client order id {client_order_id} already used at the broker")


class OrderNotFound(BrokerError):
    """No order with this id at the broker."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached or answered 5xx: for a write, whether it happened is unknown."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class RateLimited(BrokerUnavailable):
    """HTTP 429: the request was not processed; retry after a (jittered) pause."""

    def __init__(self, message: str = "rate limited (HTTP 429)", *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=429)


class AmbiguousOrderState(BrokerUnavailable):
    """A submit's outcome is still unknown after every lookup by client order id: stop and reconcile."""

    def __init__(self, client_order_id: str, detail: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(f"order {client_order_id}: outcome unknown after lookups ({detail}); nothing more is "
                         f"submitted, the next run's reconciliation settles it")


class LiveTradingNotConfirmed(BrokerError):
    """A submit on a live account without the operator's confirmation."""


class BrokerDataError(BrokerError):
    """The broker returned something Meridian cannot trade on (fractional shares, an overfilled order...)."""


class ReconciliationError(BrokerError):
    """Local state and the broker could not be reconciled; the run trades nothing."""


class ExecutionAborted(BrokerError):
    """The run stopped early (broker unreachable, outcome unknown, interrupted); pending orders cancelled."""


# --------------------------------------------------------------------------------------------- client ids
CID_SEPARATOR = ":"


@dataclass(frozen=True)
class ClientOrderKey:
    rebalance_id: str
    ticker: str
    chunk: int
    attempt: int

    def __str__(self) -> str:
        return CID_SEPARATOR.join((self.rebalance_id, self.ticker, str(self.chunk), str(self.attempt)))


def client_order_id(rebalance_id: str, ticker: str, chunk: int, attempt: int) -> str:
    """``{rebalance_id}:{ticker}:{chunk}:{attempt}`` — at most 128 characters, as Alpaca allows."""
    if CID_SEPARATOR in rebalance_id or CID_SEPARATOR in ticker:
        raise ValueError(f"rebalance id and ticker may not contain {CID_SEPARATOR!r}: {rebalance_id!r} {ticker!r}")
    cid = str(ClientOrderKey(rebalance_id, ticker, int(chunk), int(attempt)))
    if len(cid) > 128:
        raise ValueError(f"client order id longer than 128 characters: {cid}")
    return cid


def parse_client_order_id(cid: str) -> ClientOrderKey | None:
    """The key of a Meridian client order id; None for anything else (orders placed by hand, other tools)."""
    parts = cid.split(CID_SEPARATOR)
    if len(parts) != 4 or not parts[0].startswith("rb-"):
        return None
    try:
        return ClientOrderKey(parts[0], parts[1], int(parts[2]), int(parts[3]))
    except ValueError:
        return None


@dataclass
class CallLog:
    """Counts of broker calls by method (the simulated venue and test doubles keep one)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, method: str) -> None:
        self.counts[method] = self.counts.get(method, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())
