"""Risk monitors: factor-exposure z-scores, book correlation / effective bets, and tail risk (VIX, HY OAS).

Factor monitor   z_f = (x̄_long,f − x̄_short,f) / σ_universe,f, where x̄ is the |weight|-weighted mean exposure
                 of each book and σ the cross-sectional std of the factor over the universe; alert |z| > factor_z_alert.
Correlation      over the last `correlation_window_days` rows of a book's daily returns: mean off-diagonal
                 pairwise correlation (alert > correlation_alert) and the effective number of bets
                 N_eff = exp(−Σ p_k ln p_k), p_k = λ_k / Σλ (eigenvalues of the correlation matrix; n for
                 identity, 1 when every pair is perfectly correlated).
Tail risk        VIX ≥ vix_severe ⇒ gross × (1 − 0.50), else VIX ≥ vix_reduce ⇒ × (1 − 0.20); HY OAS today
                 − mean(previous 252 days) ≥ 1σ (std of those days) ⇒ × (1 − 0.20). The combined multiplier is
                 the product of the VIX and credit multipliers (both apply; mandatory, no override).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from meridian_assets.risk.settings import RiskConfig


@dataclass(frozen=True)
class FactorExposure:
    factor: str
    long: float
    short: float
    spread: float
    z: float
    alert: bool


def factor_exposure_z(
    universe: pl.DataFrame, weights: Mapping[str, float], factors: Sequence[str], cfg: RiskConfig
) -> list[FactorExposure]:
    """`universe`: one row per ticker with a `ticker` column and one column per factor exposure."""
    out = []
    long_ = universe.filter(pl.col("ticker").is_in([t for t, w in weights.items() if w > 0]))
    short = universe.filter(pl.col("ticker").is_in([t for t, w in weights.items() if w < 0]))

    def book_mean(book: pl.DataFrame, f: str) -> float:
        if book.is_empty():
            return 0.0
        w = np.abs(np.array([weights[t] for t in book["ticker"]], dtype=float))
        return float(np.average(book[f].to_numpy().astype(float), weights=w))

    for f in factors:
        sigma = float(np.nanstd(universe[f].to_numpy().astype(float), ddof=1))
        lo, sh = book_mean(long_, f), book_mean(short, f)
        spread = lo - sh
        z = spread / sigma if sigma > 0 else 0.0
        out.append(FactorExposure(f, lo, sh, spread, z, abs(z) > cfg.factor_z_alert))
    return out


def effective_number_of_bets(corr: np.ndarray) -> float:
    """exp(entropy) of the normalised eigenvalues of a correlation matrix (negatives from round-off clipped)."""
    lam = np.clip(np.linalg.eigvalsh(np.asarray(corr, dtype=float)), 0.0, None)
    p = lam / lam.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


@dataclass(frozen=True)
class BookCorrelation:
    book: str
    avg_pairwise: float
    effective_bets: float
    n_names: int
    alert: bool


def _returns_matrix(returns: np.ndarray | pl.DataFrame) -> np.ndarray:
    if isinstance(returns, pl.DataFrame):
        numeric = [c for c, t in returns.schema.items() if t.is_numeric()]
        return returns.select(numeric).to_numpy().astype(float)
    return np.asarray(returns, dtype=float)


def book_correlation(book: str, returns: np.ndarray | pl.DataFrame, cfg: RiskConfig) -> BookCorrelation:
    """`returns`: T × N daily returns of the book's names (oldest first; a wide polars frame also works)."""
    r = _returns_matrix(returns)[-cfg.correlation_window_days :]
    n = r.shape[1] if r.ndim == 2 else 0
    if n < 2:
        return BookCorrelation(book, 0.0, float(n), n, False)
    corr = np.nan_to_num(np.corrcoef(r, rowvar=False), nan=0.0)
    np.fill_diagonal(corr, 1.0)
    avg = float(corr[~np.eye(n, dtype=bool)].mean())
    return BookCorrelation(book, avg, effective_number_of_bets(corr), n, avg > cfg.correlation_alert)


def correlation_monitor(
    long_returns: np.ndarray | pl.DataFrame, short_returns: np.ndarray | pl.DataFrame, cfg: RiskConfig
) -> dict[str, BookCorrelation]:
    return {
        "long": book_correlation("long", long_returns, cfg),
        "short": book_correlation("short", short_returns, cfg),
    }


@dataclass(frozen=True)
class TailRisk:
    gross_multiplier: float
    reasons: tuple[str, ...]
    vix: float | None
    credit_z: float | None


def tail_risk(vix: float | None, hy_oas: Sequence[float] | None, cfg: RiskConfig) -> TailRisk:
    """`hy_oas`: HY OAS history, oldest first, last value = today. Missing inputs are reported, not guessed."""
    mult, reasons = 1.0, []
    if vix is not None and np.isfinite(vix):
        if vix >= cfg.vix_severe:
            mult *= 1.0 - cfg.vix_severe_fraction
            reasons.append(f"VIX {vix:.2f} >= {cfg.vix_severe:g}: gross -{cfg.vix_severe_fraction:.0%}")
        elif vix >= cfg.vix_reduce:
            mult *= 1.0 - cfg.vix_reduce_fraction
            reasons.append(f"VIX {vix:.2f} >= {cfg.vix_reduce:g}: gross -{cfg.vix_reduce_fraction:.0%}")
    credit_z = None
    if hy_oas is not None:
        x = np.asarray(hy_oas, dtype=float)
        x = x[np.isfinite(x)]
        hist = x[:-1][-cfg.credit_spread_window_days :]
        if hist.size >= 2 and hist.std(ddof=1) > 0:
            credit_z = float((x[-1] - hist.mean()) / hist.std(ddof=1))
            if credit_z >= cfg.credit_spread_sigma:
                mult *= 1.0 - cfg.credit_spread_reduce_fraction
                reasons.append(
                    f"HY OAS {x[-1]:.2f} is {credit_z:.2f}σ over its {hist.size}d mean: "
                    f"gross -{cfg.credit_spread_reduce_fraction:.0%}"
                )
    return TailRisk(mult, tuple(reasons), vix, credit_z)
