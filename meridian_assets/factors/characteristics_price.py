"""The price-and-volume family beyond momentum: short-term reversal, low risk and liquidity, as known at D.

Every value uses only bars dated on or before D (trailing windows that end at D), so it is live wherever the
name has enough history and needs no fundamentals. Notation as in `characteristics`: ``s`` sessions (rows
of the entity's own bar history), ``adj`` = adj_close, ``r_t = ln(adj_t / adj_{t-1})`` the daily log return,
``m_t`` SPY's daily log return on the same session. A bar with zero volume is not a trade (vendors write
them before a listing and on halts): it is dropped before any window is taken.

=========================  ===========  ===============================================  ===  ===============
sub_factor                 parent       formula (value at D)                             dir  source, window
=========================  ===========  ===============================================  ===  ===============
rev_1m                     reversal     -(adj[D] / adj[D-21s] - 1)                       -    prices, 21s
rev_1w                     reversal     -(adj[D] / adj[D-5s] - 1)                        -    prices, 5s
lowvol_63d                 low_risk     -sd(r over D-62s..D) x sqrt(252)                 -    prices, 63 returns
lowvol_252d                low_risk     -sd(r over D-251s..D) x sqrt(252)                -    prices, 252 returns
low_beta_252d              low_risk     -cov(r, m) / var(m) over D-251s..D               -    prices + SPY, 252
liq_amihud_63d             liquidity    mean(|r_t| / (close_t x volume_t)) x 1e9 over    +    prices, volume, 63s
                                        D-62s..D (Amihud illiquidity)
liq_low_dollar_volume_63d  liquidity    -ln(mean(close_t x volume_t) over D-62s..D)      -    prices, volume, 63s
=========================  ===========  ===============================================  ===  ===============

Why these signs (higher is better, as everywhere in Layer 2):

* Short-term reversal (Jegadeesh 1990; Lehmann 1990): last month's losers outperform last month's winners
  over the next month, so the negated one-month (and one-week) return ranks high.
* Low risk (Ang, Hodrick, Xing & Zhang 2006; Frazzini & Pedersen 2014 "Betting Against Beta"): low-volatility
  and low-beta stocks have earned more per unit of risk than high-beta ones, so volatility and beta are
  negated.
* Liquidity (Amihud 2002): illiquid stocks earn a premium for it, so Amihud's ratio (price impact per dollar
  traded) ranks high as is and the average dollar volume is negated.

Windows require every session of the window (a 63-session statistic needs 63 returns), so a name listed
last month has no 63-day volatility rather than a noisy one.
"""

from __future__ import annotations

import polars as pl

from meridian_assets.factors.characteristics_base import asof, finite, last_per_key, with_entity

PRICE_STALE = "7d"
TRADING_DAYS = 252
SHORT_WINDOW = 63
LONG_WINDOW = 252
AMIHUD_SCALE = 1e9  # |return| per billion dollars traded


def price_volume_features(prices: pl.DataFrame, benchmarks: list[str], emap: dict[str, str]) -> pl.DataFrame:
    """``(entity, date, <the seven sub-factors>)`` from the bars of every stock (benchmarks excluded), each
    value using only the entity's bars dated on or before ``date``."""
    traded = pl.col("volume").is_null() | (pl.col("volume") > 0)
    px = with_entity(
        prices.filter(~pl.col("ticker").is_in(benchmarks) & traded).select(
            "date", "ticker",
            pl.when(pl.col("adj_close") > 0).then(pl.col("adj_close")).alias("adj"),
            pl.when(pl.col("close") > 0).then(pl.col("close")).alias("px"),
            pl.col("volume").cast(pl.Float64),
        ),
        emap,
    )
    px = last_per_key(px, ["entity", "date"])
    spy = (
        prices.filter((pl.col("ticker") == "SPY") & (pl.col("adj_close") > 0)).sort("date")
        .select("date", m=pl.col("adj_close").log().diff())
    )
    a = pl.col("adj")

    def ent(e: pl.Expr) -> pl.Expr:
        return e.over("entity")

    r, m = pl.col("r"), pl.col("m")
    n = LONG_WINDOW
    # beta over the sessions where both returns exist: cov / var from windowed sums (full window required)
    both = r.is_not_null() & m.is_not_null()
    x, y = pl.when(both).then(m), pl.when(both).then(r)

    def wsum(e: pl.Expr) -> pl.Expr:
        return ent(e.rolling_sum(n, min_samples=n))

    sx, sy, sxy, sxx = wsum(x), wsum(y), wsum(x * y), wsum(x * x)
    beta = finite((sxy - sx * sy / n) / (sxx - sx * sx / n))
    dollar = pl.when(pl.col("volume") > 0).then(pl.col("px") * pl.col("volume"))
    feats = (
        px.join(spy, on="date", how="left")
        .sort(["entity", "date"])
        .with_columns(r=ent(a.log().diff()))
        .with_columns(dv=dollar, illiq=finite(r.abs() / dollar * AMIHUD_SCALE))
        .select(
            "entity", "date",
            rev_1m=-(a / ent(a.shift(21)) - 1.0),
            rev_1w=-(a / ent(a.shift(5)) - 1.0),
            lowvol_63d=-ent(r.rolling_std(SHORT_WINDOW, min_samples=SHORT_WINDOW)) * TRADING_DAYS**0.5,
            lowvol_252d=-ent(r.rolling_std(LONG_WINDOW, min_samples=LONG_WINDOW)) * TRADING_DAYS**0.5,
            low_beta_252d=-beta,
            liq_amihud_63d=ent(pl.col("illiq").rolling_mean(SHORT_WINDOW, min_samples=SHORT_WINDOW)),
            liq_low_dollar_volume_63d=-finite(
                ent(pl.col("dv").rolling_mean(SHORT_WINDOW, min_samples=SHORT_WINDOW)).log()
            ),
        )
    )
    return feats


def add_price_volume(panel: pl.DataFrame, prices: pl.DataFrame, benchmarks: list[str],
                     emap: dict[str, str]) -> pl.DataFrame:
    """``panel`` plus the seven sub-factors of the latest traded bar <= D (at most `PRICE_STALE` old)."""
    feats = price_volume_features(prices, benchmarks, emap)
    return asof(panel, feats, left_on="date", right_on="date", tolerance=PRICE_STALE)
