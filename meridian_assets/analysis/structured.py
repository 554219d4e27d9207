"""Ask an LLM for a structured answer, priced against a hard ceiling and archived: the one call every layer
that uses an LLM goes through (analyzers, weekly summary, commentary, LP letter, chat, proposal rationales).

    ask_structured(
        llm: LLMClient,                      # AnthropicResource.client(model) / OpenAIResource.client(model)
        *,
        task: str,                           # what the call is for: "earnings", "weekly_summary", ...
        system: str,                         # static instructions (prompt-cached on Anthropic)
        user: str,                           # the material of this call
        answer_model: type[BaseModel] | None,  # fields the answer must have; None: free text
        tracker: CostTracker,                # the run's budget and its ceiling
        audit: AuditLog | None,              # the run's archive (None: not archived)
        subject: str | None = None,          # ticker, sector or document the call is about
        artifact_id: str | None = None,      # what was analysed (transcript id, accession, ...)
        max_tokens: int = 1024,
        temperature: float | None = 0.0,     # OpenAI only
        check: Callable[[BaseModel], list[str]] | None = None,  # cross-field checks; problems -> invalid
        json_schema: dict | None = None,     # instead of answer_model: a JSON Schema (the value is a dict)
    ) -> Answer                              # .status "ok" | "invalid", .value, .call_id, .cost_usd, .usage

    tracker, audit = open_budget(connect, run_id, budget, ceiling_usd, pricing)   # one per run and budget

Outside Dagster (reports, letters, chat), `meridian_assets.analysis.service.structured_llm(provider)` wraps all of
this in one callable.

Raises `CostCeilingReached` before calling when the call could take the run past its ceiling (nothing is
sent), `LLMAuthError` when the provider refuses the key, `LLMCallError` when the call still fails after the
SDK's retries; `PricingMissing` when the model has no price. Failed calls are archived with status error.

**Structured output.** With ``answer_model`` (or ``json_schema``) the JSON schema is sent as a forced tool
(Anthropic) or a ``json_schema`` response format (OpenAI). The answer is taken from the tool-use input when
there is one, else from the text: bare JSON, a fenced block or JSON inside prose (`extract.py`), each
candidate validated against ``answer_model`` (or ``json_schema``, `schema_check.py`) and then ``check``; the
first valid one wins. An answer with no valid candidate has status ``invalid``, keeps its raw text and the
reason, and has no ``value`` — it is archived and reported, never used.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from meridian_assets.errors import MeridianError
from meridian_assets.analysis.audit import AuditLog, CallRecord, new_call_id
from meridian_assets.analysis.client import Completion, LLMClient, Prompt, Usage
from meridian_assets.analysis.costs import CostTracker
from meridian_assets.analysis.errors import LLMCallError, LLMUnavailable
from meridian_assets.analysis.extract import json_candidates
from meridian_assets.analysis.schema_check import schema_problems
from meridian_assets.analysis.secrets import redact
from meridian_assets.analysis.settings import ModelPrice
from meridian_assets.analysis.store import Connect, Store


@dataclass
class Answer:
    status: str  # ok | invalid
    value: Any  # the validated answer_model instance (or the text when answer_model is None); None if invalid
    text: str  # what the model returned: tool-use input as JSON, else its text
    call_id: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def answer_schema(model: type[BaseModel]) -> dict:
    """The JSON schema of ``model`` with every ``$ref`` inlined (tool schemas are simplest self-contained)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.split("/")[-1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)


def tool_name(task: str) -> str:
    """The tool / schema name of a task: ``record_`` + the task with anything but [A-Za-z0-9_-] as ``_``."""
    return "record_" + re.sub(r"[^A-Za-z0-9_-]", "_", task)[:56]


def _validation_summary(err: ValidationError, limit: int = 4) -> str:
    parts = []
    for e in err.errors()[:limit]:
        where = ".".join(str(p) for p in e["loc"]) or "(answer)"
        parts.append(f"{where}: {e['msg']}")
    more = len(err.errors()) - limit
    return "; ".join(parts) + (f"; +{more} more" if more > 0 else "")


def _validate(candidate: dict, answer_model: type[BaseModel] | None, json_schema: dict | None) -> tuple[Any, str]:
    if answer_model is not None:
        try:
            return answer_model.model_validate(candidate), ""
        except ValidationError as err:
            return None, _validation_summary(err)
    problems = schema_problems(candidate, json_schema or {})
    return (None, "; ".join(problems[:4])) if problems else (candidate, "")


def parse_answer(completion: Completion, answer_model: type[BaseModel] | None,
                 check: Callable[[Any], list[str]] | None = None,
                 json_schema: dict | None = None) -> tuple[str, Any, str | None]:
    """``(status, value, error)`` of a completion (module docstring, *Structured output*)."""
    truncated = " (the answer hit max_tokens)" if completion.stop_reason in ("max_tokens", "length") else ""
    if answer_model is None and json_schema is None:
        text = completion.text.strip()
        return ("ok", text, None) if text else ("invalid", None, f"empty answer{truncated}")
    candidates = ([completion.structured] if completion.structured is not None else [])
    candidates += [c for c in json_candidates(completion.text) if c not in candidates]
    problems: list[str] = []
    for candidate in candidates:
        value, problem = _validate(candidate, answer_model, json_schema)
        if problem:
            problems.append(problem)
            continue
        found = check(value) if check else []
        if found:
            problems.append("; ".join(found))
            continue
        return "ok", value, None
    reason = problems[0] if problems else "no JSON object in the answer"
    return "invalid", None, reason + truncated


def ask_structured(
    llm: LLMClient,
    *,
    task: str,
    system: str,
    user: str,
    answer_model: type[BaseModel] | None,
    tracker: CostTracker,
    audit: AuditLog | None,
    subject: str | None = None,
    artifact_id: str | None = None,
    max_tokens: int = 1024,
    temperature: float | None = 0.0,
    check: Callable[[Any], list[str]] | None = None,
    json_schema: dict | None = None,
) -> Answer:
    """One priced, archived LLM call with a validated answer (module docstring)."""
    if answer_model is not None and json_schema is not None:
        raise ValueError("give answer_model or json_schema, not both")
    schema = answer_schema(answer_model) if answer_model is not None else json_schema
    description = (answer_model.__doc__ if answer_model is not None else (json_schema or {}).get("description"))
    prompt = Prompt(system=system, user=user, max_tokens=max_tokens, schema=schema,
                    schema_name=tool_name(task) if schema else "answer",
                    schema_description=(description or "Record the answer.").strip(), temperature=temperature)
    reservation = tracker.reserve(llm.model, prompt)  # CostCeilingReached: nothing sent
    record = CallRecord(budget=tracker.budget, task=task, provider=llm.provider, model=llm.model,
                        system_prompt=system, user_prompt=user, params=prompt.params(llm.provider),
                        status="error", call_id=new_call_id(), subject=subject, artifact_id=artifact_id,
                        schema=schema)
    started = time.perf_counter()
    try:
        completion = llm.complete(prompt)
    except MeridianError as err:
        tracker.release(reservation)
        record.error = redact(str(err))
        record.duration_ms = int((time.perf_counter() - started) * 1000)
        if audit is not None:
            audit.record(record)
        raise
    except Exception as err:  # an SDK or transport failure the adapter did not map: still archived
        tracker.release(reservation)
        record.error = redact(f"{type(err).__name__}: {err}")[:1000]
        record.duration_ms = int((time.perf_counter() - started) * 1000)
        if audit is not None:
            audit.record(record)
        raise LLMCallError(f"{llm.provider} call failed: {record.error}") from None
    cost = tracker.settle(reservation, completion.usage, completion.model)
    status, value, error = parse_answer(completion, answer_model, check, json_schema)
    output = json.dumps(completion.structured, sort_keys=True) if completion.structured is not None else completion.text
    record.model = completion.model
    record.status, record.output, record.error = status, output, error
    record.usage, record.cost_usd = completion.usage, cost
    record.response_id, record.stop_reason = completion.response_id, completion.stop_reason
    record.duration_ms = int((time.perf_counter() - started) * 1000)
    if audit is not None:
        audit.record(record)
    return Answer(status=status, value=value, text=output, call_id=record.call_id, model=completion.model,
                  usage=completion.usage, cost_usd=cost, error=error)


def open_budget(connect: Connect, run_id: str, budget: str, ceiling_usd: float,
                pricing: dict[str, ModelPrice]) -> tuple[CostTracker, AuditLog]:
    """The tracker and audit archive of ``budget`` in run ``run_id``; the tracker starts from what the run
    already spent on that budget (so every step of a run shares one ceiling)."""
    audit = AuditLog(Store(connect), run_id)
    return CostTracker(budget, ceiling_usd, pricing, spent_usd=audit.spent(budget)), audit


def require_available(provider: Any, task: str) -> None:
    """Raise `LLMUnavailable` with the provider's reason when its key is not set."""
    if not provider.available():
        raise LLMUnavailable(f"{task}: {provider.missing_reason()}")
