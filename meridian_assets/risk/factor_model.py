"""Barra-style (USE4-like) fundamental factor risk model: exposures, estimation and risk decomposition.

Three small pieces, pure numpy (polars accepted as input):

* `exposures` -- the exposure matrix ``X`` (n stocks x k factors) of one day: a ``market`` column of ones,
  one 0/1 dummy per GICS sector, and the standardised style factors.
* `estimate` -- daily cross-sectional weighted regressions of stock returns on ``X`` with the USE4
  industry constraint, giving factor returns ``f_t`` and residuals ``e_t``; then the annualised factor
  covariance ``F`` and the per-stock specific variances ``D``. Returns a `FactorModel`.
* `FactorModel.covariance` / `FactorModel.decompose` -- ``Sigma = X F X' + diag(D)`` and the split of a
  portfolio's risk into factor and specific parts, Euler contributions (MCTR) and concentration flags.

Everything is annualised with 252 sessions a year. Errors are `RiskModelError` with a message saying
what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.errors import MeridianError

__all__ = [
    "ANNUALISATION",
    "MARKET",
    "Exposures",
    "FactorModel",
    "RiskDecomposition",
    "RiskModelError",
    "estimate",
    "exposures",
    "standardise",
]

ANNUALISATION = 252
MARKET = "market"
WINSOR_Z = 3.0
MCTR_FLAG_MULTIPLE = 1.5
# Floor of the annualised specific variance (1% specific volatility): no stock is that well explained,
# and a zero would make the covariance singular.
SPECIFIC_VARIANCE_FLOOR = 1e-4


class RiskModelError(MeridianError):
    """The factor risk model cannot be built or used on these inputs; the message says why and what to fix."""


# ------------------------------------------------------------------------------------------------ exposures
def standardise(values: np.ndarray, cap_weights: np.ndarray, *, clip: float = WINSOR_Z, rounds: int = 200) -> np.ndarray:
    """One style descriptor -> exposures: cap-weighted mean 0, equal-weighted std 1, winsorised at ``clip``.

    With ``c_i = mcap_i / sum(mcap)`` over the stocks with a value (set ``A``)::

        z_i = (x_i - sum_A c_j x_j) / std_A(x)          (std: equal weights, ddof=0)

    then ``z`` is clipped to ``[-clip, clip]`` and re-standardised, repeated until clipping changes nothing
    (to 1e-9; at most ``rounds`` times). When that converges, mean 0 and std 1 hold exactly on ``A`` and
    ``|z| <= clip + 1e-9``. When it does not (cap weights so concentrated that no such ``z`` exists, e.g. a
    single stock with most of the cap), the bound wins: the result is clipped once more and the mean/std
    hold only approximately. Stocks without a value (NaN) get ``z = 0`` after standardising: the neutral, cap-weighted average exposure.
    A descriptor with no spread gets ``z = 0`` everywhere (a constant column would duplicate ``market``).
    """
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    z = np.zeros_like(x)
    if ok.sum() < 2:
        return z
    c = np.asarray(cap_weights, dtype=float)[ok]
    c = c / c.sum()
    v = x[ok]

    def _std(a: np.ndarray) -> np.ndarray | None:
        a = a - c @ a
        s = a.std()
        return None if s <= 1e-12 * max(1.0, np.abs(a).max()) else a / s

    s = _std(v)
    if s is None:
        return z
    for _ in range(rounds):
        if np.abs(s).max() <= clip + 1e-9:
            break
        nxt = _std(np.clip(s, -clip, clip))
        if nxt is None:
            break
        s = nxt
    else:  # no fixed point reached: keep the bound, give up exactness of mean/std
        s = np.clip(s, -clip, clip)
    z[ok] = s
    return z


@dataclass(frozen=True)
class Exposures:
    """One day's exposure matrix ``X`` (n x k): columns ``market``, the industries, then the styles.

    ``mcap`` (n) is carried along: the regression weights (``sqrt(mcap)``) and the industry constraint
    (cap weights) of `estimate` come from it.
    """

    X: np.ndarray
    factor_names: tuple[str, ...]
    industries: tuple[str, ...]
    styles: tuple[str, ...]
    mcap: np.ndarray
    tickers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n, k = self.X.shape
        if k != 1 + len(self.industries) + len(self.styles) or len(self.factor_names) != k:
            raise RiskModelError(f"exposures: {k} columns but names say 1 + {len(self.industries)} industries "
                                 f"+ {len(self.styles)} styles")
        if self.mcap.shape != (n,):
            raise RiskModelError(f"exposures: mcap has shape {self.mcap.shape}, expected ({n},)")
        if not np.all(np.isfinite(self.X)):
            raise RiskModelError("exposures: X contains NaN/inf (exposures must be finite; missing -> 0)")
        if not np.all(np.isfinite(self.mcap)) or np.any(self.mcap <= 0):
            raise RiskModelError("exposures: every market cap must be finite and > 0")
        if self.tickers is not None and len(self.tickers) != n:
            raise RiskModelError(f"exposures: {len(self.tickers)} tickers for {n} rows")

    @property
    def industry_columns(self) -> slice:
        return slice(1, 1 + len(self.industries))


def _column(data: Mapping[str, object] | pl.DataFrame, name: str, n: int) -> np.ndarray | None:
    if isinstance(data, pl.DataFrame):
        if name not in data.columns:
            return None
        col = data[name].cast(pl.Float64).to_numpy()
    else:
        if name not in data:
            return None
        col = np.asarray(data[name], dtype=float)
    if col.shape != (n,):
        raise RiskModelError(f"exposures: characteristic {name!r} has shape {col.shape}, expected ({n},)")
    return col


def exposures(
    sectors: Sequence[str] | np.ndarray | pl.Series,
    mcap: Sequence[float] | np.ndarray | pl.Series,
    characteristics: Mapping[str, object] | pl.DataFrame,
    *,
    styles: Sequence[str] | None = None,
    industries: Sequence[str] | None = None,
    tickers: Sequence[str] | None = None,
) -> Exposures:
    """The exposure matrix of one day from sectors, market caps and raw style descriptors.

    ``X = [1 | S | Z]``: a ``market`` column of ones; ``S[i, j] = 1`` when stock ``i`` is in industry
    ``j`` (one dummy per GICS sector, so the rows of ``S`` sum to 1); ``Z`` the styles, each raw descriptor
    passed through `standardise` with cap weights. ``styles`` defaults to `RiskConfig.style_factors`;
    ``size`` defaults to ``log(mcap)`` when ``characteristics`` has no ``size``; any other style missing
    from ``characteristics`` is an error. ``industries`` fixes the industry columns (so that every day of
    a history has the same ones; an industry with no stock that day is simply an all-zero column);
    by default the sorted distinct sectors.
    """
    sec = [str(s) for s in (sectors.to_list() if isinstance(sectors, pl.Series) else sectors)]
    cap = np.asarray(mcap.to_numpy() if isinstance(mcap, pl.Series) else mcap, dtype=float)
    n = len(sec)
    if cap.shape != (n,):
        raise RiskModelError(f"exposures: {cap.shape} market caps for {n} sectors")
    if not np.all(np.isfinite(cap)) or np.any(cap <= 0):
        bad = int(np.flatnonzero(~(np.isfinite(cap) & (cap > 0)))[0])
        who = tickers[bad] if tickers is not None else f"row {bad}"
        raise RiskModelError(f"exposures: {who} mcap={float(cap[bad])!r} (market caps must be finite and > 0)")
    inds = tuple(industries) if industries is not None else tuple(sorted(set(sec)))
    pos = {s: j for j, s in enumerate(inds)}
    unknown = sorted(set(sec) - set(pos))
    if unknown:
        raise RiskModelError(f"exposures: sectors {unknown} are not among the industries {list(inds)}")
    style_names = tuple(styles) if styles is not None else RiskConfig().style_factors
    clash = set(style_names) & (set(inds) | {MARKET})
    if clash:
        raise RiskModelError(f"exposures: style names {sorted(clash)} clash with industry/market names")

    X = np.zeros((n, 1 + len(inds) + len(style_names)))
    X[:, 0] = 1.0
    X[np.arange(n), 1 + np.array([pos[s] for s in sec], dtype=int)] = 1.0
    for m, name in enumerate(style_names):
        raw = _column(characteristics, name, n)
        if raw is None:
            if name != "size":
                raise RiskModelError(f"exposures: characteristic {name!r} is missing (have "
                                     f"{sorted(characteristics.columns if isinstance(characteristics, pl.DataFrame) else characteristics)})")
            raw = np.log(cap)
        X[:, 1 + len(inds) + m] = standardise(raw, cap)
    return Exposures(X=X, factor_names=(MARKET, *inds, *style_names), industries=inds, styles=style_names,
                     mcap=cap, tickers=tuple(tickers) if tickers is not None else None)


# ------------------------------------------------------------------------------------------------ estimation
def constraint_basis(industry_caps: np.ndarray, n_styles: int) -> np.ndarray:
    """The matrix ``C`` (k x p) whose column space is exactly ``{f : sum_j c_j f_ind_j = 0}``.

    With industry caps ``c_j`` (``c_j = 0``: no stock that day), the base industry ``b = argmax c_j`` and
    free parameters ``g`` (market, every *other* populated industry, styles)::

        f_market = g_market,   f_j = g_j  (j != b, c_j > 0),   f_j = 0  (c_j = 0),
        f_b = - sum_{j != b} (c_j / c_b) g_j,                   f_style = g_style

    so ``f = C g`` satisfies the constraint for every ``g`` and every such ``f`` has one ``g``. Using the
    largest industry as the base keeps the ratios ``c_j / c_b <= 1``.
    """
    c = np.asarray(industry_caps, dtype=float)
    s = c.size
    live = np.flatnonzero(c > 0)
    if live.size == 0:
        raise RiskModelError("estimate: no industry has a stock with a return that day")
    b = live[np.argmax(c[live])]
    free = [j for j in live if j != b]
    k, p = 1 + s + n_styles, 1 + len(free) + n_styles
    C = np.zeros((k, p))
    C[0, 0] = 1.0
    for col, j in enumerate(free, start=1):
        C[1 + j, col] = 1.0
        C[1 + b, col] = -c[j] / c[b]
    C[1 + s:, 1 + len(free):] = np.eye(n_styles)
    return C


def _daily_regression(r: np.ndarray, ex: Exposures, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Constrained WLS of one day: ``min_f sum_i v_i (r_i - x_i'f)^2  s.t.  sum_j c_j f_ind_j = 0``.

    ``v_i = sqrt(mcap_i)``; stocks with a NaN return are left out that day (residual NaN). Solved exactly
    by substituting ``f = C g`` (`constraint_basis`) and an ordinary least-squares solve of
    ``diag(sqrt(v)) X C g ~ diag(sqrt(v)) r``.
    """
    ok = np.isfinite(r)
    X = ex.X[ok]
    ind = X[:, ex.industry_columns]
    C = constraint_basis(ex.mcap[ok] @ ind, len(ex.styles))
    sw = ex.mcap[ok] ** 0.25  # sqrt of the regression weight sqrt(mcap)
    A = (X @ C) * sw[:, None]
    if A.shape[0] < A.shape[1]:
        raise RiskModelError(f"estimate: day {day}: {A.shape[0]} stocks with returns for {A.shape[1]} free "
                             "factor returns (need at least as many stocks as factors)")
    g, _, rank, sv = np.linalg.lstsq(A, r[ok] * sw, rcond=None)
    if rank < A.shape[1] or sv[-1] <= 1e-10 * sv[0]:
        raise RiskModelError(
            f"estimate: day {day}: singular design (rank {rank} < {A.shape[1]} factors, condition "
            f"{sv[0] / max(sv[-1], 1e-300):.2g}); a style exposure is constant or collinear with the "
            "industries/market -- drop or fix that style")
    f = C @ g
    e = np.full(r.shape, np.nan)
    e[ok] = r[ok] - X @ f
    return f, e


def _ewma_covariance(f: np.ndarray, halflife: float | None) -> np.ndarray:
    """Weighted covariance ``sum_t w_t (f_t - mu)(f_t - mu)' / (1 - sum_t w_t^2)`` with ``sum w_t = 1``.

    ``w_t`` are equal (the sample covariance, ddof = 1) or ``w_t ~ 0.5 ** ((T - 1 - t) / halflife)``.
    """
    T = f.shape[0]
    w = np.ones(T) if halflife is None else 0.5 ** ((T - 1 - np.arange(T)) / halflife)
    w = w / w.sum()
    d = f - w @ f
    cov = (d * w[:, None]).T @ d / (1.0 - w @ w)
    return (cov + cov.T) / 2


def estimate(
    returns: np.ndarray,
    X: Exposures | Sequence[Exposures],
    *,
    lookback: int | None = None,
    halflife: float | None = None,
    specific_floor: float = SPECIFIC_VARIANCE_FLOOR,
    forecast: Exposures | None = None,
) -> FactorModel:
    """Estimate the factor model from daily stock returns (T x n) and exposures (fixed, or one per day).

    For each day t: ``f_t = argmin sum_i v_i (r_ti - x_ti'f)^2`` s.t. ``sum_j c_tj f_ind_j = 0`` with
    ``v_i = sqrt(mcap_i)`` and ``c_tj`` the market cap of industry j (USE4). The constraint identifies
    ``market`` (the cap-weighted market return, up to style tilts), which is otherwise collinear with the
    industry dummies. Then, over the last ``lookback`` days (default `RiskConfig.factor_lookback_days`):

    * ``F = 252 * cov(f_t)`` (sample covariance, or EWMA with ``halflife`` days);
    * ``D_i = max(252 * var_t(e_ti), specific_floor)`` (ddof = 1, over the days stock i has a return; a
      stock with fewer than 2 gets the cross-sectional median).

    No look-ahead: ``X[t]`` must be the exposures known *before* day t's return (at the close of t-1;
    `descriptors.lagged_exposures`); exposures built from the returns they explain make a factor look
    priced when it is not (momentum on its own window). The model's ``X`` is ``forecast`` (the exposures
    known today, for tomorrow's risk), by default the last day's. Raises
    `RiskModelError` on mismatched shapes, fewer than 2 days, or a singular design.
    """
    R = np.asarray(returns, dtype=float)
    if R.ndim != 2:
        raise RiskModelError(f"estimate: returns must be a T x n matrix, got shape {R.shape}")
    days = [X] * R.shape[0] if isinstance(X, Exposures) else list(X)
    if len(days) != R.shape[0]:
        raise RiskModelError(f"estimate: {len(days)} exposure matrices for {R.shape[0]} days of returns")
    L = RiskConfig().factor_lookback_days if lookback is None else lookback
    R, days = R[-L:], days[-L:]
    T, n = R.shape
    if T < 2:
        raise RiskModelError(f"estimate: {T} day(s) of returns; need at least 2 (lookback {L}) to estimate a "
                             "covariance -- load more history")
    names = days[-1].factor_names
    for t, ex in enumerate(days):
        if ex.X.shape[0] != n:
            raise RiskModelError(f"estimate: day {t}: exposures have {ex.X.shape[0]} rows for {n} stocks")
        if ex.factor_names != names:
            raise RiskModelError(f"estimate: day {t}: factors {ex.factor_names} differ from {names}")
    fr = np.empty((T, len(names)))
    res = np.empty((T, n))
    for t in range(T):
        fr[t], res[t] = _daily_regression(R[t], days[t], t)
    F = ANNUALISATION * _ewma_covariance(fr, halflife)
    counts = np.isfinite(res).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        spec = ANNUALISATION * np.nanvar(np.where(counts >= 2, res, 0.0), axis=0, ddof=1)
    spec = np.where(counts >= 2, spec, np.nan)
    if np.all(np.isnan(spec)):
        raise RiskModelError("estimate: no stock has 2 days of residuals; load more history")
    spec = np.where(np.isnan(spec), np.nanmedian(spec), spec)
    last = days[-1] if forecast is None else forecast
    if last.X.shape[0] != n or last.factor_names != names:
        raise RiskModelError(f"estimate: forecast exposures have {last.X.shape[0]} rows and factors "
                             f"{last.factor_names}; expected {n} and {names}")
    return FactorModel(X=last.X.copy(), F=F, D=np.maximum(spec, specific_floor), factor_names=names,
                       tickers=last.tickers, factor_returns=fr, residuals=res, industries=last.industries,
                       styles=last.styles)


# ------------------------------------------------------------------------------------------------ the model
@dataclass(frozen=True)
class RiskDecomposition:
    """A portfolio's annualised risk, split. ``w`` are weights of NAV (long > 0, short < 0).

    * ``factor_variance = x'F x`` with ``x = X'w`` (the portfolio's factor exposures);
    * ``specific_variance = sum_i w_i^2 D_i``; ``total_variance`` their sum ``= w' Sigma w``; ``sigma`` its root;
    * ``mctr_i = w_i (Sigma w)_i / sigma`` (Euler: ``sum_i mctr_i = sigma``); ``mctr_pct = mctr / sigma``
      (sums to 1; negative for a position that hedges);
    * ``weight_share_i = |w_i| / sum_j |w_j|``; ``flagged_i = mctr_pct_i > 1.5 * weight_share_i`` (strict:
      a position whose risk share exceeds 1.5x its share of gross exposure);
    * ``factor_contributions_k = x_k (F x)_k`` (sums to ``factor_variance``), keyed by factor name.
    """

    factor_variance: float
    specific_variance: float
    total_variance: float
    sigma: float
    exposures: np.ndarray
    mctr: np.ndarray
    mctr_pct: np.ndarray
    weight_share: np.ndarray
    flagged: np.ndarray
    factor_contributions: dict[str, float]
    tickers: tuple[str, ...] | None = None

    def flagged_tickers(self) -> list[str | int]:
        idx = np.flatnonzero(self.flagged)
        return [self.tickers[i] for i in idx] if self.tickers is not None else [int(i) for i in idx]


@dataclass(frozen=True)
class FactorModel:
    """``Sigma = X F X' + diag(D)``: exposures X (n x k), factor covariance F (k x k), specific variances D (n).

    Annualised. ``factor_returns`` (T x k, daily) and ``residuals`` (T x n, daily) are the regression
    output the model was estimated from, when it was.
    """

    X: np.ndarray
    F: np.ndarray
    D: np.ndarray
    factor_names: tuple[str, ...]
    tickers: tuple[str, ...] | None = None
    factor_returns: np.ndarray | None = field(default=None, repr=False)
    residuals: np.ndarray | None = field(default=None, repr=False)
    industries: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n, k = self.X.shape
        if self.F.shape != (k, k):
            raise RiskModelError(f"FactorModel: F has shape {self.F.shape}, expected ({k}, {k})")
        if self.D.shape != (n,):
            raise RiskModelError(f"FactorModel: D has shape {self.D.shape}, expected ({n},)")
        if len(self.factor_names) != k:
            raise RiskModelError(f"FactorModel: {len(self.factor_names)} factor names for {k} factors")
        if not np.allclose(self.F, self.F.T, rtol=1e-10, atol=1e-14):
            raise RiskModelError("FactorModel: F is not symmetric")
        if np.any(self.D < 0) or not np.all(np.isfinite(self.D)):
            raise RiskModelError("FactorModel: specific variances must be finite and >= 0")

    def covariance(self) -> np.ndarray:
        """``X F X' + diag(D)`` (n x n, annualised), symmetrised against rounding."""
        S = self.X @ self.F @ self.X.T
        S = (S + S.T) / 2
        S[np.diag_indices_from(S)] += self.D
        return S

    def decompose(self, w: Sequence[float] | np.ndarray) -> RiskDecomposition:
        """Split the risk of weights ``w`` (n); see `RiskDecomposition`. Never forms the n x n matrix."""
        w = np.asarray(w, dtype=float)
        if w.shape != self.D.shape:
            raise RiskModelError(f"decompose: {w.shape[0] if w.ndim else 0} weights for {self.D.size} stocks")
        if not np.all(np.isfinite(w)):
            raise RiskModelError("decompose: weights contain NaN/inf")
        x = self.X.T @ w
        Fx = self.F @ x
        fvar = float(x @ Fx)
        svar = float(w**2 @ self.D)
        total = fvar + svar
        if not total > 0:
            raise RiskModelError("decompose: the portfolio has zero predicted risk (all weights zero?)")
        sigma = float(np.sqrt(total))
        sigma_w = self.X @ Fx + self.D * w  # Sigma w
        mctr = w * sigma_w / sigma
        gross = np.abs(w).sum()
        share = np.abs(w) / gross
        pct = mctr / sigma
        return RiskDecomposition(
            factor_variance=fvar, specific_variance=svar, total_variance=total, sigma=sigma, exposures=x,
            mctr=mctr, mctr_pct=pct, weight_share=share, flagged=pct > MCTR_FLAG_MULTIPLE * share,
            factor_contributions=dict(zip(self.factor_names, (x * Fx).tolist(), strict=True)),
            tickers=self.tickers)

    def restrict(self, tickers: Sequence[str]) -> "FactorModel | None":
        """The model of ``tickers`` only (their rows of X and D, in that order; F unchanged), None when the model
        does not cover one of them. The stored estimate covers the whole universe; a book uses its names'."""
        pos = {t: i for i, t in enumerate(self.tickers or ())}
        if not all(t in pos for t in tickers):
            return None
        idx = [pos[t] for t in tickers]
        return FactorModel(X=self.X[idx], F=self.F, D=self.D[idx], factor_names=self.factor_names,
                           tickers=tuple(tickers), industries=self.industries, styles=self.styles)
