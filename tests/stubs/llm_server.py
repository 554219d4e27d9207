"""A loopback stand-in for the Anthropic Messages API and the OpenAI Chat Completions API, for tests that
drive the real `anthropic` and `openai` clients.

Standard library only: a `ThreadingHTTPServer` on 127.0.0.1 with an ephemeral port, in a daemon thread.
Point the SDKs at it with ``base_url=stub.anthropic_url`` / ``base_url=stub.openai_url``::

    with LLMStub(api_key="placeholder") as stub:
        stub.script(Reply.fenced({"a": 1}), Reply.error(429), Reply.tool({"a": 2}))
        client = anthropic.Anthropic(api_key="placeholder", base_url=stub.anthropic_url)
        ...
        assert stub.calls()[0].json()["system"][0]["cache_control"] == {"type": "ephemeral"}

Replies come from the scripted queue first (FIFO, shared by both APIs), then from ``stub.responder`` (a
function of the `StubRequest` returning a `Reply`), else a fixed text answer. One `Reply` renders in the
shape of whichever API was called:

- ``Reply.tool(data)``: Anthropic answers with a ``tool_use`` block named after the request's
  ``tool_choice`` (the structured-output path); OpenAI answers with the JSON as message content (what
  ``response_format: json_schema`` returns).
- ``Reply.raw(data)`` / ``Reply.fenced(data)`` / ``Reply.prose(data)``: the JSON as bare text, inside a
  fenced ```json block, or embedded in a sentence.
- ``Reply.text(s)``: any text (e.g. an invalid answer).
- ``Reply.error(status, kind)``: the API's error body (429 ``rate_limit_error``, 529 ``overloaded_error``,
  500 ``api_error``, 401 ``authentication_error``) with ``retry-after-ms`` so SDK retries are quick.

Every reply carries usage (``input_tokens``, ``output_tokens``, ``cache_read``, ``cache_write``), reported in
each API's own fields. With ``api_key`` set, requests without that key (``Authorization: Bearer``, or ``x-api-key``
for Anthropic) get a 401. Every request is logged in ``requests``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.stubs.loopback import LoopbackServer

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"

_ERROR_KINDS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    status: int | None = None  # the status the stub answered with

    def header(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), default)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def api(self) -> str:
        return "anthropic" if self.path == ANTHROPIC_PATH else "openai" if self.path == OPENAI_PATH else "?"

    def tool_name(self) -> str | None:
        """The tool the request forces (Anthropic ``tool_choice``) or its JSON-schema name (OpenAI)."""
        body = self.json() or {}
        choice = body.get("tool_choice") or {}
        if choice.get("name"):
            return choice["name"]
        fmt = body.get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("name")

    def user_text(self) -> str:
        """The text of the last user message, whichever API."""
        body = self.json() or {}
        for msg in reversed(body.get("messages") or []):
            if msg.get("role") == "user":
                content = msg.get("content")
                if isinstance(content, str):
                    return content
                return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))
        return ""


@dataclass
class Reply:
    kind: str  # tool | raw | fenced | prose | text | error
    data: Any = None
    body_text: str = ""
    status: int = 200
    error_kind: str | None = None
    message: str = ""
    input_tokens: int = 1000
    output_tokens: int = 200
    cache_read: int = 0
    cache_write: int = 0
    retry_after_ms: int = 5
    headers: dict[str, str] = field(default_factory=dict)

    # ---- constructors
    @classmethod
    def tool(cls, data: Any, **usage: int) -> Reply:
        return cls("tool", data, **usage)

    @classmethod
    def raw(cls, data: Any, **usage: int) -> Reply:
        return cls("text", body_text=json.dumps(data), **usage)

    @classmethod
    def fenced(cls, data: Any, **usage: int) -> Reply:
        text = f"Here is my analysis.\n\n```json\n{json.dumps(data, indent=2)}\n```\n\nLet me know if you need more."
        return cls("text", body_text=text, **usage)

    @classmethod
    def prose(cls, data: Any, **usage: int) -> Reply:
        text = f"After reviewing the material, my structured assessment is {json.dumps(data)} and I stand by it."
        return cls("text", body_text=text, **usage)

    @classmethod
    def text(cls, text: str, **usage: int) -> Reply:
        return cls("text", body_text=text, **usage)

    @classmethod
    def error(cls, status: int = 429, kind: str | None = None, message: str = "", retry_after_ms: int = 5) -> Reply:
        return cls("error", status=status, error_kind=kind or _ERROR_KINDS.get(status, "api_error"),
                   message=message or f"stub {status}", retry_after_ms=retry_after_ms)

    # ---- rendering
    def anthropic_body(self, request: dict, n: int) -> dict:
        if self.kind == "error":
            return {"type": "error", "error": {"type": self.error_kind, "message": self.message}}
        if self.kind == "tool":
            name = (request.get("tool_choice") or {}).get("name") or (request.get("tools") or [{}])[0].get("name")
            content = [{"type": "tool_use", "id": f"toolu_{n:08d}", "name": name, "input": self.data}]
            stop = "tool_use"
        else:
            content, stop = [{"type": "text", "text": self.body_text}], "end_turn"
        return {
            "id": f"msg_{n:08d}", "type": "message", "role": "assistant", "model": request.get("model"),
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                      "cache_creation_input_tokens": self.cache_write, "cache_read_input_tokens": self.cache_read},
        }

    def openai_body(self, request: dict, n: int) -> dict:
        if self.kind == "error":
            return {"error": {"message": self.message, "type": self.error_kind, "param": None,
                              "code": self.error_kind}}
        content = json.dumps(self.data) if self.kind == "tool" else self.body_text
        prompt = self.input_tokens + self.cache_read + self.cache_write
        return {
            "id": f"chatcmpl-{n:08d}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content, "refusal": None}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": self.output_tokens,
                      "total_tokens": prompt + self.output_tokens,
                      "prompt_tokens_details": {"cached_tokens": self.cache_read,
                                                "cache_write_tokens": self.cache_write}},
        }


Responder = Callable[[StubRequest], Reply]


class LLMStub(LoopbackServer):
    """The stub server. Use as a context manager, or call `start()` / `stop()`."""

    protocol_version = "HTTP/1.1"

    def __init__(self, *, api_key: str | None = None, responder: Responder | None = None,
                 echo_key: bool = False) -> None:
        super().__init__()
        self.api_key = api_key
        self.responder = responder
        self.echo_key = echo_key  # a 401 quotes the key it got (to test that nothing stores or logs it)
        self.requests: list[StubRequest] = []
        self._queue: deque[Reply] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ endpoints
    @property
    def anthropic_url(self) -> str:
        return self.url

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    # ------------------------------------------------------------------ scripting
    def script(self, *replies: Reply) -> None:
        """Queue replies, served in order before the responder."""
        with self._lock:
            self._queue.extend(replies)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def calls(self, api: str | None = None) -> list[StubRequest]:
        """Requests to the two completion endpoints (``api``: anthropic | openai | None for both)."""
        with self._lock:
            return [r for r in self.requests if r.api != "?" and (api is None or r.api == api)]

    # ------------------------------------------------------------------ serving
    def _authorised(self, req: StubRequest) -> bool:
        if self.api_key is None:
            return True
        bearer = req.header("authorization") == f"Bearer {self.api_key}"
        if req.api == "anthropic":  # the SDK sends the key as a bearer token; the API also takes x-api-key
            return bearer or req.header("x-api-key") == self.api_key
        return bearer

    def _next_reply(self, req: StubRequest) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(req)
        return Reply.text("stub answer")

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        req = StubRequest(method=h.command.upper(), path=urlsplit(h.path).path,
                          headers={k: v for k, v in h.headers.items()}, body=h.rfile.read(length) if length else b"")
        with self._lock:
            self.requests.append(req)
            n = next(self._ids)
        if req.api == "?":
            reply = Reply.error(404, "not_found_error", f"no route {req.path}")
        elif not self._authorised(req):
            got = (req.header("authorization") or "").removeprefix("Bearer ") or req.header("x-api-key") or ""
            reply = Reply.error(401, message=f"invalid x-api-key {got}" if self.echo_key else "invalid x-api-key")
        else:
            try:
                reply = self._next_reply(req)
            except Exception as err:  # a bug in a responder: answer 500 and say why
                reply = Reply.error(500, "api_error", f"stub responder error: {type(err).__name__}: {err}")
        body = reply.anthropic_body(req.json() or {}, n) if req.api != "openai" else reply.openai_body(req.json() or {}, n)
        req.status = reply.status
        data = json.dumps(body).encode()
        h.send_response(reply.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("request-id", f"req_{n:08d}")
        if reply.kind == "error":
            h.send_header("retry-after-ms", str(reply.retry_after_ms))
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)


# ---------------------------------------------------------------------- canned answers of Meridian's analysts
ANALYST_ANSWERS: dict[str, dict] = {
    "record_earnings": {
        "management_confidence": 8, "revenue_guidance": 7, "margin_trajectory": 6, "competitive_position": 7,
        "risk_factors": 6, "capital_allocation": 7, "bull_case": "Record revenue and raised guidance.",
        "bear_case": "Margins depend on pricing that may not last.", "key_quotes": ["We delivered a record quarter."],
        "summary": "Confident call with raised guidance.",
    },
    "record_filing": {
        "earnings_quality_score": 7, "revenue_quality_score": 6, "balance_sheet_score": 5,
        "accruals_assessment": "Accruals are low and stable.", "red_flags": ["leverage rising in Q4"],
        "green_flags": ["cash flow above net income"], "risk_level": "medium", "summary": "Clean earnings, some leverage.",
    },
    "record_risk_factor": {
        "material_risks": ["Customer concentration", "Regulatory change"], "new_risks": [],
        "boilerplate_percentage": 60, "risk_severity": 4, "reasoning": "Mostly generic risks.",
        "summary": "Moderate, largely generic risks.",
    },
    "record_insider": {
        "signal_strength": "BUY", "confidence": 0.6, "cluster_detected": False,
        "reasoning": "Two officers bought in the open market.", "summary": "Mild insider buying.",
    },
}


def analyst_responder(req: StubRequest, shape: str = "tool") -> Reply:
    """A valid answer for whichever Meridian analyst asked (by tool / schema name), in ``shape``
    (tool | raw | fenced | prose). The sector analyst's answer ranks the candidates listed in its prompt."""
    name = req.tool_name() or ""
    if name == "record_sector":
        line = next((ln for ln in req.user_text().splitlines() if ln.startswith("Candidates:")), "Candidates:")
        tickers = [t.strip() for t in line.split(":", 1)[1].split(",") if t.strip()]
        data = {"rankings": [{"ticker": t, "rank": i + 1, "rationale": "evidence"} for i, t in enumerate(tickers)],
                "top_long_idea": tickers[0] if tickers else None,
                "top_short_idea": tickers[-1] if len(tickers) > 1 else None,
                "sector_outlook": "NEUTRAL", "summary": "Mixed sector."}
    else:
        data = ANALYST_ANSWERS.get(name, {"answer": "stub"})
    return getattr(Reply, shape)(data)
