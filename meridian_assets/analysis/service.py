"""One callable for the layers that need a structured LLM answer outside the analysis run: the weekly summary,
commentary and LP letter (reporting), the dashboard chat, the meta layer's proposal rationales.

    llm = structured_llm(provider, *, run_id=None, budget="reporting", config=None, database=None)
    answer = llm(request)
        # request: any object with task, model, system, user, schema (a JSON Schema dict, or None for text),
        #          max_tokens, and optionally provider and cost_ceiling_usd
    answer.content   # the validated JSON object (or the text when schema is None); None when there is none
    answer.raw, answer.error, answer.model, answer.provider, answer.input_tokens, answer.output_tokens,
    answer.cost_usd, answer.extra  # extra: call_id, status, run_id, budget, cache tokens, run spend

One callable is one session: its calls share a `CostTracker` whose hard ceiling is the request's
``cost_ceiling_usd``, else the budget's default (``reporting``/``commentary``:
``reporting.commentary_cost_ceiling_usd`` $5; ``chat``: ``analysis.chat_cost_ceiling_usd`` $2;
``analysis``: ``analysis.cost_ceiling_usd`` $25), counted from what ``run_id`` already spent on that budget.
Every call is archived in `llm_calls` under ``run_id`` (default: a new ``session-<hex>`` id; inside an asset
pass ``context.run_id``). Call it with no DuckDB connection open in the process (the archive opens its own).

Nothing raises for an expected failure: no key, the ceiling, a refused key, a provider still failing after
its retries, or an invalid answer all come back as ``content=None`` with the reason in ``error``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meridian_assets.config import MeridianConfig, get_config
from meridian_assets.errors import ConfigError, MeridianError
from meridian_assets.analysis.audit import AuditLog
from meridian_assets.analysis.client import build_client, key_available, missing_reason
from meridian_assets.analysis.costs import CostTracker
from meridian_assets.analysis.secrets import redact
from meridian_assets.analysis.store import Store
from meridian_assets.analysis.structured import ask_structured


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
    subject: str | None = None


@dataclass(frozen=True)
class LLMAnswer:
    """What came back: the parsed object (None if none could be parsed), the raw text, who answered, usage."""

    content: Any
    model: str
    provider: str
    raw: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)


def default_ceiling(budget: str, cfg: MeridianConfig) -> float:
    ceilings = {"reporting": cfg.reporting.commentary_cost_ceiling_usd,
                "commentary": cfg.reporting.commentary_cost_ceiling_usd,
                "chat": cfg.analysis.chat_cost_ceiling_usd, "analysis": cfg.analysis.cost_ceiling_usd}
    if budget not in ceilings:
        raise ConfigError(f"no default cost ceiling for budget {budget!r}: pass cost_ceiling_usd in the request")
    return ceilings[budget]


def structured_llm(provider: str, *, run_id: str | None = None, budget: str = "reporting",
                   config: MeridianConfig | None = None, database: str | Path | None = None
                   ) -> Callable[[LLMRequest], LLMAnswer]:
    """A session callable (module docstring)."""
    cfg = config or get_config()
    run_id = run_id or f"session-{uuid.uuid4().hex[:12]}"
    audit = AuditLog(Store.for_path(database or cfg.database_path()), run_id)
    state: dict[str, CostTracker] = {}

    def call(request: LLMRequest) -> LLMAnswer:
        which = getattr(request, "provider", None) or provider
        model = request.model
        base = {"content": None, "model": model, "provider": which}
        if not key_available(which):
            return LLMAnswer(**base, error=missing_reason(which), extra={"status": "skipped"})
        ceiling = getattr(request, "cost_ceiling_usd", None)
        try:
            if "tracker" not in state:
                state["tracker"] = CostTracker(budget, ceiling or default_ceiling(budget, cfg), cfg.analysis.pricing,
                                               spent_usd=audit.spent(budget))
            tracker = state["tracker"]
            if ceiling:
                tracker.ceiling_usd = float(ceiling)
            llm = build_client(which, model, max_retries=cfg.analysis.max_retries,
                               timeout_seconds=cfg.analysis.timeout_seconds)
            schema = getattr(request, "schema", None)
            ans = ask_structured(llm, task=request.task, system=request.system, user=request.user,
                                 answer_model=None, json_schema=schema or None, tracker=tracker, audit=audit,
                                 subject=getattr(request, "subject", None),
                                 max_tokens=getattr(request, "max_tokens", 1024) or 1024,
                                 temperature=cfg.analysis.temperature)
        except MeridianError as err:
            return LLMAnswer(**base, error=redact(str(err)), extra={"status": "error", "run_id": run_id,
                                                                        "budget": budget})
        finally:
            audit.store.flush()
        return LLMAnswer(
            content=ans.value if ans.ok else None, model=ans.model, provider=which, raw=ans.text,
            input_tokens=ans.usage.total_input_tokens, output_tokens=ans.usage.output_tokens, cost_usd=ans.cost_usd,
            error=None if ans.ok else f"invalid answer: {ans.error}",
            extra={"call_id": ans.call_id, "status": ans.status, "run_id": run_id, "budget": budget,
                   "cache_read_tokens": ans.usage.cache_read_tokens,
                   "cache_write_tokens": ans.usage.cache_write_tokens, "run_spent_usd": round(tracker.spent_usd, 6)})

    return call
