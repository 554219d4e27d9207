"""One security identity across ticker changes (plain polars, no I/O).

A company keeps one ``security_id`` while its ticker changes (FB -> META) and when it leaves and rejoins the
index; a ticker later reused by another company is a different security. ``universe`` and ``daily_prices``
carry the id; every row shows the ticker valid on its date. Joins that cross dates follow the id:

* `security_ids` fills a universe without ids from its successor links (``<first ticker>:<first start>``).
* `relabel` puts bars keyed by today's ticker under each date's ticker, with the id.
* `follow_identity` drops price rows whose (date, ticker) is another security's membership that day, so a
  reused ticker never lends its bars to the earlier company.
* `as_of_labels` shows a window of bars under each security's ticker on one date (a covariance or a book
  as of that date spans the rename without a gap).
* `members_with_prices` counts, per date, the index members and the members with a bar (survivorship:
  a price file of today's members has no bars for the names that left).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

SID = "security_id"


def security_ids(universe: pl.DataFrame) -> pl.DataFrame:
    """``universe`` with null ``security_id`` filled: an interval that its predecessor's ``successor`` points
    at (starting after the predecessor's start) continues the predecessor's id; any other interval is a new
    security ``<ticker>:<start_date>`` (benchmarks: the ticker)."""
    df = universe if SID in universe.columns else universe.with_columns(pl.lit(None, pl.Utf8).alias(SID))
    if df.height == 0 or df[SID].null_count() == 0:
        return df
    rows = df.with_row_index("__i").sort("start_date", "ticker").to_dicts()
    ids: dict[int, str] = {}
    pending: dict[str, list[tuple[dt.date, str]]] = {}  # successor ticker -> [(predecessor start, id)]
    for r in rows:
        sid = r[SID]
        if sid is None:
            if r.get("is_benchmark"):
                sid = r["ticker"]
            else:
                cands = [p for p in pending.get(r["ticker"], []) if p[0] < r["start_date"]]
                sid = cands[-1][1] if cands else f"{r['ticker']}:{r['start_date'].isoformat()}"
        ids[r["__i"]] = sid
        if r.get("successor"):
            pending.setdefault(r["successor"], []).append((r["start_date"], sid))
    filled = pl.Series(SID, [ids[i] for i in range(df.height)], dtype=pl.Utf8)
    return df.with_columns(filled)


def label_table(labels: dict[str, list[tuple[dt.date, str]]]) -> pl.DataFrame:
    """security_id, valid_from, label: the ticker each security shows from each date on."""
    rows = [(sid, d, t) for sid, seq in labels.items() for d, t in seq]
    return pl.DataFrame(rows, schema={SID: pl.Utf8, "valid_from": pl.Date, "label": pl.Utf8}, orient="row")


def relabel(prices: pl.DataFrame, keys: dict[str, str], labels: dict[str, list[tuple[dt.date, str]]]) -> pl.DataFrame:
    """Bars keyed by today's ticker -> each date's ticker plus ``security_id``.

    ``keys`` maps a file ticker to the security its bars belong to; ``labels`` each security's tickers by
    date. A ticker in neither (a benchmark, a name without constituent history) keeps its ticker, which is
    then its id. Before a security's first labelled date its first ticker is shown."""
    if prices.height == 0:
        return prices.with_columns(pl.lit(None, pl.Utf8).alias(SID))
    mapped = pl.col("ticker").replace_strict(keys, default=pl.col("ticker"), return_dtype=pl.Utf8)
    given = pl.col(SID) if SID in prices.columns else pl.lit(None, pl.Utf8)
    df = prices.with_columns(pl.coalesce(given, mapped).alias(SID))
    table = label_table({s: labels[s] for s in set(df[SID].unique().to_list()) if s in labels})
    if table.height == 0:
        return df
    first = table.sort("valid_from").group_by(SID).agg(pl.col("label").first().alias("__first"))
    j = (
        df.with_row_index("__i").sort("date")
        .join_asof(table.sort("valid_from"), left_on="date", right_on="valid_from", by=SID, strategy="backward",
                   check_sortedness=False)
        .join(first, on=SID, how="left")
        .sort("__i")
    )
    shown = pl.coalesce("label", "__first", "ticker")
    return j.with_columns(shown.alias("ticker")).drop("__i", "valid_from", "label", "__first")


def _members(universe: pl.DataFrame) -> pl.DataFrame:
    u = security_ids(universe)
    return u.filter(~pl.col("is_benchmark").fill_null(False)).select(
        "ticker", SID, "start_date", "end_date")


def follow_identity(universe: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """``prices`` with ``security_id`` filled where null (the membership of that ticker on that date, else
    the ticker) and without the rows whose (date, ticker) is, that day, another security's membership: a
    ticker later reused by another company never lends the later company's bars to the earlier one."""
    if prices.height == 0:
        return prices if SID in prices.columns else prices.with_columns(pl.lit(None, pl.Utf8).alias(SID))
    px = prices if SID in prices.columns else prices.with_columns(pl.lit(None, pl.Utf8).alias(SID))
    m = _members(universe).rename({SID: "__member"})
    keys = px.select("date", "ticker").unique()
    owned = (
        keys.join(m, on="ticker", how="inner")
        .filter((pl.col("start_date") <= pl.col("date"))
                & (pl.col("end_date").is_null() | (pl.col("date") <= pl.col("end_date"))))
        .group_by("date", "ticker").agg(pl.col("__member").first())
    )
    out = px.join(owned, on=["date", "ticker"], how="left").with_columns(
        pl.coalesce(SID, "__member", "ticker").alias(SID))
    return out.filter(pl.col("__member").is_null() | (pl.col("__member") == pl.col(SID))).drop("__member")


def as_of_labels(prices: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Every row under the ticker its security shows on its latest row dated on or before ``as_of``
    (rows without an id keep their ticker)."""
    if prices.height == 0 or SID not in prices.columns or prices[SID].null_count() == prices.height:
        return prices
    last = (
        prices.filter(pl.col("date") <= as_of, pl.col(SID).is_not_null())
        .sort("date").group_by(SID).agg(pl.col("ticker").last().alias("__now"))
    )
    return (prices.join(last, on=SID, how="left")
            .with_columns(pl.coalesce("__now", "ticker").alias("ticker")).drop("__now"))


def ids_on(universe: pl.DataFrame, tickers: Sequence[str], day: dt.date) -> dict[str, str]:
    """ticker -> security_id of the index member (or benchmark) trading under it on ``day``; a ticker
    without such a row maps to itself."""
    u = security_ids(universe)
    on_day = u.filter(pl.col("ticker").is_in(list(tickers)), pl.col("start_date") <= day,
                      pl.col("end_date").is_null() | (pl.col("end_date") >= day))
    found = dict(on_day.sort("start_date").select("ticker", SID).iter_rows())
    return {t: found.get(t, t) for t in tickers}


def members_with_prices(universe: pl.DataFrame, prices: pl.DataFrame,
                        dates: Sequence[dt.date] | None = None) -> pl.DataFrame:
    """date, members, members_with_prices, members_without_prices: on each date (default: every price
    date), the stocks in the index and how many of them have a bar that day (matched on security)."""
    px = follow_identity(universe, prices)
    days = sorted(set(dates)) if dates is not None else sorted(set(px["date"].to_list()))
    d = pl.DataFrame({"date": days}, schema={"date": pl.Date})
    m = _members(universe)
    panel = d.join(m, how="cross").filter(
        (pl.col("start_date") <= pl.col("date"))
        & (pl.col("end_date").is_null() | (pl.col("date") <= pl.col("end_date")))
    ).select("date", SID).unique()
    bars = px.select("date", SID).unique().with_columns(pl.lit(True).alias("__bar"))
    counts = (
        panel.join(bars, on=["date", SID], how="left")
        .group_by("date").agg(pl.len().alias("members"), pl.col("__bar").count().alias("members_with_prices"))
    )
    return (d.join(counts, on="date", how="left")
            .with_columns(pl.col("members", "members_with_prices").fill_null(0).cast(pl.Int64))
            .with_columns((pl.col("members") - pl.col("members_with_prices")).alias("members_without_prices"))
            .sort("date"))
