"""Return statistics with their standard definitions (as pyfolio / empyrical compute them).

Inputs are daily simple returns ``r_t = NAV_t / NAV_{t-1} - 1`` (fractions), one per session.

* Annualisation uses 252 sessions: annualised return ``(Π(1 + r_t))^(252/n) − 1`` (geometric),
  annualised volatility ``std(r, ddof=1) · √252``.
* Sharpe: daily excess ``e_t = r_t − rf/252`` with ``rf`` the configured annual risk-free rate;
  ``Sharpe = mean(e) / std(e, ddof=1) · √252``.
* Sortino: downside deviation ``DD = √(mean(min(e_t, 0)²))`` over *all* sessions (not only the losing ones);
  ``Sortino = mean(e) / DD · √252``.
* Drawdown: wealth ``W_t = Π_{s≤t}(1 + r_s)`` with ``W_0 = 1`` before the first return; drawdown
  ``W_t / max_{s≤t} W_s − 1``; max drawdown is its minimum (peak to trough, ≤ 0).
* VaR / CVaR at confidence c (0.95): with ``k = ⌈(1 − c)·n⌉`` (at least 1), VaR is the k-th worst daily
  return and CVaR the mean of the k worst — "the mean of the worst 5%". Both are returns (negative for
  losses), as empyrical reports them.
* Jensen's alpha against a benchmark b: ``α = 252 · mean((r_t − rf/252) − β · (b_t − rf/252))`` with β the OLS
  slope of the returns on the benchmark's (annualised, arithmetic; the same ``rf`` as the Sharpe).
* Rolling Sharpe: the Sharpe of each trailing window of ``window`` sessions (252 = 12 months), undefined
  until the window is full.
* Monthly returns: daily returns compounded within each calendar month.

Undefined figures (fewer than two returns, zero dispersion) are NaN, never an exception.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

TRADING_DAYS = 252
# Dispersion below this is rounding noise of a constant series, not risk: the ratio is undefined.
MIN_DISPERSION = 1e-12
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _arr(r) -> np.ndarray:
    a = np.asarray(r, dtype=float)
    return a[np.isfinite(a)]


def returns_from_nav(nav) -> np.ndarray:
    """Daily simple returns of a NAV series (one fewer than the NAVs)."""
    v = np.asarray(nav, dtype=float)
    return v[1:] / v[:-1] - 1.0 if v.size > 1 else np.array([])


def total_return(r) -> float:
    a = _arr(r)
    return float(np.prod(1.0 + a) - 1.0) if a.size else float("nan")


def annualised_return(r, periods: int = TRADING_DAYS) -> float:
    a = _arr(r)
    if a.size == 0:
        return float("nan")
    growth = float(np.prod(1.0 + a))
    return growth ** (periods / a.size) - 1.0 if growth > 0 else -1.0


def annualised_volatility(r, periods: int = TRADING_DAYS) -> float:
    a = _arr(r)
    return float(np.std(a, ddof=1) * math.sqrt(periods)) if a.size > 1 else float("nan")


def sharpe_ratio(r, risk_free: float = 0.0, periods: int = TRADING_DAYS) -> float:
    a = _arr(r)
    if a.size < 2:
        return float("nan")
    e = a - risk_free / periods
    sd = np.std(e, ddof=1)
    return float(np.mean(e) / sd * math.sqrt(periods)) if sd > MIN_DISPERSION else float("nan")


def sortino_ratio(r, risk_free: float = 0.0, periods: int = TRADING_DAYS) -> float:
    a = _arr(r)
    if a.size < 2:
        return float("nan")
    e = a - risk_free / periods
    downside = math.sqrt(float(np.mean(np.minimum(e, 0.0) ** 2)))
    return float(np.mean(e) / downside * math.sqrt(periods)) if downside > MIN_DISPERSION else float("nan")


def drawdown_series(r) -> np.ndarray:
    """Drawdown from the running peak after each return (≤ 0), the starting wealth of 1 counting as a peak."""
    a = np.nan_to_num(np.asarray(r, dtype=float))
    wealth = np.cumprod(1.0 + a)
    peak = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    return wealth / peak - 1.0


@dataclass(frozen=True)
class Drawdown:
    """The deepest peak-to-trough fall: depth (≤ 0) and positions in the return series (peak = -1 means the
    starting wealth before the first return; recovery None while under water)."""

    depth: float
    peak: int
    trough: int
    recovery: int | None


def max_drawdown(r) -> Drawdown:
    a = np.nan_to_num(np.asarray(r, dtype=float))
    if a.size == 0:
        return Drawdown(float("nan"), -1, -1, None)
    dd = drawdown_series(a)
    trough = int(np.argmin(dd))
    if dd[trough] >= 0:
        return Drawdown(0.0, -1, -1, None)
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + a)])  # index i+1 = after return i
    peak = int(np.argmax(wealth[: trough + 2])) - 1
    after = np.nonzero(wealth[trough + 2:] >= wealth[peak + 1])[0]
    recovery = int(trough + 1 + after[0]) if after.size else None
    return Drawdown(float(dd[trough]), peak, trough, recovery)


def _tail(a: np.ndarray, confidence: float) -> np.ndarray:
    k = max(1, math.ceil((1.0 - confidence) * a.size - 1e-9))
    return np.sort(a)[:k]


def value_at_risk(r, confidence: float = 0.95) -> float:
    a = _arr(r)
    return float(_tail(a, confidence)[-1]) if a.size else float("nan")


def cvar(r, confidence: float = 0.95) -> float:
    """Conditional value at risk: the mean of the worst ``1 − confidence`` share of daily returns."""
    a = _arr(r)
    return float(np.mean(_tail(a, confidence))) if a.size else float("nan")


def rolling_sharpe(r, window: int = TRADING_DAYS, risk_free: float = 0.0,
                   periods: int = TRADING_DAYS) -> np.ndarray:
    """Sharpe of each trailing ``window`` of returns; NaN until the window is full."""
    a = np.asarray(r, dtype=float)
    out = np.full(a.size, np.nan)
    if a.size < window or window < 2:
        return out
    e = a - risk_free / periods
    view = np.lib.stride_tricks.sliding_window_view(e, window)
    mean, sd = view.mean(axis=1), view.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[window - 1:] = np.where(sd > MIN_DISPERSION, mean / sd * math.sqrt(periods), np.nan)
    return out


def beta(r, benchmark) -> float:
    """OLS slope of the returns on the benchmark's (cov / var, ddof=1)."""
    a, b = np.asarray(r, dtype=float), np.asarray(benchmark, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2 or np.var(b[ok], ddof=1) == 0:
        return float("nan")
    return float(np.cov(a[ok], b[ok], ddof=1)[0, 1] / np.var(b[ok], ddof=1))


def jensen_alpha(r, benchmark, risk_free: float = 0.0, periods: int = TRADING_DAYS) -> float:
    """Jensen's alpha, annualised (module docstring); NaN without two paired returns."""
    a, b = np.asarray(r, dtype=float), np.asarray(benchmark, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    slope = beta(a, b)
    if ok.sum() < 2 or not np.isfinite(slope):
        return float("nan")
    rf = risk_free / periods
    return float(np.mean((a[ok] - rf) - slope * (b[ok] - rf)) * periods)


def monthly_returns(dates: list[dt.date], r) -> pl.DataFrame:
    """``(year, month, return)``: daily returns compounded within each calendar month."""
    frame = pl.DataFrame({"date": pl.Series(dates, dtype=pl.Date), "r": np.asarray(r, dtype=float)})
    if frame.height == 0:
        return pl.DataFrame(schema={"year": pl.Int32, "month": pl.Int8, "return": pl.Float64})
    return (frame.drop_nans("r").group_by(pl.col("date").dt.year().alias("year"),
                                          pl.col("date").dt.month().alias("month"))
            .agg(((pl.col("r") + 1).product() - 1).alias("return")).sort("year", "month"))


def monthly_grid(dates: list[dt.date], r) -> pl.DataFrame:
    """Years down, Jan..Dec across, and the compounded 'Year' total; months without sessions are null."""
    m = monthly_returns(dates, r)
    cols = {"year": pl.Int32, **{name: pl.Float64 for name in MONTHS}, "Year": pl.Float64}
    if m.height == 0:
        return pl.DataFrame(schema=cols)
    rows = []
    for year in m["year"].unique().sort().to_list():
        ym = m.filter(pl.col("year") == year)
        by_month = dict(zip(ym["month"].to_list(), ym["return"].to_list()))
        rows.append({"year": year, **{name: by_month.get(i + 1) for i, name in enumerate(MONTHS)},
                     "Year": float(np.prod([1 + v for v in by_month.values()]) - 1)})
    return pl.DataFrame(rows, schema=cols)


def summary(r, benchmark=None, risk_free: float = 0.0, confidence: float = 0.95) -> dict[str, float]:
    """The top-line figures of a returns series (and of the benchmark's over the same sessions)."""
    a = np.asarray(r, dtype=float)
    dd = max_drawdown(a)
    out = {
        "sessions": float(np.isfinite(a).sum()),
        "total_return": total_return(a),
        "annualised_return": annualised_return(a),
        "annualised_volatility": annualised_volatility(a),
        "sharpe": sharpe_ratio(a, risk_free),
        "sortino": sortino_ratio(a, risk_free),
        "max_drawdown": dd.depth,
        "calmar": (annualised_return(a) / -dd.depth) if dd.depth and dd.depth < 0 else float("nan"),
        "var95": value_at_risk(a, confidence),
        "cvar95": cvar(a, confidence),
        "hit_rate": float(np.mean(_arr(a) > 0)) if _arr(a).size else float("nan"),
        "best_day": float(np.max(_arr(a))) if _arr(a).size else float("nan"),
        "worst_day": float(np.min(_arr(a))) if _arr(a).size else float("nan"),
    }
    if benchmark is not None:
        b = np.asarray(benchmark, dtype=float)
        out["beta_to_benchmark"] = beta(a, b)
        out["alpha_jensen"] = jensen_alpha(a, b, risk_free)
        ok = np.isfinite(a) & np.isfinite(b)
        out["correlation"] = float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 else float("nan")
        active = a[ok] - b[ok]
        te = annualised_volatility(active)
        out["tracking_error"] = te
        out["information_ratio"] = (float(np.mean(active) * TRADING_DAYS / te)
                                    if te and np.isfinite(te) and te > 0 else float("nan"))
    return out
