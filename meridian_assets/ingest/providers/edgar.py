"""The `edgar` provider: real SEC EDGAR data through edgartools.

Serves ``fundamentals`` (XBRL of 10-K / 10-Q), ``sec_filings`` (filing metadata; 10-K rows carry Item 1A),
``insider_transactions`` (Form 4) and ``institutional_holdings`` (13-F-HR of the tracked funds). Everything
else raises `ProviderUnsupported`.

Layout: `EdgarClient` (`edgar_client`) is the only code that talks to SEC (through edgartools); the parsing is in the pure
functions of `edgar_parse`, which take documents already in hand. Tests swap the client for one that serves
recorded documents.

* **Identity and rate.** The SEC contact (``SEC_USER_AGENT_EMAIL``) and the one process-wide rate limit
  (``sec.max_requests_per_second``) are the client's (`edgar_client`).
* **Requests per ticker** (a daily run): 1 for the submissions JSON (more pages for history beyond
  SEC's recent-filings window), then 1 per filing fetched (the full-submission .txt: XBRL, primary HTML and
  the ACCEPTANCE-DATETIME in one go). ``fundamentals`` may fetch 1 earlier 10-Q to de-accumulate year-to-date
  cash flows; ``institutional_holdings`` fetches each fund's previous 13-F for the changes.
* **known_at.** From the SGML header's acceptance time when the submission was fetched, else from the
  submissions JSON time read as Eastern wall-clock (the later, look-ahead-safe reading; see
  `edgar_parse.known_at_for`). Windows select rows by known_at.
* **Failures.** A ticker (or fund, or single filing) that fails becomes a `FetchError`; the others are still
  returned. Network failures (no route, DNS, timeouts, HTTP 429) raise `ProviderUnavailable` for the call.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from meridian_assets.calendar import next_session
from meridian_assets.errors import ProviderUnavailable
from meridian_assets.ingest import schemas
from meridian_assets.ingest.providers import edgar_parse as ep
from meridian_assets.ingest.providers.base import FetchError, FetchResult, UnsupportedMixin
from meridian_assets.ingest.providers.edgar_client import (
    EdgarClient,
    FilingRef,
    is_network_error,
    shared_limiter,
    unavailable,
)

log = logging.getLogger(__name__)

# How far before a window's start the filing lists are read (weekends/holidays between acceptance and
# known_at; previous 10-Q and 13-F for changes).
_KNOWN_SLACK = dt.timedelta(days=7)
_PREVIOUS_QUARTER_LOOKBACK = dt.timedelta(days=200)


# --------------------------------------------------------------------------------------------- provider


class EdgarProvider(UnsupportedMixin):
    name = "edgar"

    def __init__(
        self,
        config: Any = None,
        *,
        sec: Any = None,
        client: EdgarClient | Any = None,
        cusip_to_ticker: dict[str, str] | None = None,
        ciks: dict[str, int] | None = None,
        fetch_risk_factors: bool = True,
        cache_dir: Path | None = None,
    ) -> None:
        """``sec`` (or ``config``: a `MeridianConfig` or its `SecConfig`; default the active configuration)
        gives the rate and the tracked funds. ``ciks``: ticker -> CIK (e.g. from the universe table), else
        edgartools' ticker table. ``cusip_to_ticker`` is preferred over edgartools' bundled CUSIP table for
        13-F rows. ``cache_dir``: edgartools' HTTP cache (default ``$MERIDIAN_HOME/<paths.edgar_cache>``).
        Nothing is read from the environment and nothing touches the network until the first fetch."""
        from meridian_assets.config import MeridianConfig, get_config, meridian_home
        from meridian_assets.ingest.settings import SecConfig

        root = config if isinstance(config, MeridianConfig) else None
        if sec is None:
            sec = config if isinstance(config, SecConfig) else (root or get_config()).sec
        self.sec: SecConfig = sec
        self.cusip_to_ticker = dict(cusip_to_ticker or {})
        self.ciks = {k.upper(): int(v) for k, v in (ciks or {}).items()}
        self.fetch_risk_factors = fetch_risk_factors
        if client is None:
            if cache_dir is None:
                cache_dir = meridian_home() / (root or get_config()).paths.edgar_cache
            client = EdgarClient(shared_limiter(self.sec.max_requests_per_second), cache_dir=cache_dir)
        self.client = client

    # ---- plumbing
    def _cik(self, ticker: str) -> int:
        return self.ciks.get(ticker.upper()) or self.client.cik_for(ticker)

    def _collect(
        self, keys: Sequence[Any], fetch: Callable[[Any], tuple[pl.DataFrame, list[FetchError]]],
        table: schemas.TableSchema, label: Callable[[Any], tuple[str | None, str]],
    ) -> FetchResult:
        self.client.ensure_ready()
        frames, errors = [], []
        for key in keys:
            ticker, what = label(key)
            try:
                frame, errs = fetch(key)
            except ProviderUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 -- a failed ticker is reported, the rest go on
                if is_network_error(exc):
                    raise unavailable(exc) from exc
                log.warning("edgar %s %s failed: %s", table.name, what, exc)
                errors.append(FetchError(ticker, f"edgar {table.name} {what}: {type(exc).__name__}: {exc}"))
                continue
            errors.extend(errs)
            if frame.height:
                frames.append(table.conform(frame))
        frame = pl.concat(frames, how="vertical") if frames else table.empty()
        if table.key and frame.height:
            frame = frame.unique(subset=list(table.key), keep="last", maintain_order=True)
        return FetchResult(frame=frame, errors=errors)

    def _each_filing(self, ticker: str, refs: Sequence[FilingRef], parse: Callable[[FilingRef], pl.DataFrame]):
        """Parse each filing; one that fails becomes a FetchError naming it (network errors propagate)."""
        frames, errors = [], []
        for ref in refs:
            try:
                frames.append(parse(ref))
            except Exception as exc:  # noqa: BLE001
                if is_network_error(exc):
                    raise
                errors.append(FetchError(ticker, f"edgar {ref.form} {ref.accession_no}: {type(exc).__name__}: {exc}"))
        frames = [f for f in frames if f.height]
        return (pl.concat(frames, how="vertical") if frames else pl.DataFrame()), errors

    @staticmethod
    def _candidates(refs: Sequence[FilingRef], start: dt.date, end: dt.date) -> list[FilingRef]:
        # The JSON time is never earlier than the true one, so true known_at <= rough known_at; a filing whose
        # rough known_at is one session past ``end`` may still belong. The exact filter runs after parsing.
        return [r for r in refs if start <= r.rough_known_at <= next_session(end) and r.filing_date <= end]

    def _accepted(self, ref: FilingRef, sgml: Any = None) -> dt.date:
        """known_at from the submission header's acceptance time (fetched already), else the JSON time."""
        sgml = sgml if sgml is not None else self.client.submission(ref)
        header_time = getattr(getattr(sgml, "header", None), "acceptance_datetime", None)
        return ep.known_at_for(header_time or ref.accepted_at, ref.filing_date)

    @staticmethod
    def _in_window(frame: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
        return frame.filter(pl.col("known_at").is_between(start, end)) if frame.height else frame

    # ---- fundamentals
    def fundamentals(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        return self._collect(tickers, lambda t: self._fundamentals_for(t, start, end), schemas.FUNDAMENTALS_RAW,
                             lambda t: (t, t))

    def _fundamentals_for(self, ticker: str, start: dt.date, end: dt.date):
        refs = self.client.filings(self._cik(ticker), ("10-K", "10-Q"), start - _PREVIOUS_QUARTER_LOOKBACK, end)
        values: dict[str, ep.XbrlValues] = {}

        def values_of(ref: FilingRef) -> ep.XbrlValues:
            if ref.accession_no not in values:
                xbrl = self.client.xbrl(ref)
                if xbrl is None:
                    raise ValueError("filing has no XBRL financial data")
                values[ref.accession_no] = ep.xbrl_values(xbrl)
            return values[ref.accession_no]

        def parse(ref: FilingRef) -> pl.DataFrame:
            current = values_of(ref)
            missing = [i for i in ("operating_cash_flow", "capex") if current.items.get(i) is None]
            if current.period_type == "quarterly" and missing and current.ytd_start is not None:
                earlier = [r for r in refs if r.form == "10-Q" and r.filing_date < ref.filing_date]
                if earlier:  # the previous 10-Q: same fiscal year if its YTD starts on the same day
                    try:
                        current = ep.quarterize(current, values_of(earlier[-1]))
                    except Exception as exc:  # noqa: BLE001 -- the row stands without de-accumulated flows
                        if is_network_error(exc):
                            raise
            known = self._accepted(ref)
            return ep.values_frame(current, ticker, accession_no=ref.accession_no, known_at=known, form=ref.form)

        frame, errors = self._each_filing(ticker, self._candidates(refs, start, end), parse)
        return self._in_window(frame, start, end), errors

    # ---- filings
    def sec_filings(self, tickers: Sequence[str], start: dt.date, end: dt.date, forms: Sequence[str] | None = None) -> FetchResult:
        forms = tuple(forms or self.sec.forms)
        return self._collect(tickers, lambda t: self._filings_for(t, start, end, forms), schemas.SEC_FILINGS,
                             lambda t: (t, t))

    def _filings_for(self, ticker: str, start: dt.date, end: dt.date, forms: tuple[str, ...]):
        cik = self._cik(ticker)
        refs = self._candidates(self.client.filings(cik, forms, start - _KNOWN_SLACK, end), start, end)

        def parse(ref: FilingRef) -> pl.DataFrame:
            risk, known = None, ref.rough_known_at
            if ref.form == "10-K" and self.fetch_risk_factors:
                sgml = self.client.submission(ref)
                known = self._accepted(ref, sgml)
                risk = ep.extract_item_1a(sgml.html() or "") or None
            row = {
                "ticker": ticker, "cik": cik, "form": ref.form, "accession_no": ref.accession_no,
                "filed_at": ref.filing_date, "period_of_report": ref.report_date, "items": ref.items or None,
                "url": ref.url, "risk_factors": risk, "known_at": known,
            }
            return schemas.SEC_FILINGS.conform(pl.DataFrame([row], schema=schemas.SEC_FILINGS.columns))

        frame, errors = self._each_filing(ticker, refs, parse)
        return self._in_window(frame, start, end), errors

    # ---- Form 4
    def insider_transactions(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        return self._collect(tickers, lambda t: self._insiders_for(t, start, end), schemas.INSIDER_TRANSACTIONS,
                             lambda t: (t, t))

    def _insiders_for(self, ticker: str, start: dt.date, end: dt.date):
        refs = self._candidates(self.client.filings(self._cik(ticker), ("4",), start - _KNOWN_SLACK, end), start, end)
        frame, errors = self._each_filing(
            ticker, refs, lambda ref: ep.parse_form4_submission(self.client.submission(ref), ticker=ticker)
        )
        return self._in_window(frame, start, end), errors

    # ---- 13-F
    def institutional_holdings(
        self, funds: Sequence[tuple[str, int]] | None, tickers: Sequence[str] | None, start: dt.date, end: dt.date
    ) -> FetchResult:
        funds = list(funds) if funds else [(f.name, f.cik) for f in self.sec.tracked_funds]
        return self._collect(
            funds, lambda f: self._holdings_for(f[0], int(f[1]), tickers, start, end), schemas.INSTITUTIONAL_HOLDINGS,
            lambda f: (None, f"{f[0]} (CIK {f[1]})"),
        )

    def _holdings_for(self, fund_name: str, fund_cik: int, tickers: Sequence[str] | None, start: dt.date, end: dt.date):
        refs = self.client.filings(fund_cik, ("13F-HR",), start - _PREVIOUS_QUARTER_LOOKBACK, end)
        parsed: dict[str, pl.DataFrame] = {}

        def holdings(ref: FilingRef) -> pl.DataFrame:
            if ref.accession_no not in parsed:
                frame = ep.parse_13f_submission(
                    self.client.submission(ref), fund_name, fund_cik, cusip_to_ticker=self.cusip_to_ticker
                )
                parsed[ref.accession_no] = ep.restrict_holdings(frame, tickers)
            return parsed[ref.accession_no]

        def parse(ref: FilingRef) -> pl.DataFrame:
            current = holdings(ref)
            earlier = [r for r in refs if r.filing_date < ref.filing_date and r.report_date != ref.report_date]
            prior = None
            if earlier:
                try:
                    prior = holdings(earlier[-1])
                except Exception as exc:  # noqa: BLE001 -- without the prior filing, changes stay unknown
                    if is_network_error(exc):
                        raise
            return ep.add_position_changes(current, prior)

        frame, errors = self._each_filing(f"{fund_name}", self._candidates(refs, start, end), parse)
        errors = [FetchError(None, e.message, e.date) for e in errors]
        return self._in_window(frame, start, end), errors
