"""The one seam between the reports and an LLM: a callable taking an `LLMRequest` and returning an `LLMAnswer`.

Reports never import an SDK. `structured_llm(provider)` returns the callable to use, or None with the reason
a person will read in the report ("ANTHROPIC_API_KEY is not set"):

1. no API key in the environment for the configured provider -> None;
2. otherwise the LLM layer's session callable, `meridian_assets.analysis.service.structured_llm` on the
   ``reporting`` budget (it owns retries, the cost ceiling and the `llm_calls` archive of every call, under the
   Dagster run id).

Tests and other callers inject any callable with the same signature.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from meridian_assets.analysis import service
from meridian_assets.analysis.service import LLMAnswer, LLMRequest

__all__ = ["KEY_ENV", "LLMAnswer", "LLMRequest", "StructuredLLM", "structured_llm"]

KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
BUDGET = "reporting"


StructuredLLM = Callable[[LLMRequest], LLMAnswer]


def structured_llm(provider: str, *, run_id: str | None = None, config=None, database: str | None = None
                   ) -> tuple[StructuredLLM | None, str]:
    """The callable for ``provider`` and an empty reason, or None and why there is none. ``run_id``,
    ``config`` and ``database`` go to the LLM layer (its call archive and budget)."""
    env = KEY_ENV.get(provider)
    if env is None:
        return None, f"unknown LLM provider {provider!r}"
    if not os.environ.get(env, "").strip():
        return None, f"{env} is not set"
    return service.structured_llm(provider, run_id=run_id, budget=BUDGET, config=config, database=database), ""
