"""Per-stock market statistics a rebalance needs, as of one session (plain polars / numpy).

    price          last close on or before ``as_of`` (as traded: the price orders and shares use)
    adv_dollars    mean(close × volume) over the last ``adv_days`` sessions (20)
    avg_range_pct  mean((high − low) / close) over the same sessions (the spread proxy of the cost model)
    daily_vol      standard deviation of daily adj_close returns over the last ``beta_days`` sessions (60)
    beta           rolling OLS beta on SPY: cov(r_i, r_SPY) / var(r_SPY) over the last ``beta_days`` sessions,
                   needs 20 common sessions (else null: the optimizer then uses 1.0, the conservative guess)

Only bars dated on or before ``as_of`` are read, so nothing looks ahead.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from meridian_assets.risk.descriptors import BENCHMARK, returns_matrix

MIN_BETA_SESSIONS = 20


def rolling_betas(prices: pl.DataFrame, tickers: list[str], as_of: dt.date, days: int = 60,
                  benchmark: str = BENCHMARK) -> dict[str, float | None]:
    """60-day (``days``) OLS beta of each ticker's daily returns on the benchmark's, as of ``as_of``."""
    _, r = returns_matrix(prices, [*tickers, benchmark], as_of, days)
    if r.size == 0:
        return {t: None for t in tickers}
    mkt = r[:, -1]
    out: dict[str, float | None] = {}
    for i, t in enumerate(tickers):
        ok = np.isfinite(r[:, i]) & np.isfinite(mkt)
        if ok.sum() < MIN_BETA_SESSIONS:
            out[t] = None
            continue
        x, y = mkt[ok], r[ok, i]
        var = float(np.var(x, ddof=1))
        out[t] = float(np.cov(x, y, ddof=1)[0, 1] / var) if var > 0 else None
    return out


def market_stats(prices: pl.DataFrame, tickers: list[str], as_of: dt.date, *, adv_days: int = 20,
                 beta_days: int = 60, benchmark: str = BENCHMARK) -> pl.DataFrame:
    """One row per ticker with price, adv_dollars, avg_range_pct, daily_vol, beta (see the module docstring)."""
    bars = (prices.filter(pl.col("date") <= as_of, pl.col("ticker").is_in(tickers))
            .sort("ticker", "date"))
    recent = bars.group_by("ticker", maintain_order=True).tail(adv_days)
    liquidity = recent.group_by("ticker").agg(
        price=pl.col("close").last(),
        price_date=pl.col("date").last(),
        adv_dollars=(pl.col("close") * pl.col("volume")).mean(),
        avg_range_pct=((pl.col("high") - pl.col("low")) / pl.col("close")).mean(),
    )
    vol = (bars.group_by("ticker", maintain_order=True).tail(beta_days + 1)
           .with_columns(ret=pl.col("adj_close") / pl.col("adj_close").shift(1).over("ticker") - 1)
           .group_by("ticker").agg(daily_vol=pl.col("ret").std()))
    betas = rolling_betas(prices, tickers, as_of, beta_days, benchmark)
    beta = pl.DataFrame({"ticker": list(betas), "beta": [betas[t] for t in betas]},
                        schema={"ticker": pl.Utf8, "beta": pl.Float64})
    base = pl.DataFrame({"ticker": tickers}, schema={"ticker": pl.Utf8})
    return (base.join(liquidity, on="ticker", how="left").join(vol, on="ticker", how="left")
            .join(beta, on="ticker", how="left"))


def sample_covariance(returns: np.ndarray, annualise: int = 252) -> np.ndarray:
    """Ledoit–Wolf shrunk sample covariance of daily returns (T × n, NaN = no bar), annualised.

    Σ̂ = (1 − δ) S + δ μ̄ I with μ̄ = tr(S)/n and the Ledoit–Wolf (2004) optimal intensity δ; missing returns are
    treated as 0 after demeaning (a stock without a bar contributes no co-movement that day).
    """
    r = np.asarray(returns, dtype=float)
    t, n = r.shape
    if t < 2 or n == 0:
        raise ValueError(f"sample covariance needs at least 2 sessions, got {t}")
    x = r - np.nanmean(r, axis=0)
    x = np.nan_to_num(x, nan=0.0)
    S = x.T @ x / t
    mu = np.trace(S) / n
    target = mu * np.eye(n)
    d2 = np.linalg.norm(S - target, "fro") ** 2 / n
    # Σ_t ‖x_t x_tᵀ − S‖²_F = Σ_t ‖x_t‖⁴ − 2 Σ_t x_tᵀ S x_t + T ‖S‖²_F  (no T outer products)
    b2 = (np.sum(np.sum(x * x, axis=1) ** 2) - 2 * np.sum((x @ S) * x) + t * np.sum(S * S)) / (t * t * n)
    delta = 0.0 if d2 == 0 else min(1.0, b2 / d2)
    return annualise * ((1 - delta) * S + delta * target)
