"""The rationale of a proposal: written by the LLM when one is configured, else a deterministic template.

The LLM goes through one injectable callable with the LLM layer's structured-call signature
(`meridian_assets.analysis.service.structured_llm(provider, run_id=…, budget="meta", …)`): it takes a request with
``task, provider, model, system, user, schema, max_tokens, cost_ceiling_usd, subject`` and returns an answer
with ``content`` (the validated JSON object, or None) and ``extra["call_id"]``. The call is archived in
`llm_calls` with its exact prompt — the prompt *is* the proposal's context (rule, diagnostics, the evidence
backtests), so the archive holds the context the text was written from. The proposal keeps the call id. No
key, the cost ceiling, a failed call or an invalid answer fall back to the template, and the reason is noted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meridian_assets.analysis.service import LLMRequest

SYSTEM = (
    "You write the rationale of a configuration-change proposal for a long/short equity fund's risk committee. "
    "Use only the numbers in the context; say what changes, why the diagnostics call for it, what the backtest "
    "of the proposed config against the current one on the same window shows, and what could make it wrong. "
    "Plain prose, at most 120 words, no hype, no recommendations beyond the proposal itself."
)
SCHEMA = {
    "type": "object",
    "description": "The rationale of the proposal.",
    "properties": {"rationale": {"type": "string", "description": "At most 120 words of plain prose."}},
    "required": ["rationale"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Rationale:
    text: str
    source: str  # llm | template
    call_id: str | None = None
    note: str | None = None


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:+.2%}"


def _num(x, fmt: str = ".2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def template(context: dict) -> str:
    """The deterministic rationale: the rule's finding, the change, the evidence and its confidence."""
    ev = context.get("evidence", {})
    cur, prop = ev.get("current", {}), ev.get("proposed", {})
    changes = "; ".join(f"{k}: {v['from']}{' (inherited)' if v.get('inherited') else ''} -> {v['to']}"
                        for k, v in sorted(context.get("changes", {}).items()))
    text = (f"{context['rule_text']} Proposed change to {context['target_type']} {context['target_id']}: {changes}. "
            f"Backtested on the same {ev.get('sessions', 0)} sessions ({ev.get('start')} to {ev.get('end')}): "
            f"return {_pct(prop.get('total_return'))} against {_pct(cur.get('total_return'))}, Sharpe "
            f"{_num(prop.get('sharpe'))} against {_num(cur.get('sharpe'))}, max drawdown "
            f"{_pct(prop.get('max_drawdown'))} against {_pct(cur.get('max_drawdown'))}, costs "
            f"{_num(prop.get('cost_bps'), '.1f')} against {_num(cur.get('cost_bps'), '.1f')} bps. "
            f"Paired daily difference t = {_num(ev.get('t_stat'))}, confidence {_num(context.get('confidence'))}.")
    if not context.get("data_sufficient", True):
        text += " Data insufficient for a robust conclusion: low confidence, never applied automatically."
    return text


def write(context: dict, ask: Callable[[Any], Any] | None, *, provider: str, model: str,
          ceiling_usd: float) -> Rationale:
    """The LLM's rationale through ``ask`` when given and it answers, else the template (module docstring)."""
    if ask is None:
        return Rationale(template(context), "template")
    request = LLMRequest(task="meta_rationale", provider=provider, model=model, system=SYSTEM,
                               user="Context (JSON):\n" + json.dumps(context, sort_keys=True, default=str),
                               schema=SCHEMA, max_tokens=400, cost_ceiling_usd=ceiling_usd,
                               subject=f"{context['target_type']}:{context['target_id']}")
    try:
        answer = ask(request)
    except Exception as err:  # the seam must never stop a proposal run; the template stands in
        return Rationale(template(context), "template", note=f"LLM call failed: {type(err).__name__}: {err}"[:300])
    content = getattr(answer, "content", None)
    call_id = (getattr(answer, "extra", None) or {}).get("call_id")
    text = content.get("rationale") if isinstance(content, dict) else None
    if not text or not str(text).strip():
        why = getattr(answer, "error", None) or "no rationale in the answer"
        return Rationale(template(context), "template", call_id, f"LLM: {why}"[:300])
    return Rationale(str(text).strip(), "llm", call_id)
