"""The factor tear sheet: what alphalens shows, per factor, as one table (`FACTOR_TEARSHEET`).

Conventions (alphalens' standard definitions):

- **Forward return.** A score on date D is known at D's close, so it is compared with the return from D's
  close to the close h sessions later (`returns.forward_returns`). Only prices on or before `as_of` are used:
  a forward return that ends after `as_of` does not exist yet, so the last h dates carry no h-day IC.
- **Information coefficient (IC).** On each date, the Spearman rank correlation across the universe between
  the score and the forward h-day return, over the names that have both (at least 3): the Pearson
  correlation of their within-date average ranks, as `scipy.stats.spearmanr` computes it (polars'
  rank-based `corr(method="spearman")`, one group-by over dates for all factors and horizons at once).
- **IC statistics.** ic_mean and ic_std (sample, ddof=1) over the n_days dates with an IC; ic_hit_rate =
  share of those dates with IC > 0. For h > 1 the h-session windows of consecutive dates overlap, so the
  daily ICs are autocorrelated and the naive t over all dates overstates significance by up to ~sqrt(h).
  **ic_t_stat** is therefore computed on NON-OVERLAPPING windows: walking the IC dates in order, a date is
  kept when it is at least h sessions after the last kept one (the first IC date is kept), and
  ic_t_stat = mean / sd (ddof=1) * sqrt(n_independent) over those n_independent dates. For h = 1 that is
  every date. ic_t_stat_overlapping keeps the naive figure (ic_mean / ic_std * sqrt(n_days)) for
  comparison; it is not a significance test for h > 1.
- **Quintiles.** On each date, the names with a score and a forward return are ranked by score across the
  whole universe (not within sector): quintile = ceil(5 * rank / n), average ranks, so Q1 is the bottom
  fifth and Q5 the top; dates with fewer than 5 names are skipped. A quintile's return is the mean over dates
  of its equal-weight mean forward h-day return; annualised = mean * 252 / h.
  quintile_spread_annual = Q5 - Q1 (annualised).
- **Turnover.** rank_autocorrelation = the mean over dates of the Spearman correlation between each name's
  score on a date and on the previous scored date (names present on both). 1 means the ranking never
  changes (no turnover); near 0 means a fresh ranking every day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

import numpy as np

from meridian_assets.factors.returns import (
    DEFAULT_FACTORS,
    DEFAULT_HORIZONS,
    forward_returns,
    sessions,
    wide_scores,
)
from meridian_assets.factors.schemas import FACTOR_TEARSHEET

TRADING_DAYS = 252
N_QUANTILES = 5
MIN_NAMES_IC = 3


def _until(frame: pl.DataFrame, as_of: dt.date | None) -> pl.DataFrame:
    return frame if as_of is None else frame.filter(pl.col("date") <= as_of)


def score_return_panel(
    scores: pl.DataFrame,
    prices: pl.DataFrame,
    as_of: dt.date | None = None,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    factors: Sequence[str] = DEFAULT_FACTORS,
) -> pl.DataFrame:
    """``(date, ticker, <factor>..., fwd_<h>...)``: each name's scores beside its realised forward returns.

    Wide on purpose: one row per name and date keeps every per-date computation a cheap group-by over
    ~500 rows, 27 (factor, horizon) columns at a time.
    """
    fwd = forward_returns(_until(prices, as_of), horizons)
    return (
        wide_scores(_until(scores, as_of), factors)
        .drop("sector")
        .join(fwd, on=["date", "ticker"])
        .sort("date", "ticker")
    )


def _pair_mask(factor: str, horizon: int) -> pl.Expr:
    return pl.col(factor).is_not_null() & pl.col(f"fwd_{horizon}").is_not_null()


def _ic(panel: pl.DataFrame, horizons: Sequence[int], factors: Sequence[str]) -> pl.DataFrame:
    """Daily IC ``(date, factor, horizon, ic)`` over the names having both a score and a forward return."""
    aggs = []
    for f in factors:
        for h in horizons:
            # polars' Spearman skips pairs with a null and uses average ranks, like scipy's spearmanr
            aggs += [
                pl.corr(f, f"fwd_{h}", method="spearman").alias(f"ic|{f}|{h}"),
                _pair_mask(f, h).sum().alias(f"n|{f}|{h}"),
            ]
    by_date = panel.group_by("date").agg(aggs)
    parts = [
        by_date.filter(pl.col(f"n|{f}|{h}") >= MIN_NAMES_IC, pl.col(f"ic|{f}|{h}").is_finite()).select(
            "date", pl.lit(f).alias("factor"), pl.lit(h, dtype=pl.Int64).alias("horizon"),
            pl.col(f"ic|{f}|{h}").alias("ic"),
        )
        for f in factors
        for h in horizons
    ]
    return pl.concat(parts).sort("factor", "horizon", "date")


def ic_series(
    scores: pl.DataFrame,
    prices: pl.DataFrame,
    as_of: dt.date | None = None,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    factors: Sequence[str] = DEFAULT_FACTORS,
) -> pl.DataFrame:
    """The daily Spearman IC ``(date, factor, horizon, ic)`` of each factor and horizon (for plots)."""
    return _ic(score_return_panel(scores, prices, as_of, horizons, factors), horizons, factors)


def _quintiles(panel: pl.DataFrame, horizons: Sequence[int], factors: Sequence[str]) -> pl.DataFrame:
    daily = []  # (factor, horizon, date, quintile, fwd): each quintile's mean forward return per date
    for f in factors:
        for h in horizons:
            ok = _pair_mask(f, h)
            n = ok.sum().over("date")
            rank = pl.when(ok).then(pl.col(f)).rank("average").over("date")
            quintile = (rank * N_QUANTILES / n).ceil().clip(1, N_QUANTILES).cast(pl.Int64)
            daily.append(
                panel.lazy()
                .select("date", quintile.alias("quintile"), pl.col(f"fwd_{h}").alias("fwd"), n.alias("n"))
                .filter(pl.col("quintile").is_not_null(), pl.col("n") >= N_QUANTILES)
                .group_by("date", "quintile")
                .agg(pl.col("fwd").mean())
                .select(pl.lit(f).alias("factor"), pl.lit(h, dtype=pl.Int64).alias("horizon"), pl.all())
            )
    # Averaged over dates eagerly and in date order: polars' lazy engine may reorder the partial sums
    # of a chained group-by, and re-runs should agree to the last bit.
    return (
        pl.concat(pl.collect_all(daily))
        .sort("factor", "horizon", "quintile", "date")
        .group_by("factor", "horizon", "quintile", maintain_order=True)
        .agg(pl.col("fwd").mean().alias("mean_return"), pl.len().cast(pl.Int64).alias("n_days"))
        .select(
            "factor", "horizon", "quintile", "mean_return",
            (pl.col("mean_return") * TRADING_DAYS / pl.col("horizon")).alias("annual_return"),
            "n_days",
        )
        .sort("factor", "horizon", "quintile")
    )


def quintile_returns(
    scores: pl.DataFrame,
    prices: pl.DataFrame,
    as_of: dt.date | None = None,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    factors: Sequence[str] = DEFAULT_FACTORS,
) -> pl.DataFrame:
    """Mean forward return of each score quintile ``(factor, horizon, quintile, mean_return, annual_return,
    n_days)``; quintile 1 = lowest scores, 5 = highest (see the module docstring)."""
    return _quintiles(score_return_panel(scores, prices, as_of, horizons, factors), horizons, factors)


def rank_autocorrelation(
    scores: pl.DataFrame,
    as_of: dt.date | None = None,
    factors: Sequence[str] = DEFAULT_FACTORS,
) -> pl.DataFrame:
    """Score turnover ``(factor, rank_autocorrelation)``: the mean day-over-day Spearman of each factor's
    scores over the names scored on both days (1 = the ranking never changes)."""
    wide = wide_scores(_until(scores, as_of), factors).drop("sector")
    prev = wide.select(pl.col("date").unique().sort()).with_columns(
        pl.col("date").shift(1).alias("prev_date")
    )
    wide = wide.join(prev, on="date").sort("ticker", "date")
    held_yesterday = (pl.col("ticker").shift(1) == pl.col("ticker")) & (
        pl.col("date").shift(1) == pl.col("prev_date")
    )
    wide = wide.with_columns(
        pl.when(held_yesterday).then(pl.col(f).shift(1)).alias(f"prev|{f}") for f in factors
    )
    by_date = wide.group_by("date").agg(
        agg
        for f in factors
        for agg in (
            pl.corr(f, f"prev|{f}", method="spearman").alias(f"rho|{f}"),
            (pl.col(f).is_not_null() & pl.col(f"prev|{f}").is_not_null()).sum().alias(f"n|{f}"),
        )
    ).sort("date")
    rho = [
        pl.col(f"rho|{f}").filter(pl.col(f"n|{f}") >= MIN_NAMES_IC, pl.col(f"rho|{f}").is_finite()).mean()
        for f in factors
    ]
    means = by_date.select(rho).row(0) if by_date.height else (None,) * len(factors)
    return pl.DataFrame(
        {"factor": list(factors), "rank_autocorrelation": list(means)},
        schema={"factor": pl.Utf8, "rank_autocorrelation": pl.Float64},
    )


def non_overlapping(session_no: Sequence[int], horizon: int) -> np.ndarray:
    """Indices of a sorted session-number sequence kept so that consecutive kept sessions are at least
    ``horizon`` sessions apart (greedy from the first): their h-session forward windows do not overlap."""
    keep, last = [], None
    for i, s in enumerate(session_no):
        if last is None or s - last >= horizon:
            keep.append(i)
            last = s
    return np.asarray(keep, dtype=np.int64)


def ic_t_stats(ic: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """``(factor, horizon, ic_t_stat, n_independent, ic_t_stat_overlapping)`` from the daily IC frame
    ``(date, factor, horizon, ic)``: the t-stat on non-overlapping windows and the naive one (module
    docstring). Null below 2 dates or with no dispersion."""
    cal = sessions(prices)
    numbered = ic.join(cal, on="date", how="left").sort("factor", "horizon", "date")
    rows = []
    for (f, h), g in numbered.group_by("factor", "horizon", maintain_order=True):
        x = g.get_column("ic").to_numpy()
        sess = g.get_column("session").fill_null(strategy="forward").fill_null(0).to_numpy()
        kept = x[non_overlapping(sess, int(h))]
        rows.append((f, int(h), _t(kept), len(kept), _t(x)))
    return pl.DataFrame(rows, schema={"factor": pl.Utf8, "horizon": pl.Int64, "ic_t_stat": pl.Float64,
                                      "n_independent": pl.Int64, "ic_t_stat_overlapping": pl.Float64},
                        orient="row")


def _t(x: np.ndarray) -> float | None:
    if len(x) < 2:
        return None
    sd = float(np.std(x, ddof=1))
    return float(np.mean(x) / sd * np.sqrt(len(x))) if sd > 0 else None


def factor_tearsheet(
    scores: pl.DataFrame,
    prices: pl.DataFrame,
    as_of: dt.date,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    factors: Sequence[str] = DEFAULT_FACTORS,
) -> pl.DataFrame:
    """One `FACTOR_TEARSHEET` row per factor and horizon, using scores and prices up to `as_of`.

    Definitions in the module docstring. Every (factor, horizon) gets a row; statistics without data are
    null (the t-stat also when ic_std is 0).
    """
    panel = score_return_panel(scores, prices, as_of, horizons, factors)
    daily_ic = _ic(panel, horizons, factors)
    t_stats = ic_t_stats(daily_ic, _until(prices, as_of))
    ic_stats = daily_ic.group_by("factor", "horizon").agg(
        pl.col("ic").sort_by("date").mean().alias("ic_mean"),
        pl.col("ic").sort_by("date").std().alias("ic_std"),
        (pl.col("ic") > 0).mean().alias("ic_hit_rate"),
        pl.len().cast(pl.Int64).alias("n_days"),
    )
    q = _quintiles(panel, horizons, factors)
    q1 = q.filter(pl.col("quintile") == 1).select("factor", "horizon", pl.col("annual_return").alias("q1"))
    q5 = q.filter(pl.col("quintile") == N_QUANTILES).select(
        "factor", "horizon", pl.col("annual_return").alias("q5")
    )
    turnover = rank_autocorrelation(scores, as_of, factors)
    grid = pl.DataFrame(
        [(f, h) for f in factors for h in horizons], schema={"factor": pl.Utf8, "horizon": pl.Int64},
        orient="row",
    )
    out = (
        grid.join(ic_stats, on=["factor", "horizon"], how="left")
        .join(t_stats, on=["factor", "horizon"], how="left")
        .join(q1, on=["factor", "horizon"], how="left")
        .join(q5, on=["factor", "horizon"], how="left")
        .join(turnover, on="factor", how="left")
        .select(
            pl.lit(as_of, dtype=pl.Date).alias("as_of"),
            "factor",
            pl.col("horizon").alias("horizon_days"),
            "ic_mean",
            "ic_std",
            "ic_t_stat",
            "ic_t_stat_overlapping",
            pl.col("n_independent").fill_null(0),
            "ic_hit_rate",
            pl.col("n_days").fill_null(0),
            (pl.col("q5") - pl.col("q1")).alias("quintile_spread_annual"),
            pl.col("q1").alias("q1_return_annual"),
            pl.col("q5").alias("q5_return_annual"),
            "rank_autocorrelation",
        )
    )
    return FACTOR_TEARSHEET.conform(out)
