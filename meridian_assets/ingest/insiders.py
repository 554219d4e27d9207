"""Insider-buying clusters (``insider_cluster_flags``) from Form 4 transactions. Pure polars, no Dagster.

Definition
----------
Only open-market purchases count (``code == "P"``). For a ticker, let ``K`` range over the sessions on which
at least one of its P transactions became known (``known_at``). At each ``K``:

* ``known(K)`` = the ticker's P transactions with ``known_at <= K`` (nothing filed later is used);
* ``window_end = E`` = the latest ``transaction_date`` in ``known(K)``;
* ``window_start = E - (window_days - 1)``: the window is the ``window_days`` calendar days ending at ``E``,
  both ends inclusive (with 30 days: first and last buy at most 29 days apart);
* the cluster is ``known(K)`` restricted to ``window_start <= transaction_date <= window_end``.

When the cluster holds ``>= min_insiders`` distinct insiders a row ``(ticker, K)`` is emitted with
``n_insiders`` (distinct insiders), ``n_transactions``, ``total_value`` (sum of ``value``, or
``shares * price`` where ``value`` is null) and ``includes_ceo_cfo`` (some buy in the cluster was by a CEO or
CFO: ``is_ceo_cfo_buy`` or `is_ceo_cfo` of the title). An insider is identified by ``insider_cik``, or by the
case- and space-normalised ``insider_name`` when the CIK is missing.

Since ``E`` only moves forward with ``K`` and a row only reads transactions known by ``K``, a transaction that
becomes known later never changes an earlier row (it can only add rows at its own ``known_at``).
"""

from __future__ import annotations

import re

import polars as pl

from meridian_assets.ingest.schemas import INSIDER_CLUSTER_FLAGS

# CEO or CFO titles: 'CEO', 'Co-CEO', 'Chief Executive ...', 'CFO', 'Chief Financial ...' (any case).
# 'Chief Operating Officer', 'Chief Technology Officer' etc. do not match.
CEO_CFO_PATTERN = r"(?i)\bceo\b|\bcfo\b|chief\s+executive|chief\s+financial"
_CEO_CFO_RE = re.compile(CEO_CFO_PATTERN)  # same syntax in Python's re and polars' (Rust) regex


def is_ceo_cfo(title: str | None) -> bool:
    """True when an insider title names a CEO or CFO (CEO, Chief Executive, CFO, Chief Financial; any case).
    The one title rule: the Form 4 parser (``is_ceo_cfo_buy``) and the insider factor both use it.

    ``'President & CEO'`` -> True, ``'Chief Financial Officer'`` -> True, ``'Chief Operating Officer'`` ->
    False, ``None`` -> False.
    """
    if not title:
        return False
    return _CEO_CFO_RE.search(title) is not None


def ceo_cfo_expr(title: str | pl.Expr = "insider_title") -> pl.Expr:
    """Vectorised `is_ceo_cfo` over a column name or expression (null titles -> False)."""
    e = pl.col(title) if isinstance(title, str) else title
    return e.str.contains(CEO_CFO_PATTERN).fill_null(False)


def insider_cluster_flags(
    transactions: pl.DataFrame, window_days: int = 30, min_insiders: int = 3
) -> pl.DataFrame:
    """Cluster rows in the shape of `schemas.INSIDER_CLUSTER_FLAGS` (definition in the module docstring).

    ``transactions`` is an ``insider_transactions`` frame. Vectorised: one join of the (ticker, K) events
    with the ticker's P transactions, filtered on ``known_at <= K`` and the window, then a group-by. Sorted
    by ticker, known_at.
    """
    if window_days < 1 or min_insiders < 1:
        raise ValueError("window_days and min_insiders must be >= 1")
    needed = {"ticker", "code", "transaction_date", "known_at"}
    if transactions.height == 0 or not needed <= set(transactions.columns):
        return INSIDER_CLUSTER_FLAGS.empty()

    cols = set(transactions.columns)

    def col(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name).cast(dtype) if name in cols else pl.lit(None, dtype=dtype)

    name_key = col("insider_name", pl.Utf8).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
    buys = (
        transactions.filter(pl.col("code") == "P")
        .select(
            pl.col("ticker").cast(pl.Utf8),
            pl.col("transaction_date").cast(pl.Date).alias("tx_date"),
            pl.col("known_at").cast(pl.Date).alias("tx_known"),
            pl.coalesce(col("insider_cik", pl.Int64).cast(pl.Utf8), pl.lit("name:") + name_key).alias("insider"),
            pl.coalesce(col("value", pl.Float64), col("shares", pl.Float64) * col("price", pl.Float64))
            .alias("value"),
            (col("is_ceo_cfo_buy", pl.Boolean).fill_null(False) | ceo_cfo_expr(col("insider_title", pl.Utf8)))
            .alias("ceo_cfo"),
        )
        .drop_nulls(["ticker", "tx_date", "tx_known"])
    )
    if buys.height == 0:
        return INSIDER_CLUSTER_FLAGS.empty()

    # Events: each (ticker, K) with the window end E(K) = max transaction_date known by K.
    events = (
        buys.group_by("ticker", "tx_known")
        .agg(pl.col("tx_date").max().alias("window_end"))
        .sort("ticker", "tx_known")
        .with_columns(pl.col("window_end").cum_max().over("ticker"))
        .rename({"tx_known": "known_at"})
        .with_columns(window_start=pl.col("window_end").dt.offset_by(f"-{window_days - 1}d"))
    )
    clusters = (
        events.lazy()
        .join(buys.lazy(), on="ticker", how="inner")
        .filter(
            (pl.col("tx_known") <= pl.col("known_at"))
            & (pl.col("tx_date") >= pl.col("window_start"))
            & (pl.col("tx_date") <= pl.col("window_end"))
        )
        .group_by("ticker", "known_at", "window_start", "window_end")
        .agg(
            n_insiders=pl.col("insider").drop_nulls().n_unique(),
            n_transactions=pl.len(),
            total_value=pl.col("value").sum(),
            includes_ceo_cfo=pl.col("ceo_cfo").any(),
        )
        .filter(pl.col("n_insiders") >= min_insiders)
        .sort("ticker", "known_at")
        .collect()
    )
    return INSIDER_CLUSTER_FLAGS.conform(clusters)

