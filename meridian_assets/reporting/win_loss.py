"""Win/loss statistics of closed round trips, sliced five ways, and streaks.

A trip wins when its P&L is > 0 and loses when < 0 (flat trips count as trades, neither win nor loss).
``win_rate = wins / trades``; ``pl_ratio = mean winning P&L / |mean losing P&L|`` (undefined without both).
Slices (the specification's):

* side: LONG / SHORT;
* holding period in sessions: ≤5, 5–20, 20–60, >60 (boundaries from `reporting.holding_buckets_days`);
* sector;
* VIX regime at entry: LOW (< 15), NORMAL, HIGH (> 25), from the ^VIX close on or before the entry date
  (UNKNOWN without one);
* entry composite quintile: Q1 = score < 20 … Q5 = score ≥ 80 (the composite is a 0–100 within-sector
  percentile, so fixed breakpoints are its quintiles).

Streaks run over trips ordered by exit date (then entry date, ticker): the longest run of wins, of losses,
and the current run.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from meridian_assets.reporting.schemas import WIN_LOSS

VIX = "^VIX"


def holding_bucket_labels(bounds: tuple[int, ...]) -> list[str]:
    labels = [f"<={bounds[0]}d"]
    labels += [f"{a}-{b}d" for a, b in zip(bounds, bounds[1:])]
    return labels + [f">{bounds[-1]}d"]


def holding_bucket(days: int, bounds: tuple[int, ...]) -> str:
    labels = holding_bucket_labels(bounds)
    for i, b in enumerate(bounds):
        if days <= b:
            return labels[i]
    return labels[-1]


def vix_regime(level: float | None, low: float, high: float) -> str:
    if level is None or not np.isfinite(level):
        return "UNKNOWN"
    return "LOW" if level < low else "HIGH" if level > high else "NORMAL"


def score_quintile(score: float | None) -> str:
    if score is None or not np.isfinite(score):
        return "UNKNOWN"
    return f"Q{min(int(score // 20) + 1, 5)}"


def vix_on_or_before(prices: pl.DataFrame, dates: list[dt.date]) -> dict[dt.date, float]:
    """The ^VIX close on or before each date."""
    vix = prices.filter(pl.col("ticker") == VIX).select("date", "close").sort("date")
    if vix.height == 0 or not dates:
        return {}
    q = pl.DataFrame({"d": pl.Series(sorted(set(dates)), dtype=pl.Date)}).sort("d")
    joined = q.join_asof(vix, left_on="d", right_on="date", strategy="backward")
    return {d: v for d, v in joined.select("d", "close").iter_rows() if v is not None}


def label_trips(trips: pl.DataFrame, prices: pl.DataFrame, bounds: tuple[int, ...], vix_low: float,
                vix_high: float) -> pl.DataFrame:
    """The trips with their bucket, VIX regime at entry and score quintile."""
    vix = vix_on_or_before(prices, trips["entry_date"].to_list()) if trips.height else {}
    return trips.with_columns(
        pl.col("holding_days").map_elements(lambda d: holding_bucket(int(d), bounds), return_dtype=pl.Utf8)
        .alias("holding_bucket"),
        pl.col("entry_date").map_elements(lambda d: vix_regime(vix.get(d), vix_low, vix_high), return_dtype=pl.Utf8)
        .alias("vix_regime"),
        pl.col("entry_score").map_elements(score_quintile, return_dtype=pl.Utf8, skip_nulls=False)
        .alias("score_quintile"),
    )


def _stats(frame: pl.DataFrame, dimension: str, column: str | None) -> pl.DataFrame:
    keyed = frame.with_columns((pl.lit("ALL") if column is None else pl.col(column).fill_null("UNKNOWN"))
                               .cast(pl.Utf8).alias("bucket"))
    return keyed.group_by("bucket").agg(
        pl.len().cast(pl.Int64).alias("trades"),
        (pl.col("pnl") > 0).sum().cast(pl.Int64).alias("wins"),
        (pl.col("pnl") < 0).sum().cast(pl.Int64).alias("losses"),
        pl.col("pnl").filter(pl.col("pnl") > 0).mean().alias("avg_win"),
        pl.col("pnl").filter(pl.col("pnl") < 0).mean().alias("avg_loss"),
        pl.col("pnl").sum().alias("total_pnl"),
    ).with_columns(
        pl.lit(dimension).alias("dimension"),
        (pl.col("wins") / pl.col("trades")).alias("win_rate"),
        (pl.col("avg_win") / pl.col("avg_loss").abs()).alias("pl_ratio"),
    ).sort("bucket")


def streaks(trips: pl.DataFrame) -> dict[str, tuple[str, int]]:
    """Longest win run, longest loss run and the current run (``('WIN'|'LOSS'|'NONE', length)``)."""
    if trips.height == 0:
        return {"longest_win": ("WIN", 0), "longest_loss": ("LOSS", 0), "current": ("NONE", 0)}
    pnl = trips.sort("exit_date", "entry_date", "ticker")["pnl"].to_list()
    best = {"WIN": 0, "LOSS": 0}
    kind, run = "NONE", 0
    for p in pnl:
        k = "WIN" if p > 0 else "LOSS" if p < 0 else "NONE"
        run = run + 1 if k == kind else 1
        kind = k
        if k in best:
            best[k] = max(best[k], run)
    return {"longest_win": ("WIN", best["WIN"]), "longest_loss": ("LOSS", best["LOSS"]),
            "current": (kind, run if kind != "NONE" else 0)}


def win_loss_table(trips: pl.DataFrame, prices: pl.DataFrame, as_of: dt.date, bounds: tuple[int, ...] = (5, 20, 60),
                   vix_low: float = 15.0, vix_high: float = 25.0) -> pl.DataFrame:
    """The `win_loss` rows: ALL, the five slices and the streaks."""
    if trips.height == 0:
        return WIN_LOSS.empty()
    labelled = label_trips(trips, prices, bounds, vix_low, vix_high)
    parts = [_stats(labelled, "all", None)]
    for dim, col in (("side", "side"), ("holding_period", "holding_bucket"), ("sector", "sector"),
                     ("vix_regime", "vix_regime"), ("entry_score_quintile", "score_quintile")):
        parts.append(_stats(labelled, dim, col))
    s = streaks(trips)
    parts.append(pl.DataFrame({
        "bucket": [f"{name}:{kind}" for name, (kind, _) in s.items()],
        "trades": [n for _, n in s.values()], "dimension": ["streak"] * len(s),
    }, schema_overrides={"trades": pl.Int64}))
    frame = pl.concat(parts, how="diagonal_relaxed").with_columns(pl.lit(as_of).alias("as_of"))
    return WIN_LOSS.conform(frame)
