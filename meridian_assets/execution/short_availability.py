"""Short availability: the broker's shortable / easy-to-borrow flags, cached per ticker for
``execution.short_check_cache_days`` (7) days in the `short_availability` table.

A short trade (opening or increasing a short) goes ahead only when both flags are true; otherwise it is
skipped and recorded. A cached row older than the cache window is fetched again before use, and evicted
when the table is written. Closing trades never need the check.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from meridian_assets.execution.broker import AssetInfo
from meridian_assets.execution.schemas import SHORT_AVAILABILITY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Availability:
    ticker: str
    shortable: bool
    easy_to_borrow: bool
    fetched_at: dt.datetime
    cached: bool

    @property
    def ok(self) -> bool:
        return self.shortable and self.easy_to_borrow

    def reason(self) -> str:
        missing = [n for n, v in (("shortable", self.shortable), ("easy to borrow", self.easy_to_borrow)) if not v]
        src = "cached" if self.cached else "fetched"
        return f"{self.ticker} not {' / '.join(missing)} ({src} {self.fetched_at:%Y-%m-%d %H:%M}Z)"


def _naive_utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


class ShortAvailabilityCache:
    """Cached rows (the table's contents) + a fetch function (the broker's `asset`)."""

    def __init__(self, cached: pl.DataFrame, fetch: Callable[[str], AssetInfo], *, now: dt.datetime,
                 max_age_days: int, broker: str) -> None:
        self.now = _naive_utc(now)
        self.max_age = dt.timedelta(days=max_age_days)
        self.fetch, self.broker = fetch, broker
        self._rows: dict[str, dict] = {}
        for r in SHORT_AVAILABILITY.conform(cached).iter_rows(named=True) if cached.height else []:
            self._rows[r["ticker"]] = r
        self.fetched: list[str] = []

    def fresh(self, ticker: str) -> dict | None:
        r = self._rows.get(ticker)
        if r is None or r["fetched_at"] is None or self.now - r["fetched_at"] > self.max_age:
            return None
        return r

    def check(self, ticker: str) -> Availability:
        """The ticker's flags: from the cache when fresh, else from the broker (and cached)."""
        r = self.fresh(ticker)
        if r is not None:
            return Availability(ticker, bool(r["shortable"]), bool(r["easy_to_borrow"]), r["fetched_at"], True)
        info = self.fetch(ticker)
        self._rows[ticker] = {"ticker": ticker, "shortable": bool(info.shortable),
                              "easy_to_borrow": bool(info.easy_to_borrow), "fetched_at": self.now, "broker": self.broker}
        self.fetched.append(ticker)
        log.info("short availability %s: shortable=%s easy_to_borrow=%s", ticker, info.shortable, info.easy_to_borrow)
        return Availability(ticker, bool(info.shortable), bool(info.easy_to_borrow), self.now, False)

    def peek(self, ticker: str) -> Availability | None:
        """The cached flags if fresh, without asking the broker (dry runs)."""
        r = self.fresh(ticker)
        return None if r is None else Availability(ticker, bool(r["shortable"]), bool(r["easy_to_borrow"]),
                                                   r["fetched_at"], True)

    def frame(self) -> pl.DataFrame:
        """The table to write: fresh rows only (stale ones are evicted)."""
        rows = [r for t in sorted(self._rows) if (r := self.fresh(t)) is not None]
        return SHORT_AVAILABILITY.conform(pl.DataFrame(rows, schema=SHORT_AVAILABILITY.columns)) if rows \
            else SHORT_AVAILABILITY.empty()
