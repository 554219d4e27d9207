"""Sector-relative alpha: did the picks beat their sector?

For each sector with open positions, over the last ``window_days`` calendar days (90) — or since entry for a
position held for less — with ``s_i`` = +1 long / −1 short and gross weights ``|w_i|``:

* ``picks_return``     = Σ |w_i| · s_i · r_i / Σ |w_i|   (side-adjusted: a short that falls earns)
* ``benchmark_return`` = Σ |w_i| · s_i · r_ETF,i / Σ |w_i| (the sector ETF over each position's own span,
  with the position's side)
* ``selection_alpha``  = picks_return − benchmark_return, the stock-selection alpha
* ``etf_return`` is the ETF's plain return over the whole window, for reference.

The TOTAL row weights each sector's alpha by its gross exposure. Returns are adjusted-close to
adjusted-close from the close on or before the span's first day to the close on or before ``as_of``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from meridian_assets.reporting.schemas import SECTOR_RELATIVE_ALPHA


def _price_on_or_before(prices: pl.DataFrame, pairs: pl.DataFrame, date_col: str, out: str) -> pl.DataFrame:
    px = prices.select("ticker", "date", "adj_close").sort("date")
    return (pairs.sort(date_col)
            .join_asof(px.rename({"date": "_px_date"}), left_on=date_col, right_on="_px_date", by="ticker",
                       strategy="backward", check_sortedness=False)
            .rename({"adj_close": out}).drop("_px_date"))


def sector_relative_alpha(positions: pl.DataFrame, prices: pl.DataFrame, sector_etfs: dict[str, str],
                          as_of: dt.date, window_days: int = 90) -> pl.DataFrame:
    """The `sector_relative_alpha` rows. ``positions``: ``(ticker, sector, weight signed, entry_date)``."""
    pos = positions.filter(pl.col("weight").is_not_null() & (pl.col("weight") != 0)) if positions.height else positions
    if pos.height == 0:
        return SECTOR_RELATIVE_ALPHA.empty()
    window_start = as_of - dt.timedelta(days=window_days)
    pos = pos.with_columns(
        pl.max_horizontal(pl.col("entry_date").fill_null(window_start), pl.lit(window_start)).alias("start"),
        pl.lit(as_of).alias("end"),
        pl.col("sector").replace_strict(sector_etfs, default=None, return_dtype=pl.Utf8).alias("etf"),
        pl.col("weight").sign().alias("s"), pl.col("weight").abs().alias("g"),
    )
    stock = _price_on_or_before(prices, pos, "start", "p0")
    stock = _price_on_or_before(prices, stock, "end", "p1")
    rows = stock.select("ticker", "sector", "etf", "start", "end", "s", "g", "weight", "p0", "p1").with_columns(
        (pl.col("p1") / pl.col("p0") - 1).alias("r"))
    spans = rows.select("etf", "start", "end").drop_nulls("etf").unique().rename({"etf": "ticker"})
    spans = _price_on_or_before(prices, _price_on_or_before(prices, spans, "start", "e0"), "end", "e1")
    etf_r = spans.select(pl.col("ticker").alias("etf"), "start", (pl.col("e1") / pl.col("e0") - 1).alias("r_etf"))
    rows = rows.join(etf_r, on=["etf", "start"], how="left")
    rows = rows.filter(pl.col("r").is_not_null() & pl.col("r_etf").is_not_null())
    if rows.height == 0:
        return SECTOR_RELATIVE_ALPHA.empty()
    whole = _whole_window_etf(prices, sorted(set(rows["etf"].to_list())), window_start, as_of)
    per = rows.group_by("sector").agg(
        pl.col("etf").first(), pl.len().cast(pl.Int64).alias("positions"),
        pl.col("g").sum().alias("gross_weight"), pl.col("weight").sum().alias("net_weight"),
        ((pl.col("g") * pl.col("s") * pl.col("r")).sum() / pl.col("g").sum()).alias("picks_return"),
        ((pl.col("g") * pl.col("s") * pl.col("r_etf")).sum() / pl.col("g").sum()).alias("benchmark_return"),
    ).with_columns(
        (pl.col("picks_return") - pl.col("benchmark_return")).alias("selection_alpha"),
        pl.col("etf").replace_strict(whole, default=None, return_dtype=pl.Float64).alias("etf_return"),
    ).sort("sector")
    g = per["gross_weight"].sum()
    total = pl.DataFrame({
        "sector": ["TOTAL"], "positions": [int(per["positions"].sum())], "gross_weight": [g],
        "net_weight": [per["net_weight"].sum()],
        "picks_return": [float((per["picks_return"] * per["gross_weight"]).sum() / g)],
        "benchmark_return": [float((per["benchmark_return"] * per["gross_weight"]).sum() / g)],
        "selection_alpha": [float((per["selection_alpha"] * per["gross_weight"]).sum() / g)],
    })
    out = pl.concat([per, total], how="diagonal_relaxed").with_columns(
        pl.lit(as_of).alias("as_of"), pl.lit(window_days).alias("window_days"))
    return SECTOR_RELATIVE_ALPHA.conform(out)


def _whole_window_etf(prices: pl.DataFrame, etfs: list[str], start: dt.date, end: dt.date) -> dict[str, float]:
    out = {}
    for etf in etfs:
        s = prices.filter((pl.col("ticker") == etf) & (pl.col("date") <= end)).sort("date")
        before = s.filter(pl.col("date") <= start)
        p0 = before["adj_close"][-1] if before.height else (s["adj_close"][0] if s.height else None)
        if p0 and s.height:
            out[etf] = float(s["adj_close"][-1] / p0 - 1)
    return out
