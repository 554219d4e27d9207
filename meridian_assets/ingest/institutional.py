"""Per-ticker, per-quarter summary of the tracked funds' 13-F holdings (``institutional_summary``).

Pure polars, no Dagster.

Definitions
-----------
* A fund's **filing for period P** is the set of its ``institutional_holdings`` rows with
  ``report_period == P``; it is **known at** the earliest ``known_at`` among them (plus, optionally, filings
  passed explicitly in ``filings``: a fund that filed a 13-F holding no tracked names has no rows, so its
  exits can only be seen when its filing is declared there). A row added later (a 13-F/A) counts from its own
  ``known_at``.
* The **prior period** of P is the calendar quarter end before it (13-F report periods are quarter ends).
* **Events.** For a ticker T and period P, the summary is recomputed at every ``K`` that is the known-at
  session of the period-P filing of a fund *relevant* to T (one with a P row for T, or one that held T at the
  prior period), and at the ``known_at`` of every P row for T. One output row per (T, P, K).
* At each K, using only rows and filings with ``known_at <= K``:

  - ``fund_count``: funds whose P row for T has ``shares > 0``;
  - ``total_shares``: the sum of those shares;
  - ``new_positions``: of those, rows flagged ``is_new_position`` (when the flag is null: ``prior_shares == 0``);
  - ``exited_positions``: funds whose period-P filing is known, that held T before (their prior-period row
    for T, known by K, has ``shares > 0``, or their P row reports ``prior_shares > 0``) and whose P filing
    reports zero shares of T or **lacks T altogether** (absence is detected only through a known filing: a
    fund that has not filed for P yet is not counted as an exit);
  - ``net_share_change``: the sum of ``change_shares`` of the known P rows for T (``shares - prior_shares``
    when null) minus the prior-period shares of funds that exited by absence (they have no row to carry it);
  - ``new_position_cluster``: ``new_positions >= new_cluster_min``.

A filing or row known after K never enters the row for K, so later filings never change earlier rows.
"""

from __future__ import annotations

import polars as pl

from meridian_assets.ingest.schemas import INSTITUTIONAL_SUMMARY


def prior_quarter_end(period: pl.Expr) -> pl.Expr:
    """The last day of the calendar quarter before the one containing ``period``."""
    return period.dt.truncate("1q").dt.offset_by("-1d")


def next_quarter_end(period: pl.Expr) -> pl.Expr:
    """The last day of the calendar quarter after the one containing ``period``."""
    return period.dt.truncate("1q").dt.offset_by("6mo").dt.offset_by("-1d")


def institutional_summary(
    holdings: pl.DataFrame, new_cluster_min: int = 3, filings: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Rows in the shape of `schemas.INSTITUTIONAL_SUMMARY` (definitions in the module docstring).

    ``holdings`` is an ``institutional_holdings`` frame. ``filings`` (optional) declares known 13-F filings
    with columns ``fund_cik``, ``report_period``, ``known_at`` (e.g. from ``sec_filings``), so a filing that
    holds none of the tracked names still reveals exits. Sorted by ticker, report_period, known_at.
    """
    if holdings.height == 0:
        return INSTITUTIONAL_SUMMARY.empty()
    cols = set(holdings.columns)

    def col(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name).cast(dtype) if name in cols else pl.lit(None, dtype=dtype)

    h = holdings.select(
        col("fund_cik", pl.Int64).alias("fund"),
        col("ticker", pl.Utf8).alias("ticker"),
        col("report_period", pl.Date).alias("period"),
        col("shares", pl.Float64).fill_null(0.0).alias("shares"),
        col("prior_shares", pl.Float64).alias("prior_shares"),
        col("change_shares", pl.Float64).alias("change_shares"),
        col("is_new_position", pl.Boolean).alias("is_new"),
        col("known_at", pl.Date).alias("known_at"),
    ).drop_nulls(["fund", "ticker", "period", "known_at"])
    if h.height == 0:
        return INSTITUTIONAL_SUMMARY.empty()

    # Each fund's filing per period, known at its first row (or as declared).
    filed = h.select("fund", "period", "known_at")
    if filings is not None and filings.height:
        filed = pl.concat(
            [
                filed,
                filings.select(
                    pl.col("fund_cik").cast(pl.Int64).alias("fund"),
                    pl.col("report_period").cast(pl.Date).alias("period"),
                    pl.col("known_at").cast(pl.Date),
                ),
            ]
        )
    filed = filed.group_by("fund", "period").agg(pl.col("known_at").min().alias("filed_known"))

    # Current-period rows (several rows per fund/ticker/period would be amendments: keep the latest known
    # one as of each K below; here keep them all and resolve per K).
    cur = h.select(
        "fund",
        "ticker",
        "period",
        pl.col("shares").alias("cur_shares"),
        pl.coalesce("change_shares", pl.col("shares") - pl.col("prior_shares")).alias("cur_change"),
        pl.coalesce("is_new", pl.col("prior_shares") == 0).fill_null(False).alias("cur_new"),
        (pl.col("prior_shares").fill_null(0.0) > 0).alias("cur_had_prior"),
        pl.col("known_at").alias("cur_known"),
    )
    # The prior period's positions, keyed by the period they precede.
    prev = (
        h.filter(pl.col("shares") > 0)
        .select(
            "fund",
            "ticker",
            next_quarter_end(pl.col("period")).alias("period"),
            pl.col("shares").alias("prev_shares"),
            pl.col("known_at").alias("prev_known"),
        )
        .sort("prev_known")
        .unique(["fund", "ticker", "period"], keep="first")  # the first known version
    )
    # Relevant (ticker, period, fund) triples and the moments they can change the summary.
    panel = (
        pl.concat([cur.select("fund", "ticker", "period"), prev.select("fund", "ticker", "period")])
        .unique()
        .join(filed, on=["fund", "period"], how="left")
    )
    events = (
        pl.concat(
            [
                panel.select("ticker", "period", pl.col("filed_known").alias("K")),
                cur.select("ticker", "period", pl.col("cur_known").alias("K")),
            ]
        )
        .drop_nulls()
        .unique()
    )
    # State of every relevant fund at every event: (ticker, period, K, fund).
    state = events.join(panel, on=["ticker", "period"], how="inner")
    cur_at_k = (
        state.select("ticker", "period", "K", "fund")
        .join(cur, on=["fund", "ticker", "period"], how="inner")
        .filter(pl.col("cur_known") <= pl.col("K"))
        .sort("cur_known")
        .unique(["ticker", "period", "K", "fund"], keep="last")  # latest version known by K
    )
    prev_at_k = (
        state.select("ticker", "period", "K", "fund")
        .join(prev, on=["fund", "ticker", "period"], how="inner")
        .filter(pl.col("prev_known") <= pl.col("K"))
        .unique(["ticker", "period", "K", "fund"], keep="first")
    )
    keys = ["ticker", "period", "K", "fund"]
    s = (
        state.join(cur_at_k, on=keys, how="left")
        .join(prev_at_k, on=keys, how="left")
        .with_columns(
            present=pl.col("cur_known").is_not_null(),
            filed=pl.col("filed_known") <= pl.col("K"),
            held=pl.col("cur_shares").fill_null(0.0) > 0,
        )
        .with_columns(
            exited=pl.col("filed").fill_null(False)
            & ~pl.col("held")
            & (pl.col("prev_shares").is_not_null() | pl.col("cur_had_prior").fill_null(False)),
        )
        .with_columns(
            change=pl.when(pl.col("present"))
            .then(pl.col("cur_change").fill_null(0.0))
            .when(pl.col("exited"))
            .then(-pl.col("prev_shares"))
            .otherwise(0.0),
        )
    )
    out = (
        s.group_by("ticker", "period", "K")
        .agg(
            fund_count=pl.col("held").sum().cast(pl.Int64),
            total_shares=pl.when(pl.col("held")).then(pl.col("cur_shares")).otherwise(0.0).sum(),
            net_share_change=pl.col("change").sum(),
            new_positions=(pl.col("held") & pl.col("cur_new").fill_null(False)).sum().cast(pl.Int64),
            exited_positions=pl.col("exited").sum().cast(pl.Int64),
        )
        .with_columns(new_position_cluster=pl.col("new_positions") >= new_cluster_min)
        .rename({"period": "report_period", "K": "known_at"})
        .sort("ticker", "report_period", "known_at")
    )
    return INSTITUTIONAL_SUMMARY.conform(out)
