"""The weekly commentary and the letter to limited partners.

Both take a small JSON context (the week's figures, at most `reporting.commentary_max_context_bytes`, 4 KB)
and the house voice (`persona`). With an LLM configured the body is its structured answer — the commentary
one paragraph of 3–6 sentences, the letter 3–4 paragraphs; without one, a placeholder that says plainly no
body was generated and why. `voice_check` flags are recorded and shown, never blocking.

The letter has a letterhead (fund name, domicile, inception, AUM, document id ``{prefix}-{YYYY}-{MMDD}``),
the stamp "CONFIDENTIAL • LIMITED PARTNERS ONLY", "Dear Limited Partners,", the body, a signature block and
the compliance footer; it is rendered to Markdown and PDF from `templates/reports/letter.*.j2`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from meridian_assets.config import MeridianConfig
from meridian_assets.reporting.llm_bridge import LLMRequest, StructuredLLM
from meridian_assets.reporting.persona import SYSTEM_PROMPT, voice_check
from meridian_assets.reporting.weekly import canonical_json

STAMP = "CONFIDENTIAL • LIMITED PARTNERS ONLY"
COMMENTARY_SCHEMA = {"type": "object", "properties": {"paragraph": {"type": "string"}},
                     "required": ["paragraph"], "additionalProperties": False}
LETTER_SCHEMA = {"type": "object",
                 "properties": {"paragraphs": {"type": "array", "items": {"type": "string"},
                                               "minItems": 3, "maxItems": 4}},
                 "required": ["paragraphs"], "additionalProperties": False}
COMMENTARY_TASK = ("Task: write this week's commentary on the network as ONE paragraph of 3 to 6 sentences, from "
                   "the JSON context in the user message only. Return a JSON object {\"paragraph\": \"...\"}.")
LETTER_TASK = ("Task: write the body of a letter to the fund's limited partners (the greeting, signature and "
               "disclaimers are added separately) as 3 or 4 paragraphs, from the JSON context in the user message "
               "only: performance and its attribution, positioning and its changes, risk, and what the network "
               "is watching. Return a JSON object {\"paragraphs\": [\"...\", ...]}.")


def doc_id(prefix: str, day: dt.date) -> str:
    """``MCP-IM-2024-0329`` for 2024-03-29."""
    return f"{prefix}-{day:%Y}-{day:%m%d}"


def compact_context(context: dict, max_bytes: int = 4096) -> dict:
    """``context`` trimmed to at most ``max_bytes`` of JSON: list entries dropped from the longest lists first."""
    ctx = json.loads(canonical_json(context))

    def lists(node, path=()):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from lists(v, (*path, k))
        elif isinstance(node, list) and node:
            yield path, node

    while len(canonical_json(ctx).encode()) > max_bytes:
        found = sorted(lists(ctx), key=lambda pv: len(canonical_json(pv[1])), reverse=True)
        if not found:
            break
        found[0][1].pop()
    return ctx


@dataclass(frozen=True)
class Body:
    """A document body and its provenance (what the `weekly_commentary` / `lp_letter` rows archive)."""

    paragraphs: list[str]
    source: str  # llm | placeholder
    note: str | None
    request: LLMRequest
    model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def flags(self) -> list[str]:
        return voice_check(self.text) if self.source == "llm" else []


def _request(kind: str, context: dict, cfg: MeridianConfig) -> LLMRequest:
    rc = cfg.reporting
    task, schema = (COMMENTARY_TASK, COMMENTARY_SCHEMA) if kind == "commentary" else (LETTER_TASK, LETTER_SCHEMA)
    ctx = compact_context(context, rc.commentary_max_context_bytes)
    return LLMRequest(task="weekly_commentary" if kind == "commentary" else "lp_letter", provider=rc.commentary_provider, model=rc.commentary_model,
                      system=SYSTEM_PROMPT + "\n\n" + task, user=canonical_json({"context": ctx}), schema=schema,
                      max_tokens=rc.llm_max_tokens, cost_ceiling_usd=rc.commentary_cost_ceiling_usd)


def _paragraphs(kind: str, content: dict | None) -> list[str] | None:
    if not isinstance(content, dict):
        return None
    if kind == "commentary":
        p = content.get("paragraph")
        return [p.strip()] if isinstance(p, str) and p.strip() else None
    ps = content.get("paragraphs")
    if isinstance(ps, list) and 1 <= len(ps) <= 6 and all(isinstance(p, str) and p.strip() for p in ps):
        return [p.strip() for p in ps]
    return None


def placeholder(kind: str, reason: str) -> list[str]:
    what = "commentary" if kind == "commentary" else "letter body"
    return [f"[No {what} was generated: {reason}. The figures in this document come from the stored context; the "
            f"operator writes the {what} before it is sent.]"]


def write_body(kind: str, context: dict, cfg: MeridianConfig, llm: StructuredLLM | None, note: str) -> Body:
    """The body of the ``kind`` (commentary | letter) document, from ``llm`` when given, else a placeholder."""
    request = _request(kind, context, cfg)
    if llm is None:
        return Body(placeholder(kind, note or "no LLM is configured"), "placeholder", note, request)
    try:
        answer = llm(request)
    except Exception as err:  # noqa: BLE001 - a failed call leaves a placeholder and the reason, never a crash
        reason = f"the LLM call failed ({type(err).__name__}: {err})"[:300]
        return Body(placeholder(kind, reason), "placeholder", reason, request)
    paragraphs = None if answer.error else _paragraphs(kind, answer.content)
    usage = dict(model=answer.model, provider=answer.provider, input_tokens=answer.input_tokens,
                 output_tokens=answer.output_tokens, cost_usd=answer.cost_usd)
    if paragraphs is None:
        reason = answer.error or "the LLM answer did not have the expected fields"
        return Body(placeholder(kind, reason), "placeholder", reason, request, **usage)
    return Body(paragraphs, "llm", None, request, **usage)


def letter_context(as_of: dt.date, cfg: MeridianConfig, aum: float | None, body: Body) -> dict:
    """What `letter.md.j2` / `letter.html.j2` render."""
    fund = cfg.reporting.fund
    return {"fund": fund, "as_of": as_of, "doc_id": doc_id(fund.doc_id_prefix, as_of), "aum": aum, "stamp": STAMP,
            "paragraphs": body.paragraphs, "source": body.source, "note": body.note, "flags": body.flags,
            "model": body.model}


def document_row(body: Body, doc: str, path: str, context: dict) -> dict:
    """The provenance columns shared by `weekly_commentary` and `lp_letter`."""
    return {"doc_id": doc, "path": path, "body": body.text, "source": body.source, "llm_note": body.note,
            "provider": body.provider or (body.request.provider if body.source == "llm" else None),
            "model": body.model or (body.request.model if body.source == "llm" else None),
            "system_prompt": body.request.system, "user_prompt": body.request.user,
            "context_json": canonical_json(context), "input_tokens": body.input_tokens,
            "output_tokens": body.output_tokens, "cost_usd": body.cost_usd,
            "voice_flags": json.dumps(body.flags),
            "created_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)}
