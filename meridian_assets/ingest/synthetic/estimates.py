"""Analyst consensus (daily), short interest (semi-monthly, published with a lag) and the earnings calendar.

* Consensus forward EPS tracks the company's earnings power times exp(R), R being the revision latent that
  also drives the post-revision drift in returns; it moves stickily (on ~35% of days, part of the way).
* Short interest is the float times a short % that rises with the crowding latent S (the short drag).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import EARNINGS_CALENDAR
from meridian_assets.ingest.synthetic.common import S_EST, S_SI, all_sessions, ffill_index, rng
from meridian_assets.ingest.synthetic.fundamentals import fundamental_level
from meridian_assets.ingest.synthetic.schedule import fiscal_label


def build_estimates(world) -> dict:
    st, clock, core, bars = world.static, world.clock, world.core, world.bars
    a = st.arr
    T, N = core.r.shape
    fq = world.fundamentals["q"]
    L = fundamental_level(world)
    ni0 = st.mcap0 * a["ey_fair"] * np.exp(-core.M[0].astype(float))
    level_eps = ni0[None, :] * np.exp(L) / bars.shares
    # trailing-twelve-month EPS as last reported (known at the filing session)
    order = np.lexsort((fq["pe"], fq["comp"]))
    c, ni, kg = fq["comp"][order], fq["ni"][order], fq["known_g"][order] - clock.g0
    same = np.zeros(len(c), dtype=bool)
    same[3:] = (c[3:] == c[:-3])
    ni4 = np.convolve(ni, np.ones(4), "full")[: len(ni)]
    ok = same & (kg >= 0) & (kg < T)
    mask = np.zeros((T, N), dtype=bool)
    vals = np.zeros((T, N))
    mask[kg[ok], c[ok]] = True
    vals[kg[ok], c[ok]] = ni4[ok]
    last = ffill_index(mask)
    ttm = np.where(last >= 0, vals[np.maximum(last, 0), np.arange(N)[None, :]] / bars.shares, level_eps)
    growth = 1 + a["g_exp"][None, :]
    target = (0.5 * ttm + 0.5 * level_eps) * growth * np.exp(core.R.astype(float))
    pt_target = bars.close * np.exp(0.09 + 0.8 * core.R - 0.25 * (core.M - core.M.mean(axis=1, keepdims=True)))
    rating_target = np.clip(2.4 + a["rating_bias"][None, :] - 3.0 * core.R - 0.5 * core.D, 1.0, 5.0)
    fwd, pt, rating = (np.empty((T, N)) for _ in range(3))
    f_prev, p_prev, r_prev = target[0].copy(), pt_target[0].copy(), rating_target[0].copy()
    for t in range(T):
        g = rng(st.seed, t, S_EST)
        u = g.random((3, N))
        w1 = np.where(u[0] < 0.35, 0.25, 0.0)
        w2 = np.where(u[1] < 0.15, 0.3, 0.0)
        w3 = np.where(u[2] < 0.08, 0.3, 0.0)
        if t > 0:  # a split rebases the per-share figures overnight
            ratio = bars.sf[t - 1] / bars.sf[t]
            f_prev, p_prev = f_prev * ratio, p_prev * ratio
        f_prev = f_prev + w1 * (target[t] - f_prev)
        p_prev = p_prev + w2 * (pt_target[t] - p_prev)
        r_prev = r_prev + w3 * (rating_target[t] - r_prev)
        fwd[t], pt[t], rating[t] = f_prev, p_prev, r_prev
    # analysts covering: size-driven, drifting by one now and then (quarter-keyed draws)
    base = np.clip(np.round(4 + 5.5 * (a["log_mcap0"] - np.log(5e9))), 3, 45)
    qidx = (clock.dates.astype("datetime64[M]").astype(np.int64)) // 3
    steps = np.zeros((T, N))
    for q in np.unique(qidx):
        t0 = int(np.searchsorted(qidx, q))
        steps[t0] = rng(st.seed, S_EST, 100_000 + int(q)).integers(-1, 2, N)
    n_an = np.clip(base[None, :] + np.clip(np.cumsum(steps, axis=0), -6, 6), 2, 60)
    fwd_q = fwd / 4.0  # per-share figures are on each day's as-traded basis (shares include the splits)
    return dict(fwd=np.round(fwd, 3), fwd_q=np.round(fwd_q, 3), pt=np.round(pt, 2), n=n_an.astype(np.int64),
                rating=np.round(rating, 2))


def build_short_interest(world) -> dict:
    """Semi-monthly settlements (the 15th and month end), published 8 sessions later; daily snapshots."""
    st, clock, core, bars = world.static, world.clock, world.core, world.bars
    s = all_sessions()
    T, N = core.r.shape
    m0 = clock.dates[0].astype("datetime64[M]").astype(np.int64)
    m1 = clock.dates[-1].astype("datetime64[M]").astype(np.int64)
    settle, keys = [], []
    for m in range(m0, m1 + 1):
        first = np.datetime64(m, "M").astype("datetime64[D]")
        for half, d in ((0, first + 14), (1, np.datetime64(m + 1, "M").astype("datetime64[D]") - 1)):
            t = int(np.searchsorted(s, d, "right")) - 1 - clock.g0
            if 20 <= t < T:
                settle.append(t)
                keys.append(2 * (m - (1990 - 1970) * 12) + half)
    settle = np.array(settle, dtype=np.int64)
    K = len(settle)
    spf = np.zeros((K, N))
    sshort = np.zeros((K, N))
    ratio = np.zeros((K, N))
    vol = bars.volume
    cv = np.concatenate([np.zeros((1, N)), np.cumsum(vol, axis=0)])
    a = st.arr
    for k, (t, key) in enumerate(zip(settle.tolist(), keys)):
        z = rng(st.seed, S_SI, key).standard_normal(N)
        p = np.clip(a["short_base"] * np.exp(0.45 * core.S[t] + 0.12 * z), 0.003, 0.35)
        flt = bars.shares[t] * a["float_frac"]
        adv = (cv[t + 1] - cv[t - 19]) / 20.0
        spf[k], sshort[k] = p, np.round(p * flt)
        ratio[k] = sshort[k] / np.maximum(adv, 1.0)
    pub = settle + 8
    okp = pub < T
    latest = np.full(T, -1, dtype=np.int64)
    latest[pub[okp]] = np.arange(K)[okp]
    latest = np.maximum.accumulate(latest)
    return dict(settle=settle, latest=latest, spf=spf, shares_short=sshort, ratio=np.round(ratio, 2))


def earnings_calendar_frame(world) -> pl.DataFrame:
    st, clock, sch = world.static, world.clock, world.schedule
    s = all_sessions()
    est = world.estimates
    ann_t = sch.ann_g - clock.g0
    ok = (ann_t >= 0) & (ann_t < clock.T)
    ok &= ~((sch.comp == st.dl) & (sch.ann_g >= clock.g0 + clock.index_of(st.dl_announce)))
    idx = np.flatnonzero(ok)
    comp, at = sch.comp[idx], ann_t[idx]
    known = s[sch.ann_g[idx]]
    df = pl.DataFrame(dict(
        ticker=st.ticker_at(comp, known), earnings_date=s[sch.earn_g[idx]],
        session=np.where(sch.bmo[idx], "BMO", "AMC"), fiscal_period=fiscal_label(sch.fy[idx], sch.fq[idx]),
        eps_estimate=est["fwd_q"][at, comp], known_at=known,
    ))
    return EARNINGS_CALENDAR.conform(df).sort(["known_at", "ticker"])

