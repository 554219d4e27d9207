"""The Alpaca venue: a `Broker` over alpaca-py's `TradingClient` (paper by default).

- **No hidden re-sends.** alpaca-py 0.44 retries a request by itself when it gets HTTP 429 or 504
  (`RESTClient._request`: up to ``_retry`` = 3 times, ``time.sleep(_retry_wait)`` = 3 s between, for POSTs
  too). A 504 on a submit that Alpaca in fact accepted would then be sent again blind. This adapter sets
  ``_retry = 0`` and empties ``_retry_codes``: every failure surfaces at once as a typed error, and
  `gateway.SafeBroker` decides — 429 is paused and re-sent with the same client order id, a 504 / timeout /
  dropped connection is settled by `get_order_by_client_id` (``GET /v2/orders:by_client_order_id``).
- **Rate.** Every HTTP request (trading and market data) first takes a slot of a `WindowLimiter`: never more
  than ``execution.max_requests_per_minute`` (200, Alpaca's limit) in any 60 seconds.
- **Keys** only from ``ALPACA_API_KEY`` / ``ALPACA_SECRET_KEY`` (read by `resources/execution.py`); never logged
  nor put in messages. Requests time out after ``execution.request_timeout_seconds``.
- **Errors.** 429 -> `RateLimited` (Retry-After honoured); 5xx, timeouts, dropped connections ->
  `BrokerUnavailable`; bad keys (401) -> `BrokerError` (the run stops); "client_order_id must be unique" ->
  `DuplicateClientOrderId`; a refused short sale -> `ShortRefused`; other 4xx on a submit -> `OrderRejected`;
  404 on a lookup -> None.
- **Fills.** Alpaca's order carries the cumulative filled quantity and average price, not the executions;
  `fills.FillLedger` turns each increase into one fill with id ``{order_id}:{cumulative qty}``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.common.enums import Sort
from alpaca.trading.enums import OrderSide, PositionIntent, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest

from meridian_assets.execution.broker import (
    Account, AssetInfo, BrokerError, BrokerOrder, BrokerUnavailable, DuplicateClientOrderId, OrderNotFound,
    OrderRejected, OrderRequest, OrderStatus, Position, RateLimited, ShortRefused, Side,
)
from meridian_assets.execution.throttle import WindowLimiter

log = logging.getLogger(__name__)

PAGE = 500  # Alpaca's maximum orders per page
_SHORT_WORDS = ("short", "borrow")


class AlpacaRequestError(BrokerError):
    """Any other 4xx answer, with its HTTP status."""

    def __init__(self, message: str, status: int | None) -> None:
        self.status = status
        super().__init__(message)


def disable_builtin_retries(client: Any) -> None:
    """Make alpaca-py's RESTClient raise on 429/504 instead of sleeping and re-sending by itself."""
    client._retry = 0
    client._retry_codes = []


def add_timeout(client: Any, seconds: float) -> None:
    session = getattr(client, "_session", None)
    if session is None:
        return
    request = session.request

    def request_with_timeout(method, url, **kwargs):
        kwargs.setdefault("timeout", seconds)
        return request(method, url, **kwargs)

    session.request = request_with_timeout


def _body(err: APIError) -> tuple[int | None, str]:
    try:
        doc = json.loads(str(err))
        return doc.get("code"), str(doc.get("message", doc))
    except (ValueError, TypeError, AttributeError):
        return None, str(err)[:300]


def _int(value: Any) -> int:
    return int(float(value)) if value not in (None, "") else 0


def _float(value: Any) -> float | None:
    return float(value) if value not in (None, "") else None


class AlpacaBroker:
    """The raw adapter (typed errors, no retries). Build it through `resources.execution.BrokerResource`."""

    name = "alpaca"

    def __init__(self, client: TradingClient, limiter: WindowLimiter, *, data_client: Any = None,
                 secrets: tuple[str, ...] = ()) -> None:
        disable_builtin_retries(client)
        self.client, self.data_client, self.limiter = client, data_client, limiter
        if data_client is not None:
            disable_builtin_retries(data_client)
        self._secrets = tuple(s for s in secrets if s)

    # ------------------------------------------------------------------ plumbing
    def _scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _do(self, what: str, fn, *args, cid: str | None = None, submit: bool = False):
        self.limiter.wait()
        try:
            return fn(*args)
        except APIError as err:
            raise self._classify(err, what, cid, submit) from None
        except requests.exceptions.RequestException as err:
            raise BrokerUnavailable(self._scrub(f"alpaca {what}: {type(err).__name__}: {err}")) from None

    def _classify(self, err: APIError, what: str, cid: str | None, submit: bool) -> BrokerError:
        status = err.status_code
        code, message = _body(err)
        message = self._scrub(message)
        text = f"alpaca {what}: HTTP {status} {message}"
        if status == 429:
            retry_after = None
            if err.response is not None and err.response.headers.get("Retry-After"):
                try:
                    retry_after = float(err.response.headers["Retry-After"])
                except ValueError:
                    pass
            return RateLimited(text, retry_after=retry_after)
        if status is None or status >= 500:
            return BrokerUnavailable(text, status=status)
        if status == 401 or (status == 403 and "not authorized" in message.lower()):
            return BrokerError(f"{text}: check ALPACA_API_KEY / ALPACA_SECRET_KEY (paper keys for paper trading)")
        if submit and cid is not None:
            low = message.lower()
            if "client_order_id" in low and "unique" in low:
                return DuplicateClientOrderId(cid)
            if any(w in low for w in _SHORT_WORDS):
                return ShortRefused(cid, message)
            return OrderRejected(cid, f"HTTP {status} {message}", code=f"HTTP_{status}")
        if status == 404:
            return OrderNotFound(text)
        return AlpacaRequestError(text, status)

    def _order(self, o: Any) -> BrokerOrder:
        return BrokerOrder(
            order_id=str(o.id), client_order_id=str(o.client_order_id), ticker=str(o.symbol),
            side=Side(getattr(o.side, "value", o.side)), qty=_int(o.qty), limit_price=_float(o.limit_price),
            status=OrderStatus.parse(o.status), filled_qty=_int(o.filled_qty),
            filled_avg_price=_float(o.filled_avg_price), submitted_at=o.submitted_at, updated_at=o.updated_at,
            reject_reason=None)

    # ------------------------------------------------------------------ orders
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        req = LimitOrderRequest(
            symbol=request.ticker, qty=request.qty, side=OrderSide(request.side.value),
            time_in_force=TimeInForce(request.time_in_force), limit_price=request.limit_price,
            client_order_id=request.client_order_id,
            position_intent=PositionIntent(request.intent) if request.intent else None)
        order = self._do(f"submit {request.client_order_id}", self.client.submit_order, req,
                         cid=request.client_order_id, submit=True)
        return self._order(order)

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._order(self._do(f"order {order_id}", self.client.get_order_by_id, order_id))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        try:
            order = self._do(f"lookup {client_order_id}", self.client.get_order_by_client_id, client_order_id)
        except OrderNotFound:
            return None
        return self._order(order)

    def cancel_order(self, order_id: str) -> None:
        try:
            self._do(f"cancel {order_id}", self.client.cancel_order_by_id, order_id)
        except AlpacaRequestError as err:
            if err.status != 422:  # 422: not cancelable any more (filled or already cancelled)
                raise
            log.info("cancel %s: already done (%s)", order_id, err)

    def list_orders(self, after: dt.datetime | None = None) -> list[BrokerOrder]:
        out: dict[str, BrokerOrder] = {}
        cursor = after
        while True:
            page = self._do("list orders", self.client.get_orders,
                            GetOrdersRequest(status=QueryOrderStatus.ALL, limit=PAGE, after=cursor, direction=Sort.ASC))
            for o in page:
                out[str(o.id)] = self._order(o)
            if len(page) < PAGE:
                return list(out.values())
            cursor = max(o.submitted_at for o in page)

    def open_orders(self) -> list[BrokerOrder]:
        page = self._do("open orders", self.client.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=PAGE))
        return [self._order(o) for o in page]

    def cancel_all_open_orders(self) -> list[str]:
        res = self._do("cancel all orders", self.client.cancel_orders)
        return [str(r.id) for r in res or [] if int(getattr(r, "status", 200) or 200) < 300]

    # ------------------------------------------------------------------ book
    def position_details(self) -> list[Position]:
        out = []
        for p in self._do("positions", self.client.get_all_positions):
            q = abs(float(p.qty))
            signed = -q if str(getattr(p.side, "value", p.side)).lower() == "short" else q
            out.append(Position(str(p.symbol), signed, float(p.avg_entry_price), _float(p.current_price),
                                _float(p.market_value)))
        return out

    def positions(self) -> dict[str, int]:
        return {p.ticker: int(p.qty) for p in self.position_details() if p.qty}

    def account(self) -> Account:
        a = self._do("account", self.client.get_account)
        status = str(getattr(a.status, "value", a.status))
        return Account(cash=float(a.cash or 0), equity=float(a.equity or 0), buying_power=float(a.buying_power or 0),
                       currency=a.currency or "USD", status=status,
                       trading_blocked=bool(a.trading_blocked or a.account_blocked or a.trade_suspended_by_user),
                       shorting_enabled=bool(a.shorting_enabled), long_market_value=float(a.long_market_value or 0),
                       short_market_value=float(a.short_market_value or 0))

    def asset(self, ticker: str) -> AssetInfo:
        a = self._do(f"asset {ticker}", self.client.get_asset, ticker)
        return AssetInfo(str(a.symbol), bool(a.tradable), bool(a.shortable), bool(a.easy_to_borrow))

    def last_price(self, ticker: str) -> float | None:
        """The latest trade from Alpaca's market data (None without a data client or on any error)."""
        if self.data_client is None:
            return None
        from alpaca.data.requests import StockLatestTradeRequest

        try:
            res = self._do(f"latest trade {ticker}", self.data_client.get_stock_latest_trade,
                           StockLatestTradeRequest(symbol_or_symbols=ticker, feed="iex"))
            trade = res.get(ticker) if isinstance(res, dict) else None
            return float(trade.price) if trade is not None and trade.price else None
        except (BrokerError, ValueError, TypeError) as err:
            log.info("latest trade %s unavailable: %s", ticker, err)
            return None
