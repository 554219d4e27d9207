"""The static reporting calendar: fiscal quarters, earnings dates and filing dates of every company.

Static means it depends only on (seed, n_tickers, epoch): it is known before the market is simulated (the
engine needs the earnings-reaction days) and never on how far the simulation runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from meridian_assets.ingest.synthetic.common import (
    MONTH_BASE_YEAR, N_MONTHS, S_SCHED, Clock, all_sessions, month_end, rng, to_d64,
)
from meridian_assets.ingest.synthetic.universe import Static


@dataclass
class Schedule:
    """One row per (company, fiscal quarter); dates are datetime64[D], ``*_g`` positions in all_sessions()."""

    comp: np.ndarray
    pe: np.ndarray  # period end (calendar month end)
    fy: np.ndarray
    fq: np.ndarray  # 1..4
    mo: np.ndarray  # month ordinal (since Jan 1990) of the period end
    earn_g: np.ndarray  # earnings date (session)
    react_g: np.ndarray  # first session that trades on the news (= when the 8-K/transcript are known)
    ann_g: np.ndarray  # session the earnings date was announced
    file_g: np.ndarray  # 10-Q / 10-K filing session
    known_g: np.ndarray  # session the filing became known (after-close filings: the next session)
    bmo: np.ndarray

    def __len__(self) -> int:
        return len(self.comp)


def build_schedule(st: Static, clock: Clock, horizon_year: int) -> Schedule:
    s = all_sessions()
    nS = len(s)
    e_mon = to_d64(st.epoch).astype("datetime64[M]").astype(np.int64)
    last_mon = (np.datetime64(f"{horizon_year}-12", "M").astype(np.int64)) + 6
    months = np.arange(e_mon - 15, last_mon + 1)  # months since 1970-01
    fye = st.arr["fye"].astype(np.int64)
    rows = {k: [] for k in ("comp", "pe", "fy", "fq", "mo", "earn_g", "react_g", "ann_g", "file_g", "known_g", "bmo")}
    for i in range(st.N):
        cal_m = months % 12 + 1
        sel = ((cal_m - fye[i]) % 3) == 0
        mon = months[sel]
        m = mon % 12 + 1
        fq = ((m - fye[i] - 1) % 12) // 3 + 1
        fy_end_mon = mon + 3 * (4 - fq)
        fy = fy_end_mon // 12 + 1970 - (1 if fye[i] == 1 else 0)
        pe = month_end(mon)
        mo = (mon // 12 + 1970 - MONTH_BASE_YEAR) * 12 + m - 1
        # per-company draws indexed by month ordinal: prefix-stable
        u = rng(st.seed, S_SCHED, int(st.cik[i])).random((N_MONTHS, 6))[np.clip(mo, 0, N_MONTHS - 1)]
        lag = st.arr["earn_lag"][i] + np.floor(u[:, 0] * 7) - 3 + np.where(fq == 4, 9, 0)
        earn_g = np.searchsorted(s, pe + lag.astype(np.int64), "left")
        bmo = np.full(len(mon), bool(st.arr["bmo"][i]))
        bmo ^= u[:, 1] < 0.05  # occasionally the other session
        react_g = earn_g + np.where(bmo, 0, 1)
        ann_g = earn_g - (20 + np.floor(u[:, 2] * 11)).astype(np.int64)
        flag = np.where(fq == 4, 55 + np.floor(u[:, 3] * 21), np.maximum(25 + np.floor(u[:, 3] * 21), lag + 2 + np.floor(u[:, 4] * 6)))
        flag = np.minimum(flag, np.where(fq == 4, 75, 45))
        file_g = np.searchsorted(s, pe + flag.astype(np.int64), "left")
        file_g = np.maximum(file_g, earn_g)
        known_g = file_g + (u[:, 5] < 0.55)  # accepted after the close: known the next session
        ok = known_g < nS - 1
        for k, v in (("comp", np.full(len(mon), i)), ("pe", pe), ("fy", fy), ("fq", fq), ("mo", mo),
                     ("earn_g", earn_g), ("react_g", react_g), ("ann_g", ann_g), ("file_g", file_g),
                     ("known_g", known_g), ("bmo", bmo)):
            rows[k].append(np.asarray(v)[ok])
    cat = {k: np.concatenate(v) for k, v in rows.items()}
    return Schedule(**cat)


def react_mask(sch: Schedule, clock: Clock, N: int) -> np.ndarray:
    """(T, N) bool: sessions whose idiosyncratic shock carries the earnings news."""
    T = clock.T
    out = np.zeros((T, N), dtype=bool)
    t = sch.react_g - clock.g0
    ok = (t >= 0) & (t < T)
    out[t[ok], sch.comp[ok]] = True
    return out


def fiscal_label(fy: np.ndarray, fq: np.ndarray) -> np.ndarray:
    """'2024-Q3' style labels used by the calendar and the transcripts."""
    return np.array([f"{y}-Q{q}" for y, q in zip(fy.tolist(), fq.tolist())], dtype=object)


def session_date(g: np.ndarray) -> np.ndarray:
    s = all_sessions()
    return s[np.clip(np.asarray(g), 0, len(s) - 1)]


def as_date(d64) -> dt.date:
    return np.datetime64(d64, "D").item()
