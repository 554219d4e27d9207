"""The Layer-2 tables: factor scores, factor returns, crowding and the factor tear sheet.

The 44 sub-factors, their parents, formulas, directions and source tables are documented in
`meridian_assets/factors/characteristics.py` (the price-and-volume family of reversal, low risk and liquidity in
`characteristics_price.py`); the names are fixed here so every module and test agrees.
"""

from __future__ import annotations

import polars as pl

from meridian_assets.tables import Bool, Date, Float, Int, Str, TableSchema

# parent factor -> its sub-factors (44 in all)
SUB_FACTORS: dict[str, tuple[str, ...]] = {
    "momentum": ("mom_12_1", "mom_6_1", "mom_3m", "mom_52w_high", "mom_sector_rel_12_1"),
    "value": ("val_earnings_yield", "val_fcf_yield", "val_book_to_price", "val_sales_to_price",
              "val_ebitda_to_ev", "val_dividend_yield"),
    "quality": ("qual_roe", "qual_roa", "qual_gross_margin", "qual_low_accruals", "qual_low_leverage",
                "qual_piotroski", "qual_altman"),
    "growth": ("gro_revenue_yoy", "gro_eps_yoy", "gro_net_income_yoy", "gro_fcf_yoy"),
    "revisions": ("rev_eps_30d", "rev_eps_90d", "rev_target_30d", "rev_rating_30d"),
    "short_interest": ("si_low_pct_float", "si_low_days_to_cover", "si_falling_30d"),
    "insider": ("ins_net_buy_value_90d", "ins_buyers_90d", "ins_ceo_cfo_buy_90d", "ins_cluster_recent"),
    "institutional": ("inst_fund_count", "inst_net_share_change", "inst_new_positions", "inst_new_cluster"),
    "reversal": ("rev_1m", "rev_1w"),
    "low_risk": ("lowvol_63d", "lowvol_252d", "low_beta_252d"),
    "liquidity": ("liq_amihud_63d", "liq_low_dollar_volume_63d"),
}
# Parents computed from prices and volume alone: live wherever there are bars (no fundamentals needed).
PRICE_PARENTS: tuple[str, ...] = ("momentum", "reversal", "low_risk", "liquidity")
PARENTS: tuple[str, ...] = tuple(SUB_FACTORS)
ALL_SUB_FACTORS: tuple[str, ...] = tuple(s for subs in SUB_FACTORS.values() for s in subs)
assert len(ALL_SUB_FACTORS) == 44

FACTOR_SCORES = TableSchema(
    name="factor_scores",
    columns={
        "date": Date,
        "ticker": Str,
        "sector": Str,
        **{f"{s}": Float for s in ALL_SUB_FACTORS},  # 0-100 within sector; null: no data for the name that day
        **{f"{p}_score": Float for p in PARENTS},  # 0-100 within sector; null: parent absent (no source data)
        "composite_raw": Float,  # weighted mean of the parents present, before re-ranking
        "composite": Float,  # 0-100 within sector
        "sector_rank": Int,  # 1 = best composite in its sector that day
        "sector_size": Int,
        "long_flag": Bool,  # top quintile of composite within sector
        "short_flag": Bool,  # bottom quintile
        "piotroski_f": Float,
        "piotroski_band": Str,  # strong | neutral | weak
        "altman_z": Float,
        "altman_band": Str,  # safe | grey | distress
        "insider_cluster": Bool,  # a 3+ insider buying cluster known in the last 30 days
        "regime": Str,  # normal | high_vix | low_vix (which composite weights were used)
    },
    key=("date", "ticker"),
    partition_column="date",
    description="Every sub-factor, parent and composite score (0-100 within GICS sector), LONG/SHORT flags, "
    "Piotroski/Altman values and bands and insider-cluster flags, per session, using only data known that day.",
    not_null=("date", "ticker", "sector", "composite", "long_flag", "short_flag"),
)

FACTOR_RETURNS = TableSchema(
    name="factor_returns",
    columns={
        "date": Date,  # the return is earned from the previous session's close to this date's close
        "factor": Str,  # a parent factor or 'composite'
        "long_short_return": Float,  # equal-weight top quintile minus bottom quintile, sector-neutral
        "long_return": Float,
        "short_return": Float,
        "n_long": Int,
        "n_short": Int,
    },
    key=("date", "factor"),
    partition_column="date",
    description="Daily long-minus-short return of each parent factor and the composite (scores known at the "
    "previous close, so no look-ahead).",
    not_null=("date", "factor"),
)

CROWDING_CORRELATIONS = TableSchema(
    name="crowding_correlations",
    columns={
        "as_of": Date,
        "factor_a": Str,
        "factor_b": Str,
        "window_days": Int,
        "correlation": Float,
        "baseline": Float,  # from the academic literature (config: scoring.crowding_baselines); null if none
        "deviation": Float,
        "flagged": Bool,
    },
    key=("as_of", "factor_a", "factor_b"),
    partition_column="as_of",
    description="Pairwise correlations of factor returns over the crowding window against literature "
    "baselines; flagged when they deviate by more than scoring.crowding_deviation.",
    not_null=("as_of", "factor_a", "factor_b"),
)

FACTOR_TEARSHEET = TableSchema(
    name="factor_tearsheet",
    columns={
        "as_of": Date,
        "factor": Str,
        "horizon_days": Int,  # 1, 5, 21
        "ic_mean": Float,  # mean daily Spearman IC of score vs forward return
        "ic_std": Float,
        "ic_t_stat": Float,  # on non-overlapping h-session windows (every h-th date), see tearsheet.py
        "ic_t_stat_overlapping": Float,  # naive t over every date's overlapping window (overstates for h > 1)
        "n_independent": Int,  # dates in the non-overlapping sample behind ic_t_stat
        "ic_hit_rate": Float,  # share of days with IC > 0
        "n_days": Int,
        "quintile_spread_annual": Float,  # top minus bottom quintile forward return, annualised
        "q1_return_annual": Float,
        "q5_return_annual": Float,
        "rank_autocorrelation": Float,  # score turnover: mean day-over-day Spearman of the scores
    },
    key=("as_of", "factor", "horizon_days"),
    partition_column="as_of",
    description="What alphalens shows, per factor: information coefficient and its decay, quintile spreads "
    "and score turnover.",
    not_null=("as_of", "factor", "horizon_days"),
)

SCORED_UNIVERSE_COLUMNS: tuple[str, ...] = tuple(
    c for c in FACTOR_SCORES.columns if c not in ("regime",)
)

TABLES = {t.name: t for t in (FACTOR_SCORES, FACTOR_RETURNS, CROWDING_CORRELATIONS, FACTOR_TEARSHEET)}

SCORE_DTYPES: dict[str, pl.DataType] = dict(FACTOR_SCORES.columns)
