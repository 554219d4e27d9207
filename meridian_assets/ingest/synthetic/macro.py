"""Rates and credit, one observation per session, following the regime path.

A policy rate moves in 25 bp steps on meeting days (every ~30 sessions) toward a desired rate that drifts
around a neutral level in calm markets and collapses in a crisis (with emergency cuts). Bills sit on the
policy rate, 2-year yields price the expected path, the 10-year adds a mean-reverting term premium
(T10Y2Y = DGS10 - DGS2 exactly). The HY OAS mean-reverts toward a regime level and jumps on market falls.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import MACRO_SERIES
from meridian_assets.ingest.synthetic.common import S_MACRO, rng
from meridian_assets.ingest.synthetic.market import CALM, CRISIS, STRESSED

SERIES = ("DGS3MO", "DGS2", "DGS10", "T10Y2Y", "BAMLH0A0HYM2", "FEDFUNDS")
HY_LEVEL = {CALM: 3.4, STRESSED: 5.2, CRISIS: 8.5}


def build_macro(world) -> pl.DataFrame:
    core, clock = world.core, world.clock
    seed, T = world.seed, clock.T
    out = {k: np.zeros(T) for k in SERIES}
    policy, desired, neutral, tp, hy, exp2 = 1.375, 1.6, 2.6, 1.0, 3.5, 0.0
    since_crisis = 10_000
    for t in range(T):
        g = rng(seed, t, S_MACRO)
        z = g.standard_normal(6)
        reg = int(core.regime[t])
        neutral = float(np.clip(neutral + 0.01 * z[0], 1.5, 4.5))
        if reg == CRISIS:
            since_crisis = 0
            desired = max(0.125, desired - 0.05)
        else:
            since_crisis += 1
            pull = 0.004 if since_crisis > 120 else 0.0
            desired = desired + pull * (neutral + 0.6 - desired) + 0.01 * z[1]
        desired = float(np.clip(desired, 0.125, 6.0))
        if t % 30 == 0 or (reg == CRISIS and policy - desired > 0.75):
            gap = desired - policy
            step = np.sign(gap) * min(abs(round(gap / 0.25)) * 0.25, 0.5 if reg != CRISIS else 1.0)
            policy = float(np.clip(policy + step, 0.125, 6.0))
        exp2 = 0.97 * exp2 + 0.03 * (desired - policy)
        tp = tp + 0.01 * (0.9 - tp) + 0.035 * z[2] + (0.02 if reg == CRISIS else 0.0)
        hy_target = HY_LEVEL[reg]
        hy = hy + 0.04 * (hy_target - hy) + 0.05 * z[3] - 2.5 * min(core.mkt[t], 0.0) * (1 + reg)
        hy = max(hy, 2.3)
        ff = max(policy - 0.08 + 0.01 * z[4], 0.04)
        out["FEDFUNDS"][t] = ff
        out["DGS3MO"][t] = max(ff + 0.06 + 0.4 * exp2 + 0.02 * z[5], 0.01)
        dgs2 = max(policy + 0.8 * exp2 + 0.15 + 0.03 * z[0], 0.05)
        out["DGS2"][t] = dgs2
        out["DGS10"][t] = max(dgs2 + tp, 0.3)
        out["BAMLH0A0HYM2"][t] = hy
    for k in out:
        out[k] = np.round(out[k], 2)
    out["T10Y2Y"] = np.round(out["DGS10"] - out["DGS2"], 2)
    dates = clock.dates
    known = np.concatenate([dates[1:], [dates[-1] + 1]])  # the next session (last one: never served)
    frames = [pl.DataFrame(dict(date=dates, series_id=np.full(T, k, dtype=object), value=out[k], known_at=known))
              for k in SERIES]
    return MACRO_SERIES.conform(pl.concat(frames)).sort(["known_at", "series_id"])
