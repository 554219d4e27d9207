"""Diagnostics over the sleeves' backtests and the live book (plain functions; the assets write the tables).

* **Performance by regime** (VIX regime of the session: LOW / NORMAL / HIGH at `reporting.vix_low/high`; the
  embedded market's regime: calm / stressed / crisis), **by sleeve** (the whole window) — from daily returns:
  observations, mean and volatility (bps), annualised Sharpe, CVaR95 (bps), share of positive days.
* **By sector**: each sleeve's P&L per sector over the window (dollars, before costs), from the backtest book.
* **By score bucket**: trades that open or add (BUY / SHORT) by the score at decision, in quintiles Q1 (0–20)
  … Q5 (80–100): the mean side-adjusted forward return (bps) and hit rate — does a higher score pay?
* **Live vs backtest**: the live book's daily return (`portfolio_history`) against the backtest of the sleeve
  it follows over the same sessions; tracking error and correlation go in the metadata.
* **Vetoes and breakers**: per sleeve (and the live book), pre-trade vetoes by reason code — how many, their
  share of the trades asked for, the notional, and their impact = Σ notional × forward return / mean NAV (bps;
  positive: the veto cost gains, negative: it avoided losses); breaker sessions by trading state — share of
  sessions, and the book's mean return on the session after (bps) against its mean on all sessions.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl

from meridian_assets.meta.schemas import META_LIVE_VS_BACKTEST, META_PERFORMANCE, META_RISK_EVENTS
from meridian_assets.reporting import stats

LIVE = "live_book"
BUCKETS = ((0, 20, "Q1 0-20"), (20, 40, "Q2 20-40"), (40, 60, "Q3 40-60"), (60, 80, "Q4 60-80"), (80, 101, "Q5 80-100"))
_CODE = re.compile(r"\b([A-Z][A-Z_]{3,}):")


def _perf(r: np.ndarray) -> dict:
    r = r[np.isfinite(r)]
    if not len(r):
        return {"observations": 0}
    s = stats.sharpe_ratio(r) if len(r) >= 2 else float("nan")
    return {"observations": len(r), "mean_bps": float(r.mean() * 1e4),
            "volatility_bps": float(r.std(ddof=1) * 1e4) if len(r) >= 2 else None,
            "sharpe": float(s) if np.isfinite(s) else None, "cvar_bps": float(stats.cvar(r, 0.95) * 1e4),
            "hit_rate": float((r > 0).mean())}


def performance(returns: dict[str, pl.DataFrame], regimes: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Rows of dimensions ``sleeve``, ``vix_regime`` and ``market_regime``. ``returns``: name -> (date, ret)."""
    rows = []
    for name, f in sorted(returns.items()):
        rows.append({"dimension": "sleeve", "sleeve": name, "bucket": "ALL", **_perf(f["ret"].to_numpy())})
        lab = f.join(regimes, on="date", how="left")
        for col in ("vix_regime", "market_regime"):
            if col not in lab.columns:
                continue
            for (k,), g in lab.group_by(col, maintain_order=True):
                rows.append({"dimension": col, "sleeve": name, "bucket": k or "UNKNOWN", **_perf(g["ret"].to_numpy())})
    return _frame(rows, as_of)


def sectors(sector_pnl: dict[str, dict[str, float]], as_of: dt.date) -> pl.DataFrame:
    """Rows of dimension ``sector``: sleeve -> {sector: P&L $}."""
    rows = [{"dimension": "sector", "sleeve": s, "bucket": sec, "pnl": pnl}
            for s, by in sorted(sector_pnl.items()) for sec, pnl in sorted(by.items())]
    return _frame(rows, as_of)


def score_buckets(trades: dict[str, pl.DataFrame], as_of: dt.date) -> pl.DataFrame:
    """Rows of dimension ``score_bucket`` from the filled BUY / SHORT trades' forward returns."""
    rows = []
    for s, t in sorted(trades.items()):
        opened = t.filter(pl.col("status").is_in(["FILLED", "PARTIAL"]) & pl.col("action").is_in(["BUY", "SHORT"])
                          & pl.col("score").is_not_null() & pl.col("fwd_return").is_not_null())
        for lo, hi, name in BUCKETS:
            g = opened.filter((pl.col("score") >= lo) & (pl.col("score") < hi))
            r = g["fwd_return"].to_numpy()
            if len(r):
                rows.append({"dimension": "score_bucket", "sleeve": s, "bucket": name, "observations": len(r),
                             "mean_bps": float(r.mean() * 1e4), "hit_rate": float((r > 0).mean()),
                             "pnl": float((g["notional"] * g["fwd_return"]).sum())})
    return _frame(rows, as_of)


def _frame(rows: list[dict], as_of: dt.date) -> pl.DataFrame:
    if not rows:
        return META_PERFORMANCE.empty()
    return META_PERFORMANCE.conform(pl.DataFrame(rows, infer_schema_length=None).with_columns(as_of=pl.lit(as_of)))


def live_vs_backtest(live: pl.DataFrame, backtest: pl.DataFrame, sleeve: str, as_of: dt.date
                     ) -> tuple[pl.DataFrame, dict]:
    """Rows over the sessions both cover, and a summary (sessions, gap, tracking error, correlation)."""
    j = (live.select("date", pl.col("ret").alias("live_return"))
         .join(backtest.select("date", pl.col("ret").alias("backtest_return")), on="date").drop_nulls().sort("date"))
    if j.is_empty():
        return META_LIVE_VS_BACKTEST.empty(), {"sessions": 0, "sleeve": sleeve}
    j = j.with_columns(
        live_cum_bps=((pl.col("live_return") + 1).cum_prod() - 1) * 1e4,
        backtest_cum_bps=((pl.col("backtest_return") + 1).cum_prod() - 1) * 1e4,
    ).with_columns(gap_bps=pl.col("live_cum_bps") - pl.col("backtest_cum_bps"), sleeve=pl.lit(sleeve),
                   as_of=pl.lit(as_of))
    d = (j["live_return"] - j["backtest_return"]).to_numpy()
    a, b = j["live_return"].to_numpy(), j["backtest_return"].to_numpy()
    corr = float(np.corrcoef(a, b)[0, 1]) if len(a) >= 3 and a.std() > 0 and b.std() > 0 else None
    summary = {"sleeve": sleeve, "sessions": j.height, "gap_bps": float(j["gap_bps"][-1]),
               "tracking_error": float(d.std(ddof=1) * np.sqrt(stats.TRADING_DAYS)) if len(d) >= 2 else None,
               "correlation": corr}
    return META_LIVE_VS_BACKTEST.conform(j), summary


def veto_codes(reason: str | None) -> list[str]:
    """The reason codes of a veto's text (``POSITION_SIZE: …; BETA: …`` -> [POSITION_SIZE, BETA])."""
    return sorted(set(_CODE.findall(reason or ""))) or ["UNSPECIFIED"]


def risk_events(source: str, sleeve: str, trades: pl.DataFrame, daily: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Veto rows by reason code and breaker rows by trading state (module docstring).

    ``trades``: status, reason, notional, fwd_return (nullable), action; ``daily``: date, ret, nav, trading_state."""
    rows = []
    asked = trades.filter(pl.col("status").is_in(["FILLED", "PARTIAL", "UNFILLED", "VETOED", "PROPOSED"])).height
    mean_nav = float(daily["nav"].mean()) if daily.height and daily["nav"].mean() else None
    vetoed = trades.filter(pl.col("status") == "VETOED")
    if vetoed.height:
        exploded = vetoed.with_columns(code=pl.col("reason").map_elements(veto_codes, return_dtype=pl.List(pl.Utf8))
                                       ).explode("code")
        sign = pl.when(pl.col("action").is_in(["BUY", "COVER"])).then(1.0).otherwise(-1.0)
        for (code,), g in exploded.group_by("code", maintain_order=True):
            fwd = g.filter(pl.col("fwd_return").is_not_null())
            pnl = float((fwd["notional"].abs() * fwd["fwd_return"]).sum()) if fwd.height else None
            rows.append({"kind": "veto", "reason": code, "events": g.height,
                         "frequency": g.height / asked if asked else None,
                         "notional": float((g["notional"].abs() * g.select(sign).to_series()).sum()),
                         "impact_bps": 1e4 * pnl / mean_nav if pnl is not None and mean_nav else None})
    if daily.height and "trading_state" in daily.columns:
        d = daily.sort("date").with_columns(next_ret=pl.col("ret").shift(-1))
        base = d["ret"].drop_nulls().mean()
        for state in ("REDUCING", "HALTED"):
            g = d.filter(pl.col("trading_state") == state)
            nxt = g["next_ret"].drop_nulls()
            rows.append({"kind": "breaker", "reason": state, "events": g.height, "frequency": g.height / d.height,
                         "notional": None,
                         "impact_bps": float((nxt.mean() - base) * 1e4) if len(nxt) and base is not None else None})
    if not rows:
        return META_RISK_EVENTS.empty()
    return META_RISK_EVENTS.conform(pl.DataFrame(rows, infer_schema_length=None).with_columns(
        as_of=pl.lit(as_of), source=pl.lit(source), sleeve=pl.lit(sleeve)))
