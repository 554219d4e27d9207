"""The provider interface: one method per kind of Layer-1 data.

A provider returns polars frames in the shapes of `meridian_assets.ingest.schemas`. Windows are *known*
dates: ``start``/``end`` (inclusive) select rows by the session they became known (the table's partition
column), so a daily run asks for what was learned that session and a backfill asks for a range.

Per-ticker failures are not exceptions: they are returned in ``FetchResult.errors`` so the run completes
and reports them. A provider that cannot serve a kind at all raises `ProviderUnsupported`; one that cannot
reach its service or lacks its key raises `ProviderUnavailable` with a message that says what to set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import polars as pl

from meridian_assets.errors import ProviderUnsupported


@dataclass(frozen=True)
class FetchError:
    ticker: str | None
    message: str
    date: dt.date | None = None


@dataclass
class FetchResult:
    frame: pl.DataFrame
    errors: list[FetchError] = field(default_factory=list)


@runtime_checkable
class Provider(Protocol):
    """Every method may raise `ProviderUnsupported` when the provider has no such data."""

    name: str

    def universe(self, as_of: dt.date) -> pl.DataFrame:
        """Membership intervals known as of ``as_of`` (schemas.UNIVERSE), benchmarks included."""
        ...

    def daily_prices(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...

    def corporate_actions(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...

    def fundamentals(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...

    def sec_filings(
        self, tickers: Sequence[str], start: dt.date, end: dt.date, forms: Sequence[str]
    ) -> FetchResult: ...

    def insider_transactions(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...

    def institutional_holdings(
        self, funds: Sequence[tuple[str, int]], tickers: Sequence[str], start: dt.date, end: dt.date
    ) -> FetchResult: ...

    def short_interest(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...

    def analyst_estimates(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...

    def earnings_calendar(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...

    def earnings_transcripts(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...

    def macro_series(self, series: Sequence[str], start: dt.date, end: dt.date) -> FetchResult: ...


class UnsupportedMixin:
    """Default implementations that say plainly the provider has no such data."""

    name = "provider"

    def _unsupported(self, kind: str):
        raise ProviderUnsupported(f"the '{self.name}' provider does not serve {kind}; choose another in meridian.yaml providers")

    def universe(self, as_of):
        self._unsupported("the universe")

    def daily_prices(self, tickers, start, end):
        self._unsupported("daily prices")

    def corporate_actions(self, tickers, start, end):
        self._unsupported("corporate actions")

    def fundamentals(self, tickers, start, end):
        self._unsupported("fundamentals")

    def sec_filings(self, tickers, start, end, forms):
        self._unsupported("SEC filings")

    def insider_transactions(self, tickers, start, end):
        self._unsupported("insider transactions")

    def institutional_holdings(self, funds, tickers, start, end):
        self._unsupported("13-F holdings")

    def short_interest(self, tickers, start, end):
        self._unsupported("short interest")

    def analyst_estimates(self, tickers, start, end):
        self._unsupported("analyst estimates")

    def earnings_calendar(self, tickers, start, end):
        self._unsupported("the earnings calendar")

    def earnings_transcripts(self, tickers, start, end):
        self._unsupported("earnings transcripts")

    def macro_series(self, series, start, end):
        self._unsupported("macro series")
