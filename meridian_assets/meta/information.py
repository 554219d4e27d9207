"""Information measures: the entropy of returns by regime, and the mutual information between config knobs and
outcomes across sleeve runs.

**Entropy of returns by regime.** Daily returns are binned on one grid shared by every sleeve and regime
(``bins`` equal-width bins between the 1st and 99th percentiles of all returns pooled, plus one open bin each
side), so the numbers compare. ``H = −Σ p_k ln p_k`` (nats) of a regime's histogram, and ``H / ln K`` (0: every
day in one bin, 1: spread evenly over the K bins). A config whose returns are low-entropy only in calm regimes
works only there.

**Mutual information knob → outcome.** Samples are (config, calendar month) pairs of the sleeve runs (runs
of the same config averaged); the outcome is the config's return that month less the mean of all configs that
month (so the market's month does not count as the knob's effect), cut into ``bins`` quantile bins; a knob's
value per config is taken as is when it has at most ``bins`` distinct values, else cut into quantile bins.
``I(K; Y) = Σ p(k,y) ln(p(k,y) / p(k)p(y))`` (plug-in, nats) and ``I / H(Y)`` (the share of the outcome's
uncertainty the knob explains). The p-value permutes the knob values *between configs* (months of a config stay
together) ``permutations`` times with a fixed seed: a small p says the knob moves performance; a knob that
never varies has no information (NaN, reported).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl

from meridian_assets.meta.schemas import META_INFORMATION

SEED = 20240601


def grid(pooled: np.ndarray, bins: int) -> np.ndarray:
    """Bin edges: ``bins`` equal-width bins over the 1st–99th percentile, open bins beyond."""
    x = pooled[np.isfinite(pooled)]
    if x.size == 0:
        return np.array([-np.inf, np.inf])
    lo, hi = np.percentile(x, [1, 99])
    if hi <= lo:
        lo, hi = lo - 1e-9, hi + 1e-9
    return np.concatenate([[-np.inf], np.linspace(lo, hi, bins + 1), [np.inf]])


def entropy(x: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    """(H in nats, H / ln K) of ``x`` on ``edges`` (K = number of bins)."""
    counts, _ = np.histogram(x[np.isfinite(x)], bins=edges)
    n = counts.sum()
    if n == 0:
        return float("nan"), float("nan")
    p = counts[counts > 0] / n
    h = float(-(p * np.log(p)).sum())
    return h, h / np.log(len(edges) - 1)


def labels(values: list, bins: int) -> np.ndarray:
    """Integer labels: the distinct values when there are at most ``bins``, else quantile bins."""
    arr = np.asarray(values, dtype=object)
    distinct = sorted({str(v) for v in values})
    if len(distinct) <= bins:
        lookup = {v: i for i, v in enumerate(distinct)}
        return np.array([lookup[str(v)] for v in values])
    x = np.asarray(arr, dtype=float)
    edges = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, x, side="right")


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information (nats) of two label arrays."""
    n = len(a)
    if n == 0:
        return float("nan")
    joint = {}
    for x, y in zip(a.tolist(), b.tolist()):
        joint[(x, y)] = joint.get((x, y), 0) + 1
    pa = {x: c / n for x, c in zip(*np.unique(a, return_counts=True))}
    pb = {y: c / n for y, c in zip(*np.unique(b, return_counts=True))}
    return float(sum(c / n * np.log((c / n) / (pa[x] * pb[y])) for (x, y), c in joint.items()))


def _entropy_labels(b: np.ndarray) -> float:
    _, c = np.unique(b, return_counts=True)
    p = c / c.sum()
    return float(-(p * np.log(p)).sum())


def entropy_by_regime(returns: dict[str, pl.DataFrame], regimes: pl.DataFrame, bins: int,
                      as_of: dt.date) -> pl.DataFrame:
    """`meta_information` rows (measure ``return_entropy``): per sleeve and VIX / market regime, and ALL."""
    pooled = np.concatenate([f["ret"].to_numpy() for f in returns.values()]) if returns else np.zeros(0)
    edges = grid(pooled, bins)
    rows = []
    for sleeve, f in sorted(returns.items()):
        lab = f.join(regimes, on="date", how="left")
        groups = [("ALL", lab)]
        for col in ("vix_regime", "market_regime"):
            if col in lab.columns:
                groups += [(f"{col}={k}", g) for (k,), g in lab.group_by(col, maintain_order=True)
                           if k is not None]
        for bucket, g in sorted(groups, key=lambda x: x[0]):
            h, hn = entropy(g["ret"].to_numpy(), edges)
            rows.append({"as_of": as_of, "measure": "return_entropy", "subject": sleeve, "bucket": bucket,
                         "value": h, "normalized": hn, "samples": g.height, "p_value": None,
                         "bins": len(edges) - 1})
    return META_INFORMATION.conform(pl.DataFrame(rows)) if rows else META_INFORMATION.empty()


def knob_information(runs: list[tuple[str, dict, pl.DataFrame]], bins: int, permutations: int,
                     as_of: dt.date) -> pl.DataFrame:
    """`meta_information` rows (measure ``knob_mutual_information``). ``runs``: (run_id, knobs, (date, ret)).

    Runs of the same config (the weekly sweeps repeat it) are one config: their months are averaged, so a config
    counts once per month and the permutation shuffles knob values between distinct configs."""
    monthly, knobs = [], {}
    for _, kn, daily in runs:
        config = json.dumps(kn, sort_keys=True, default=str)
        knobs[config] = kn
        m = (daily.with_columns(month=pl.col("date").dt.strftime("%Y-%m")).group_by("month")
             .agg(((pl.col("ret") + 1).product() - 1).alias("r"), pl.len().alias("n")).filter(pl.col("n") >= 5))
        monthly.append(m.with_columns(config=pl.lit(config)))
    if len(knobs) < 2:
        return META_INFORMATION.empty()
    panel = (pl.concat(monthly).group_by("config", "month").agg(pl.col("r").mean())
             .with_columns(excess=pl.col("r") - pl.col("r").mean().over("month")).sort("config", "month"))
    if panel.height < 4:
        return META_INFORMATION.empty()
    order = sorted(knobs)
    index = np.array([order.index(c) for c in panel["config"].to_list()])
    y = labels(panel["excess"].to_list(), bins)
    h_y = _entropy_labels(y)
    rng = np.random.default_rng(SEED)
    perms = [rng.permutation(len(order)) for _ in range(permutations)]
    rows = []
    for name in sorted({k for kn in knobs.values() for k in kn}):
        per_config = [knobs[c].get(name) for c in order]
        row = {"as_of": as_of, "measure": "knob_mutual_information", "subject": name,
               "bucket": "monthly_excess_return", "value": None, "normalized": None, "samples": panel.height,
               "p_value": None, "bins": bins}
        if len({str(v) for v in per_config}) >= 2:
            k = labels(per_config, bins)
            mi = mutual_information(k[index], y)
            null = [mutual_information(k[p][index], y) for p in perms]
            row.update(value=mi, normalized=mi / h_y if h_y > 0 else None,
                       p_value=(1 + sum(v >= mi - 1e-12 for v in null)) / (1 + len(null)) if null else None)
        rows.append(row)
    return META_INFORMATION.conform(pl.DataFrame(rows)).sort("value", descending=True, nulls_last=True)
