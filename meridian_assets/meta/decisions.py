"""PROMOTE / KEEP / KILL / RETIRE per sleeve, from its live record against its backtest, its drawdown and its
behaviour in the current regime — each with the evidence that decided it.

**Windows.** A sleeve's record is its daily returns over the backtest window. Its *live* window is the part
after its config version took effect (out of sample) when that holds at least ``min_live_sessions``, else its
last ``live_sessions`` sessions (its paper record); the *backtest* window is everything before. Fewer than
``min_live_sessions`` in either: KEEP, data insufficient, low confidence.

**Rules**, first match wins (thresholds in meta config):

    KILL     live drawdown deeper than ``kill_drawdown``, or live Sharpe below 0, more than
             ``kill_sharpe_gap`` under the backtest Sharpe and significantly so (≥ 1.645 standard errors of the
             difference): the sleeve stopped working
    RETIRE   Sharpe over the whole record below ``retire_sharpe`` and the live window no better, or redundant:
             daily returns correlated ≥ ``retire_correlation`` with a sleeve of higher Sharpe
    PROMOTE  live Sharpe ≥ ``promote_sharpe`` and not significantly under the backtest's (less than 1.645
             standard errors of the difference), live drawdown within ``drawdown_budget``, and not losing in
             the current regime
    KEEP     otherwise

**Regime behaviour**: the Sharpe of the sleeve over the sessions of the current VIX regime (needs
``regime_min_sessions``); below ``regime_sharpe_floor`` blocks a PROMOTE and is reported.

**Confidence**: the probability, under the normal approximation, that the statistic behind the decision is on
the side of its threshold — with Lo's (2002) standard error of an annualised Sharpe ratio over n days,
``SE = √((1 + SR_d²/2) / n) · √252`` (of a difference of two: √(SE₁² + SE₂²)) — scaled by the live
window's completeness.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from meridian_assets.meta.schemas import SLEEVE_DECISIONS
from meridian_assets.meta.settings import MetaConfig
from meridian_assets.reporting import stats

DECISIONS = ("PROMOTE", "KEEP", "KILL", "RETIRE")
Z = 1.6448536269514722  # scipy.stats.norm.ppf(0.95), one-sided 5%: a gap smaller than this many standard errors is noise


def _sharpe(r: np.ndarray) -> float | None:
    s = stats.sharpe_ratio(r) if len(r) >= 2 else float("nan")
    return float(s) if np.isfinite(s) else None


def sharpe_se(sharpe: float | None, n: int) -> float:
    """Lo's standard error of an annualised Sharpe ratio estimated from ``n`` daily returns."""
    d = (sharpe or 0.0) / math.sqrt(stats.TRADING_DAYS)
    return math.sqrt((1 + d * d / 2) / max(n, 1)) * math.sqrt(stats.TRADING_DAYS)


def _drawdown(r: np.ndarray) -> float:
    return float(stats.max_drawdown(r).depth) if len(r) else 0.0


@dataclass(frozen=True)
class SleeveRecord:
    name: str
    version: int
    returns: pl.DataFrame  # date, ret
    effective_from: dt.date | None = None  # the date its config version took effect


def _windows(rec: SleeveRecord, cfg: MetaConfig) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    r = rec.returns.sort("date")
    if rec.effective_from is not None:
        live = r.filter(pl.col("date") >= rec.effective_from)
        if live.height >= cfg.min_live_sessions:
            return r.filter(pl.col("date") < rec.effective_from), live, "since the config version took effect"
    return r.head(max(r.height - cfg.live_sessions, 0)), r.tail(min(cfg.live_sessions, r.height)), \
        f"the last {cfg.live_sessions} sessions (paper)"


def decide(records: list[SleeveRecord], regimes: pl.DataFrame, cfg: MetaConfig, as_of: dt.date,
           run_id: str | None = None) -> pl.DataFrame:
    """The `sleeve_decisions` rows. ``regimes``: date, vix_regime (the last row's is the current regime)."""
    reg = regimes.filter(pl.col("date") <= as_of).sort("date")
    current = reg["vix_regime"][-1] if reg.height else None
    full = {rec.name: rec.returns.sort("date") for rec in records}
    sharpes = {n: _sharpe(f["ret"].to_numpy()) for n, f in full.items()}
    rows = []
    for rec in records:
        bt, live, window = _windows(rec, cfg)
        rb, rl = bt["ret"].to_numpy(), live["ret"].to_numpy()
        s_bt, s_live, s_all = _sharpe(rb), _sharpe(rl), sharpes[rec.name]
        dd_live, dd_bt = _drawdown(rl), _drawdown(rb)
        in_regime = full[rec.name].join(reg.select("date", "vix_regime"), on="date").filter(
            pl.col("vix_regime") == current)["ret"].to_numpy() if current else np.zeros(0)
        s_regime = _sharpe(in_regime) if len(in_regime) >= cfg.regime_min_sessions else None
        twin, corr = _closest_better(rec.name, full, sharpes)
        ev = {"window": window, "live_sessions": len(rl), "backtest_sessions": len(rb),
              "live_sharpe": s_live, "backtest_sharpe": s_bt, "record_sharpe": s_all,
              "live_drawdown": dd_live, "backtest_drawdown": dd_bt, "live_return": float(np.prod(1 + rl) - 1),
              "current_regime": current, "regime_sessions": int(len(in_regime)), "regime_sharpe": s_regime,
              "closest_better_sleeve": twin, "correlation_with_it": corr,
              "thresholds": {k: getattr(cfg, k) for k in ("kill_drawdown", "kill_sharpe_gap", "retire_sharpe",
                                                          "retire_correlation", "promote_sharpe", "drawdown_budget",
                                                          "regime_sharpe_floor", "min_live_sessions")}}
        decision, reason, conf = _rule(ev, cfg)
        sufficient = len(rl) >= cfg.min_live_sessions and len(rb) >= cfg.min_live_sessions
        if not sufficient:
            decision, reason, conf = "KEEP", (f"insufficient data: {len(rl)} live and {len(rb)} backtest sessions "
                                              f"(needs {cfg.min_live_sessions} each)"), 0.0
        rows.append({"as_of": as_of, "sleeve": rec.name, "sleeve_version": rec.version, "decision": decision,
                     "reason": reason, "confidence": round(conf * min(1.0, len(rl) / cfg.live_sessions), 6),
                     "data_sufficient": sufficient, "live_sessions": len(rl), "live_sharpe": s_live,
                     "backtest_sharpe": s_bt, "live_drawdown": dd_live, "backtest_drawdown": dd_bt,
                     "current_regime": current, "regime_sharpe": s_regime,
                     "evidence_json": json.dumps(ev, sort_keys=True, default=str), "run_id": run_id})
    return SLEEVE_DECISIONS.conform(pl.DataFrame(rows)) if rows else SLEEVE_DECISIONS.empty()


def _closest_better(name: str, full: dict[str, pl.DataFrame], sharpes: dict[str, float | None]):
    """The most correlated sleeve with a higher Sharpe, and the correlation."""
    own = sharpes.get(name)
    best, best_c = None, None
    for other, f in full.items():
        so = sharpes.get(other)
        if other == name or so is None or (own is not None and so <= own):
            continue
        j = full[name].join(f, on="date", suffix="_o").drop_nulls()
        if j.height < 20:
            continue
        c = float(np.corrcoef(j["ret"].to_numpy(), j["ret_o"].to_numpy())[0, 1])
        if np.isfinite(c) and (best_c is None or c > best_c):
            best, best_c = other, c
    return best, best_c


def _rule(ev: dict, cfg: MetaConfig) -> tuple[str, str, float]:
    from scipy.stats import norm

    n_live, n_bt = ev["live_sessions"], ev["backtest_sessions"]
    live, bt, whole = ev["live_sharpe"], ev["backtest_sharpe"], ev["record_sharpe"]
    se_live = sharpe_se(live, n_live)
    se_gap = math.hypot(se_live, sharpe_se(bt, n_bt))
    if ev["live_drawdown"] < -cfg.kill_drawdown:
        return "KILL", f"live drawdown {ev['live_drawdown']:.2%} beyond the {cfg.kill_drawdown:.0%} limit", 1.0
    if (live is not None and bt is not None and live < 0 and bt - live > cfg.kill_sharpe_gap
            and (bt - live) / se_gap >= Z):
        return "KILL", (f"live Sharpe {live:.2f} is {bt - live:.2f} under the backtest's {bt:.2f} (gap limit "
                        f"{cfg.kill_sharpe_gap:g}, {(bt - live) / se_gap:.1f} standard errors)"), \
            float(norm.cdf((bt - live) / se_gap))
    if whole is not None and whole < cfg.retire_sharpe and (live is None or live <= cfg.retire_sharpe):
        z = (cfg.retire_sharpe - whole) / sharpe_se(whole, n_live + n_bt)
        return "RETIRE", f"Sharpe {whole:.2f} over the record, live no better: it earns nothing", float(norm.cdf(z))
    if ev["correlation_with_it"] is not None and ev["correlation_with_it"] >= cfg.retire_correlation:
        return "RETIRE", (f"redundant: {ev['correlation_with_it']:.2f} correlated with "
                          f"{ev['closest_better_sleeve']}, which has the higher Sharpe"), \
            float(ev["correlation_with_it"])
    regime_ok = ev["regime_sharpe"] is None or ev["regime_sharpe"] >= cfg.regime_sharpe_floor
    candidate = (live is not None and live >= cfg.promote_sharpe and (bt is None or live >= bt - Z * se_gap)
                 and ev["live_drawdown"] >= -cfg.drawdown_budget)
    if candidate and regime_ok:
        return "PROMOTE", (f"live Sharpe {live:.2f} (backtest {bt if bt is not None else float('nan'):.2f}), "
                           f"drawdown {ev['live_drawdown']:.2%}, holding up in the {ev['current_regime']} regime"), \
            float(norm.cdf((live - cfg.promote_sharpe) / se_live))
    if candidate:
        return "KEEP", (f"Sharpe {ev['regime_sharpe']:.2f} in the current {ev['current_regime']} regime blocks a "
                        "promotion"), 0.5
    return "KEEP", "within its thresholds", 0.5
