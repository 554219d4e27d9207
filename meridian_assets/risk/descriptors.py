"""Inputs of the factor risk model from the Meridian tables, as of one session (plain polars/numpy).

Descriptors per stock (raw; `factor_model.exposures` standardises them):

| style      | descriptor                                                                      | source |
|------------|---------------------------------------------------------------------------------|--------|
| beta       | OLS slope of daily returns on SPY's over the last ``beta_days`` sessions         | daily_prices |
| momentum   | momentum parent score (0-100 within sector) that day                             | factor_scores |
| size       | log market cap = log(close x shares outstanding as last reported); without      | daily_prices, fundamentals_raw |
|            | shares, log of the market-cap estimate from dollar volume (`size_measure`)       | daily_prices |
| value      | value parent score that day                                                      | factor_scores |
| volatility | standard deviation of daily returns over the last ``beta_days`` sessions         | daily_prices |
| quality    | quality parent score that day                                                    | factor_scores |

Only data dated (or known) on or before ``as_of`` is used. A stock missing a descriptor gets 0 after
standardising (the model's convention); a stock with no market cap (reported or estimated) is left out of the
model. A style whose descriptor has no value for any stock over the model's window (value and quality when no
fundamentals are loaded) is left out of the model (`live_styles`), not carried as a column of zeros.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

BENCHMARK = "SPY"
SIZE_PROXY_DAYS = 63  # sessions of dollar volume behind the market-cap estimate
MIN_CALIBRATION = 20  # stocks with both a reported cap and dollar volume needed to scale the estimate
SCORE_STYLES = {"momentum": "momentum_score", "value": "value_score", "quality": "quality_score"}


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
    return (
        day.with_columns(beta=pl.Series(beta), volatility=pl.Series(vol))
        .join(size_measure(prices, fundamentals, as_of), on="ticker", how="left")
        .select("ticker", "sector", "mcap", "size_source", "beta", "momentum", "value", "volatility", "quality")
    )


def size_measure(prices: pl.DataFrame, fundamentals: pl.DataFrame, as_of: dt.date,
                 days: int = SIZE_PROXY_DAYS) -> pl.DataFrame:
    """Each stock's market cap on ``as_of`` (ticker, mcap, size_source), from what was known then.

    - ``shares``: the last close x the shares outstanding last reported (``known_at <= as_of``).
    - ``dollar_volume``, when no shares are known: the stock's mean traded value ``close x volume`` over its
      last ``days`` sessions with volume (a liquidity-size proxy: larger companies trade more dollars), scaled
      to a cap by the median cap / dollar-volume ratio of the stocks that have both that day (at least
      ``MIN_CALIBRATION`` of them), so estimated and reported caps are on one scale. With fewer, the scale is
      1: the size exposure (standardised) and the regression weights (relative) are the same whatever the scale.

    Without a ``volume`` column or shares, ``mcap`` is null (the stock is left out of the model)."""
    px = prices.filter(pl.col("date") <= as_of)
    close = px.sort("date").group_by("ticker").agg(pl.col("close").last())
    known = fundamentals.filter(pl.col("known_at") <= as_of, pl.col("shares_outstanding") > 0)
    shares = (known.sort("known_at", "period_end").group_by("ticker").agg(pl.col("shares_outstanding").last())
              if known.height else pl.DataFrame(schema={"ticker": pl.Utf8, "shares_outstanding": pl.Float64}))
    out = close.join(shares, on="ticker", how="left").with_columns(
        reported=pl.col("close") * pl.col("shares_outstanding"))
    adv = pl.DataFrame(schema={"ticker": pl.Utf8, "adv": pl.Float64})
    traded = px.filter(pl.col("volume") > 0, pl.col("close") > 0) if "volume" in px.columns else px.clear()
    if traded.height:
        first = traded["date"].unique().sort().tail(days).min()
        adv = (traded.filter(pl.col("date") >= first)
               .group_by("ticker").agg(adv=(pl.col("close") * pl.col("volume")).mean()))
    out = out.join(adv, on="ticker", how="left")
    both = out.filter(pl.col("reported") > 0, pl.col("adv") > 0)
    scale = float((both["reported"] / both["adv"]).median()) if both.height >= MIN_CALIBRATION else 1.0
    has_cap = pl.col("reported").is_finite() & (pl.col("reported") > 0)
    has_adv = pl.col("adv").is_finite() & (pl.col("adv") > 0)
    return out.select(
        "ticker",
        mcap=pl.when(has_cap).then(pl.col("reported")).when(has_adv).then(pl.col("adv") * scale),
        size_source=pl.when(has_cap).then(pl.lit("shares")).when(has_adv).then(pl.lit("dollar_volume")),
    )


def live_styles(styles: tuple[str, ...], scores: pl.DataFrame) -> tuple[str, ...]:
    """The styles the model can carry: those from prices (beta, volatility, size) always, and those read from a
    parent score (momentum, value, quality) only when that score has a value somewhere in ``scores``."""
    def live(style: str) -> bool:
        col = SCORE_STYLES.get(style)
        return col is None or (col in scores.columns and scores[col].drop_nulls().len() > 0)

    return tuple(s for s in styles if live(s))


def exposure_sources(styles: tuple[str, ...], dropped: tuple[str, ...], size_sources: pl.Series) -> dict[str, str]:
    """What each style exposure of the model is built from, naming proxies and left-out styles (the model's
    summary)."""
    n_proxy = int((size_sources == "dollar_volume").sum())
    n = size_sources.len()
    out = {}
    for s in styles:
        if s == "size":
            out[s] = ("log market cap (close x shares outstanding)" if n_proxy == 0 else
                      f"proxy for {n_proxy} of {n} stocks: log market-cap estimate from {SIZE_PROXY_DAYS}-session "
                      "mean dollar volume (no shares outstanding)")
        elif s in ("beta", "volatility"):
            out[s] = "daily returns"
        else:
            out[s] = f"{s} parent score"
    for s in dropped:
        out[s] = "left out: no source data in the window"
    return out


def _scores_as_of(scores: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """Each stock's latest score row dated on or before ``day``, re-dated ``day`` (as the scores known then)."""
    known = scores.filter(pl.col("date") <= day)
    if known.height == 0:
        return known
    latest = known["date"].max()
    return known.filter(pl.col("date") == latest).with_columns(pl.lit(day).alias("date"))


def as_of_tickers(prices: pl.DataFrame, as_of: dt.date) -> tuple[pl.DataFrame, dict[tuple[dt.date, str], str]]:
    """(prices under each security's ticker on ``as_of``, (date, ticker then) -> ticker on ``as_of``).

    A window of returns that spans a ticker change (FB -> META) is then one column, and scores dated before
    the change find their stock through the second value."""
    from meridian_assets.ingest.identity import SID, as_of_labels

    if SID not in prices.columns or prices[SID].null_count() == prices.height:
        return prices, {}
    now = as_of_labels(prices, as_of)
    then = prices.select("date", "ticker").with_columns(now["ticker"].alias("now"))
    moved = then.filter(pl.col("ticker") != pl.col("now"))
    return now, {(d, t): n for d, t, n in moved.iter_rows()}


def lagged_exposures(
    prices: pl.DataFrame,
    scores: pl.DataFrame,
    fundamentals: pl.DataFrame,
    tickers: list[str],
    days: list[dt.date],
    *,
    styles: tuple[str, ...],
    industries: tuple[str, ...],
    beta_days: int = 60,
    renamed: dict[tuple[dt.date, str], str] | None = None,
):
    """One `Exposures` per day in ``days`` over ``tickers``, built only from what was known on that day:
    bars dated <= day, the latest scores dated <= day, shares known by then. A stock without descriptors
    that day gets exposures 0 and the median cap; `mask` (days x tickers, True = known) says which, and the
    regression leaves the others out.

    Returns ``(exposures, mask)``."""
    from meridian_assets.risk.factor_model import Exposures, exposures

    pos = {t: i for i, t in enumerate(tickers)}
    k = 1 + len(industries) + len(styles)
    out, mask = [], np.zeros((len(days), len(tickers)), dtype=bool)
    for d_i, day in enumerate(days):
        day_scores = _scores_as_of(scores, day)
        if renamed:
            day_scores = day_scores.with_columns(
                pl.col("ticker").map_elements(lambda t, _d=day: renamed.get((_d, t), t), return_dtype=pl.Utf8))
        desc = style_descriptors(prices, day_scores, fundamentals, day, beta_days=beta_days)
        desc = desc.filter(pl.col("ticker").is_in(tickers), pl.col("mcap").is_finite() & (pl.col("mcap") > 0),
                           pl.col("sector").is_in(list(industries))).unique("ticker", keep="first")
        X = np.zeros((len(tickers), k))
        cap = np.full(len(tickers), np.nan)
        if desc.height:
            ex = exposures(desc["sector"], desc["mcap"], desc, styles=styles, industries=industries)
            rows = np.array([pos[t] for t in desc["ticker"]], dtype=int)
            X[rows], cap[rows] = ex.X, ex.mcap
            mask[d_i, rows] = True
        X[~mask[d_i], 0] = 1.0  # the market column; the rows are left out of the regression anyway
        cap[~mask[d_i]] = np.nanmedian(cap) if mask[d_i].any() else 1.0
        out.append(Exposures(X=X, factor_names=("market", *industries, *styles), industries=industries,
                             styles=styles, mcap=cap, tickers=tuple(tickers)))
    return out, mask


def model_as_of(
    prices: pl.DataFrame,
    scores: pl.DataFrame,
    fundamentals: pl.DataFrame,
    as_of: dt.date,
    *,
    lookback: int,
    styles: tuple[str, ...],
    beta_days: int = 60,
):
    """The factor risk model as of ``as_of``, without look-ahead: the return of each day t (close t-1 to
    close t) is regressed on the exposures known at the close of t-1 (`lagged_exposures`), as Barra does;
    the forecast uses the exposures known at ``as_of``. Nothing dated after ``as_of`` is read.

    ``scores`` are factor_scores rows (any dates; the latest on or before each day is used). The styles are
    those of ``styles`` with data (`live_styles`); size falls back to the dollar-volume estimate where no shares
    are known (`size_measure`). Returns ``(model, return dates, tickers, sources)``, ``sources`` what each style
    exposure is built from (`exposure_sources`); raises `RiskModelError` when the inputs cannot give a model."""
    from meridian_assets.risk.factor_model import RiskModelError, estimate, exposures

    prices = prices.filter(pl.col("date") <= as_of)
    scores = scores.filter(pl.col("date") <= as_of)
    fundamentals = fundamentals.filter(pl.col("known_at") <= as_of)
    prices, renamed = as_of_tickers(prices, as_of)
    used = live_styles(tuple(styles), scores)
    dropped = tuple(s for s in styles if s not in used)
    styles = used
    desc = style_descriptors(prices, _scores_as_of(scores, as_of), fundamentals, as_of, beta_days=beta_days)
    desc = desc.filter(pl.col("mcap").is_finite() & (pl.col("mcap") > 0))
    if desc.height == 0:
        raise RiskModelError(f"no stock has a market cap (shares outstanding or traded volume) and scores on "
                             f"{as_of}; load prices and scores")
    tickers = desc["ticker"].to_list()
    dates, R = returns_matrix(prices, tickers, as_of, lookback)
    sessions = sorted(prices["date"].unique().to_list())
    prev = {d: sessions[i - 1] for i, d in enumerate(sessions) if i}
    industries = tuple(sorted(set(desc["sector"].to_list()) | set(scores["sector"].drop_nulls().to_list())))
    now = exposures(desc["sector"], desc["mcap"], desc, styles=styles, industries=industries, tickers=tickers)
    lagged, known = lagged_exposures(prices, scores, fundamentals, tickers, [prev[d] for d in dates],
                                     styles=tuple(styles), industries=industries, beta_days=beta_days,
                                     renamed=renamed)
    R = np.where(known, R, np.nan)
    # A day on which no stock had exposures known the day before (e.g. before the first scored session) says
    # nothing about factor returns: it is left out, not filled with today's exposures.
    live = known.any(axis=1)
    if not live.all():
        R, lagged, dates = R[live], [x for x, ok in zip(lagged, live) if ok], [d for d, ok in zip(dates, live) if ok]
    sources = exposure_sources(tuple(styles), dropped, desc["size_source"])
    return estimate(R, lagged, lookback=lookback, forecast=now), dates, tickers, sources
