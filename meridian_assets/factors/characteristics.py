"""The 44 raw characteristics behind the Layer-2 scores, point in time, for every index member on every date.

`compute_characteristics(inputs, dates)` returns a LONG frame ``(date, ticker, sector, sub_factor, value)``:
one row per index member (point-in-time membership, benchmarks excluded) per date per sub-factor, ``value``
signed so that HIGHER IS BETTER and null when unavailable. `characteristics_and_extras` also returns the
Piotroski / Altman values and bands and the insider-cluster flag for the scores table.

Notation: ``D`` the scoring date; ``s`` sessions (rows of the entity's price history), ``d`` calendar days;
``adj`` = adj_close (returns), ``close`` = as-traded close; ``TTM`` = sum of the four latest quarters known at D
(falling back to the latest annual row), ``prior TTM`` = the four quarters before them (or the prior annual
row); stocks (balance-sheet items) are the latest quarter's. ``mcap = shares_outstanding x split factor since
the period end x close(D)``. ``L`` = split restatement (see `characteristics_base`).

=====================  ==============  ================================================  ===  ==========================
sub_factor             parent          formula (value at D)                              dir  source, lookback
=====================  ==============  ================================================  ===  ==========================
mom_12_1               momentum        adj[D-21s] / adj[D-252s] - 1                      +    prices, 252s (cfg)
mom_6_1                momentum        adj[D-21s] / adj[D-126s] - 1                      +    prices, 126s
mom_3m                 momentum        adj[D] / adj[D-63s] - 1                           +    prices, 63s
mom_52w_high           momentum        adj[D] / max(adj[D-251s..D])                      +    prices, 252s
mom_sector_rel_12_1    momentum        information ratio vs the sector ETF (SPY if       +    prices + ETF, 252s
                                       none): sum(e) / (sd(e) sqrt(231)) over
                                       D-251s..D-21s, e = daily log return - ETF's
val_earnings_yield     value           NI TTM / mcap                                     +    fundamentals, prices, 8q
val_fcf_yield          value           FCF TTM / mcap                                    +    fundamentals, prices
val_book_to_price      value           total_equity / mcap                               +    fundamentals, prices
val_sales_to_price     value           revenue TTM / mcap                                +    fundamentals, prices
val_ebitda_to_ev       value           EBITDA TTM / (mcap + debt - cash); EV<=0: null    +    fundamentals, prices
val_dividend_yield     value           |dividends_paid| TTM / mcap                       +    fundamentals, prices
qual_roe               quality         roe of the latest ratio row known                 +    fundamental_ratios
qual_roa               quality         roa                                               +    fundamental_ratios
qual_gross_margin      quality         gross_margin                                      +    fundamental_ratios
qual_low_accruals      quality         -accruals_ratio                                   -    fundamental_ratios
qual_low_leverage      quality         -debt_to_assets                                   -    fundamental_ratios
qual_piotroski         quality         Piotroski F 0-9, TTM vs prior TTM (null w/o it)   +    fundamentals, 8q
qual_altman            quality         Altman Z, TTM flows, mcap at D                    +    fundamentals, prices
gro_revenue_yoy        growth          revenue TTM / prior TTM - 1 (base <= 0: null)     +    fundamentals, 8q
gro_eps_yoy            growth          EPS TTM / prior EPS TTM - 1, split-restated       +    fundamentals, splits
gro_net_income_yoy     growth          NI TTM / prior TTM - 1                            +    fundamentals, 8q
gro_fcf_yoy            growth          FCF TTM / prior TTM - 1                           +    fundamentals, 8q
rev_eps_30d            revisions       (fwd_eps[D] - fwd_eps*[D-30d]) / |fwd_eps*[..]|   +    estimates, 30d (+10d)
rev_eps_90d            revisions       the same over 90 calendar days                    +    estimates, 90d (+10d)
rev_target_30d         revisions       price_target[D] / price_target*[D-30d] - 1        +    estimates, 30d
rev_rating_30d         revisions       rating_mean[D-30d] - rating_mean[D] (1 = buy)     +    estimates, 30d
si_low_pct_float       short_interest  -short_pct_float                                  -    short_interest
si_low_days_to_cover   short_interest  -short_ratio (days to cover)                      -    short_interest
si_falling_30d         short_interest  -(short_pct_float[D] - short_pct_float[D-30d])    -    short_interest, 30d
ins_net_buy_value_90d  insider         net purchase ratio (P$ - S$) / (P$ + S$) of the   +    insider_transactions, 90d
                                       open-market buys and sales known in (D-90d, D];
                                       0 when no insider bought
ins_buyers_90d         insider         distinct insiders with a buy known in (D-90d, D]  +    insider_transactions, 90d
ins_ceo_cfo_buy_90d    insider         1 if a CEO/CFO open-market buy is among them      +    insider_transactions, 90d
ins_cluster_recent     insider         max(0, 1 - days since the latest cluster / 90)    +    insider_cluster_flags
inst_fund_count        institutional   tracked funds holding (newest report period)      +    institutional_summary
inst_net_share_change  institutional   net share change (D's basis) / shares out at D    +    institutional_summary
inst_new_positions     institutional   funds opening a position                          +    institutional_summary
inst_new_cluster       institutional   1 if a new-position cluster, else 0               +    institutional_summary
rev_1m ... liq_*       reversal,       short-term reversal, low volatility / beta and    +/-  prices, volume, 5-252s
                       low_risk,       liquidity: formulas and signs in
                       liquidity       `characteristics_price`
=====================  ==============  ================================================  ===  ==========================

``*`` = restated into D's share basis with the splits between the two snapshots (a 2:1 split halves the
consensus EPS overnight; that is not a -50% revision). ``dir -`` marks a raw quantity that is negated so
higher is better. Momentum lookback/skip come from `ScoringConfig` (252/21); 6-1 and 3-month use
lookback/2 and lookback/4 sessions.

The insider net purchase ratio (Lakonishok & Lee 2001) is scale-free and conditioned on buying: the
information in insider trades is in open-market purchases; sales are mostly routine (10b5-1 plans,
diversification, taxes), so a name whose insiders only sold is neutral (0), like one with no trades, and
sales only temper the score of a name whose insiders also bought. (Dollar net buying over market cap would
mostly rank names by the size of their routine selling.)

Point in time (value at D): prices dated <= D (as of, 7-day staleness limit); fundamentals, ratios, clusters
and 13-F summaries with ``known_at <= D`` (``join_asof`` backward per entity; the newest *period* known wins,
so a late amendment of an old quarter never replaces a newer one); estimate and short-interest snapshots
dated <= D (10- and 20-day staleness limits). Availability (null vs 0): the insider counts are 0 (not null)
when Form 4 data was filed by anyone in (D-90d, D]; 13-F counts are 0 when any summary row is known in
(D-200d, D]; revisions are null until ``revisions_min_days`` estimate snapshot dates exist up to D.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import replace

import polars as pl

from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.factors.characteristics_base import (
    asof, div_pos, entity_map, last_per_key, membership_panel, split_log_table, with_entity, with_split_log,
)
from meridian_assets.factors.characteristics_fundamental import add_fundamental
from meridian_assets.factors.characteristics_market import (
    add_insider, add_institutional, add_revisions, add_short_interest,
)
from meridian_assets.factors.characteristics_price import LONG_WINDOW, add_price_volume
from meridian_assets.factors.inputs import ScoringInputs
from meridian_assets.factors.schemas import ALL_SUB_FACTORS, SUB_FACTORS

SUB_FACTOR_ENUM = pl.Enum(list(ALL_SUB_FACTORS))
PARENT_OF: dict[str, str] = {s: p for p, subs in SUB_FACTORS.items() for s in subs}
EXTRA_COLUMNS: tuple[str, ...] = ("piotroski_f", "piotroski_band", "altman_z", "altman_band", "insider_cluster")
PRICE_STALE = "7d"


def compute_characteristics(
    inputs: ScoringInputs, dates: Sequence[dt.date] | None = None, cfg: ScoringConfig | None = None
) -> pl.DataFrame:
    """The long characteristics frame (see the module docstring). ``dates`` default: every session of
    ``[inputs.start, inputs.end]``."""
    return characteristics_and_extras(inputs, dates, cfg)[0]


def characteristics_and_extras(
    inputs: ScoringInputs, dates: Sequence[dt.date] | None = None, cfg: ScoringConfig | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(long, extras)``: the long characteristics and ``(date, ticker, piotroski_f, piotroski_band,
    altman_z, altman_band, insider_cluster)``."""
    wide = characteristics_wide(inputs, dates, cfg)
    return to_long(wide), wide.select("date", "ticker", *EXTRA_COLUMNS)


def characteristics_wide(
    inputs: ScoringInputs, dates: Sequence[dt.date] | None = None, cfg: ScoringConfig | None = None
) -> pl.DataFrame:
    """One row per (date, member): ``date, ticker, sector``, the 44 sub-factors and `EXTRA_COLUMNS`."""
    cfg = cfg or ScoringConfig()
    dates = inputs.sessions() if dates is None else list(dates)
    if dates:
        inputs = _trimmed(inputs, min(dates), cfg)
    emap = entity_map(inputs.universe)
    panel = membership_panel(inputs.universe, dates, emap)
    # Only names that traded that session are scored (a member with no bar cannot be bought or sold).
    priced = inputs.prices.select("date", pl.col("ticker").cast(pl.Utf8)).unique()
    panel = panel.join(priced, on=["date", "ticker"], how="semi")
    splits = split_log_table(inputs.corporate_actions, emap)
    panel = with_split_log(panel, splits, "date", "L_d")
    panel = add_momentum(panel, inputs, emap, cfg)
    bench = inputs.universe.filter(pl.col("is_benchmark").fill_null(False)).get_column("ticker").to_list()
    panel = add_price_volume(panel, inputs.prices, bench, emap)
    panel = add_fundamental(panel, inputs.fundamentals_raw, inputs.fundamental_ratios, emap, splits)
    panel = add_revisions(panel, inputs.analyst_estimates, emap, splits, cfg)
    panel = add_short_interest(panel, inputs.short_interest, emap)
    panel = add_insider(panel, inputs.insider_transactions, inputs.insider_cluster_flags, emap)
    panel = add_institutional(panel, inputs.institutional_summary, emap, splits)
    return panel.select(
        "date", "ticker", "sector",
        *[pl.col(s).cast(pl.Float64) for s in ALL_SUB_FACTORS],
        pl.col("piotroski_f").cast(pl.Float64), pl.col("piotroski_band").cast(pl.Utf8),
        pl.col("altman_z").cast(pl.Float64), pl.col("altman_band").cast(pl.Utf8),
        pl.col("insider_cluster").cast(pl.Boolean),
    )


def _trimmed(inputs: ScoringInputs, first: dt.date, cfg: ScoringConfig) -> ScoringInputs:
    """Drop fast rows too old to matter for any date >= ``first`` (a one-date run then touches ~1 year of
    prices, not the whole loaded history). Windowed sums are differences of cumulative sums, so dropping a
    common prefix changes nothing."""
    def since(days: int) -> dt.date:
        return first - dt.timedelta(days=days)

    price_days = math.ceil(max(cfg.momentum_lookback_days, LONG_WINDOW + 1) * 365 / 252) + 40
    return replace(
        inputs,
        prices=inputs.prices.filter(pl.col("date") >= since(price_days)),
        analyst_estimates=inputs.analyst_estimates.filter(
            pl.col("date") >= since(max(110, math.ceil(cfg.revisions_min_days * 1.6) + 10))
        ),
        short_interest=inputs.short_interest.filter(pl.col("date") >= since(60)),
        insider_transactions=inputs.insider_transactions.filter(pl.col("known_at") >= since(100)),
        insider_cluster_flags=inputs.insider_cluster_flags.filter(pl.col("known_at") >= since(100)),
    )


def to_long(wide: pl.DataFrame) -> pl.DataFrame:
    """Wide characteristics -> ``(date, ticker, sector, sub_factor, value)``; ticker and sector Categorical,
    sub_factor an Enum in `ALL_SUB_FACTORS` order, NaN/inf as null. Rows come sub-factor-major (all rows of
    the first sub-factor, then the next...), each block in the wide frame's row order."""
    base = wide.select(
        "date", pl.col("ticker").cast(pl.Categorical), pl.col("sector").cast(pl.Categorical),
        *[pl.when(pl.col(s).is_finite()).then(pl.col(s)).alias(s) for s in ALL_SUB_FACTORS],
    )
    return base.unpivot(
        on=list(ALL_SUB_FACTORS), index=["date", "ticker", "sector"], variable_name="sub_factor", value_name="value"
    ).with_columns(pl.col("sub_factor").cast(SUB_FACTOR_ENUM))


# --------------------------------------------------------------------------------------------- momentum
def add_momentum(panel: pl.DataFrame, inputs: ScoringInputs, emap: dict[str, str], cfg: ScoringConfig) -> pl.DataFrame:
    """Adds ``close`` (as traded, at the latest bar <= D) and the five momentum sub-factors."""
    lb, skip = cfg.momentum_lookback_days, cfg.momentum_skip_days
    window = lb - skip
    uni = inputs.universe
    bench = uni.filter(pl.col("is_benchmark").fill_null(False)).get_column("ticker").to_list()
    px = with_entity(
        inputs.prices.filter(~pl.col("ticker").is_in(bench)).select(
            "date", "ticker", "close", pl.when(pl.col("adj_close") > 0).then(pl.col("adj_close")).alias("adj")
        ),
        emap,
    )
    px = last_per_key(px, ["entity", "date"])

    # The benchmark each entity's excess return is measured against: its sector ETF, else SPY.
    sector_of = (
        with_entity(uni.filter(~pl.col("is_benchmark").fill_null(False)), emap)
        .sort("start_date").group_by("entity").agg(pl.col("sector").last())
        .with_columns(etf=pl.col("sector").replace_strict(cfg.sector_etfs, default="SPY", return_dtype=pl.Utf8))
        .select("entity", "etf")
    )
    bench_ret = (
        inputs.prices.filter(pl.col("ticker").is_in(bench) & (pl.col("adj_close") > 0))
        .sort(["ticker", "date"])
        .select("date", pl.col("ticker").alias("etf"), pl.col("adj_close").log().diff().over("ticker").alias("b_ret"))
    )
    spy_ret = bench_ret.filter(pl.col("etf") == "SPY").select("date", pl.col("b_ret").alias("spy_ret"))

    a = pl.col("adj")

    def by_entity(e: pl.Expr) -> pl.Expr:
        return e.over("entity")

    ex = pl.col("ex")
    feats = (
        px.join(sector_of, on="entity", how="left")
        .join(bench_ret, on=["date", "etf"], how="left")
        .join(spy_ret, on="date", how="left")
        .sort(["entity", "date"])
        .with_columns(lr=by_entity(a.log().diff()))
        .with_columns(ex=pl.col("lr") - pl.coalesce("b_ret", "spy_ret", pl.lit(0.0)))
        .select(
            "entity",
            "date",
            "close",
            mom_12_1=by_entity(a.shift(skip)) / by_entity(a.shift(lb)) - 1.0,
            mom_6_1=by_entity(a.shift(skip)) / by_entity(a.shift(lb // 2)) - 1.0,
            mom_3m=a / by_entity(a.shift(lb // 4)) - 1.0,
            mom_52w_high=a / by_entity(a.rolling_max(lb, min_samples=lb)),
            mom_sector_rel_12_1=div_pos(
                by_entity(ex.rolling_sum(window, min_samples=window).shift(skip)),
                by_entity(ex.rolling_std(window, min_samples=window).shift(skip)) * window**0.5,
            ),
        )
    )
    return asof(panel, feats, left_on="date", right_on="date", tolerance=PRICE_STALE)
