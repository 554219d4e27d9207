"""The audit archive: one `llm_calls` row per LLM call, written as the call returns (see `store.Store`).

A row holds what was sent (system prompt, user prompt, JSON schema, model, parameters), what came back (the
tool-use input or the text), the usage, the cost and the run, so any score or sentence downstream can be
traced to the call that produced it. Failed calls are archived too (``status = error``, no usage).

**No secrets.** Keys are never passed to this module. As a second line of defence every text field is
passed through `secrets.redact` (provider key values -> ``[redacted]``), in case a provider echoed one back.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass, field

import polars as pl

from meridian_assets.analysis.client import Usage
from meridian_assets.analysis.schemas import LLM_CALLS
from meridian_assets.analysis.secrets import redact
from meridian_assets.analysis.store import Store


def new_call_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@dataclass
class CallRecord:
    budget: str
    task: str
    provider: str
    model: str
    system_prompt: str
    user_prompt: str
    params: dict
    status: str  # ok | invalid | error
    call_id: str = field(default_factory=new_call_id)
    subject: str | None = None
    artifact_id: str | None = None
    schema: dict | None = None
    output: str | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    response_id: str | None = None
    stop_reason: str | None = None
    duration_ms: int | None = None
    created_at: dt.datetime = field(default_factory=utc_now)


class AuditLog:
    """Archive of the calls of one run (``run_id``: the Dagster run id, or a chat session id)."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def record(self, call: CallRecord) -> None:
        usage = asdict(call.usage)
        row = {
            "call_id": call.call_id, "run_id": self.run_id, "budget": call.budget, "task": call.task,
            "subject": call.subject, "artifact_id": call.artifact_id, "provider": call.provider,
            "model": call.model, "params_json": redact(json.dumps(call.params, sort_keys=True, default=str)),
            "system_prompt": redact(call.system_prompt), "user_prompt": redact(call.user_prompt),
            "schema_json": json.dumps(call.schema, sort_keys=True) if call.schema else None,
            "output": redact(call.output), "status": call.status, "error": redact(call.error),
            **usage, "cost_usd": call.cost_usd, "response_id": call.response_id,
            "stop_reason": call.stop_reason, "duration_ms": call.duration_ms, "created_at": call.created_at,
        }
        self.store.put(LLM_CALLS, row, "call_id")

    def spent(self, budget: str) -> float:
        """Dollars this run has already spent on ``budget`` (all its steps, in any process)."""
        df = self.store.query(LLM_CALLS, "SELECT coalesce(sum(cost_usd), 0) AS usd FROM llm_calls "
                                         "WHERE run_id = ? AND budget = ?", [self.run_id, budget])
        return float(df["usd"][0]) if df.height else 0.0

    def calls(self, budget: str | None = None) -> pl.DataFrame:
        """This run's archived calls (optionally of one budget), oldest first."""
        sql, params = "SELECT * FROM llm_calls WHERE run_id = ?", [self.run_id]
        if budget is not None:
            sql, params = sql + " AND budget = ?", [*params, budget]
        return self.store.query(LLM_CALLS, sql + " ORDER BY created_at", params)


def run_totals(calls: pl.DataFrame) -> dict:
    """Calls, tokens, prompt-cache hit rate and dollars of a frame of `llm_calls` rows."""
    if calls.height == 0:
        return {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
                "cache_write_tokens": 0, "prompt_cache_hit_rate": 0.0, "cost_usd": 0.0}
    sums = {c: int(calls[c].fill_null(0).sum()) for c in
            ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")}
    total_in = sums["input_tokens"] + sums["cache_read_tokens"] + sums["cache_write_tokens"]
    return {"calls": calls.height, **sums,
            "prompt_cache_hit_rate": round(sums["cache_read_tokens"] / total_in, 4) if total_in else 0.0,
            "cost_usd": round(float(calls["cost_usd"].fill_null(0).sum()), 6)}
