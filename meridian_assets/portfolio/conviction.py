"""Conviction-tilt book: the rule-based alternative to MVO (spec Layer 4, "Conviction-tilt").

Order of operations (each step on the output of the previous; deterministic, no randomness or solver):

1. **Equal weight** every name of each book (the 20/20 selection).
2. **Tilt**: a long name whose score is in the universe's top 5% (fewer than 5% of the universe score
   strictly higher) gets ``tilt_top5_multiplier`` (1.5×), top 10% ``tilt_top10_multiplier`` (1.25×);
   shorts likewise from the bottom (their conviction is a low score).
3. **Renormalise** each book to its gross: Σ long = ``long_exposure`` (0.80), Σ|short| = ``short_exposure``
   (0.70).
4. **Sector-neutralise**: in every sector holding both sides, give each side the same share of its book:
   ``f_s = (L_s/0.80 + S_s/0.70)/2``, longs scaled to ``0.80·f_s`` and shorts to ``0.70·f_s`` (so the
   sector's net is ``0.10·f_s``). One-sided sectors cannot be neutralised and are left as they are; the
   books are then renormalised (a no-op when every sector holds both sides).
5. **Caps and earnings**: cap_i = min(``max_position_pct`` (5% NAV), ``max_adv_pct`` × 20-day ADV$ / NAV).
   A name within ``earnings_half_size_days`` (5) of earnings is half-sized: fixed at
   min(w_i/2, cap_i/2) (the pre-trade rule "≤ 50% of the cap"). Weight above a cap, and nothing else, is
   water-filled pro rata onto the book's other uncapped, non-earnings names, so a book keeps its gross
   whenever its caps allow; the earnings halving is a real reduction and is not redistributed.
6. **Beta**: only if |βᵀw| > ``max_beta`` (0.15), scale the short book by ``k = −βᵀw_L / βᵀw_S`` so the net
   beta is zero, then clip shorts to their caps (the beta may then stay slightly off zero; reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from meridian_assets.portfolio.settings import PortfolioConfig
from meridian_assets.risk.settings import RiskConfig
from meridian_assets.portfolio.errors import DataError


@dataclass(frozen=True)
class ConvictionResult:
    """The conviction-tilt book (length-n ``weights``: longs > 0, shorts < 0) and how it was reached."""

    weights: np.ndarray
    multipliers: np.ndarray
    caps: np.ndarray
    capped: np.ndarray
    earnings_halved: np.ndarray
    beta_before: float
    beta_after: float
    short_scale: float

    @property
    def long_gross(self) -> float:
        return float(self.weights[self.weights > 0].sum())

    @property
    def short_gross(self) -> float:
        return float(-self.weights[self.weights < 0].sum())


def _water_fill(w: np.ndarray, caps: np.ndarray, fixed: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip ``w`` (≥ 0) at ``caps``; spread the excess pro rata over free names until Σ = total or all capped."""
    w = w.copy()
    capped = np.zeros(len(w), dtype=bool)
    for _ in range(len(w) + 1):
        over = (w > caps + 1e-15) & ~fixed
        capped |= over
        w[capped] = caps[capped]
        free = ~capped & ~fixed
        missing = total - w.sum()
        if missing <= 1e-15 or not free.any() or w[free].sum() <= 0:
            break
        w[free] *= 1.0 + missing / w[free].sum()
        if not (w[free] > caps[free] + 1e-15).any():
            break
    return w, capped


def conviction_tilt(scores, long_names: Sequence[int], short_names: Sequence[int], sectors, beta,
                    adv_dollars=None, cfg: PortfolioConfig | None = None, *, nav: float | None = None,
                    days_to_earnings=None, limits: RiskConfig | None = None) -> ConvictionResult:
    """Conviction-tilt weights for the universe (arrays of length n; books as index lists).

    ``scores`` composite 0–100; ``adv_dollars`` 20-day average dollar volume (None: no liquidity cap);
    ``days_to_earnings`` calendar or trading days to the next report (NaN / negative: none known);
    ``nav`` defaults to ``cfg.capital_base``; the caps and the beta limit come from ``limits`` (the `risk` block).
    """
    cfg = cfg or PortfolioConfig()
    lim = limits or RiskConfig()
    nav = cfg.capital_base if nav is None else float(nav)
    s = np.asarray(scores, dtype=float)
    n = len(s)
    L, S = np.asarray(long_names, dtype=int), np.asarray(short_names, dtype=int)
    b = np.asarray(beta, dtype=float)
    sec = np.asarray(sectors)
    if not np.isfinite(s).all() or b.shape != (n,) or not np.isfinite(b).all() or sec.shape != (n,):
        raise DataError("conviction_inputs", f"scores, beta and sectors must be {n} finite values")
    if len(L) == 0 or len(S) == 0 or np.intersect1d(L, S).size:
        raise DataError("books", "both books need names and no name may be in both")

    # 1-2. equal weight, tilt by universe rank (strictly better names / n).
    mult = np.zeros(n)
    higher = (s[None, :] > s[:, None]).sum(axis=1) / n
    lower = (s[None, :] < s[:, None]).sum(axis=1) / n
    for idx, frac in ((L, higher), (S, lower)):
        mult[idx] = np.where(frac[idx] < 0.05, cfg.tilt_top5_multiplier,
                             np.where(frac[idx] < 0.10, cfg.tilt_top10_multiplier, 1.0))

    # 3. renormalise each book to its gross (magnitudes; the short sign is applied at the end).
    mag = np.zeros(n)
    mag[L] = cfg.long_exposure * mult[L] / mult[L].sum()
    mag[S] = cfg.short_exposure * mult[S] / mult[S].sum()

    # 4. sector-neutralise sectors that hold both sides, then renormalise.
    for sector in np.unique(sec[np.concatenate([L, S])]):
        ls, ss = L[sec[L] == sector], S[sec[S] == sector]
        if len(ls) and len(ss):
            f = (mag[ls].sum() / cfg.long_exposure + mag[ss].sum() / cfg.short_exposure) / 2
            mag[ls] *= cfg.long_exposure * f / mag[ls].sum()
            mag[ss] *= cfg.short_exposure * f / mag[ss].sum()
    mag[L] *= cfg.long_exposure / mag[L].sum()
    mag[S] *= cfg.short_exposure / mag[S].sum()

    # 5. caps (NAV, ADV) and earnings half-size, then water-fill each book.
    caps = np.full(n, lim.max_position_pct)
    if adv_dollars is not None:
        adv = np.asarray(adv_dollars, dtype=float)
        if adv.shape != (n,) or not np.isfinite(adv).all() or (adv < 0).any():
            raise DataError("conviction_inputs", "adv_dollars must be finite and >= 0", field="adv_dollars")
        caps = np.minimum(caps, lim.max_adv_pct * adv / nav)
    halved = np.zeros(n, dtype=bool)
    if days_to_earnings is not None:
        d = np.asarray(days_to_earnings, dtype=float)
        halved = np.isfinite(d) & (d >= 0) & (d <= cfg.earnings_half_size_days)
    halved &= mag > 0
    caps = np.where(halved, caps / 2, caps)
    mag = np.where(halved, np.minimum(mag / 2, caps), mag)
    capped = np.zeros(n, dtype=bool)
    for idx in (L, S):
        # target = the book's gross after halving: cap excess is redistributed, the halving is not
        mag[idx], capped[idx] = _water_fill(mag[idx], caps[idx], halved[idx], mag[idx].sum())
    w = mag.copy()
    w[S] = -w[S]

    # 6. beta: scale shorts only when |net beta| exceeds the limit.
    beta_before = float(b @ w)
    k = 1.0
    if abs(beta_before) > lim.max_beta:
        bl, bs = float(b[L] @ w[L]), float(b[S] @ w[S])
        if bs != 0 and -bl / bs > 0:
            k = -bl / bs
            w[S] = -np.minimum(-w[S] * k, caps[S])
            capped[S] |= -w[S] >= caps[S] - 1e-15
    return ConvictionResult(weights=w, multipliers=mult, caps=caps, capped=capped, earnings_halved=halved,
                            beta_before=beta_before, beta_after=float(b @ w), short_scale=k)
