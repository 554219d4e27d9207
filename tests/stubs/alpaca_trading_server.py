"""A loopback stand-in for Alpaca's *trading* REST API (and the latest-trade data endpoint), for tests that
drive the real alpaca-py `TradingClient` — built on `AlpacaStub` (routes, request log, `fail()` faults).

    with AlpacaTradingStub(api_key=KEY, secret_key=SECRET) as stub:
        venue = stub.venue                      # the book: orders, positions, assets, account
        venue.price["AAA"] = 100.0              # fills at min(limit, price) for buys, max(...) for sells
        venue.fill_plan["AAA"] = [0.3, 0.3]     # each poll of an AAA order fills 30% more, then stops
        venue.hold.add("BBB")                   # BBB orders never fill
        venue.accept_then(504)                  # next POST /v2/orders: stored, but the client gets a 504
        venue.accept_then_disconnect()          # next POST: stored, then the connection is dropped
        venue.refuse_short("CCC")               # short sales of CCC refused although CCC is shortable
        stub.fail("POST", "/v2/orders", 429, times=5)   # a 429 storm (nothing processed)
        stub.outage()                           # every read and cancel answers 503 until stub.clear()
        client = TradingClient(KEY, SECRET, url_override=stub.url)

Endpoints: POST/GET /v2/orders, GET /v2/orders/{id}, GET /v2/orders:by_client_order_id, DELETE
/v2/orders/{id} (204; 422 when not cancelable), DELETE /v2/orders (207), GET /v2/positions,
GET /v2/assets/{symbol}, GET /v2/account, GET /v2/stocks/trades/latest. Response bodies have the keys of the
recordings in ../shared/realdata/alpaca/. Like Alpaca, a client order id is unique (422), a short sale needs a
shortable, easy-to-borrow asset (403) and an order may not flip a position (403). Orders fill when polled
(GET of that order), so a test steps the market by polling.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

from tests.stubs.alpaca_server import AlpacaStub, StubRequest, StubResponse

DISCONNECT = 599  # a status the stub never sends: drop the connection without an answer
OPEN = ("new", "accepted", "partially_filled", "pending_cancel")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _num(v: float) -> str:
    return f"{v:.10g}"


ORDER_TEMPLATE = {
    "id": None, "client_order_id": None, "created_at": None, "updated_at": None, "submitted_at": None,
    "filled_at": None, "expired_at": None, "canceled_at": None, "failed_at": None, "replaced_at": None,
    "replaced_by": None, "replaces": None, "asset_id": "904837e3-3b76-47ec-b432-046db621571b", "symbol": None,
    "asset_class": "us_equity", "notional": None, "qty": None, "filled_qty": "0", "filled_avg_price": None,
    "order_class": "simple", "order_type": "limit", "type": "limit", "side": None, "time_in_force": "day",
    "limit_price": None, "stop_price": None, "status": "accepted", "extended_hours": False, "legs": None,
    "trail_percent": None, "trail_price": None, "hwm": None, "position_intent": None, "commission": 0,
}


@dataclass
class TradingVenue:
    """The stub's book. Mutated under `lock` by the handlers; tests read and script it directly."""

    cash: float = 1_000_000.0
    orders: dict[str, dict] = field(default_factory=dict)
    by_cid: dict[str, str] = field(default_factory=dict)
    positions: dict[str, tuple[int, float]] = field(default_factory=dict)  # symbol -> (signed qty, avg price)
    price: dict[str, float] = field(default_factory=dict)
    fill_plan: dict[str, list[float]] = field(default_factory=dict)
    hold: set[str] = field(default_factory=set)
    not_shortable: set[str] = field(default_factory=set)
    hard_to_borrow: set[str] = field(default_factory=set)
    refused_shorts: set[str] = field(default_factory=set)
    post_faults: list[int] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ------------------------------------------------------------------ scripting
    def reset(self) -> None:
        """Forget every order, position and script (the routes keep this object)."""
        fresh = TradingVenue()
        for f in fields(self):
            if f.name != "lock":
                setattr(self, f.name, getattr(fresh, f.name))

    def accept_then(self, status: int = 504, times: int = 1) -> None:
        self.post_faults += [status] * times

    def accept_then_disconnect(self, times: int = 1) -> None:
        self.post_faults += [DISCONNECT] * times

    def refuse_short(self, symbol: str) -> None:
        self.refused_shorts.add(symbol)

    def holding(self, symbol: str) -> int:
        return self.positions.get(symbol, (0, 0.0))[0]

    def orders_for(self, symbol: str) -> list[dict]:
        return [o for o in self.orders.values() if o["symbol"] == symbol]

    # ------------------------------------------------------------------ the book
    def _open_qty(self, symbol: str, side: str) -> int:
        return sum(int(o["qty"]) - int(o["filled_qty"]) for o in self.orders.values()
                   if o["symbol"] == symbol and o["side"] == side and o["status"] in OPEN)

    def _fill(self, o: dict, qty: int) -> None:
        if qty <= 0:
            return
        limit = float(o["limit_price"])
        mkt = self.price.get(o["symbol"], limit)
        px = min(limit, mkt) if o["side"] == "buy" else max(limit, mkt)
        done = int(o["filled_qty"])
        avg = float(o["filled_avg_price"] or 0.0)
        new = done + qty
        o["filled_avg_price"] = _num((avg * done + px * qty) / new)
        o["filled_qty"] = str(new)
        o["status"] = "filled" if new >= int(o["qty"]) else "partially_filled"
        o["updated_at"] = _now()
        if o["status"] == "filled":
            o["filled_at"] = o["updated_at"]
        dq = qty if o["side"] == "buy" else -qty
        q0, a0 = self.positions.get(o["symbol"], (0, 0.0))
        q1 = q0 + dq
        a1 = (abs(q0) * a0 + qty * px) / abs(q1) if q0 == 0 or (q0 > 0) == (dq > 0) else a0
        if q1 == 0:
            self.positions.pop(o["symbol"], None)
        else:
            self.positions[o["symbol"]] = (q1, a1)
        self.cash -= dq * px

    def advance(self, o: dict) -> None:
        """One poll of an open order: fill the next step of its symbol's plan (default: all of it)."""
        if o["status"] not in OPEN or o["symbol"] in self.hold:
            return
        k = self.polls.get(o["id"], 0)
        self.polls[o["id"]] = k + 1
        plan = self.fill_plan.get(o["symbol"], [1.0])
        if k >= len(plan):
            return
        qty = int(o["qty"])
        self._fill(o, min(qty - int(o["filled_qty"]), int(round(plan[k] * qty))))


def install_trading_routes(stub: AlpacaStub, venue: TradingVenue) -> None:
    def err(status: int, code: int, message: str) -> StubResponse:
        return StubResponse(status, {"code": code, "message": message})

    def post_order(req: StubRequest) -> StubResponse:
        b = req.json()
        with venue.lock:
            cid = b.get("client_order_id") or str(uuid.uuid4())
            if cid in venue.by_cid:
                return err(422, 40010001, "client_order_id must be unique")
            sym, side, qty = b["symbol"], b["side"], int(float(b["qty"]))
            q = venue.holding(sym)
            if side == "sell":
                avail = max(q, 0) - venue._open_qty(sym, "sell")
                if q > 0 and qty > avail:
                    return err(403, 40310000, f"insufficient qty available for order (requested: {qty}, available: {avail})")
                if q <= 0 and (sym in venue.not_shortable or sym in venue.hard_to_borrow or sym in venue.refused_shorts):
                    return err(403, 40310000, f"asset {sym} cannot be sold short (no shares available to borrow)")
            elif q < 0 and qty > -q - venue._open_qty(sym, "buy"):
                return err(403, 40310000, f"insufficient qty available for order (requested: {qty})")
            now = _now()
            o = {**ORDER_TEMPLATE, "id": str(uuid.uuid4()), "client_order_id": cid, "created_at": now,
                 "updated_at": now, "submitted_at": now, "symbol": sym, "qty": str(qty), "side": side,
                 "time_in_force": b.get("time_in_force", "day"), "limit_price": _num(float(b["limit_price"])),
                 "position_intent": b.get("position_intent")}
            venue.orders[o["id"]], venue.by_cid[cid] = o, o["id"]
            fault = venue.post_faults.pop(0) if venue.post_faults else None
        if fault is not None:
            return StubResponse(fault, {"message": "Gateway Timeout"} if fault != DISCONNECT else None)
        return StubResponse(200, dict(o))

    def list_orders(req: StubRequest) -> Any:
        status = req.arg("status", "open")
        after = req.arg("after")
        with venue.lock:
            rows = [dict(o) for o in venue.orders.values()
                    if status == "all" or (status == "open") == (o["status"] in OPEN)]
        if after:
            rows = [o for o in rows if o["submitted_at"] > after.replace("+00:00", "Z")]
        rows.sort(key=lambda o: o["submitted_at"], reverse=req.arg("direction", "desc") == "desc")
        return rows[: int(req.arg("limit") or 50)]

    def get_order(req: StubRequest) -> StubResponse:
        with venue.lock:
            o = venue.orders.get(req.path_params["order_id"])
            if o is None:
                return err(404, 40410000, "order not found")
            venue.advance(o)
            return StubResponse(200, dict(o))

    def by_client_id(req: StubRequest) -> StubResponse:
        with venue.lock:
            oid = venue.by_cid.get(req.arg("client_order_id") or "")
            if oid is None:
                return err(404, 40410000, "order not found")
            o = venue.orders[oid]
            venue.advance(o)
            return StubResponse(200, dict(o))

    def cancel(req: StubRequest) -> StubResponse:
        with venue.lock:
            o = venue.orders.get(req.path_params["order_id"])
            if o is None:
                return err(404, 40410000, "order not found")
            if o["status"] not in OPEN:
                return err(422, 42210000, "order is not cancelable")
            o["status"], o["canceled_at"] = "canceled", _now()
        return StubResponse(204)

    def cancel_all(req: StubRequest) -> StubResponse:
        with venue.lock:
            out = []
            for o in venue.orders.values():
                if o["status"] in OPEN:
                    o["status"], o["canceled_at"] = "canceled", _now()
                    out.append({"id": o["id"], "status": 200})
        return StubResponse(207, out)

    def positions(req: StubRequest) -> Any:
        with venue.lock:
            return [_position(s, q, a, venue.price.get(s, a)) for s, (q, a) in sorted(venue.positions.items())]

    def asset(req: StubRequest) -> Any:
        s = req.path_params["symbol"]
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, s)), "class": "us_equity", "exchange": "NASDAQ", "symbol": s,
                "name": f"{s} Inc.", "status": "active", "tradable": True, "marginable": True,
                "shortable": s not in venue.not_shortable, "easy_to_borrow": s not in venue.hard_to_borrow,
                "fractionable": True, "last_close_pct_change": "0", "last_price": "0", "attributes": []}

    def account(req: StubRequest) -> Any:
        with venue.lock:
            values = [q * venue.price.get(s, a) for s, (q, a) in venue.positions.items()]
            long_mv, short_mv = sum(v for v in values if v > 0), sum(v for v in values if v < 0)
            equity = venue.cash + long_mv + short_mv
        return {**ACCOUNT_TEMPLATE, "cash": _num(venue.cash), "equity": _num(equity), "portfolio_value": _num(equity),
                "last_equity": _num(equity), "buying_power": _num(2 * equity), "long_market_value": _num(long_mv),
                "short_market_value": _num(short_mv)}

    def latest_trades(req: StubRequest) -> Any:
        syms = [s for s in (req.arg("symbols") or "").split(",") if s]
        with venue.lock:
            return {"trades": {s: {"t": _now(), "x": "V", "p": venue.price[s], "s": 100, "c": ["@"], "i": 1, "z": "C"}
                               for s in syms if s in venue.price}}

    for method, path, handler in (
        ("POST", "/v2/orders", post_order), ("GET", "/v2/orders", list_orders),
        ("GET", "/v2/orders:by_client_order_id", by_client_id), ("GET", "/v2/orders/{order_id}", get_order),
        ("DELETE", "/v2/orders/{order_id}", cancel), ("DELETE", "/v2/orders", cancel_all),
        ("GET", "/v2/positions", positions), ("GET", "/v2/assets/{symbol}", asset), ("GET", "/v2/account", account),
        ("GET", "/v2/stocks/trades/latest", latest_trades),
    ):
        stub.route(method, path, handler)


def _position(s: str, q: int, avg: float, px: float) -> dict:
    vals = {"avg_entry_price": _num(avg), "market_value": _num(q * px), "cost_basis": _num(q * avg),
            "unrealized_pl": _num(q * (px - avg)), "unrealized_plpc": "0", "unrealized_intraday_pl": "0",
            "unrealized_intraday_plpc": "0", "current_price": _num(px), "lastday_price": _num(px), "change_today": "0"}
    return {"asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, s)), "symbol": s, "exchange": "NASDAQ",
            "asset_class": "us_equity", "qty": str(q), "side": "long" if q > 0 else "short", **vals, "usd": dict(vals)}


ACCOUNT_TEMPLATE = {
    "account_blocked": False, "accrued_fees": "0", "account_number": "010203ABCD", "buying_power": "0", "cash": "0",
    "created_at": "2019-06-12T22:47:07.99658Z", "currency": "USD", "daytrade_count": 0,
    "daytrading_buying_power": "0", "equity": "0", "id": "e6fe16f3-64a4-4921-8928-cadf02f92f98",
    "initial_margin": "0", "last_equity": "0", "last_maintenance_margin": "0", "non_marginable_buying_power": "0",
    "long_market_value": "0", "maintenance_margin": "0", "multiplier": "4", "pattern_day_trader": False,
    "portfolio_value": "0", "regt_buying_power": "0", "short_market_value": "0", "shorting_enabled": True, "sma": "0",
    "status": "ACTIVE", "trade_suspended_by_user": False, "trading_blocked": False, "transfers_blocked": False,
    "options_buying_power": "0", "options_approved_level": "1", "options_trading_level": "1",
}


class AlpacaTradingStub(AlpacaStub):
    """`AlpacaStub` with the trading routes and a `TradingVenue` (``.venue``); can drop connections."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.venue = TradingVenue()
        install_trading_routes(self, self.venue)

    @staticmethod
    def _send(h, resp: StubResponse) -> None:
        if resp.status == DISCONNECT:
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        AlpacaStub._send(h, resp)

    def submits(self) -> list[StubRequest]:
        return self.requests_to("/v2/orders", "POST")

    def outage(self, status: int = 503, times: int = 1000) -> None:
        """Every read and cancel fails with ``status`` for the next ``times`` requests to each route (the broker is
        unreachable for a while; `clear()` ends it)."""
        for method, path in (("GET", "/v2/orders"), ("GET", "/v2/orders:by_client_order_id"),
                             ("GET", "/v2/orders/{order_id}"), ("DELETE", "/v2/orders/{order_id}"),
                             ("DELETE", "/v2/orders"), ("GET", "/v2/positions"), ("GET", "/v2/account"),
                             ("GET", "/v2/assets/{symbol}"), ("GET", "/v2/stocks/trades/latest")):
            self.fail(method, path, status, times=times)
