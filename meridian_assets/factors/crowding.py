"""Factor crowding: recent pairwise correlations of factor returns against their literature baselines.

When many managers hold the same factor portfolios, the factors' returns move together (or against each
other) far more than their long-run relation suggests, and an unwind hits them all at once (the August 2007
quant crisis; Khandani & Lo 2007). We compare each pair's Pearson correlation of daily long-short returns
over the recent window with its long-run baseline and flag large deviations.

The baselines (``scoring.crowding_baselines``, keys ``"a|b"`` in either order) are long-run correlations of
the academic factor portfolios:

- momentum | value ~ -0.40: value and momentum are negatively correlated within and across asset classes
  (Asness, Moskowitz & Pedersen 2013, "Value and Momentum Everywhere", J. Finance 68(3)); cheap stocks tend
  to be recent losers.
- quality | value ~ -0.20: profitable, safe firms tend to trade at premium multiples, so quality is short
  "cheap junk" (Novy-Marx 2013, "The Other Side of Value"; Asness, Frazzini & Pedersen 2019, "Quality Minus
  Junk").
- momentum | quality ~ +0.10: a mild positive relation; recent winners are on average somewhat more
  profitable (AQR's QMJ and UMD series).
- growth | value ~ -0.30: growth is close to the mirror image of value (high-multiple, fast-growing firms;
  Fama & French 1992/1993 HML read from the growth side).

A pair without a baseline is reported with a null baseline and deviation and is never flagged.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from meridian_assets.factors.schemas import CROWDING_CORRELATIONS, PARENTS
from meridian_assets.factors.settings import ScoringConfig

_DEFAULTS = ScoringConfig()


def baseline_for(a: str, b: str, baselines: Mapping[str, float]) -> float | None:
    """The literature baseline of a factor pair, looked up as ``"a|b"`` or ``"b|a"``; None if absent."""
    for key in (f"{a}|{b}", f"{b}|{a}"):
        if key in baselines:
            return float(baselines[key])
    return None


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation over the days both series have a value; None below 3 days or with no variance."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return None
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else None


def crowding_correlations(
    factor_returns: pl.DataFrame,
    as_of: dt.date,
    window_days: int = _DEFAULTS.factor_return_window_days,
    baselines: Mapping[str, float] | None = None,
    deviation: float = _DEFAULTS.crowding_deviation,
    factors: Sequence[str] = PARENTS,
) -> pl.DataFrame:
    """Pairwise correlations of the parent factors' long-short returns (`CROWDING_CORRELATIONS`).

    The window is the last `window_days` sessions of `factor_returns` on or before `as_of`. For each pair
    (factor_a before factor_b in `factors` order) present in the frame: ``correlation`` is the Pearson
    correlation of their daily ``long_short_return`` over the days both have one (null below 3 days or if a
    series is constant); ``deviation`` = correlation - baseline; ``flagged`` when |deviation| > `deviation`.
    `baselines` defaults to ``ScoringConfig().crowding_baselines``.
    """
    baselines = _DEFAULTS.crowding_baselines if baselines is None else baselines
    # Only factors with returns on or before as_of take part (a factor may start later than others).
    before = factor_returns.filter(pl.col("date") <= as_of)
    present = set(before["factor"].unique().to_list()) if before.height else set()
    names = [f for f in factors if f in present]
    if len(names) < 2:
        return CROWDING_CORRELATIONS.empty()
    recent = before.filter(pl.col("factor").is_in(names))
    window = recent.select(pl.col("date").unique().sort().tail(window_days))
    wide = (
        recent.join(window, on="date")
        .pivot(on="factor", index="date", values="long_short_return")
        .sort("date")
    )
    rows = []
    for a, b in itertools.combinations(names, 2):
        x = wide[a].cast(pl.Float64).fill_null(np.nan).to_numpy()
        y = wide[b].cast(pl.Float64).fill_null(np.nan).to_numpy()
        corr = _pearson(x, y)
        base = baseline_for(a, b, baselines)
        dev = corr - base if corr is not None and base is not None else None
        rows.append({
            "as_of": as_of, "factor_a": a, "factor_b": b, "window_days": window_days,
            "correlation": corr, "baseline": base, "deviation": dev,
            "flagged": dev is not None and abs(dev) > deviation,
        })
    return CROWDING_CORRELATIONS.conform(pl.DataFrame(rows, schema=CROWDING_CORRELATIONS.columns))
