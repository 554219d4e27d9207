"""One shape for a single LLM call, whichever provider: a `Prompt` in, a `Completion` (text, structured
object, usage) out. The adapters wrap the official SDK clients, which the resources in `resources/analysis.py`
build from environment variables.

- `AnthropicChat`: Messages API. The system prompt is one text block marked
  ``cache_control: {"type": "ephemeral"}`` (prompt caching of the static instructions); a schema becomes a
  forced tool (``tools=[...]``, ``tool_choice={"type": "tool", ...}``), whose ``tool_use`` input is the
  structured answer. The installed SDK's Messages API has no temperature parameter, so none is sent.
- `OpenAIChat`: Chat Completions API. A schema becomes ``response_format: json_schema`` (non-strict, so
  optional fields are allowed); the structured answer is the message text, parsed by the caller.

Retries on 429, 5xx and 529 (overloaded) are the SDKs' own: exponential backoff from 0.5 s (capped at 8 s,
with jitter), honouring ``retry-after``/``retry-after-ms``, up to ``max_retries`` set on the SDK client.
What still fails is raised as `LLMCallError` (or `LLMAuthError` for 401/403), with the provider's message
but never a key.

Usage is normalised so pricing is one formula: ``input_tokens`` are the uncached input tokens,
``cache_read_tokens`` / ``cache_write_tokens`` the cached ones (OpenAI counts cached tokens inside
``prompt_tokens``; Anthropic reports them apart).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Protocol

from meridian_assets.analysis.errors import LLMAuthError, LLMCallError, LLMUnavailable
from meridian_assets.analysis.secrets import redact

KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
URL_ENV = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                     self.cache_read_tokens + other.cache_read_tokens,
                     self.cache_write_tokens + other.cache_write_tokens)


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    max_tokens: int
    schema: dict | None = None  # JSON schema of the structured answer (None: free text)
    schema_name: str = "answer"
    schema_description: str = "Record the answer."
    temperature: float | None = None

    def params(self, provider: str) -> dict[str, Any]:
        """The call's parameters as the audit archive records them (not the prompt text)."""
        p: dict[str, Any] = {"max_tokens": self.max_tokens, "schema_name": self.schema_name if self.schema else None}
        if provider == "openai" and self.temperature is not None:
            p["temperature"] = self.temperature
        if provider == "anthropic":
            p["system_cache_control"] = "ephemeral"
        return p


@dataclass(frozen=True)
class Completion:
    text: str  # the answer's text blocks, joined
    structured: dict | None  # a tool-use input, when the provider returned one
    usage: Usage
    model: str
    response_id: str | None = None
    stop_reason: str | None = None


class LLMClient(Protocol):
    provider: str
    model: str

    def complete(self, prompt: Prompt) -> Completion: ...


def _status_error(provider: str, err: Exception) -> Exception:
    status = getattr(err, "status_code", None)
    body = getattr(err, "body", None)
    kind, detail = "", ""
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        kind, detail = str(inner.get("type") or inner.get("code") or ""), str(inner.get("message") or "")
    detail = redact((detail or str(err)).replace("\n", " ")[:300])
    what = f"HTTP {status}" + (f" {kind}" if kind else "")
    if status in (401, 403):
        return LLMAuthError(f"{provider} refused the API key ({what}: {detail}); check {KEY_ENV[provider]}")
    retryable = status is not None and (status == 429 or status >= 500)
    verdict = "after retries" if retryable else "rejected the request"
    return LLMCallError(f"{provider} {what} {verdict}: {detail}", status=status, retryable=retryable)


class AnthropicChat:
    """`LLMClient` over `anthropic.Anthropic` (see the module docstring)."""

    provider = "anthropic"

    def __init__(self, sdk: Any, model: str) -> None:
        self.sdk, self.model = sdk, model

    def complete(self, prompt: Prompt) -> Completion:
        import anthropic

        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": prompt.max_tokens,
            "system": [{"type": "text", "text": prompt.system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": prompt.user}],
        }
        if prompt.schema is not None:
            kwargs["tools"] = [{"name": prompt.schema_name, "description": prompt.schema_description,
                                "input_schema": prompt.schema}]
            kwargs["tool_choice"] = {"type": "tool", "name": prompt.schema_name}
        try:
            msg = self.sdk.messages.create(**kwargs)
        except anthropic.APIStatusError as err:
            raise _status_error(self.provider, err) from None
        except anthropic.APIConnectionError as err:  # includes timeouts
            raise LLMCallError(f"anthropic unreachable after retries: {type(err).__name__}", retryable=True) from None
        texts, structured = [], None
        for block in msg.content or []:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text)
            elif kind == "tool_use" and structured is None and isinstance(block.input, dict):
                if prompt.schema is None or block.name == prompt.schema_name:
                    structured = dict(block.input)
        u = msg.usage
        usage = Usage(
            input_tokens=int(getattr(u, "input_tokens", 0) or 0),
            output_tokens=int(getattr(u, "output_tokens", 0) or 0),
            cache_read_tokens=int(getattr(u, "cache_read_input_tokens", 0) or 0),
            cache_write_tokens=int(getattr(u, "cache_creation_input_tokens", 0) or 0),
        )
        return Completion(text="\n".join(texts), structured=structured, usage=usage, model=msg.model or self.model,
                          response_id=msg.id, stop_reason=msg.stop_reason)


class OpenAIChat:
    """`LLMClient` over `openai.OpenAI` (see the module docstring)."""

    provider = "openai"

    def __init__(self, sdk: Any, model: str) -> None:
        self.sdk, self.model = sdk, model

    def complete(self, prompt: Prompt) -> Completion:
        import openai

        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}],
            "max_completion_tokens": prompt.max_tokens,
        }
        if prompt.temperature is not None:
            kwargs["temperature"] = prompt.temperature
        if prompt.schema is not None:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": prompt.schema_name, "description": prompt.schema_description,
                "schema": prompt.schema, "strict": False}}
        try:
            resp = self.sdk.chat.completions.create(**kwargs)
        except openai.APIStatusError as err:
            raise _status_error(self.provider, err) from None
        except openai.APIConnectionError as err:
            raise LLMCallError(f"openai unreachable after retries: {type(err).__name__}", retryable=True) from None
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content or "") if choice else ""
        u = resp.usage
        details = getattr(u, "prompt_tokens_details", None) if u else None
        cached = int(getattr(details, "cached_tokens", 0) or 0) if details else 0
        written = int(getattr(details, "cache_write_tokens", 0) or 0) if details else 0
        prompt_tokens = int(getattr(u, "prompt_tokens", 0) or 0) if u else 0
        usage = Usage(input_tokens=max(prompt_tokens - cached - written, 0),
                      output_tokens=int(getattr(u, "completion_tokens", 0) or 0) if u else 0,
                      cache_read_tokens=cached, cache_write_tokens=written)
        return Completion(text=text, structured=None, usage=usage, model=resp.model or self.model,
                          response_id=resp.id, stop_reason=choice.finish_reason if choice else None)


def key_available(provider: str) -> bool:
    """Whether the provider's key variable is set (the key itself is not read into anything)."""
    return bool(os.environ.get(KEY_ENV[provider], "").strip())


def missing_reason(provider: str) -> str:
    return f"{KEY_ENV[provider]} is not set (environment or .env), so no {provider} calls can be made"


def build_client(provider: str, model: str, *, base_url: str | None = None, max_retries: int = 4,
                 timeout_seconds: float = 300.0) -> LLMClient:
    """The SDK client of ``provider`` for ``model``: the key read from the environment now (never kept
    elsewhere), the base URL from ``base_url``, else the provider's *_BASE_URL variable, else the SDK default.
    Raises `LLMUnavailable` without a key."""
    key = os.environ.get(KEY_ENV[provider], "").strip()
    if not key:
        raise LLMUnavailable(missing_reason(provider))
    url = base_url or os.environ.get(URL_ENV[provider]) or None
    if provider == "anthropic":
        import anthropic

        return AnthropicChat(anthropic.Anthropic(api_key=key, base_url=url, max_retries=max_retries,
                                                 timeout=timeout_seconds), model)
    import openai

    return OpenAIChat(openai.OpenAI(api_key=key, base_url=url, max_retries=max_retries, timeout=timeout_seconds),
                      model)


def schema_json(schema: dict | None) -> str:
    return json.dumps(schema, sort_keys=True) if schema else ""
