"""Shared plumbing of the synthetic market: seeded streams, the session clock, accession numbers.

Every random draw comes from ``np.random.default_rng([seed, *keys, stream])`` where the keys identify the
day, company, quarter or year the draw belongs to, so a value never depends on how far the simulation ran.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from meridian_assets import calendar as cal

# Stream ids: one per kind of draw, so adding draws to one kind never shifts another.
S_STATIC, S_CORE, S_BARS, S_MACRO, S_CRISIS, S_FUND, S_SCHED = 1, 2, 3, 4, 5, 6, 7
S_INSIDER, S_HOLD, S_SI, S_EST, S_TEXT, S_8K, S_SPLIT, S_NAMES = 8, 9, 10, 11, 12, 13, 14, 15
S_DIV, S_DEAL = 16, 17

# Months ordinal base: quarter/month keyed draws use (year - 1990) * 12 + month - 1 (always >= 0).
MONTH_BASE_YEAR = 1990
N_MONTHS = 12 * 70


def rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *(int(k) for k in keys)])


def month_ordinal(d64: np.ndarray) -> np.ndarray:
    """datetime64[D] -> months since Jan 1990 (int)."""
    m = d64.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    return m - (MONTH_BASE_YEAR - 1970) * 12


def month_end(months_since_1970: np.ndarray) -> np.ndarray:
    """Last calendar day of each month (months since 1970-01 as ints)."""
    return (np.asarray(months_since_1970, dtype=np.int64) + 1).astype("datetime64[M]").astype("datetime64[D]") - 1


@lru_cache(maxsize=1)
def all_sessions() -> np.ndarray:
    """Every NYSE session the calendar knows, as datetime64[D]."""
    return np.array(cal._all_sessions(), dtype="datetime64[D]")


def to_d64(d: dt.date) -> np.datetime64:
    return np.datetime64(d, "D")


@dataclass(frozen=True)
class Clock:
    """Sessions from the epoch (index 0) to the simulation horizon (index T-1).

    ``g`` positions index `all_sessions()`; sim index ``t = g - g0``. Negative sim indices are sessions before
    the epoch (used only for pre-epoch filing dates).
    """

    g0: int
    T: int

    @property
    def dates(self) -> np.ndarray:
        return all_sessions()[self.g0 : self.g0 + self.T]

    def on_or_after(self, d64) -> np.ndarray:
        """Sim index of the session on or after each date."""
        return np.searchsorted(all_sessions(), d64, "left") - self.g0

    def on_or_before(self, d64) -> np.ndarray:
        return np.searchsorted(all_sessions(), d64, "right") - 1 - self.g0

    def date_of(self, t) -> np.ndarray:
        s = all_sessions()
        return s[np.clip(np.asarray(t) + self.g0, 0, len(s) - 1)]

    def index_of(self, d: dt.date) -> int:
        return int(self.on_or_after(to_d64(d)))


@lru_cache(maxsize=16)
def make_clock(epoch: dt.date, horizon_year: int) -> Clock:
    """Sessions from the epoch to ~100 days after the end of ``horizon_year`` (capped at the calendar's end).

    The buffer lets events that lag their cause (filings, Form 4s, 13-Fs) be complete for every date served,
    which is at most Dec 31 of ``horizon_year``.
    """
    s = all_sessions()
    g0 = int(np.searchsorted(s, to_d64(epoch), "left"))
    last = to_d64(dt.date(horizon_year, 12, 31)) + 100
    g1 = min(int(np.searchsorted(s, last, "right")), len(s))
    return Clock(g0=g0, T=g1 - g0)


def served_until(horizon_year: int) -> dt.date:
    return dt.date(horizon_year, 12, 31)


def accession(prefix_cik: np.ndarray, filed: np.ndarray, local: np.ndarray) -> np.ndarray:
    """SEC-format accession numbers ``0001234567-24-012301``: filer id, year, day-of-year*100 + local index.

    Unique as long as one filer files fewer than 100 documents a day, and independent of how far the
    simulation ran (no running counters).
    """
    filed = np.asarray(filed, dtype="datetime64[D]")
    year = filed.astype("datetime64[Y]").astype(np.int64) + 1970
    doy = (filed - filed.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    seq = doy * 100 + np.asarray(local, dtype=np.int64)
    cik = np.asarray(prefix_cik, dtype=np.int64)
    return np.array(
        [f"{c:010d}-{y % 100:02d}-{q:06d}" for c, y, q in zip(cik.tolist(), year.tolist(), seq.tolist())],
        dtype=object,
    )


def local_index(keys: list[np.ndarray]) -> np.ndarray:
    """Rank of each row within its group of identical keys, in the order given (stable)."""
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(tuple(reversed(keys)))
    sorted_keys = [k[order] for k in keys]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = np.zeros(n - 1, dtype=bool)
    for k in sorted_keys:
        new_group[1:] |= k[1:] != k[:-1]
    idx = np.arange(n)
    start = np.maximum.accumulate(np.where(new_group, idx, 0))
    out = np.empty(n, dtype=np.int64)
    out[order] = idx - start
    return out


def t_std(g: np.random.Generator, df: float, size) -> np.ndarray:
    """Student-t draws scaled to unit variance and clipped at +-8 (fat tails, no absurd outliers)."""
    return np.clip(g.standard_t(df, size) * np.sqrt((df - 2.0) / df), -8.0, 8.0)


def ffill_index(mask: np.ndarray) -> np.ndarray:
    """For a (T, N) boolean mask, the last row index <= t where mask is true (-1 when none)."""
    T = mask.shape[0]
    idx = np.where(mask, np.arange(T)[:, None], -1)
    return np.maximum.accumulate(idx, axis=0)


def ar1_filter(x: np.ndarray, phi: float, x0: np.ndarray | None = None) -> np.ndarray:
    """y_t = phi * y_{t-1} + x_t along axis 0 (y_0 = x_0, or x0 * phi + x_0 when given)."""
    y = np.empty_like(x, dtype=float)
    prev = np.zeros(x.shape[1:]) if x0 is None else x0
    for t in range(x.shape[0]):
        prev = phi * prev + x[t]
        y[t] = prev
    return y
