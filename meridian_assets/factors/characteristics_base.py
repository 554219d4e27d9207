"""Point-in-time building blocks shared by the characteristics: entities, membership, as-of joins, splits.

* **Entity.** A company keeps one identity across ticker changes: its *entity* is the last ticker of its
  ``successor`` chain in the universe (ZEN -> SQ gives both the entity SQ). Every Layer-1 row is mapped to its
  entity, so SQ's 12-1 momentum on its first day under the new ticker uses ZEN's price history. Output rows
  carry the ticker that was the index member on the date.
* **As of.** `asof` joins, per entity, the latest right row whose date is <= the left row's date (polars
  ``join_asof``, strategy backward), with an optional staleness tolerance.
* **Splits.** `with_split_log` adds ``L(d)``: the log of the cumulative split ratio of the entity effective
  on or before ``d``. A split counts from ``max(ex-date, known_at)`` so a split recorded late never reaches
  back. A per-share figure observed at date ``a`` is restated in the share basis of date ``b`` by multiplying
  it by ``exp(L(a) - L(b))``; a share count by ``exp(L(b) - L(a))``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl


def entity_map(universe: pl.DataFrame) -> dict[str, str]:
    """ticker -> entity (the final ticker of its successor chain) for every ticker with a successor."""
    succ = {
        r["ticker"]: r["successor"]
        for r in universe.filter(pl.col("successor").is_not_null()).select("ticker", "successor").iter_rows(named=True)
        if r["successor"] != r["ticker"]
    }
    out = {}
    for t in succ:
        cur, seen = t, {t}
        while cur in succ and succ[cur] not in seen:
            cur = succ[cur]
            seen.add(cur)
        out[t] = cur
    return out


def with_entity(df: pl.DataFrame, emap: dict[str, str], col: str = "ticker") -> pl.DataFrame:
    """``df`` plus ``entity`` (the ticker itself unless it has a successor)."""
    t = pl.col(col).cast(pl.Utf8)
    return df.with_columns(entity=t.replace(emap) if emap else t)


def membership_panel(universe: pl.DataFrame, dates: Sequence[dt.date], emap: dict[str, str]) -> pl.DataFrame:
    """One row per (date, index member): ``date, ticker, entity, sector``, sorted by date, sector, ticker.

    Point-in-time membership: a stock is a member on ``d`` when ``start_date <= d <= end_date`` (a null
    end_date means still a member). Benchmarks are excluded.
    """
    d = pl.DataFrame({"date": sorted(set(dates))}, schema={"date": pl.Date})
    stocks = universe.filter(~pl.col("is_benchmark").fill_null(False)).select(
        pl.col("ticker").cast(pl.Utf8), pl.col("sector").cast(pl.Utf8), "start_date", "end_date"
    )
    panel = (
        d.join(stocks, how="cross", maintain_order="left")
        .filter(
            (pl.col("start_date") <= pl.col("date"))
            & (pl.col("end_date").is_null() | (pl.col("date") <= pl.col("end_date")))
        )
        .unique(["date", "ticker"], keep="first")
        .select("date", "ticker", "sector")
        .sort(["date", "sector", "ticker"])
    )
    return with_entity(panel, emap)


def asof(
    left: pl.DataFrame,
    right: pl.DataFrame,
    *,
    left_on: str,
    right_on: str,
    by: str = "entity",
    tolerance: str | None = None,
) -> pl.DataFrame:
    """``left`` (order kept) with the columns of the latest ``right`` row of the same ``by`` whose
    ``right_on`` <= the left row's ``left_on`` (and within ``tolerance``, a polars duration like ``"10d"``).
    Only the two key columns of ``left`` are sorted (when not already sorted by ``left_on``), so joining many
    sources onto a wide panel stays cheap."""
    extra = [c for c in right.columns if c not in (by, right_on)]
    clash = [c for c in extra if c in left.columns]
    if clash:
        raise ValueError(f"asof: columns {clash} already on the left frame")
    if right.height == 0:
        return left.with_columns([pl.lit(None, dtype=right.schema[c]).alias(c) for c in extra])
    key, row = "__asof_key", "__asof_row"
    keys = left.select(pl.col(by), pl.col(left_on).alias(key))
    presorted = keys.get_column(key).is_sorted()
    if not presorted:
        keys = keys.with_row_index(row).sort(key)
    rf = right.rename({right_on: key})
    if not rf.get_column(key).is_sorted():
        rf = rf.sort(key)
    j = keys.join_asof(rf, on=key, by=by, strategy="backward", tolerance=tolerance, check_sortedness=False)
    if not presorted:
        j = j.sort(row)
    return left.hstack(j.select(extra))


def split_log_table(corporate_actions: pl.DataFrame, emap: dict[str, str]) -> pl.DataFrame:
    """``entity, eff_date, split_log``: cumulative log split ratio from each split's effective date on."""
    ca = corporate_actions.filter((pl.col("action") == "split") & (pl.col("ratio") > 0))
    if ca.height == 0:
        return pl.DataFrame(schema={"entity": pl.Utf8, "eff_date": pl.Date, "split_log": pl.Float64})
    ca = with_entity(ca, emap)
    return (
        ca.select(
            "entity",
            pl.max_horizontal(pl.col("date"), pl.col("known_at")).alias("eff_date"),
            pl.col("ratio").log().alias("lr"),
        )
        .group_by("entity", "eff_date")
        .agg(pl.col("lr").sum())
        .sort("entity", "eff_date")
        .with_columns(split_log=pl.col("lr").cum_sum().over("entity"))
        .drop("lr")
    )


def with_split_log(df: pl.DataFrame, splits: pl.DataFrame, date_col: str, out: str) -> pl.DataFrame:
    """``df`` plus ``out`` = L(``date_col``) of the row's entity (0 before its first split)."""
    if splits.height == 0:
        return df.with_columns(pl.lit(0.0).alias(out))
    j = asof(df, splits.rename({"split_log": out}), left_on=date_col, right_on="eff_date")
    return j.with_columns(pl.col(out).fill_null(0.0))


def last_per_key(df: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """``df`` sorted by ``keys`` (stable) keeping the last row of each key: a cheap ``unique(keep='last')``."""
    df = df.sort(list(keys), maintain_order=True)
    dup = pl.all_horizontal([pl.col(k) == pl.col(k).shift(-1) for k in keys]).fill_null(False)
    return df.filter(~dup)


def finite(e: pl.Expr) -> pl.Expr:
    """``e`` with NaN / +-inf as null."""
    return pl.when(e.is_finite()).then(e)


def div_pos(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den``; null when ``den <= 0`` or either side is null or non-finite."""
    return finite(pl.when(finite(den) > 0).then(finite(num) / den))


def growth(cur: pl.Expr, base: pl.Expr) -> pl.Expr:
    """``cur / base - 1``; null when ``base <= 0`` (growth from a loss or zero base is meaningless)."""
    return div_pos(cur, base) - 1.0


def days_ago(col: str, days: int) -> pl.Expr:
    return pl.col(col) - pl.duration(days=days)
