"""Inputs of the factor risk model from the Meridian tables, as of one session (plain polars/numpy).

Descriptors per stock (raw; `factor_model.exposures` standardises them):

| style      | descriptor                                                                      | source |
|------------|---------------------------------------------------------------------------------|--------|
| beta       | OLS slope of daily returns on SPY's over the last ``beta_days`` sessions         | daily_prices |
| momentum   | momentum parent score (0-100 within sector) that day                             | factor_scores |
| size       | log market cap = log(close x shares outstanding as last reported)               | daily_prices, fundamentals_raw |
| value      | value parent score that day                                                      | factor_scores |
| volatility | standard deviation of daily returns over the last ``beta_days`` sessions         | daily_prices |
| quality    | quality parent score that day                                                    | factor_scores |

Only data dated (or known) on or before ``as_of`` is used. A stock missing a descriptor gets 0 after
standardising (the model's convention); a stock with no market cap is left out of the model.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

BENCHMARK = "SPY"


def returns_matrix(prices: pl.DataFrame, tickers: list[str], as_of: dt.date, days: int) -> tuple[list[dt.date], np.ndarray]:
    """Daily adj_close returns (days x len(tickers)) of the last ``days`` sessions up to ``as_of``;
    NaN where a stock has no bar (the model leaves it out of that day's regression)."""
    px = prices.filter(pl.col("date") <= as_of).select("date", "ticker", "adj_close")
    sessions = sorted(px["date"].unique().to_list())[-(days + 1):]
    wide = (
        px.filter(pl.col("date").is_in(sessions), pl.col("ticker").is_in(tickers))
        .pivot(on="ticker", index="date", values="adj_close")
        .sort("date")
    )
    for t in tickers:
        if t not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(t))
    levels = wide.select(tickers).to_numpy().astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rets = levels[1:] / levels[:-1] - 1.0
    return wide["date"].to_list()[1:], rets


def style_descriptors(
    prices: pl.DataFrame,
    scores: pl.DataFrame,
    fundamentals: pl.DataFrame,
    as_of: dt.date,
    beta_days: int = 60,
) -> pl.DataFrame:
    """One row per scored stock on ``as_of``: ticker, sector, mcap and the six raw style descriptors."""
    day = scores.filter(pl.col("date") == as_of).select(
        "ticker", "sector", momentum="momentum_score", value="value_score", quality="quality_score")
    tickers = day["ticker"].to_list()
    _, r = returns_matrix(prices, [*tickers, BENCHMARK], as_of, beta_days)
    stock, mkt = r[:, :-1], r[:, -1]
    beta = np.full(len(tickers), np.nan)
    vol = np.full(len(tickers), np.nan)
    for i in range(len(tickers)):
        ok = np.isfinite(stock[:, i]) & np.isfinite(mkt)
        if ok.sum() >= 20:
            x, y = mkt[ok], stock[ok, i]
            var = np.var(x, ddof=1)
            beta[i] = np.cov(x, y, ddof=1)[0, 1] / var if var > 0 else np.nan
            vol[i] = np.std(y, ddof=1)
    shares = (
        fundamentals.filter(pl.col("known_at") <= as_of, pl.col("shares_outstanding") > 0)
        .sort("known_at", "period_end")
        .group_by("ticker").agg(pl.col("shares_outstanding").last())
    )
    close = (prices.filter(pl.col("date") <= as_of).sort("date")
             .group_by("ticker").agg(pl.col("close").last()))
    return (
        day.with_columns(beta=pl.Series(beta), volatility=pl.Series(vol))
        .join(shares, on="ticker", how="left")
        .join(close, on="ticker", how="left")
        .with_columns(mcap=pl.col("close") * pl.col("shares_outstanding"))
        .select("ticker", "sector", "mcap", "beta", "momentum", "value", "volatility", "quality")
    )
