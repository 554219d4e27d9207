"""The bars the simulated venue fills against: the session *after* the signal (the embedded market's next
bar), so an order priced off today's close meets tomorrow's open, range and volume.

A `BarSource` answers "the bar orders in this ticker trade against" (None: no market, the order rests).
`FrameBars` serves a daily_prices-like frame; `next_session_bars` builds one from the configured prices
provider for the session after ``as_of`` (the synthetic market knows it; for the `files`/`alpaca`
providers the caller passes the latest loaded bars instead, see `assets.py`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from meridian_assets.config import MeridianConfig


@dataclass(frozen=True)
class Bar:
    date: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def valid(self) -> bool:
        vals = (self.open, self.high, self.low, self.close)
        return all(math.isfinite(v) and v > 0 for v in vals) and self.high >= self.low and self.volume >= 0


class BarSource(Protocol):
    def bar(self, ticker: str) -> Bar | None: ...


class FrameBars:
    """Bars from a frame with date, ticker, open, high, low, close, volume: the latest row per ticker."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self._bars: dict[str, Bar] = {}
        if frame.height:
            latest = frame.sort("date").group_by("ticker", maintain_order=True).last()
            for r in latest.iter_rows(named=True):
                b = Bar(r["date"], float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]),
                        float(r["volume"] or 0.0))
                if b.valid:
                    self._bars[r["ticker"]] = b

    def bar(self, ticker: str) -> Bar | None:
        return self._bars.get(ticker)

    def __len__(self) -> int:
        return len(self._bars)


class StaticBars:
    """Every ticker trades against the same synthetic bar around ``price`` (tests and benchmarks)."""

    def __init__(self, prices: dict[str, float], *, range_pct: float = 0.02, volume: float = 5e6,
                 day: dt.date = dt.date(2024, 1, 2)) -> None:
        self._bars = {t: Bar(day, p, p * (1 + range_pct / 2), p * (1 - range_pct / 2), p, volume)
                      for t, p in prices.items()}

    def bar(self, ticker: str) -> Bar | None:
        return self._bars.get(ticker)


def next_session_bars(cfg: MeridianConfig, as_of: dt.date, tickers: Sequence[str]) -> FrameBars | None:
    """The embedded market's bars of the session after ``as_of``; None unless prices are synthetic."""
    if cfg.providers.prices != "synthetic" or not tickers:
        return None
    from meridian_assets import calendar  # exchange_calendars is slow to import; only this path needs it
    from meridian_assets.ingest.providers import provider_for

    day = calendar.next_session(as_of)
    result = provider_for("prices", cfg).daily_prices(list(tickers), day, day)
    return FrameBars(result.frame) if result.frame.height else None
