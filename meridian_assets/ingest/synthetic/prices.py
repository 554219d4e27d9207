"""From simulated returns to tradable bars: dividends, splits, the acquisition, OHLCV and the benchmarks.

``adj_close`` is the total-return level in the epoch's share basis (equal to the close at the epoch and never
revised); ``close`` is the as-traded price: the ex-dividend price divided by the cumulative split factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import CORPORATE_ACTIONS
from meridian_assets.ingest.synthetic.common import (
    N_MONTHS, S_BARS, S_DEAL, S_DIV, S_SPLIT, Clock, all_sessions, rng, to_d64,
)
from meridian_assets.ingest.synthetic.market import CRISIS, Core
from meridian_assets.ingest.synthetic.universe import BENCHMARKS, SECTOR_NAMES, Static

SPLIT_RATIOS = (2.0, 4.0, 3.0, 10.0, 2.0, 3.0)
ETF_START = {"SPY": 268.8, "XLB": 59.0, "XLC": 50.0, "XLE": 73.0, "XLF": 28.0, "XLI": 76.0, "XLK": 65.0,
             "XLP": 56.0, "XLRE": 33.0, "XLU": 52.0, "XLV": 83.0, "XLY": 100.0}
ETF_VOLUME = {"SPY": 75e6, "XLF": 45e6, "XLE": 18e6, "XLK": 9e6, "XLU": 12e6, "XLP": 10e6, "XLV": 9e6,
              "XLI": 11e6, "XLY": 5e6, "XLB": 6e6, "XLRE": 5e6, "XLC": 5e6}
REGIME_VOLUME = np.array([1.0, 1.35, 1.9])


@dataclass
class Bars:
    close: np.ndarray  # (T, N) as traded
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    adj: np.ndarray  # total-return level, epoch basis
    volume: np.ndarray
    shares: np.ndarray  # shares outstanding, as traded
    sf: np.ndarray  # cumulative split factor
    alive: np.ndarray  # (T, N) bool: the name trades that session
    econ: np.ndarray  # ex-dividend price in the epoch share basis
    r: np.ndarray  # log total returns actually used (acquisition path applied)
    dividends: list  # (company, decl_t, ex_t, dps_as_traded)
    splits: list  # (company, ann_t, ex_t, ratio)
    bench: dict  # ticker -> dict of (T,) arrays open/high/low/close/volume


def _acquisition(st: Static, clock: Clock, r: np.ndarray) -> tuple[int, int]:
    ann_t = clock.index_of(st.dl_announce)
    dl_t = clock.index_of(st.dl_date)
    if ann_t >= clock.T or ann_t < 1:
        return ann_t, dl_t
    i = st.dl
    g = rng(st.seed, S_DEAL)
    level = np.cumsum(r[: ann_t, i])[-1]  # log TR level the day before the announcement
    deal = level + np.log(1.28)
    n = dl_t - ann_t
    steps = np.arange(n + 1)
    spread = 0.035 * (1 - steps / max(n, 1)) + 0.002 * np.abs(g.standard_normal(n + 1)) * (steps < n)
    path = deal + np.log1p(-spread)
    end = min(dl_t + 1, clock.T)
    seg = np.diff(np.concatenate([[level], path]))[: end - ann_t]
    r[ann_t:end, i] = seg
    r[end:, i] = 0.0
    return ann_t, dl_t


def _dividends(st: Static, clock: Clock, r: np.ndarray, ann_dl: int) -> tuple[np.ndarray, list, np.ndarray]:
    """Quarterly dividends: the yearly amount is set at the year's first declaration and never cut."""
    s = all_sessions()
    T, N = r.shape
    tr = st.price0[None, :] * np.exp(np.cumsum(r, axis=0))
    factor = np.ones((T, N))
    events = []
    ep_m = to_d64(st.epoch).astype("datetime64[M]").astype(np.int64)
    last_m = clock.dates[-1].astype("datetime64[M]").astype(np.int64)
    for i in np.flatnonzero(st.arr["div_payer"] > 0):
        m0 = int(st.arr["div_month"][i])
        mons = np.arange(ep_m, last_m + 1)
        mons = mons[(mons % 3) == m0]
        u = rng(st.seed, S_DIV, int(st.cik[i])).random((N_MONTHS, 2))
        days = mons.astype("datetime64[M]").astype("datetime64[D]") + int(st.arr["div_day"][i]) - 1
        ex_t = np.searchsorted(s, days, "left") - clock.g0
        mo = np.clip(mons - (1990 - 1970) * 12, 0, N_MONTHS - 1)
        decl_t = ex_t - (15 + np.floor(u[mo, 0] * 11)).astype(np.int64)
        C, dps, year = 1.0, 0.0, -1
        for d, e, mm in zip(decl_t.tolist(), ex_t.tolist(), mons.tolist()):
            if d < 1 or e >= T or (i == st.dl and e >= ann_dl):
                continue
            y = mm // 12
            p_decl = tr[d, i] * C
            if y != year:
                new = st.arr["div_yield"][i] * p_decl / 4.0
                dps = new if dps == 0 else float(np.clip(new, dps, dps * 1.12))
                year = y
            p_pre = tr[e, i] * C
            frac = min(dps / p_pre, 0.2)
            factor[e, i] = 1 - frac
            C *= 1 - frac
            events.append((i, d, e, dps))  # dps in the epoch share basis; converted after splits
    return np.cumprod(factor, axis=0), events, tr


def _splits(st: Static, clock: Clock, econ: np.ndarray, horizon_year: int) -> tuple[np.ndarray, list]:
    s = all_sessions()
    T, N = econ.shape
    sf = np.ones((T, N))
    out = []
    banned = {st.tc, st.dl, st.rp}
    last = np.full(N, -10_000)
    for y in range(st.epoch.year + 1, horizon_year + 2):
        g = rng(st.seed, S_SPLIT, y)
        for k, (lo, span) in enumerate(((32, 140), (196, 130))):
            d = to_d64(st.epoch.replace(year=y, month=1, day=1)) + lo + int(g.integers(0, span))
            ann = int(np.searchsorted(s, d, "left")) - clock.g0
            ex = ann + 25
            if ann < 1 or ex >= T:
                continue
            px = econ[ann] / sf[ann]
            ok = np.array([i not in banned and ann - last[i] > 504 for i in range(N)])
            if not ok.any():
                continue
            i = int(np.argmax(np.where(ok, px, -1.0)))
            ratio = SPLIT_RATIOS[((y - 2000) * 2 + k) % len(SPLIT_RATIOS)]
            sf[ex:, i] *= ratio
            last[i] = ann
            out.append((i, ann, ex, ratio))
    return sf, out


def build_bars(st: Static, clock: Clock, core: Core, react: np.ndarray, horizon_year: int) -> Bars:
    T, N = core.r.shape
    a = st.arr
    r = core.r.copy()
    ann_dl, dl_t = _acquisition(st, clock, r)
    C, div_events, tr = _dividends(st, clock, r, ann_dl)
    econ = tr * C
    sf, splits = _splits(st, clock, econ, horizon_year)
    close = econ / sf
    years = np.arange(T)[:, None] / 252.0
    shares = st.shares0[None, :] * sf * np.exp(-a["buyback"][None, :] * years)
    alive = np.ones((T, N), dtype=bool)
    alive[dl_t + 1 :, st.dl] = False
    opn, high, low, vol = (np.empty((T, N)) for _ in range(4))
    reg_mult = REGIME_VOLUME[core.regime]
    bz = np.empty((T, 4, len(BENCHMARKS)))
    for t in range(T):
        g = rng(st.seed, t, S_BARS)
        z = g.standard_normal((4, N))
        bz[t] = g.standard_normal((4, len(BENCHMARKS)))
        sig = core.ivol_t[t].astype(float) + 0.5 * core.sig_m[t]
        o = 0.4 * r[t] + 0.3 * sig * z[0]
        opn[t] = close[t] * np.exp(-(r[t] - o))
        hi_ = np.maximum(opn[t], close[t])
        lo_ = np.minimum(opn[t], close[t])
        high[t] = hi_ * np.exp(0.5 * sig * np.abs(z[1]))
        low[t] = lo_ * np.exp(-0.5 * sig * np.abs(z[2]))
        surprise = np.abs(r[t] - a["beta"] * core.mkt[t]) / np.maximum(sig, 1e-4)
        vol[t] = (shares[t] * a["turnover"] * reg_mult[t] * np.exp(0.3 * z[3] - 0.045)
                  * (1 + 0.35 * np.minimum(surprise, 6)) * np.where(react[t], 2.5, 1.0))
    for arr in (opn, high, low, close):
        np.round(np.maximum(arr, 0.01), 2, out=arr)
    high = np.maximum(high, np.maximum(opn, close))
    low = np.minimum(low, np.minimum(opn, close))
    vol = np.maximum(np.round(vol), 100.0)
    dividends = [(i, d, e, dps / sf[e, i]) for i, d, e, dps in div_events]
    bench = _benchmarks(st, clock, core, r, shares * close, bz)
    return Bars(close=close, open=opn, high=high, low=low, adj=tr, volume=vol, shares=shares, sf=sf, alive=alive,
                econ=econ, r=r, dividends=dividends, splits=splits, bench=bench)


def index_members(st: Static, clock: Clock) -> np.ndarray:
    T = clock.T
    mem = np.ones((T, st.N), dtype=bool)
    mem[: clock.index_of(st.rp_start), st.rp] = False
    mem[clock.index_of(st.dl_date) + 1 :, st.dl] = False
    return mem


def _benchmarks(st: Static, clock: Clock, core: Core, r: np.ndarray, mcap: np.ndarray, bz: np.ndarray) -> dict:
    """Cap-weighted total-return levels of the index members (SPY) and of each sector (the sector ETFs)."""
    T = clock.T
    mem = index_members(st, clock)
    w = np.zeros_like(mcap)
    w[1:] = np.where(mem[1:], mcap[:-1], 0.0)
    gross = np.expm1(r)
    out = {}
    for k, (tk, _nm, sec, kind) in enumerate(BENCHMARKS):
        if kind == "index":
            continue
        cols = np.ones(st.N, dtype=bool) if tk == "SPY" else (st.sector == SECTOR_NAMES.index(sec))
        ww = w[:, cols]
        ret = np.zeros(T)
        tot = ww[1:].sum(axis=1)
        ret[1:] = (ww[1:] * gross[1:, cols]).sum(axis=1) / np.where(tot > 0, tot, 1.0)
        level = ETF_START[tk] * np.cumprod(1 + ret)
        z = bz[:, :, k].T
        sig = core.sig_m * (1.0 if tk == "SPY" else 1.2)
        prev = np.concatenate([[level[0]], level[:-1]])
        opn = prev * np.exp(0.3 * np.log(level / prev) + 0.2 * sig * z[0])
        high = np.maximum(opn, level) * np.exp(0.45 * sig * np.abs(z[1]))
        low = np.minimum(opn, level) * np.exp(-0.45 * sig * np.abs(z[2]))
        volume = ETF_VOLUME[tk] * REGIME_VOLUME[core.regime] * np.exp(0.25 * z[3])
        out[tk] = dict(open=np.round(opn, 2), high=np.round(high, 2), low=np.round(low, 2),
                       close=np.round(level, 2), adj=level, volume=np.round(volume))
    z = bz[:, :, len(BENCHMARKS) - 1].T
    v = np.round(core.vix, 2)
    prev = np.concatenate([[v[0]], v[:-1]])
    opn = np.round(prev * np.exp(0.03 * z[0]), 2)
    spread = np.where(core.regime == CRISIS, 0.06, 0.025)
    out["^VIX"] = dict(open=opn, high=np.round(np.maximum(opn, v) * (1 + spread * np.abs(z[1])), 2),
                       low=np.round(np.minimum(opn, v) * (1 - spread * np.abs(z[2]) / 2), 2), close=v, adj=v,
                       volume=np.zeros(T))
    for d in out.values():
        d["high"] = np.maximum(d["high"], np.maximum(d["open"], d["close"]))
        d["low"] = np.minimum(d["low"], np.minimum(d["open"], d["close"]))
    return out


def corporate_actions_frame(st: Static, clock: Clock, bars: Bars) -> pl.DataFrame:
    dates = [d.item() for d in clock.dates]
    rows = []
    for i, d, e, dps in bars.dividends:
        rows.append((dates[e], st.ticker_at(np.array([i]), np.array([clock.dates[e]]))[0], "dividend", round(dps, 4), None, dates[d]))
    for i, ann, ex, ratio in bars.splits:
        rows.append((dates[ex], st.ticker[i], "split", ratio, None, dates[ann]))
    tc_t = clock.index_of(st.tc_date)
    if tc_t < clock.T:
        rows.append((dates[tc_t], st.ticker[st.tc], "ticker_change", None, st.tc_new_ticker, dates[max(tc_t - 10, 0)]))
    dl_t = clock.index_of(st.dl_date)
    if dl_t < clock.T:
        rows.append((dates[dl_t], st.ticker[st.dl], "delisting", None, None, dates[clock.index_of(st.dl_announce)]))
    schema = {"date": pl.Date, "ticker": pl.Utf8, "action": pl.Utf8, "ratio": pl.Float64, "new_ticker": pl.Utf8,
              "known_at": pl.Date}
    df = pl.DataFrame(rows, schema=schema, orient="row")
    return CORPORATE_ACTIONS.conform(df).sort(["date", "ticker", "action"])
