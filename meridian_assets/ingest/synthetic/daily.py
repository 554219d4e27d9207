"""Window slices of the daily tables (prices, short interest, analyst estimates) straight from the arrays."""

from __future__ import annotations

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import ANALYST_ESTIMATES, DAILY_PRICES, SHORT_INTEREST


def _grid(world, comps: np.ndarray, lo: int, hi: int, extra_mask=None):
    """(t, company) pairs of the window where the company trades, in date-then-ticker order."""
    if hi <= lo or len(comps) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    alive = world.bars.alive[lo:hi][:, comps]
    if extra_mask is not None:
        alive = alive & extra_mask
    tt, cc = np.nonzero(alive)
    return tt + lo, comps[cc]


def price_frame(world, comps: np.ndarray, bench: list[str], lo: int, hi: int) -> pl.DataFrame:
    b = world.bars
    t, c = _grid(world, comps, lo, hi)
    dates = world.clock.dates
    parts = [pl.DataFrame(dict(
        date=dates[t], ticker=world.static.ticker_at(c, dates[t]), open=b.open[t, c], high=b.high[t, c],
        low=b.low[t, c], close=b.close[t, c], adj_close=b.adj[t, c], volume=b.volume[t, c],
        security_id=world.static.security_ids(c),
    ))] if len(t) else []
    for tk in bench:
        d = b.bench[tk]
        n = max(hi - lo, 0)
        if n:
            parts.append(pl.DataFrame(dict(
                date=dates[lo:hi], ticker=np.full(n, tk, dtype=object), open=d["open"][lo:hi], high=d["high"][lo:hi],
                low=d["low"][lo:hi], close=d["close"][lo:hi], adj_close=d["adj"][lo:hi], volume=d["volume"][lo:hi],
                security_id=np.full(n, tk, dtype=object),
            )))
    if not parts:
        return DAILY_PRICES.empty()
    return DAILY_PRICES.conform(pl.concat(parts)).sort(["date", "ticker"])


def short_interest_frame(world, comps: np.ndarray, lo: int, hi: int) -> pl.DataFrame:
    si = world.short_interest
    latest = si["latest"][lo:hi] if hi > lo else np.zeros(0, dtype=np.int64)
    has = (latest >= 0)[:, None] if hi > lo else None
    t, c = _grid(world, comps, lo, hi, has)
    if len(t) == 0:
        return SHORT_INTEREST.empty()
    k = si["latest"][t]
    dates = world.clock.dates
    shares = si["shares_short"][k, c]
    flt = world.bars.shares[si["settle"][k], c] * world.static.arr["float_frac"][c]
    return SHORT_INTEREST.conform(pl.DataFrame(dict(
        date=dates[t], ticker=world.static.ticker_at(c, dates[t]), settlement_date=dates[si["settle"][k]],
        shares_short=shares, short_ratio=si["ratio"][k, c], short_pct_float=np.round(shares / flt, 5),
    ))).sort(["date", "ticker"])


def estimates_frame(world, comps: np.ndarray, lo: int, hi: int) -> pl.DataFrame:
    e = world.estimates
    t, c = _grid(world, comps, lo, hi)
    if len(t) == 0:
        return ANALYST_ESTIMATES.empty()
    dates = world.clock.dates
    return ANALYST_ESTIMATES.conform(pl.DataFrame(dict(
        date=dates[t], ticker=world.static.ticker_at(c, dates[t]), fwd_eps=e["fwd"][t, c], fwd_eps_next_q=e["fwd_q"][t, c],
        price_target=e["pt"][t, c], n_analysts=e["n"][t, c], rating_mean=e["rating"][t, c],
    ))).sort(["date", "ticker"])
