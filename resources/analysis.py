"""LLM provider resources: Anthropic (Messages API) and OpenAI (Chat Completions API).

Keys come only from the environment, read when a client is built (never stored on the resource, in run
config, logs, metadata or DuckDB): ``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY``. Base URLs: the ``base_url``
field when set, else ``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``, else the SDK's default. Without a key
`available()` is False and callers skip with `missing_reason()`.

``client(model, max_retries=..., timeout_seconds=...)`` returns a `meridian_assets.analysis.client.LLMClient`
for `meridian_assets.analysis.structured.ask_structured`; retries on 429 / 5xx / 529 are the SDK's own.
"""

from typing import ClassVar, Optional

import dagster as dg

from meridian_assets.analysis.client import LLMClient, build_client, key_available, missing_reason


class _LLMResource(dg.ConfigurableResource):
    base_url: Optional[str] = None  # None: the provider's *_BASE_URL variable, else the SDK default
    max_retries: int = 4  # SDK retries when a caller does not pass its own (meridian.yaml: analysis.max_retries)
    timeout_seconds: float = 300.0

    provider: ClassVar[str] = ""

    def available(self) -> bool:
        """Whether the provider's key variable is set."""
        return key_available(self.provider)

    def missing_reason(self) -> str:
        return missing_reason(self.provider)

    def client(self, model: str, max_retries: Optional[int] = None,
               timeout_seconds: Optional[float] = None) -> LLMClient:
        """A client for ``model``; raises `LLMUnavailable` when the key is not set."""
        return build_client(self.provider, model, base_url=self.base_url,
                            max_retries=self.max_retries if max_retries is None else max_retries,
                            timeout_seconds=self.timeout_seconds if timeout_seconds is None else timeout_seconds)


class AnthropicResource(_LLMResource):
    """Anthropic Messages API (anthropic SDK). Key: ANTHROPIC_API_KEY; base URL: ANTHROPIC_BASE_URL."""

    provider: ClassVar[str] = "anthropic"


class OpenAIResource(_LLMResource):
    """OpenAI Chat Completions API (openai SDK). Key: OPENAI_API_KEY; base URL: OPENAI_BASE_URL."""

    provider: ClassVar[str] = "openai"
