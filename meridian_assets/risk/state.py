"""The risk state: one document with everything Layer 5 knows about the book today (`risk_state.json`).

Built by `build_risk_state` from plain inputs (no database): the NAV history and positions of the book, the
factor model restricted to the held names, the monitors' inputs and the halt lock. Contents:

    as_of, nav, daily / weekly P&L and return, drawdown and peak, trading_state (ACTIVE / REDUCING / HALTED),
    halted + halt record, breakers (actions, events, size multiplier, force-close list), breaker_log (the last
    50 events, carried over from the previous state), exposures (long, short, gross, net, beta), ex-ante
    decomposition (σ, factor vs specific variance), factor contributions, top-10 MCTR positions, factor
    monitor, correlation monitor, tail risk, stress scenarios, and the alerts a person should read first.

`trading_state` is the most severe of the breakers' state, HALTED when the halt lock is present, and
REDUCING when the tail-risk monitor asks for less gross.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.breakers import BreakerReport, evaluate_breakers, unrealized_pnl
from meridian_assets.risk.factor_model import FactorModel
from meridian_assets.risk.halt_lock import HaltRecord
from meridian_assets.risk.monitors import FactorExposure, correlation_monitor, tail_risk
from meridian_assets.risk.states import TradingState
from meridian_assets.risk.stress import StressResult

BREAKER_LOG_SIZE = 50
TOP_MCTR = 10


@dataclass(frozen=True)
class RiskInputs:
    as_of: dt.date
    history: pl.DataFrame  # portfolio_history rows up to as_of
    positions: pl.DataFrame  # portfolio_positions: ticker, sector, shares, avg_cost, last_price, market_value
    model: FactorModel | None = None  # restricted to positions' tickers, in their order
    factor_monitor: tuple[FactorExposure, ...] = ()
    long_returns: np.ndarray | None = None
    short_returns: np.ndarray | None = None
    vix: float | None = None
    hy_oas: tuple[float, ...] | None = None
    stress: tuple[StressResult, ...] = ()
    halt: HaltRecord | None = None
    previous_log: tuple[dict, ...] = ()


def _loss_figures(history: pl.DataFrame) -> dict:
    nav = history["nav"].to_list()
    last = nav[-1]
    prev = nav[-2] if len(nav) >= 2 else last
    week = nav[-6] if len(nav) >= 6 else nav[0]
    peak = max(nav)
    return {"nav": last, "daily_pnl": last - prev, "daily_return": last / prev - 1.0, "weekly_pnl": last - week,
            "weekly_return": last / week - 1.0, "drawdown": 1.0 - last / peak, "peak_nav": peak}


def build_risk_state(inp: RiskInputs, cfg: RiskConfig) -> tuple[dict, BreakerReport | None]:
    """The risk-state document and the breaker report behind it (None without a book)."""
    doc: dict = {"as_of": inp.as_of.isoformat(),
                 "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    alerts: list[str] = []
    report = None
    pos = inp.positions
    if inp.history.height:
        doc.update(_loss_figures(inp.history))
        report = evaluate_breakers(inp.history["nav"].to_list(), unrealized_pnl(pos), cfg)
        doc["breakers"] = {
            "state": report.state.value, "actions": [a.value for a in report.actions],
            "size_multiplier": report.size_multiplier, "force_close": list(report.force_close),
            "events": [{"trigger": e.trigger, "action": e.action.value, "value": e.value, "threshold": e.threshold,
                        "ticker": e.ticker} for e in report.events]}
        alerts += [f"{e.action.value}: {e.trigger}{' ' + e.ticker if e.ticker else ''} {e.value:.2%} > "
                   f"{e.threshold:.2%}" for e in report.events]
    else:
        doc.update({"nav": None, "breakers": {"state": "ACTIVE", "actions": [], "events": [],
                                              "size_multiplier": 1.0, "force_close": []}})
    new_events = [{"as_of": inp.as_of.isoformat(), **e} for e in doc["breakers"]["events"]]
    kept = [e for e in inp.previous_log if e.get("as_of") != inp.as_of.isoformat()]
    doc["breaker_log"] = (kept + new_events)[-BREAKER_LOG_SIZE:]

    nav = doc.get("nav") or 1.0
    mv = pos["market_value"].to_numpy().astype(float) if pos.height else np.zeros(0)
    long_v, short_v = float(mv[mv > 0].sum()), float(-mv[mv < 0].sum())
    w = mv / nav
    doc["exposures"] = {"long": long_v / nav, "short": short_v / nav, "gross": (long_v + short_v) / nav,
                        "net": (long_v - short_v) / nav, "positions": int(pos.height),
                        "beta": float(inp.history["beta"][-1]) if inp.history.height and
                        inp.history["beta"][-1] is not None else None}
    if inp.model is not None and pos.height and np.abs(w).sum() > 0:
        d = inp.model.decompose(w)
        doc["decomposition"] = {"sigma": d.sigma, "factor_variance": d.factor_variance,
                                "specific_variance": d.specific_variance,
                                "factor_share": d.factor_variance / d.total_variance}
        doc["factor_contributions"] = {k: v for k, v in sorted(d.factor_contributions.items(),
                                                               key=lambda kv: -abs(kv[1]))}
        order = [int(i) for i in np.argsort(-d.mctr)[:TOP_MCTR]]
        doc["top_mctr"] = [{"ticker": pos["ticker"][i], "weight": float(w[i]), "mctr": float(d.mctr[i]),
                            "mctr_pct": float(d.mctr_pct[i]), "flagged": bool(d.flagged[i])} for i in order]
        flagged = [pos["ticker"][int(i)] for i in np.flatnonzero(d.flagged)]
        if flagged:
            alerts.append(f"MCTR > 1.5x weight: {', '.join(flagged)}")
    doc["factor_monitor"] = [{"factor": f.factor, "long": f.long, "short": f.short, "spread": f.spread, "z": f.z,
                              "alert": f.alert} for f in inp.factor_monitor]
    alerts += [f"factor exposure {f.factor}: z {f.z:+.2f}" for f in inp.factor_monitor if f.alert]
    if inp.long_returns is not None and inp.short_returns is not None:
        corr = correlation_monitor(inp.long_returns, inp.short_returns, cfg)
        doc["correlation"] = {k: {"avg_pairwise": c.avg_pairwise, "effective_bets": c.effective_bets,
                                  "names": c.n_names, "alert": c.alert} for k, c in corr.items()}
        alerts += [f"{k} book average correlation {c.avg_pairwise:.2f} > {cfg.correlation_alert:.2f}"
                   for k, c in corr.items() if c.alert]
    tail = tail_risk(inp.vix, inp.hy_oas, cfg)
    doc["tail_risk"] = {"vix": inp.vix, "credit_z": tail.credit_z, "gross_multiplier": tail.gross_multiplier,
                        "reasons": list(tail.reasons)}
    alerts += list(tail.reasons)
    doc["stress"] = [r.__dict__ for r in inp.stress]

    state = report.state if report is not None else TradingState.ACTIVE
    if state is TradingState.ACTIVE and tail.gross_multiplier < 1.0:
        state = TradingState.REDUCING
    if inp.halt is not None:
        state = TradingState.HALTED
        alerts.insert(0, f"HALTED: {inp.halt.reason} (since {inp.halt.created_at})")
    doc["trading_state"] = state.value
    doc["halted"] = inp.halt is not None
    doc["halt"] = None if inp.halt is None else {"reason": inp.halt.reason, "created_at": inp.halt.created_at,
                                                 "triggers": inp.halt.triggers}
    doc["alerts"] = alerts
    return doc, report


def write_json_atomic(path, doc: dict) -> None:
    """Write ``doc`` as JSON via a temp file and `os.replace`, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
