"""Config-change proposals: rules over the diagnostics, each backed by a backtest of the proposed config against
the current one on the same window, with a confidence and a revert snapshot.

**Rules** (thresholds in meta config; a rule proposes at most one change per target):

    rule                target type        when                                      proposes
    regime_factor_tilt  STRATEGY_CONFIG    a factor-scored sleeve's Sharpe in the    its factor weights 25% of the way
                                           current VIX regime < regime_sharpe_floor  to the regime's best sleeve's
                                           and another does ≥ 1 better there
    cost_drag           RISK_CONFIG        costs (commission, spread, impact,        turnover_budget × 0.75 (≥ 0.05)
                                           borrow) > cost_drag_max of gross P&L
    drawdown_budget     RISK_CONFIG        max drawdown deeper than drawdown_budget  MVO: risk_aversion × 2;
                                                                                     conviction: exposures × 0.85
    veto_rate           RISK_CONFIG        vetoed / asked > veto_rate_max            max_position_pct × 0.8 (if the
                                                                                     books can still hold it)
    sleeve_exclusion    ALLOCATION_CONFIG  decision KILL / RETIRE: exclude the sleeve; PROMOTE of an excluded one:
                                           readmit it
    tail_concentration  ALLOCATION_CONFIG  a sleeve's share of the combined CVaR     cap it at 0.75 × its weight
                                           > 2 × its weight

**Evidence.** A sleeve change: both configs backtested over the last ``evidence_sessions`` of the window (same
engine, same data, in parallel). An allocation change: the sleeves' daily returns over that window combined with
the weights each policy gives from the sessions before it (or, without enough of them, from the window itself,
flagged in sample). **Confidence** = Φ(t) of the paired daily return differences (proposed − current), capped at
0.5 when the proposal deepens the max drawdown by more than 1 point, and at 0.25 when the window is shorter than
``min_evidence_sessions`` (then ``data_sufficient`` is false and it is never applied automatically). A proposal
the evidence does not support (mean difference ≤ 0) is not stored; the run's metadata lists it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.meta import config_store as store
from meridian_assets.meta.allocation import allocate, returns_matrix
from meridian_assets.meta.changes import PENDING, auto_apply_allowed
from meridian_assets.meta.rationale import Rationale
from meridian_assets.meta.schemas import META_PROPOSALS
from meridian_assets.meta.sleeves import (
    PORTFOLIO_FIELDS, RISK_FIELDS, AllocationPolicy, Sleeve, canonical_json, content_hash,
)
from meridian_assets.reporting import stats


@dataclass
class Candidate:
    rule: str
    rule_text: str
    target_type: str
    target_id: str
    current: store.ConfigVersion
    proposed: dict
    diagnostics: dict = field(default_factory=dict)
    inherited: dict = field(default_factory=dict)  # effective values of knobs the current config leaves unset

    @property
    def changes(self) -> dict:
        out = {}
        for k, v in self.proposed.items():
            old = self.current.doc.get(k)
            if old != v:
                out[k] = {"from": old, "to": v} if old is not None or k not in self.inherited else \
                    {"from": self.inherited[k], "to": v, "inherited": True}
        return out


@dataclass
class Context:
    """What the rules read: sleeves and policy in force, each sleeve's backtest summary and trade counts, the
    performance rows, the decisions and the allocation details."""

    sleeves: dict[str, tuple[Sleeve, store.ConfigVersion]]
    policy: tuple[AllocationPolicy, store.ConfigVersion]
    summaries: dict[str, dict]
    performance: pl.DataFrame
    decisions: pl.DataFrame
    allocation: pl.DataFrame
    base: MeridianConfig


def _sleeve_candidate(rule, text, ttype, sleeve: Sleeve, cv, diag, base: MeridianConfig, **changes) -> Candidate:
    knobs = sleeve.knobs(base)
    inherited = {k: knobs[k] for k in changes if k in PORTFOLIO_FIELDS or k in RISK_FIELDS}
    return Candidate(rule, text, ttype, sleeve.name, cv, {**cv.doc, **changes}, diag, inherited)


def _renormalise(w: dict[str, float]) -> dict[str, float]:
    r = {k: round(v, 4) for k, v in w.items()}
    top = max(r, key=lambda k: (r[k], k))
    r[top] = round(r[top] + 1.0 - sum(r.values()), 4)
    return r


def rules(ctx: Context) -> list[Candidate]:
    cfg, out = ctx.base.meta, []
    current_regime = ctx.decisions["current_regime"][0] if ctx.decisions.height else None
    regime = ctx.performance.filter((pl.col("dimension") == "vix_regime") & (pl.col("bucket") == current_regime)
                                    & (pl.col("observations") >= cfg.regime_min_sessions)) if current_regime \
        else ctx.performance.clear()
    regime_sharpe = dict(zip(regime["sleeve"].to_list(), regime["sharpe"].to_list()))
    factor = {n: s for n, (s, _) in ctx.sleeves.items() if s.score_source == "factor_scores"}
    scored = {n: v for n, v in regime_sharpe.items() if n in factor and v is not None}
    for name, (sleeve, cv) in sorted(ctx.sleeves.items()):
        s = ctx.summaries.get(name)
        if not s:
            continue
        pc = sleeve.portfolio(ctx.base.portfolio)
        own = scored.get(name)
        best = max(scored, key=lambda n: scored[n]) if scored else None
        if own is not None and own < cfg.regime_sharpe_floor and best and scored[best] >= own + 1.0:
            mine = sleeve.factor_weights or ctx.base.scoring.composite_weights
            theirs = factor[best].factor_weights or ctx.base.scoring.composite_weights
            if mine != theirs:
                w = _renormalise({p: 0.75 * mine.get(p, 0.0) + 0.25 * theirs.get(p, 0.0) for p in mine})
                out.append(_sleeve_candidate(
                    "regime_factor_tilt", f"{name} has a Sharpe of {own:.2f} in the current {current_regime} VIX "
                    f"regime, {best} {scored[best]:.2f}.", "STRATEGY_CONFIG", sleeve, cv,
                    {"regime": current_regime, "sharpe_in_regime": own, "best": best, "best_sharpe": scored[best]},
                    ctx.base, factor_weights=w))
        costs = sum(s.get(k) or 0.0 for k in ("commission", "spread", "impact", "borrow"))
        net = (s.get("final_nav") or pc.capital_base) - pc.capital_base
        gross = net + costs
        drag = costs / gross if gross > 0 else math.inf
        if costs > 0 and drag > cfg.cost_drag_max and pc.turnover_budget > 0.05:
            tb = max(0.05, round(pc.turnover_budget * 0.75, 2))
            out.append(_sleeve_candidate(
                "cost_drag", f"{name}'s costs of ${costs:,.0f} take {min(drag, 99):.0%} of its gross P&L "
                f"(limit {cfg.cost_drag_max:.0%}).", "RISK_CONFIG", sleeve, cv,
                {"costs": costs, "gross_pnl": gross, "drag": drag if math.isfinite(drag) else None},
                ctx.base, turnover_budget=tb))
        dd = s.get("max_drawdown")
        if dd is not None and dd < -cfg.drawdown_budget:
            text = f"{name}'s max drawdown of {dd:.2%} exceeds the {cfg.drawdown_budget:.0%} budget."
            if pc.optimize_method == "mvo":
                out.append(_sleeve_candidate("drawdown_budget", text, "RISK_CONFIG", sleeve, cv,
                                             {"max_drawdown": dd}, ctx.base,
                                             risk_aversion=round(min(100.0, pc.mvo_risk_aversion * 2), 4)))
            else:
                out.append(_sleeve_candidate("drawdown_budget", text, "RISK_CONFIG", sleeve, cv,
                                             {"max_drawdown": dd}, ctx.base,
                                             long_exposure=round(pc.long_exposure * 0.85, 4),
                                             short_exposure=round(pc.short_exposure * 0.85, 4)))
        asked = sum(s.get(k) or 0 for k in ("trades", "unfilled", "vetoed"))
        rate = (s.get("vetoed") or 0) / asked if asked else 0.0
        cap = round(sleeve.limits(ctx.base.risk).max_position_pct * 0.8, 4)
        if rate > cfg.veto_rate_max and cap * min(pc.num_longs, pc.num_shorts) >= max(pc.long_exposure,
                                                                                        pc.short_exposure):
            out.append(_sleeve_candidate(
                "veto_rate", f"{rate:.0%} of {name}'s trades were vetoed (limit {cfg.veto_rate_max:.0%}).",
                "RISK_CONFIG", sleeve, cv, {"veto_rate": rate, "asked": asked}, ctx.base,
                max_position_pct=cap))
    out += _allocation_rules(ctx)
    return out


def _allocation_rules(ctx: Context) -> list[Candidate]:
    policy, cv = ctx.policy
    excluded = set(policy.excluded)
    out = []
    dec = dict(zip(ctx.decisions["sleeve"].to_list(), ctx.decisions["decision"].to_list())) if ctx.decisions.height \
        else {}
    drop = sorted(s for s, d in dec.items() if d in ("KILL", "RETIRE") and s not in excluded)
    back = sorted(s for s, d in dec.items() if d == "PROMOTE" and s in excluded)
    if drop or back:
        new = sorted((excluded | set(drop)) - set(back))
        out.append(Candidate("sleeve_exclusion", "Decisions: " + ", ".join(f"{s} {dec[s]}" for s in drop + back) + ".",
                             "ALLOCATION_CONFIG", store.ALLOCATION_NAME, cv, {**cv.doc, "excluded": new},
                             {"decisions": {s: dec[s] for s in drop + back}}))
    a = ctx.allocation
    heavy = a.filter((pl.col("weight") > 0) & (pl.col("cvar_contribution") > 2 * pl.col("weight"))) if a.height else a
    if heavy.height:
        caps = dict(policy.max_weights)
        for r in heavy.iter_rows(named=True):
            caps[r["sleeve"]] = round(r["weight"] * 0.75, 4)
        out.append(Candidate("tail_concentration", "Tail risk concentrated: " + ", ".join(
            f"{r['sleeve']} {r['cvar_contribution']:.0%} of the CVaR on {r['weight']:.0%} of the capital"
            for r in heavy.iter_rows(named=True)) + ".", "ALLOCATION_CONFIG", store.ALLOCATION_NAME, cv,
            {**cv.doc, "max_weights": dict(sorted(caps.items()))},
            {"cvar_contribution": dict(zip(heavy["sleeve"].to_list(), heavy["cvar_contribution"].to_list()))}))
    return out


# ---------------------------------------------------------------------------------------------- evidence
def _stats(r: np.ndarray) -> dict:
    if not len(r):
        return {}
    s = stats.sharpe_ratio(r)
    return {"total_return": float(np.prod(1 + r) - 1), "sharpe": float(s) if np.isfinite(s) else None,
            "max_drawdown": float(stats.max_drawdown(r).depth)}


def compare(current: pl.DataFrame, proposed: pl.DataFrame, min_sessions: int, extra: dict | None = None) -> dict:
    """Evidence of proposed against current, from their (date, ret) series over the same sessions."""
    from scipy.stats import norm

    j = current.join(proposed, on="date", suffix="_p").drop_nulls().sort("date")
    a, b = j["ret"].to_numpy(), j["ret_p"].to_numpy()
    d = b - a
    sd = float(d.std(ddof=1)) if len(d) >= 2 else 0.0
    t = float(d.mean() / (sd / math.sqrt(len(d)))) if sd > 1e-15 else 0.0
    conf, notes = float(norm.cdf(t)), []
    ev = {"sessions": j.height, "start": str(j["date"][0]) if j.height else None,
          "end": str(j["date"][-1]) if j.height else None, "current": {**_stats(a), **(extra or {}).get("current", {})},
          "proposed": {**_stats(b), **(extra or {}).get("proposed", {})},
          "mean_difference_bps": float(d.mean() * 1e4) if len(d) else None, "t_stat": t}
    if ev["proposed"].get("max_drawdown", 0) < ev["current"].get("max_drawdown", 0) - 0.01:
        conf = min(conf, 0.5)
        notes.append("the proposal deepens the max drawdown by more than 1 point")
    sufficient = j.height >= min_sessions
    if not sufficient:
        conf = min(conf, 0.25)
        notes.append(f"{j.height} sessions of evidence, fewer than {min_sessions}")
    ev.update(confidence=conf, data_sufficient=sufficient, notes=notes,
              supported=bool(len(d) and d.mean() > 0))
    return ev


def allocation_evidence(returns: dict[str, pl.DataFrame], decisions: dict[str, str], current: AllocationPolicy,
                        proposed: AllocationPolicy, window: tuple[dt.date, dt.date], cfg: MeridianConfig) -> dict:
    """Combined returns of the sleeves over ``window`` with each policy's weights (module docstring)."""
    m = cfg.meta
    before = {n: f.filter(pl.col("date") < window[0]) for n, f in returns.items()}
    inside = {n: f.filter(pl.col("date").is_between(*window)) for n, f in returns.items()}
    in_sample = min((f.height for f in before.values()), default=0) < 20
    basis = inside if in_sample else before
    kw = dict(lookback=m.allocation_lookback_sessions, kappa=m.cvar_penalty, confidence=m.cvar_confidence,
              min_weight=m.min_sleeve_weight, max_weight=m.max_sleeve_weight, promote_tilt=m.promote_tilt)
    series, weights = {}, {}
    names, R, dates = returns_matrix(inside, 10**9)
    for label, policy in (("current", current), ("proposed", proposed)):
        w = allocate(basis, decisions, policy, **kw).weights
        weights[label] = {k: round(v, 6) for k, v in w.items()}
        series[label] = pl.DataFrame({"date": dates, "ret": R @ np.array([w.get(n, 0.0) for n in names])
                                      if names else []}, schema={"date": pl.Date, "ret": pl.Float64})
    ev = compare(series["current"], series["proposed"], m.min_evidence_sessions,
                 {"current": {"weights": weights["current"]}, "proposed": {"weights": weights["proposed"]}})
    ev["weights_from"] = "the evidence window itself (in sample)" if in_sample else "the sessions before the window"
    return ev


# ---------------------------------------------------------------------------------------------- rows
def proposal_id(batch_id: str, c: Candidate) -> str:
    h = hashlib.sha256(repr((batch_id, c.current.key, content_hash(c.proposed))).encode()).hexdigest()[:12]
    return f"mp-{h}"


def context_for_rationale(c: Candidate, evidence: dict) -> dict:
    return {"rule": c.rule, "rule_text": c.rule_text, "target_type": c.target_type, "target_id": c.target_id,
            "changes": c.changes, "diagnostics": c.diagnostics, "evidence": evidence,
            "confidence": evidence.get("confidence"), "data_sufficient": evidence.get("data_sufficient")}


def row(batch_id: str, created_at: dt.datetime, c: Candidate, evidence: dict, rationale: Rationale,
        cfg: MeridianConfig) -> dict:
    conf, ok = evidence.get("confidence"), bool(evidence.get("data_sufficient"))
    eligible, why = auto_apply_allowed(c.target_type, conf, ok, cfg.meta)
    return {"proposal_id": proposal_id(batch_id, c), "batch_id": batch_id, "created_at": created_at, "rule": c.rule,
            "target_type": c.target_type, "target_id": c.target_id, "config_key": c.current.key,
            "current_version": c.current.version, "current_config_snapshot_json": c.current.json,
            "current_config_hash": c.current.hash, "proposed_config_json": canonical_json(c.proposed),
            "proposed_config_hash": content_hash(c.proposed), "rationale_text": rationale.text,
            "rationale_source": rationale.source, "llm_call_id": rationale.call_id,
            "evidence_json": json.dumps({"diagnostics": c.diagnostics, "changes": c.changes, **evidence},
                                        sort_keys=True, default=str),
            "confidence": conf, "data_sufficient": ok, "auto_eligible": eligible, "status": PENDING,
            "note": "; ".join(x for x in (rationale.note, None if eligible else why) if x) or None}


def frame(rows: list[dict]) -> pl.DataFrame:
    return META_PROPOSALS.conform(pl.DataFrame(rows, infer_schema_length=None)) if rows else META_PROPOSALS.empty()


def pending_duplicates(existing: pl.DataFrame, c: Candidate) -> str | None:
    """The id of a PENDING proposal of the same change against the same config, if any."""
    if existing.is_empty():
        return None
    same = existing.filter((pl.col("status") == PENDING) & (pl.col("config_key") == c.current.key)
                           & (pl.col("current_config_hash") == c.current.hash)
                           & (pl.col("proposed_config_hash") == content_hash(c.proposed)))
    return same["proposal_id"][0] if same.height else None
