"""The one seam between the reports and an LLM: a callable taking an `LLMRequest` and returning an `LLMAnswer`.

Reports never import an SDK. `structured_llm(provider)` returns the callable to use, or None with the reason
a person will read in the report ("ANTHROPIC_API_KEY is not set"):

1. no API key in the environment for the configured provider -> None;
2. otherwise the LLM layer's session callable, ``meridian_assets.llm.service.structured_llm`` on the
   ``reporting`` budget (it owns retries, the cost ceiling and the `llm_calls` archive of every call, under the
   Dagster run id) -> that callable; it answers with an object shaped like `LLMAnswer`;
3. the LLM layer not present in this build -> None.

Tests and other callers inject any callable with the same signature.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
LLM_LAYER_MODULE = "meridian_assets.llm.service"
BUDGET = "reporting"


@dataclass(frozen=True)
class LLMRequest:
    """One structured call: the answer must be a JSON object matching ``schema`` (JSON Schema)."""

    task: str
    provider: str
    model: str
    system: str
    user: str
    schema: dict
    max_tokens: int = 1200
    cost_ceiling_usd: float | None = None


@dataclass(frozen=True)
class LLMAnswer:
    """What came back: the parsed object (None if none could be parsed), the raw text, who answered, usage."""

    content: dict | None
    model: str
    provider: str
    raw: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)


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
    try:
        module = importlib.import_module(LLM_LAYER_MODULE)
    except ModuleNotFoundError as err:
        if err.name not in (LLM_LAYER_MODULE, LLM_LAYER_MODULE.rsplit(".", 1)[0]):
            raise  # the module exists but something it imports is missing: say so, do not hide it
        return None, f"no LLM client for reports in this build ({LLM_LAYER_MODULE})"
    return module.structured_llm(provider, run_id=run_id, budget=BUDGET, config=config, database=database), ""
