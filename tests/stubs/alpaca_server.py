"""A loopback stand-in for Alpaca's REST API, for tests that drive the real alpaca-py client.

Standard library only: a `ThreadingHTTPServer` on 127.0.0.1 with an ephemeral port, in a daemon thread.
It has a route table, a log of every request it received, and a queue of injected faults::

    with AlpacaStub(api_key="PKTEST", secret_key="s3cret") as stub:
        stub.market_data()                      # GET /v2/stocks/bars with generated bars
        stub.fail("GET", "/v2/stocks/bars", status=429, times=1)   # next call: 429, then normal
        client = StockHistoricalDataClient("PKTEST", "s3cret", url_override=stub.url)
        ...
        assert stub.requests[0].header("APCA-API-KEY-ID") == "PKTEST"

Adding endpoints (the trading layer does this for /v2/orders, /v2/positions, ...)::

    stub.route("GET", "/v2/account", lambda req: {"id": "...", "cash": "100000"})
    stub.route("DELETE", "/v2/orders/{order_id}", lambda req: StubResponse(204))
    stub.route_json("GET", "/v2/positions", Path(".../test_position_routes__test_get_all_positions__0.json"))

A handler takes a `StubRequest` (method, path, query, headers, body, path_params; ``.arg()``, ``.json()``)
and returns a `StubResponse`, a ``(status, body)`` tuple, or a JSON-able body (status 200). Faults
(`fail`) are matched before the handler, in the order they were added, and each is used ``times`` times.
Every request, faulted or not, is appended to `requests` with the status it got.

When ``api_key``/``secret_key`` are given, requests without those two headers get Alpaca's 401.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tests.stubs.loopback import LoopbackServer

NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class StubRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # the status the stub answered with

    def header(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class StubResponse:
    status: int = 200
    body: Any = None  # dict/list: JSON; str/bytes: sent as is; None: empty
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[StubRequest], Any]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern
    template: str
    handler: Handler


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern
    response: StubResponse
    times: int


def _compile(path: str) -> re.Pattern:
    """``/v2/orders/{order_id}`` -> a regex with a named group per placeholder."""
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", path)
    rx = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{rx}/?$")


def _as_response(result: Any) -> StubResponse:
    if isinstance(result, StubResponse):
        return result
    if isinstance(result, tuple):
        return StubResponse(*result)
    return StubResponse(200, result)


class AlpacaStub(LoopbackServer):
    """The stub server. Use as a context manager, or call `start()` / `stop()`."""

    def __init__(self, *, api_key: str | None = None, secret_key: str | None = None) -> None:
        super().__init__()
        self.api_key, self.secret_key = api_key, secret_key
        self.routes: list[_Route] = []
        self.faults: list[_Fault] = []
        self.requests: list[StubRequest] = []
        self.bars: StockBars | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ configuration
    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` (``{name}`` placeholders match one segment) with ``handler``; replaces
        an existing route of the same method and path."""
        method = method.upper()
        with self._lock:
            self.routes = [r for r in self.routes if not (r.method == method and r.template == path)]
            self.routes.append(_Route(method, _compile(path), path, handler))

    def route_json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        """A fixed response; ``body`` may be a JSON-able value or a Path to a JSON file."""
        if isinstance(body, Path):
            body = json.loads(body.read_text())
        self.route(method, path, lambda _req: StubResponse(status, body))

    def fail(
        self,
        method: str,
        path: str,
        status: int = 429,
        body: Any = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``times`` requests to ``method path`` get ``status`` (default 429) instead."""
        if body is None:
            body = {"code": 42910000, "message": "too many requests"} if status == 429 else {"message": f"HTTP {status}"}
        with self._lock:
            self.faults.append(_Fault(method.upper(), _compile(path), StubResponse(status, body, headers or {}), times))

    def clear(self) -> None:
        """Forget logged requests and pending faults (routes stay)."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[StubRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method.upper())]

    def market_data(self, **kwargs: Any) -> StockBars:
        """Serve GET /v2/stocks/bars with a `StockBars` (generated daily bars; see its options)."""
        self.bars = StockBars(**kwargs)
        self.route("GET", "/v2/stocks/bars", self.bars)
        return self.bars

    # ------------------------------------------------------------------ serving
    def _authorised(self, req: StubRequest) -> bool:
        if self.api_key is None and self.secret_key is None:
            return True
        return req.header("APCA-API-KEY-ID") == self.api_key and req.header("APCA-API-SECRET-KEY") == self.secret_key

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        req = StubRequest(
            method=h.command.upper(),
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k: v for k, v in h.headers.items()},
            body=h.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.requests.append(req)
            fault = next(
                (f for f in self.faults if f.times > 0 and f.method == req.method and f.pattern.match(req.path)), None
            )
            if fault is not None:
                fault.times -= 1
            route = None
            if fault is None:
                for r in self.routes:
                    m = r.pattern.match(req.path) if r.method == req.method else None
                    if m:
                        route, req.path_params = r, m.groupdict()
                        break
        if fault is not None:
            resp = fault.response
        elif not self._authorised(req):
            resp = StubResponse(401, {"code": 40110000, "message": "request is not authorized"})
        elif route is None:
            resp = StubResponse(404, {"code": 40410000, "message": "endpoint not found"})
        else:
            try:
                resp = _as_response(route.handler(req))
            except Exception as err:  # a bug in a handler: answer 500 and say why
                resp = StubResponse(500, {"message": f"stub handler error: {type(err).__name__}: {err}"})
        req.status = resp.status
        self._send(h, resp)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, resp: StubResponse) -> None:
        if resp.body is None:
            data = b""
        elif isinstance(resp.body, bytes):
            data = resp.body
        elif isinstance(resp.body, str):
            data = resp.body.encode()
        else:
            data = json.dumps(resp.body).encode()
        h.send_response(resp.status)
        headers = {"Content-Type": "application/json", **resp.headers}
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data and h.command != "HEAD":
            h.wfile.write(data)


# --------------------------------------------------------------------------------------------- market data
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9]{0,9}(\.[A-Z]{1,3})?$")


def generated_bar(symbol: str, day: dt.date, adjustment: str = "raw") -> dict:
    """A deterministic daily bar in Alpaca's wire shape (t o h l c v n vw). Adjustment ``all`` scales prices
    by 0.97 (a stand-in for dividends) so tests can tell close from adj_close."""
    seed = int(hashlib.sha256(f"{symbol}|{day.isoformat()}".encode()).hexdigest()[:8], 16)
    base = 50.0 + (seed % 20000) / 100.0
    factor = 0.97 if adjustment in ("all", "dividend") else 1.0
    o, c = round(base * factor, 4), round(base * 1.01 * factor, 4)
    midnight = dt.datetime.combine(day, dt.time(0, 0), tzinfo=NEW_YORK).astimezone(dt.UTC)
    return {
        "t": midnight.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": o,
        "h": round(max(o, c) * 1.005, 4),
        "l": round(min(o, c) * 0.995, 4),
        "c": c,
        "v": 1_000_000 + seed % 500_000,
        "n": 5_000 + seed % 1_000,
        "vw": round((o + c) / 2, 4),
    }


def _parse_time(value: str | None) -> dt.date | None:
    if not value:
        return None
    if len(value) == 10:
        return dt.date.fromisoformat(value)
    ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(NEW_YORK).date()


@dataclass
class StockBars:
    """Handler of GET /v2/stocks/bars: one bar per weekday in [start, end] for each requested symbol.

    - ``missing``: symbols that have no bars (absent from the response, as Alpaca does).
    - ``holidays``: weekdays with no bars for anyone.
    - ``max_page_size``: caps the request's ``limit`` to force pagination (``next_page_token``).
    - ``bar``: the bar generator ``(symbol, day, adjustment) -> dict | None`` (default `generated_bar`).
    Pages are ordered by symbol then time, as Alpaca's are; a malformed symbol gets Alpaca's 400.
    """

    missing: set[str] = field(default_factory=set)
    holidays: set[dt.date] = field(default_factory=set)
    max_page_size: int | None = None
    bar: Callable[[str, dt.date, str], dict | None] = generated_bar

    def __call__(self, req: StubRequest) -> StubResponse:
        symbols = [s for s in (req.arg("symbols") or "").split(",") if s]
        if not symbols:
            return StubResponse(400, {"code": 42210000, "message": "missing symbols"})
        bad = [s for s in symbols if not _SYMBOL.match(s)]
        if bad:
            return StubResponse(400, {"code": 40010001, "message": f"invalid symbol: {bad[0]}"})
        if req.arg("timeframe") not in ("1Day", "1D"):
            return StubResponse(422, {"code": 42210000, "message": f"stub serves daily bars only, got {req.arg('timeframe')}"})
        start = _parse_time(req.arg("start")) or dt.date(2024, 1, 2)
        end = _parse_time(req.arg("end")) or start
        adjustment = req.arg("adjustment", "raw")
        rows: list[tuple[str, dict]] = []
        for sym in sorted(set(symbols)):
            if sym in self.missing:
                continue
            day = start
            while day <= end:
                if day.weekday() < 5 and day not in self.holidays:
                    b = self.bar(sym, day, adjustment)
                    if b is not None:
                        rows.append((sym, b))
                day += dt.timedelta(days=1)
        limit = int(req.arg("limit") or 1000)
        if self.max_page_size:
            limit = min(limit, self.max_page_size)
        token = req.arg("page_token")
        offset = int(base64.b64decode(token).decode().split(":")[1]) if token else 0
        page = rows[offset : offset + limit]
        bars: dict[str, list[dict]] = {}
        for sym, b in page:
            bars.setdefault(sym, []).append(b)
        nxt = offset + limit
        next_token = base64.b64encode(f"offset:{nxt}".encode()).decode() if nxt < len(rows) else None
        return StubResponse(200, {"bars": bars, "next_page_token": next_token})
