"""Regime labels of each session and the book's tail risk by regime.

Two labels per session:

* **VIX regime** from the ^VIX close of the session: LOW (< `vix_low`, 15), HIGH (> `vix_high`, 25), else
  NORMAL — the thresholds the win/loss slices use.
* **Market regime** of the embedded market (calm / stressed / crisis), when prices come from it. The
  embedded market's regime chain depends only on the seed and the session index (forced crisis episodes
  plus a Markov chain whose draw is the first of each session's core stream, see
  `meridian_assets.ingest.synthetic.market`), so it is replayed here without simulating the whole market;
  a test pins it to the simulated path. With another price provider there is no market regime ("n/a").

**CVaR by regime**: over the sessions of a date window, CVaR95 (the mean of the worst 5% of daily book
returns, `stats.cvar`) in each (VIX regime, market regime) cell, with ALL margins, in bps.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.ingest.synthetic.common import S_CORE, all_sessions, rng
from meridian_assets.ingest.synthetic.market import CALM, CRISIS, STRESSED, TRANSITIONS, forced_regimes
from meridian_assets.reporting import stats
from meridian_assets.reporting.schemas import CVAR_BY_REGIME

MARKET_REGIME_NAMES = {CALM: "calm", STRESSED: "stressed", CRISIS: "crisis"}
VIX_ORDER = ("LOW", "NORMAL", "HIGH")
MARKET_ORDER = ("calm", "stressed", "crisis")
ALL, NA = "ALL", "n/a"


def embedded_market_regimes(seed: int, epoch: dt.date, start: dt.date, end: dt.date) -> pl.DataFrame:
    """``(date, market_regime)`` of the embedded market for the sessions in [start, end]."""
    sessions = all_sessions()
    g0 = int(np.searchsorted(sessions, np.datetime64(epoch, "D"), "left"))
    g1 = int(np.searchsorted(sessions, np.datetime64(end, "D"), "right"))
    T = max(g1 - g0, 0)
    forced, _ = forced_regimes(seed, T)
    state, path = CALM, np.zeros(T, dtype=np.int8)
    for t in range(T):
        u = rng(seed, t, S_CORE).random()
        if forced[t] >= 0:
            state = int(forced[t])
        else:
            up, down = TRANSITIONS[state]
            if u < up:
                state = {CALM: STRESSED, STRESSED: CALM, CRISIS: STRESSED}[state]
            elif u > 1 - down:
                state = CRISIS
        path[t] = state
    dates = [d.item() for d in sessions[g0:g1]]
    frame = pl.DataFrame({"date": pl.Series(dates, dtype=pl.Date),
                          "market_regime": [MARKET_REGIME_NAMES[int(s)] for s in path]})
    return frame.filter(pl.col("date").is_between(start, end))


def market_regimes(cfg: MeridianConfig, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The embedded market's regimes when it serves the prices, else an empty frame."""
    if cfg.providers.prices != "synthetic":
        return pl.DataFrame(schema={"date": pl.Date, "market_regime": pl.Utf8})
    return embedded_market_regimes(cfg.synthetic.seed, cfg.synthetic.epoch, start, end)


def vix_regimes(prices: pl.DataFrame, low: float, high: float) -> pl.DataFrame:
    """``(date, vix, vix_regime)`` from the ^VIX closes in ``prices``."""
    vix = prices.filter(pl.col("ticker") == "^VIX").select("date", pl.col("close").alias("vix"))
    return vix.with_columns(
        pl.when(pl.col("vix") < low).then(pl.lit("LOW")).when(pl.col("vix") > high).then(pl.lit("HIGH"))
        .otherwise(pl.lit("NORMAL")).alias("vix_regime"))


def label_sessions(returns: pl.DataFrame, vix: pl.DataFrame, market: pl.DataFrame) -> pl.DataFrame:
    """``returns`` (date, ret) with vix_regime and market_regime (UNKNOWN / n/a where missing)."""
    out = returns.join(vix.select("date", "vix_regime"), on="date", how="left")
    out = out.join(market, on="date", how="left") if market.height else out.with_columns(
        pl.lit(None, dtype=pl.Utf8).alias("market_regime"))
    return out.with_columns(pl.col("vix_regime").fill_null("UNKNOWN"),
                            pl.col("market_regime").fill_null(NA if market.height == 0 else "UNKNOWN"))


def cvar_by_regime(labelled: pl.DataFrame, start: dt.date, end: dt.date, confidence: float = 0.95) -> pl.DataFrame:
    """The `cvar_by_regime` rows for the sessions of ``labelled`` in [start, end] (cells plus ALL margins)."""
    w = labelled.filter(pl.col("date").is_between(start, end)).drop_nulls("ret")
    if w.height == 0:
        return CVAR_BY_REGIME.empty()
    rows = []
    vix_keys = sorted(set(w["vix_regime"].to_list()), key=_vix_rank) + [ALL]
    mkt_keys = sorted(set(w["market_regime"].to_list()), key=_market_rank) + [ALL]
    for v in vix_keys:
        for m in mkt_keys:
            cell = w
            if v != ALL:
                cell = cell.filter(pl.col("vix_regime") == v)
            if m != ALL:
                cell = cell.filter(pl.col("market_regime") == m)
            if cell.height == 0:
                continue
            r = cell["ret"].to_numpy()
            rows.append({"window_start": start, "window_end": end, "vix_regime": v, "market_regime": m,
                         "observations": int(r.size), "cvar_bps": stats.cvar(r, confidence) * 1e4,
                         "var_bps": stats.value_at_risk(r, confidence) * 1e4, "mean_bps": float(r.mean() * 1e4)})
    return CVAR_BY_REGIME.conform(pl.DataFrame(rows))


def _vix_rank(v: str) -> int:
    return VIX_ORDER.index(v) if v in VIX_ORDER else len(VIX_ORDER)


def _market_rank(m: str) -> int:
    return MARKET_ORDER.index(m) if m in MARKET_ORDER else len(MARKET_ORDER)
