"""The embedded deterministic market (the default provider): every kind of Layer-1 data, no network.

See `meridian_assets.ingest.synthetic` for the model. Windows are by *known* date (each table's partition
column); a value on a date depends only on (seed, n_tickers, epoch), never on the window asked for.
``tickers=None`` means every name; unknown tickers are reported in ``FetchResult.errors``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from meridian_assets.ingest.providers.base import FetchError, FetchResult
from meridian_assets.ingest.schemas import (
    CORPORATE_ACTIONS, DAILY_PRICES, EARNINGS_CALENDAR, EARNINGS_TRANSCRIPTS, FUNDAMENTALS_RAW, INSIDER_TRANSACTIONS,
    INSTITUTIONAL_HOLDINGS, MACRO_SERIES, SEC_FILINGS, TableSchema,
)
from meridian_assets.ingest.synthetic.common import all_sessions
from meridian_assets.ingest.synthetic.daily import estimates_frame, price_frame, short_interest_frame
from meridian_assets.ingest.synthetic.universe import BENCHMARK_TICKERS, BENCHMARKS, build_static, universe_frame
from meridian_assets.ingest.synthetic.world import World, get_world

DEFAULT_SEED, DEFAULT_N, DEFAULT_EPOCH = 20240601, 500, dt.date(2018, 1, 2)


def _default_funds() -> tuple[tuple[str, int], ...]:
    from meridian_assets.ingest.settings import SecConfig

    return tuple((f.name, int(f.cik)) for f in SecConfig().tracked_funds)


class SyntheticProvider:
    """Deterministic synthetic S&P 500: ``SyntheticProvider(seed, n_tickers, epoch, funds=None)``."""

    name = "synthetic"

    def __init__(self, seed: int = DEFAULT_SEED, n_tickers: int = DEFAULT_N, epoch: dt.date = DEFAULT_EPOCH,
                 funds: Sequence[tuple[str, int]] | None = None):
        if n_tickers < 22:
            raise ValueError(f"synthetic.n_tickers must be >= 22 (two names per sector), got {n_tickers}")
        self.seed, self.n_tickers, self.epoch = int(seed), int(n_tickers), epoch
        self.funds = tuple((str(n), int(c)) for n, c in funds) if funds else _default_funds()
        self._static = build_static(self.seed, self.n_tickers, epoch)
        s = all_sessions()
        self.epoch_session: dt.date = s[np.searchsorted(s, np.datetime64(epoch, "D"))].item()
        self._last_year = s[-1].item().year

    # ------------------------------------------------------------------ plumbing
    def world(self, end: dt.date) -> World | None:
        """The cached world serving windows that end on ``end`` (None before the epoch)."""
        if end < self.epoch_session:
            return None
        return get_world(self.seed, self.n_tickers, self.epoch, min(end.year, self._last_year))

    def _split(self, tickers: Sequence[str] | None) -> tuple[np.ndarray, list[str], list[FetchError]]:
        st = self._static
        if tickers is None:
            return np.arange(st.N), [b[0] for b in BENCHMARKS], []
        known = set(st.ticker.tolist()) | {st.tc_new_ticker}
        errors = [FetchError(t, f"unknown ticker {t!r} in the synthetic market") for t in tickers
                  if t not in known and t not in BENCHMARK_TICKERS]
        return st.companies_for(tickers), [t for t in tickers if t in BENCHMARK_TICKERS], errors

    @staticmethod
    def _window(frame: pl.DataFrame, schema: TableSchema, start: dt.date, end: dt.date,
                tickers: Sequence[str] | None, ticker_cols=("ticker",)) -> pl.DataFrame:
        col = schema.partition_column
        out = frame.filter(pl.col(col).is_between(start, end))
        if tickers is not None:
            wanted = list(tickers)
            cond = pl.lit(False)
            for c in ticker_cols:
                cond = cond | pl.col(c).is_in(wanted)
            out = out.filter(cond)
        return schema.conform(out)

    def _table(self, attr: str, schema: TableSchema, tickers, start, end, **kw) -> FetchResult:
        _, _, errors = self._split(tickers)
        w = self.world(end)
        if w is None:
            return FetchResult(schema.empty(), errors)
        frame = getattr(w, attr)
        frame = frame["frame"] if isinstance(frame, dict) else frame
        return FetchResult(self._window(frame, schema, start, end, tickers, **kw), errors)

    # ------------------------------------------------------------------ the Provider protocol
    def universe(self, as_of: dt.date) -> pl.DataFrame:
        return universe_frame(self._static, as_of, self.epoch_session)

    def daily_prices(self, tickers: Sequence[str] | None, start: dt.date, end: dt.date) -> FetchResult:
        comps, bench, errors = self._split(tickers)
        w = self.world(end)
        if w is None:
            return FetchResult(DAILY_PRICES.empty(), errors)
        lo, hi = w.t_range(start, end)
        return FetchResult(self._names(price_frame(w, comps, bench, lo, hi), tickers), errors)

    def corporate_actions(self, tickers, start, end) -> FetchResult:
        return self._table("corporate_actions", CORPORATE_ACTIONS, tickers, start, end, ticker_cols=("ticker", "new_ticker"))

    def fundamentals(self, tickers, start, end) -> FetchResult:
        return self._table("fundamentals", FUNDAMENTALS_RAW, tickers, start, end)

    def sec_filings(self, tickers, start, end, forms: Sequence[str] = ("10-K", "10-Q", "8-K", "4")) -> FetchResult:
        from meridian_assets.ingest.synthetic.filings import with_risk_factors

        res = self._table("filings", SEC_FILINGS, tickers, start, end)
        frame = res.frame.filter(pl.col("form").is_in(list(forms)))
        w = self.world(end)
        if w is not None and frame.height:
            frame = with_risk_factors(w, frame)
        return FetchResult(frame, res.errors)

    def insider_transactions(self, tickers, start, end) -> FetchResult:
        return self._table("insiders", INSIDER_TRANSACTIONS, tickers, start, end)

    def institutional_holdings(self, funds: Sequence[tuple[str, int]] | None, tickers, start, end) -> FetchResult:
        _, _, errors = self._split(tickers)
        w = self.world(end)
        if w is None:
            return FetchResult(INSTITUTIONAL_HOLDINGS.empty(), errors)
        key = tuple((str(n), int(c)) for n, c in funds) if funds else self.funds
        return FetchResult(self._window(w.holdings(key), INSTITUTIONAL_HOLDINGS, start, end, tickers), errors)

    def short_interest(self, tickers, start, end) -> FetchResult:
        return self._daily(short_interest_frame, tickers, start, end)

    def analyst_estimates(self, tickers, start, end) -> FetchResult:
        return self._daily(estimates_frame, tickers, start, end)

    def earnings_calendar(self, tickers, start, end) -> FetchResult:
        return self._table("calendar", EARNINGS_CALENDAR, tickers, start, end)

    def earnings_transcripts(self, tickers, start, end) -> FetchResult:
        from meridian_assets.ingest.synthetic.filings import render_transcripts

        _, _, errors = self._split(tickers)
        w = self.world(end)
        if w is None:
            return FetchResult(EARNINGS_TRANSCRIPTS.empty(), errors)
        idx = w.transcripts.filter(pl.col("known_at").is_between(start, end))
        if tickers is not None:
            idx = idx.filter(pl.col("ticker").is_in(list(tickers)))
        if idx.height == 0:
            return FetchResult(EARNINGS_TRANSCRIPTS.empty(), errors)
        return FetchResult(EARNINGS_TRANSCRIPTS.conform(render_transcripts(w, idx)).sort(["known_at", "ticker"]), errors)

    def macro_series(self, series: Sequence[str] | None, start, end) -> FetchResult:
        w = self.world(end)
        if w is None:
            return FetchResult(MACRO_SERIES.empty())
        out = w.macro.filter(pl.col("known_at").is_between(start, end))
        if series is not None:
            unknown = [s for s in series if s not in set(w.macro["series_id"].unique().to_list())]
            out = out.filter(pl.col("series_id").is_in(list(series)))
            return FetchResult(MACRO_SERIES.conform(out), [FetchError(None, f"unknown macro series {s!r}") for s in unknown])
        return FetchResult(MACRO_SERIES.conform(out))

    # ------------------------------------------------------------------ helpers
    def _daily(self, fn, tickers, start, end) -> FetchResult:
        comps, _, errors = self._split(tickers)
        w = self.world(end)
        schema_frame = fn(w, comps, *w.t_range(start, end)) if w is not None else None
        if schema_frame is None:
            from meridian_assets.ingest.schemas import ANALYST_ESTIMATES, SHORT_INTEREST

            empty = (SHORT_INTEREST if fn is short_interest_frame else ANALYST_ESTIMATES).empty()
            return FetchResult(empty, errors)
        return FetchResult(self._names(schema_frame, tickers), errors)

    @staticmethod
    def _names(frame: pl.DataFrame, tickers) -> pl.DataFrame:
        """Keep only rows whose ticker (as of the row's date) was asked for."""
        return frame if tickers is None else frame.filter(pl.col("ticker").is_in(list(tickers)))
