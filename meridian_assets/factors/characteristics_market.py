"""Revisions, short-interest, insider and institutional characteristics, as known at D.

Formulas are in the table of `meridian_assets.factors.characteristics`. Implementation notes:

* Revisions compare the estimate snapshot as of D with the snapshot as of D - 30 (90) calendar days (each at
  most 10 days stale), the older one restated into D's share basis with the splits in between. They are null
  on dates with fewer than ``revisions_min_days`` distinct snapshot dates up to D (the source is too young).
* Insider dollar buys and sales use per-entity cumulative sums over ``known_at`` (sum in the window =
  cum(D) - cum(D - 90d)); the open-market buys, which are rare, are expanded onto the scoring dates they
  count for (distinct buyers, CEO/CFO buys).
* 13-F summaries: the row of the newest report period known at D (amendments of older periods are ignored).
"""

from __future__ import annotations

import polars as pl

from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.factors.characteristics_base import (
    asof, days_ago, div_pos, last_per_key, with_entity, with_split_log,
)
from meridian_assets.factors.characteristics_fundamental import latest_period_rows
from meridian_assets.ingest.insiders import ceo_cfo_expr
from meridian_assets.ingest.schemas import (
    ANALYST_ESTIMATES, INSIDER_CLUSTER_FLAGS, INSIDER_TRANSACTIONS, INSTITUTIONAL_SUMMARY, SHORT_INTEREST,
)

SNAPSHOT_STALE = "10d"
SHORT_STALE = "20d"
INSIDER_WINDOW_DAYS = 90
CLUSTER_DECAY_DAYS = 90
CLUSTER_FLAG_DAYS = 30  # insider_cluster: a cluster known in the last 30 days
INSTITUTIONAL_STALE_DAYS = 200


def _dates(panel: pl.DataFrame) -> pl.DataFrame:
    return panel.select(pl.col("date").unique().sort())


def _lagged(panel: pl.DataFrame, snaps: pl.DataFrame, days: int, suffix: str, stale: str) -> pl.DataFrame:
    """``panel`` plus the snapshot columns as of ``date - days`` (each suffixed)."""
    right = snaps.rename({c: f"{c}{suffix}" for c in snaps.columns if c not in ("entity", "date")})
    lagged = panel.with_columns(__lag=days_ago("date", days))
    return asof(lagged, right, left_on="__lag", right_on="date", tolerance=stale).drop("__lag")


def add_revisions(
    panel: pl.DataFrame, estimates: pl.DataFrame, emap: dict[str, str], splits: pl.DataFrame, cfg: ScoringConfig
) -> pl.DataFrame:
    est = with_entity(ANALYST_ESTIMATES.conform(estimates), emap).select(
        "entity", "date", "fwd_eps", "price_target", "rating_mean"
    )
    est = with_split_log(last_per_key(est, ["date", "entity"]), splits, "date", "L")
    p = panel
    for days, sfx in ((0, "_0"), (30, "_30"), (90, "_90")):
        p = _lagged(p, est, days, sfx, SNAPSHOT_STALE)
    # fwd[D-30] in D's basis: a per-share figure times exp(L_then - L_now)
    eps30 = pl.col("fwd_eps_30") * (pl.col("L_30") - pl.col("L_0")).exp()
    eps90 = pl.col("fwd_eps_90") * (pl.col("L_90") - pl.col("L_0")).exp()
    pt30 = pl.col("price_target_30") * (pl.col("L_30") - pl.col("L_0")).exp()
    n_snap = _dates(est).with_columns(n_snap=pl.int_range(1, pl.len() + 1)) if est.height else None
    if n_snap is not None:
        d = _dates(p).join_asof(n_snap, on="date", strategy="backward")
        p = p.join(d, on="date", how="left", maintain_order="left")
    else:
        p = p.with_columns(n_snap=pl.lit(0))
    ok = pl.col("n_snap").fill_null(0) >= cfg.revisions_min_days
    return p.with_columns(
        rev_eps_30d=pl.when(ok).then(div_pos(pl.col("fwd_eps_0") - eps30, eps30.abs())),
        rev_eps_90d=pl.when(ok).then(div_pos(pl.col("fwd_eps_0") - eps90, eps90.abs())),
        rev_target_30d=pl.when(ok).then(div_pos(pl.col("price_target_0"), pt30) - 1.0),
        rev_rating_30d=pl.when(ok).then(pl.col("rating_mean_30") - pl.col("rating_mean_0")),
    )


def add_short_interest(panel: pl.DataFrame, short: pl.DataFrame, emap: dict[str, str]) -> pl.DataFrame:
    si = with_entity(SHORT_INTEREST.conform(short), emap).select(
        "entity", "date", "short_pct_float", "short_ratio"
    )
    si = last_per_key(si, ["date", "entity"])
    p = _lagged(_lagged(panel, si, 0, "_0", SHORT_STALE), si, 30, "_30", SHORT_STALE)
    return p.with_columns(
        si_low_pct_float=-pl.col("short_pct_float_0"),
        si_low_days_to_cover=-pl.col("short_ratio_0"),
        si_falling_30d=-(pl.col("short_pct_float_0") - pl.col("short_pct_float_30")),
    )


def add_insider(
    panel: pl.DataFrame, transactions: pl.DataFrame, clusters: pl.DataFrame, emap: dict[str, str]
) -> pl.DataFrame:
    """Adds the four insider sub-factors and ``insider_cluster``."""
    tx = with_entity(INSIDER_TRANSACTIONS.conform(transactions), emap)
    w = INSIDER_WINDOW_DAYS
    dates = _dates(panel)
    # Available when anyone's Form 4 became known in (D - 90d, D].
    daily = tx.group_by("known_at").len().sort("known_at").with_columns(cum=pl.col("len").cum_sum())
    avail = dates.join_asof(daily.select(pl.col("known_at").alias("date"), "cum"), on="date").with_columns(
        lag=days_ago("date", w)
    )
    avail = avail.sort("lag").join_asof(
        daily.select(pl.col("known_at").alias("lag"), pl.col("cum").alias("cum_lag")), on="lag"
    )
    avail = avail.select("date", has_insider=(pl.col("cum").fill_null(0) - pl.col("cum_lag").fill_null(0)) > 0)

    value = pl.coalesce(pl.col("value"), pl.col("shares") * pl.col("price")).abs()
    flows = (
        tx.filter(pl.col("code").is_in(["P", "S"]))
        .group_by("entity", "known_at")
        .agg(
            buy=pl.when(pl.col("code") == "P").then(value).otherwise(0.0).sum(),
            sell=pl.when(pl.col("code") == "S").then(value).otherwise(0.0).sum(),
        )
        .sort(["entity", "known_at"])
        .select(
            "entity", pl.col("known_at").alias("date"),
            cum_buy=pl.col("buy").cum_sum().over("entity"), cum_sell=pl.col("sell").cum_sum().over("entity"),
        )
        .sort("date")
    )
    p = asof(panel, flows, left_on="date", right_on="date")
    p = _lagged(p, flows, w, "_lag", stale=None)  # no staleness: cumulative sums carry forward
    bought = pl.col("cum_buy").fill_null(0.0) - pl.col("cum_buy_lag").fill_null(0.0)
    sold = pl.col("cum_sell").fill_null(0.0) - pl.col("cum_sell_lag").fill_null(0.0)

    insider = pl.coalesce(pl.col("insider_cik").cast(pl.Utf8), pl.col("insider_name").str.to_lowercase())
    buys = tx.filter(pl.col("code") == "P").select(
        "entity", "known_at", insider.alias("insider"),
        (pl.col("is_ceo_cfo_buy").fill_null(False) | ceo_cfo_expr("insider_title")).alias("ceo_cfo"),
    )
    buys = buys.with_columns(until=pl.col("known_at") + pl.duration(days=w))
    active = pl.DataFrame(schema={"date": pl.Date, "entity": pl.Utf8, "buyers": pl.Float64, "ceo": pl.Float64})
    if buys.height:
        active = (
            buys.join_where(dates, pl.col("date") >= pl.col("known_at"), pl.col("date") < pl.col("until"))
            .group_by("date", "entity")
            .agg(buyers=pl.col("insider").n_unique().cast(pl.Float64), ceo=pl.col("ceo_cfo").any().cast(pl.Float64))
        )
    p = p.join(active, on=["date", "entity"], how="left", maintain_order="left")
    p = p.join(avail, on="date", how="left", maintain_order="left")

    cl = with_entity(INSIDER_CLUSTER_FLAGS.conform(clusters), emap).select(
        "entity", pl.col("known_at").alias("cluster_known")
    ).unique()
    p = asof(p, cl.with_columns(k=pl.col("cluster_known")), left_on="date", right_on="k")
    age = (pl.col("date") - pl.col("cluster_known")).dt.total_days()
    has = pl.col("has_insider").fill_null(False)
    return p.with_columns(
        ins_net_buy_value_90d=pl.when(has).then(
            pl.when(bought > 0).then(div_pos(bought - sold, bought + sold)).otherwise(0.0)
        ),
        ins_buyers_90d=pl.when(has).then(pl.col("buyers").fill_null(0.0)),
        ins_ceo_cfo_buy_90d=pl.when(has).then(pl.col("ceo").fill_null(0.0)),
        ins_cluster_recent=pl.when(has).then((1.0 - age / CLUSTER_DECAY_DAYS).clip(0.0, 1.0).fill_null(0.0)),
        insider_cluster=(age < CLUSTER_FLAG_DAYS).fill_null(False),
    )


def add_institutional(
    panel: pl.DataFrame, summary: pl.DataFrame, emap: dict[str, str], splits: pl.DataFrame
) -> pl.DataFrame:
    """Adds the four institutional sub-factors (needs ``shares_d`` on the panel)."""
    s = with_entity(INSTITUTIONAL_SUMMARY.conform(summary), emap)
    s = with_split_log(latest_period_rows(s, "report_period"), splits, "report_period", "L_rp")
    s = s.select(
        "entity", "known_at", "fund_count", "net_share_change", "new_positions", "new_position_cluster", "L_rp"
    )
    stale = f"{INSTITUTIONAL_STALE_DAYS}d"
    p = asof(panel, s, left_on="date", right_on="known_at", tolerance=stale)
    daily = s.group_by("known_at").len().sort("known_at").select(pl.col("known_at").alias("last_known"))
    avail = _dates(panel).join_asof(daily.with_columns(date=pl.col("last_known")), on="date")
    age = (pl.col("date") - pl.col("last_known")).dt.total_days()
    avail = avail.select("date", has_13f=age < INSTITUTIONAL_STALE_DAYS)
    p = p.join(avail, on="date", how="left", maintain_order="left")
    has = pl.col("has_13f").fill_null(False)
    change_d = pl.col("net_share_change") * (pl.col("L_d") - pl.col("L_rp")).exp()
    return p.with_columns(
        inst_fund_count=pl.when(has).then(pl.col("fund_count").cast(pl.Float64).fill_null(0.0)),
        inst_net_share_change=pl.when(has).then(
            pl.when(pl.col("fund_count").is_null()).then(0.0).otherwise(div_pos(change_d, pl.col("shares_d")))
        ),
        inst_new_positions=pl.when(has).then(pl.col("new_positions").cast(pl.Float64).fill_null(0.0)),
        inst_new_cluster=pl.when(has).then(pl.col("new_position_cluster").cast(pl.Float64).fill_null(0.0)),
    )
