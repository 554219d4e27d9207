"""The "what changed this week" summary: a deterministic context, and an optional LLM answer archived with it.

**Context** (`build_context`): the week's sessions; the book's NAV and cumulative P&L at the start and end of
the week (bps of the starting NAV), the week's return and the max drawdown to date; the week's attribution
(sums of daily beta / sector / factor / alpha contributions); the allocation method and the week's largest
allocation moves (latest snapshot before the week against the latest at its end); decisions (rebalances,
trades by status, vetoes with reasons; sleeve promotions and retirements once the meta layer makes them);
the regime (VIX level and label, the embedded market's regime, the gross multiplier the risk layer's VIX
rules imply); executions when fills exist. Numbers are rounded (0.1 bps, 4 decimals of weight) and the JSON
is serialised with sorted keys, so the same tables always give the same bytes and the same SHA-256.

**Summary** (`summarize`): with an LLM configured, one structured call (headline, bullets, risks, actions)
whose exact system prompt, user prompt, model, usage and raw answer are archived in `weekly_change_summary`
with the context; an answer missing a field is recorded as invalid, never used. Without one, the status is
``not_configured`` and the report says plainly that no LLM summary was generated, and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.reporting.allocation import latest_allocation, ordered_snapshots
from meridian_assets.reporting.attribution import period_contributions, starting_nav
from meridian_assets.reporting.llm_bridge import LLMAnswer, LLMRequest, StructuredLLM
from meridian_assets.reporting.persona import SYSTEM_PROMPT, voice_check
from meridian_assets.reporting.schemas import WEEKLY_CHANGE_SUMMARY

SUMMARY_KEYS = ("headline", "bullets", "risks", "actions")
SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {
        "headline": {"type": "string", "description": "one sentence"},
        "bullets": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 6},
        "risks": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        "actions": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
    },
    "required": list(SUMMARY_KEYS),
    "additionalProperties": False,
}
SUMMARY_INSTRUCTIONS = (
    "Task: summarise what changed in the network this week for limited partners, from the JSON context in the "
    "user message only. Return a JSON object with keys headline (one sentence), bullets (2-6 short factual "
    "statements with figures from the context), risks (up to 4) and actions (up to 4 follow-ups for the "
    "operator). Be specific, short and audit-friendly."
)


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _r(x, digits: int = 1):
    return None if x is None else round(float(x), digits)


@dataclass(frozen=True)
class WeekInputs:
    """The tables the context is built from (any may be empty)."""

    history: pl.DataFrame  # portfolio_history
    attribution: pl.DataFrame  # daily_attribution
    snapshots: pl.DataFrame  # allocation_snapshots
    approvals: pl.DataFrame  # position_approvals
    vix: pl.DataFrame  # (date, vix, vix_regime)
    market: pl.DataFrame  # (date, market_regime)
    fills: pl.DataFrame | None = None  # execution_fills when the execution layer has run
    meta_decisions: pl.DataFrame | None = None  # (name, decision) once the meta layer decides on sleeves


def gross_multiplier(vix: float | None, cfg: MeridianConfig) -> float:
    """The gross-exposure multiplier the risk layer's VIX rules imply at this level."""
    r = cfg.risk
    if vix is None:
        return 1.0
    if vix >= r.vix_severe:
        return 1.0 - r.vix_severe_fraction
    if vix >= r.vix_reduce:
        return 1.0 - r.vix_reduce_fraction
    return 1.0


def _moves(before: pl.DataFrame, after: pl.DataFrame, level: str, top: int) -> list[dict]:
    a = before.filter(pl.col("level") == level).select("name", pl.col("weight").alias("w0"))
    b = after.filter(pl.col("level") == level).select("name", pl.col("weight").alias("w1"))
    m = (a.join(b, on="name", how="full", coalesce=True).fill_null(0.0)
         .with_columns((pl.col("w1") - pl.col("w0")).alias("d"))
         .filter(pl.col("d").abs() > 1e-9).sort(pl.col("d").abs(), "name", descending=[True, False]).head(top))
    return [{"name": n, "from": _r(w0, 4), "to": _r(w1, 4), "delta": _r(d, 4)} for n, w0, w1, d in m.iter_rows()]


def build_context(week_start: dt.date, week_end: dt.date, inputs: WeekInputs, cfg: MeridianConfig,
                  top_moves: int = 8) -> dict:
    """The week's context (module docstring): a JSON-able dict, deterministic in its inputs."""
    h = inputs.history.sort("date") if inputs.history.height else inputs.history
    first_nav = starting_nav(h)
    before = h.filter(pl.col("date") < week_start) if h.height else h
    upto = h.filter(pl.col("date") <= week_end) if h.height else h
    week = upto.filter(pl.col("date") >= week_start) if upto.height else upto
    nav_start = float(before["nav"][-1]) if before.height else first_nav
    nav_end = float(upto["nav"][-1]) if upto.height else None
    cum = (lambda nav: (nav / first_nav - 1) * 1e4 if nav is not None and first_nav else None)
    dd = None
    if upto.height:
        navs = upto["nav"].to_numpy()
        peak = pl.Series(navs).cum_max().clip(lower_bound=first_nav).to_numpy()
        dd = float(((navs / peak) - 1).min() * 1e4)
    last = upto.row(-1, named=True) if upto.height else {}
    portfolio = {
        "nav_start": _r(nav_start, 2), "nav_end": _r(nav_end, 2),
        "pnl_start_bps": _r(cum(nav_start)), "pnl_end_bps": _r(cum(nav_end)),
        "week_return_bps": _r((nav_end / nav_start - 1) * 1e4) if nav_start and nav_end else None,
        "max_drawdown_bps": _r(dd), "gross": _r(last.get("gross"), 4), "net": _r(last.get("net"), 4),
        "beta": _r(last.get("beta"), 3), "positions": last.get("positions"),
    }
    attr = period_contributions(inputs.attribution, week_start, week_end) if inputs.attribution.height else {}
    snaps = inputs.snapshots
    prior = latest_allocation(snaps, week_start - dt.timedelta(days=1)) if snaps.height else snaps
    now = latest_allocation(snaps, week_end) if snaps.height else snaps
    in_week = [i for i in ordered_snapshots(snaps, week_end)
               if snaps.filter(pl.col("snapshot_id") == i)["as_of"][0] >= week_start] if snaps.height else []
    allocation = {
        "method": now["method"][0] if now.height else None,
        "snapshots_this_week": len(in_week),
        "from_run_id": prior["run_id"][0] if prior.height else None,
        "to_run_id": now["run_id"][0] if now.height else None,
        "top_position_moves": _moves(prior, now, "position", top_moves) if now.height else [],
        "sleeve_moves": _moves(prior, now, "sleeve", top_moves) if now.height else [],
    }
    appr = inputs.approvals.filter(pl.col("date").is_between(week_start, week_end)) if inputs.approvals.height \
        else inputs.approvals
    vetoes = appr.filter(pl.col("status").is_in(["VETOED", "REJECTED"])).sort("ticker") if appr.height else appr
    meta = inputs.meta_decisions
    decisions = {
        "rebalances": sorted(set(appr["rebalance_id"].to_list())) if appr.height else [],
        "trades_by_status": dict(sorted(appr.group_by("status").len().iter_rows())) if appr.height else {},
        "vetoed_or_rejected": [{"ticker": t, "status": s, "reason": r} for t, s, r in
                               vetoes.select("ticker", "status", "reason").head(6).iter_rows()],
        "promote": sorted(meta.filter(pl.col("decision") == "PROMOTE")["name"].to_list())
        if meta is not None and meta.height else [],
        "kill_retire": sorted(meta.filter(pl.col("decision").is_in(["KILL", "RETIRE"]))["name"].to_list())
        if meta is not None and meta.height else [],
        "meta_layer": "active" if meta is not None else "not running: one core sleeve holds the whole book",
    }
    vix_rows = inputs.vix.filter(pl.col("date") <= week_end).sort("date") if inputs.vix.height else inputs.vix
    vix_level = float(vix_rows["vix"][-1]) if vix_rows.height else None
    mkt = inputs.market.filter(pl.col("date") <= week_end).sort("date") if inputs.market.height else inputs.market
    regime = {"vix": _r(vix_level, 2), "vix_regime": vix_rows["vix_regime"][-1] if vix_rows.height else None,
              "market_regime": mkt["market_regime"][-1] if mkt.height else None,
              "gross_multiplier": gross_multiplier(vix_level, cfg)}
    ctx = {
        "week": {"start": week_start.isoformat(), "end": week_end.isoformat(), "sessions": week.height},
        "portfolio": portfolio,
        "attribution_bps": {k: _r(v) for k, v in attr.items() if k != "sessions"},
        "allocation": allocation, "decisions": decisions, "regime": regime,
        "executions": _executions(inputs.fills, week_start, week_end),
    }
    return json.loads(canonical_json(ctx))


def _executions(fills: pl.DataFrame | None, start: dt.date, end: dt.date) -> dict:
    """Orders filled in the week (rows of `execution_fills` with shares > 0) and their mean slippage (bps,
    positive = adverse)."""
    if fills is None:
        return {"fills": 0, "avg_slippage_bps": None,
                "note": "no execution fills recorded (the execution layer has not run)"}
    stamps = [c for c in ("finished_at", "submitted_at", "recorded_at") if c in fills.columns]
    if fills.height == 0 or not stamps:
        return {"fills": 0, "avg_slippage_bps": None, "note": None}
    f = fills.filter(pl.coalesce(*stamps).cast(pl.Date).is_between(start, end))
    if "shares" in f.columns:
        f = f.filter(pl.col("shares") > 0)
    slip = f["slippage_bps"].drop_nulls() if "slippage_bps" in f.columns else pl.Series([], dtype=pl.Float64)
    return {"fills": f.height, "avg_slippage_bps": _r(slip.mean()) if slip.len() else None, "note": None}


def summary_request(context: dict, cfg: MeridianConfig) -> LLMRequest:
    rc = cfg.reporting
    return LLMRequest(task="weekly_summary", provider=rc.commentary_provider, model=rc.commentary_model,
                      system=SYSTEM_PROMPT + "\n\n" + SUMMARY_INSTRUCTIONS,
                      user=canonical_json({"context": context}), schema=SUMMARY_SCHEMA,
                      max_tokens=rc.llm_max_tokens, cost_ceiling_usd=rc.commentary_cost_ceiling_usd)


def valid_summary(content: dict | None) -> bool:
    if not isinstance(content, dict) or not isinstance(content.get("headline"), str) or not content["headline"]:
        return False
    return all(isinstance(content.get(k), list) and all(isinstance(x, str) for x in content[k])
               for k in ("bullets", "risks", "actions"))


def summarize(context: dict, cfg: MeridianConfig, llm: StructuredLLM | None, note: str,
              week_start: dt.date, week_end: dt.date) -> pl.DataFrame:
    """The `weekly_change_summary` row: the context and, when ``llm`` is given, its archived answer."""
    text = canonical_json(context)
    request = summary_request(context, cfg)
    row = {"week_start": week_start, "week_end": week_end, "context_json": text, "context_sha256": sha256(text),
           "created_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)}
    if llm is None:
        return WEEKLY_CHANGE_SUMMARY.conform(pl.DataFrame([{**row, "llm_status": "not_configured",
                                                            "llm_note": note or "no LLM configured"}]))
    row.update(provider=request.provider, model=request.model, system_prompt=request.system,
               user_prompt=request.user)
    try:
        answer: LLMAnswer = llm(request)
    except Exception as err:  # noqa: BLE001 - any client failure is archived and reported, never fatal
        return WEEKLY_CHANGE_SUMMARY.conform(pl.DataFrame([{**row, "llm_status": "failed",
                                                            "llm_note": f"{type(err).__name__}: {err}"[:500]}]))
    ok = answer.error is None and valid_summary(answer.content)
    c = answer.content or {}
    # no answer at all (no key, the cost ceiling, the provider down) is a failed call; an answer of the wrong
    # shape is invalid
    failed = answer.content is None and answer.raw is None
    row.update(model=answer.model or request.model, provider=answer.provider or request.provider,
               response_json=canonical_json(c) if answer.content is not None else answer.raw,
               input_tokens=answer.input_tokens, output_tokens=answer.output_tokens, cost_usd=answer.cost_usd,
               llm_status="generated" if ok else "failed" if failed else "invalid",
               llm_note=None if ok else (answer.error or "the answer lacks headline, bullets, risks or actions"))
    if ok:
        row.update(headline=c["headline"], bullets_json=json.dumps(c["bullets"]), risks_json=json.dumps(c["risks"]),
                   actions_json=json.dumps(c["actions"]))
        flags = summary_voice_flags(c)  # the commentary's and the letter's voice check: recorded, never blocking
        row["llm_note"] = ("voice check: " + "; ".join(flags)) if flags else None
    return WEEKLY_CHANGE_SUMMARY.conform(pl.DataFrame([row]))


def summary_voice_flags(content: dict) -> list[str]:
    """`voice_check` over every field of a summary answer, each flag naming its field."""
    texts = {"headline": [content["headline"]], **{k: content[k] for k in ("bullets", "risks", "actions")}}
    return [f"{field}: {flag}" for field, items in texts.items() for flag in voice_check("\n".join(items))]


def summary_text(row: dict) -> dict:
    """What the report shows for a `weekly_change_summary` row: the LLM's answer, or the plain reason none."""
    if row.get("llm_status") == "generated":
        return {"generated": True, "headline": row["headline"], "bullets": json.loads(row["bullets_json"] or "[]"),
                "risks": json.loads(row["risks_json"] or "[]"), "actions": json.loads(row["actions_json"] or "[]"),
                "model": row.get("model"), "note": None}
    reason = row.get("llm_note") or "no LLM configured"
    status = row.get("llm_status")
    lead = {"not_configured": "No LLM summary was generated", "failed": "No LLM summary was generated: the call failed",
            "invalid": "No LLM summary was used: the answer was invalid"}.get(status, "No LLM summary was generated")
    return {"generated": False, "headline": None, "bullets": [], "risks": [], "actions": [], "model": row.get("model"),
            "note": f"{lead} ({reason}). The figures below come from the stored context."}
