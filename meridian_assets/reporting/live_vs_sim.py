"""Live versus simulated P&L of the same target books.

**Simulated**: a paper book that, at the close of each rebalance's session, holds exactly the rebalance's
target weights (`target_book.weight`, signed) of its own NAV, valued at adjusted closes; between rebalances
the weights drift with prices; no costs, no turnover budget, no vetoes, cash earns nothing. It is a
simulation from daily prices, labelled as such wherever it is shown.

**Live**: the book's realized daily return (`portfolio_history`), which carries everything the simulation
leaves out — the turnover budget's ramp, costs, vetoed or rejected trades, fills.

Both are compounded from the first session of the window: ``cum_bps_t = (Π(1 + r)) − 1`` in bps;
``difference_bps = live − sim`` is the implementation gap.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from meridian_assets.reporting.schemas import LIVE_VS_SIM


def simulate_target_books(target_book: pl.DataFrame, prices: pl.DataFrame, end: dt.date) -> pl.DataFrame:
    """``(date, sim_return, rebalance_id)`` for every price session after the first rebalance up to ``end``."""
    schema = {"date": pl.Date, "sim_return": pl.Float64, "rebalance_id": pl.Utf8}
    if target_book.height == 0:
        return pl.DataFrame(schema=schema)
    books = {rid: b for (rid,), b in target_book.group_by("rebalance_id")}
    order = (target_book.group_by("rebalance_id").agg(pl.col("as_of").first()).sort("as_of", "rebalance_id"))
    first = order["as_of"][0]
    tickers = sorted(set(target_book["ticker"].to_list()))
    px = (prices.filter(pl.col("ticker").is_in(tickers) & pl.col("date").is_between(first, end))
          .select("date", "ticker", "adj_close"))
    if px.height == 0:
        return pl.DataFrame(schema=schema)
    wide = px.pivot(on="ticker", index="date", values="adj_close", aggregate_function="first").sort("date")
    for t in tickers:
        if t not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(t))
    wide = wide.select("date", *tickers).with_columns(pl.col(tickers).forward_fill())
    dates = wide["date"].to_list()
    P = wide.select(tickers).to_numpy().astype(float)
    col = {t: j for j, t in enumerate(tickers)}
    pending = list(order.iter_rows())  # (rebalance_id, as_of), ascending
    units, nav, active = np.zeros(len(tickers)), 1.0, None
    out_d, out_r, out_id = [], [], []
    for i, d in enumerate(dates):
        if i > 0 and active is not None:
            move = np.where(np.isfinite(P[i]) & np.isfinite(P[i - 1]), P[i] - P[i - 1], 0.0)
            pnl = float(units @ move)
            out_d.append(d)
            out_r.append(pnl / nav)
            out_id.append(active)
            nav += pnl
        while pending and pending[0][1] <= d:
            rid, _ = pending.pop(0)
            units = np.zeros(len(tickers))
            for t, w in books[rid].select("ticker", "weight").iter_rows():
                p = P[i, col[t]]
                if np.isfinite(p) and p > 0 and w is not None:
                    units[col[t]] = w * nav / p
            active = rid
    return pl.DataFrame({"date": out_d, "sim_return": out_r, "rebalance_id": out_id}, schema=schema)


def live_vs_sim(live: pl.DataFrame, sim: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The `live_vs_sim` rows of [start, end]. ``live``: (date, ret) realized; ``sim``: `simulate_target_books`."""
    joined = (live.filter(pl.col("date").is_between(start, end)).select("date", pl.col("ret").alias("live_return"))
              .join(sim.filter(pl.col("date").is_between(start, end)), on="date", how="full", coalesce=True)
              .sort("date")
              .with_columns(pl.col("live_return", "sim_return").fill_null(0.0)))
    if joined.height == 0:
        return LIVE_VS_SIM.empty()
    joined = joined.with_columns(
        (((pl.col("live_return") + 1).cum_prod() - 1) * 1e4).alias("live_cum_bps"),
        (((pl.col("sim_return") + 1).cum_prod() - 1) * 1e4).alias("sim_cum_bps"),
    ).with_columns((pl.col("live_cum_bps") - pl.col("sim_cum_bps")).alias("difference_bps"),
                   pl.lit(end).alias("window_end"))
    return LIVE_VS_SIM.conform(joined)
