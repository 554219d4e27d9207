"""Forward returns and the daily sector-neutral long-short return of each factor.

Prices are a frame ``(date, ticker, adj_close)``; returns are close-to-close on `adj_close`. The trading
sessions are the distinct dates of the prices frame, so "h sessions later" counts sessions, not calendar
days, and a ticker missing a price on the target session simply has no return for it (never a return over
a longer span).

**No look-ahead.** `FACTOR_SCORES` on date D uses only data known at D's close, so a portfolio formed from
D's scores can be entered at D's close at the earliest. The factor return booked on session t is therefore
earned from the close of t-1 (the previous session) to the close of t, by positions chosen from the scores of
t-1. A score that changes at t affects the returns of t+1 onwards only; prices and scores after t never
change the factor returns up to t.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from meridian_assets.factors.schemas import FACTOR_RETURNS, PARENTS

DEFAULT_FACTORS: tuple[str, ...] = (*PARENTS, "composite")
DEFAULT_HORIZONS: tuple[int, ...] = (1, 5, 21)


def score_column(factor: str) -> str:
    """The `FACTOR_SCORES` column holding a factor's 0-100 score (`momentum` -> `momentum_score`)."""
    return factor if factor == "composite" else f"{factor}_score"


def sessions(prices: pl.DataFrame) -> pl.DataFrame:
    """The trading sessions ``(date, session)`` of a prices frame, numbered 0, 1, 2... in date order."""
    return (
        prices.select(pl.col("date").unique().sort())
        .with_row_index("session")
        .select("date", pl.col("session").cast(pl.Int64))
    )


def forward_returns(prices: pl.DataFrame, horizons: Sequence[int] = DEFAULT_HORIZONS) -> pl.DataFrame:
    """Forward close-to-close returns ``(date, ticker, fwd_<h>...)``.

    ``fwd_h`` on date D = adj_close(D + h sessions) / adj_close(D) - 1: bought at D's close, sold at the close
    h sessions later. Null when that session is past the end of the data or the ticker has no price on it.
    """
    if any(h < 1 for h in horizons):
        raise ValueError(f"forward return horizons must be >= 1 session, got {tuple(horizons)}")
    cal = sessions(prices)
    px = prices.select("date", "ticker", pl.col("adj_close").cast(pl.Float64)).join(cal, on="date")
    out = px
    for h in horizons:
        later = px.select(
            "ticker", (pl.col("session") - h).alias("session"), pl.col("adj_close").alias("_later")
        )
        out = out.join(later, on=["ticker", "session"], how="left").with_columns(
            (pl.col("_later") / pl.col("adj_close") - 1.0).fill_nan(None).alias(f"fwd_{h}")
        ).drop("_later")
    return out.select("date", "ticker", *[f"fwd_{h}" for h in horizons]).sort("date", "ticker")


def _score_exprs(factors: Sequence[str]) -> list[pl.Expr]:
    """Each factor's score as a Float64 column named after the factor; NaN counts as missing."""
    return [pl.col(score_column(f)).cast(pl.Float64).fill_nan(None).alias(f) for f in factors]


def wide_scores(scores: pl.DataFrame, factors: Sequence[str] = DEFAULT_FACTORS) -> pl.DataFrame:
    """``(date, ticker, sector, <factor>...)``: one Float64 score column per factor, named after it."""
    missing = [score_column(f) for f in factors if score_column(f) not in scores.columns]
    if missing:
        raise ValueError(f"factor_scores frame lacks the score columns {missing}")
    sector = pl.col("sector") if "sector" in scores.columns else pl.lit(None, dtype=pl.Utf8).alias("sector")
    return scores.select("date", "ticker", sector, *_score_exprs(factors))


def with_group_key(frame: pl.DataFrame, columns: Sequence[str], name: str = "_key") -> pl.DataFrame:
    """Add one Int64 column identifying each combination of `columns`: window functions and group-bys over
    a single integer are several times faster than over several string columns."""
    key = pl.lit(0, dtype=pl.Int64)
    for col in columns:
        levels = frame.select(pl.col(col).unique().sort(nulls_last=True)).with_row_index("_code")
        frame = frame.join(levels, on=col, how="left", nulls_equal=True)
        frame = frame.with_columns((key * (levels.height + 1) + pl.col("_code")).alias(name)).drop("_code")
        key = pl.col(name)
    return frame


def sector_neutral_sides(
    scores: pl.DataFrame, quintile: float = 0.2, factors: Sequence[str] = DEFAULT_FACTORS
) -> pl.DataFrame:
    """``(date, ticker, sector, side_<factor>...)``: +1 long, -1 short, 0 neither, null if unscored.

    Within each (date, sector) with n >= 2 names scored on the factor, k = max(1, floor(quintile * n)); a
    name is long when its descending average rank is <= k and short when its ascending average rank is <= k.
    Average ranks keep tied names together: a sector whose scores are all equal has no longs and no shorts,
    and a tie straddling the cut-off goes in (or out) as a block.
    """
    if not 0 < quintile <= 0.5:
        raise ValueError(f"quintile must be in (0, 0.5], got {quintile}")
    frame = with_group_key(wide_scores(scores, factors), ("date", "sector"))
    sides = []
    for f in factors:
        n = pl.col(f).count().over("_key")
        k = pl.when(n >= 2).then(pl.max_horizontal((n * quintile + 1e-9).floor(), pl.lit(1))).otherwise(0)
        rank = pl.col(f).rank("average").over("_key")  # descending average rank = n + 1 - rank
        side = pl.when(n + 1 - rank <= k).then(1).when(rank <= k).then(-1).when(rank.is_not_null()).then(0)
        sides.append(side.cast(pl.Int8).alias(f"side_{f}"))
    return frame.select("date", "ticker", "sector", *sides)


def factor_returns(
    scores: pl.DataFrame,
    prices: pl.DataFrame,
    quintile: float = 0.2,
    factors: Sequence[str] = DEFAULT_FACTORS,
) -> pl.DataFrame:
    """Daily equal-weight, sector-neutral long-short return of each factor (`FACTOR_RETURNS`).

    On session t, for each factor: the longs are the top `quintile` of the factor score *within each sector*
    on the previous session t-1 and the shorts the bottom `quintile` (see `sector_neutral_sides`), pooled
    across sectors and equally weighted. ``long_return`` / ``short_return`` are the mean t-1 -> t
    close-to-close returns of the names of each leg that have both prices; ``long_short_return`` = long -
    short; ``n_long`` / ``n_short`` count those names. Rows exist for sessions t whose previous session has
    scores and at least one leg with a return.
    """
    cal = sessions(prices)
    next_session = cal.select("date", pl.col("date").shift(-1).alias("return_date")).drop_nulls()
    held = (
        sector_neutral_sides(scores, quintile, factors)
        .join(forward_returns(prices, (1,)).drop_nulls("fwd_1"), on=["date", "ticker"])
    )
    legs = []
    for f in factors:
        side, ret = pl.col(f"side_{f}"), pl.col("fwd_1")
        legs += [
            ret.filter(side == 1).mean().alias(f"long|{f}"),
            ret.filter(side == -1).mean().alias(f"short|{f}"),
            (side == 1).sum().alias(f"nlong|{f}"),
            (side == -1).sum().alias(f"nshort|{f}"),
        ]
    # a fixed row order makes the floating-point sums, hence re-runs, bit-for-bit reproducible
    by_date = held.sort("date", "ticker").group_by("date").agg(legs)
    out = pl.concat([
        by_date.select(
            "date",
            pl.lit(f).alias("factor"),
            (pl.col(f"long|{f}") - pl.col(f"short|{f}")).alias("long_short_return"),
            pl.col(f"long|{f}").alias("long_return"),
            pl.col(f"short|{f}").alias("short_return"),
            pl.col(f"nlong|{f}").cast(pl.Int64).alias("n_long"),
            pl.col(f"nshort|{f}").cast(pl.Int64).alias("n_short"),
        )
        for f in factors
    ])
    out = (
        out.filter((pl.col("n_long") > 0) | (pl.col("n_short") > 0))
        .join(next_session, on="date")
        .with_columns(pl.col("return_date").alias("date"))
        .sort("date", "factor")
    )
    return FACTOR_RETURNS.conform(out)
