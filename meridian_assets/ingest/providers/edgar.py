"""The `edgar` provider: real SEC EDGAR data through edgartools.

Serves ``fundamentals`` (XBRL of 10-K / 10-Q), ``sec_filings`` (filing metadata; 10-K rows carry Item 1A),
``insider_transactions`` (Form 4) and ``institutional_holdings`` (13-F-HR of the tracked funds). Everything
else raises `ProviderUnsupported`.

Layout: `EdgarClient` is the only code that talks to SEC (through edgartools); the parsing is in the pure
functions of `edgar_parse`, which take documents already in hand. Tests swap the client for one that serves
recorded documents.

* **Identity.** SEC requires a contact in the User-Agent: ``SEC_USER_AGENT_EMAIL`` is read at first use
  (not at import) and passed to ``edgar.set_identity``; without it `ProviderUnavailable` says what to set.
* **Rate.** One process-wide `RateLimiter(sec.max_requests_per_second)` (<= 8/s) replaces the pyrate limiter
  inside edgartools' HTTP transport, so every request that reaches SEC -- ours and edgartools' internal
  ones -- waits on it (answers from edgartools' HTTP cache do not count).
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

import asyncio
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.compute as pc

from meridian_assets.calendar import next_session
from meridian_assets.errors import ProviderUnavailable
from meridian_assets.ingest import schemas
from meridian_assets.ingest.providers import edgar_parse as ep
from meridian_assets.ingest.providers.base import FetchError, FetchResult, UnsupportedMixin
from meridian_assets.ingest.providers.ratelimit import RateLimiter

log = logging.getLogger(__name__)

IDENTITY_ENV = "SEC_USER_AGENT_EMAIL"
SEC_ARCHIVES = "https://www.sec.gov/Archives/edgar/data"
# How far before a window's start the filing lists are read (weekends/holidays between acceptance and
# known_at; previous 10-Q and 13-F for changes).
_KNOWN_SLACK = dt.timedelta(days=7)
_PREVIOUS_QUARTER_LOOKBACK = dt.timedelta(days=200)


# --------------------------------------------------------------------------------------------- rate limit

_shared_lock = threading.Lock()
_shared: RateLimiter | None = None


def shared_limiter(per_second: float) -> RateLimiter:
    """The process-wide SEC limiter (re-created only if a different rate is asked for)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.per_second != float(per_second):
            _shared = RateLimiter(per_second)
        return _shared


class _PyrateAdapter:
    """Looks like the pyrate-limiter `Limiter` httpxthrottlecache's transports call; waits on ours."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def try_acquire(self, name: str = "", weight: int = 1) -> bool:
        for _ in range(max(1, int(weight))):
            self.limiter.wait()
        return True

    async def try_acquire_async(self, name: str = "", weight: int = 1) -> bool:
        await asyncio.to_thread(self.try_acquire, name, weight)
        return True


def install_rate_limiter(limiter: RateLimiter, cache_dir: Path | None = None) -> None:
    """Route every edgartools HTTP request through ``limiter`` (and its HTTP cache to ``cache_dir``)."""
    from edgar import httpclient

    mgr = httpclient.HTTP_MGR
    current = getattr(mgr.rate_limiter, "limiter", None)
    same_cache = cache_dir is None or Path(str(mgr.cache_dir or "")) == cache_dir
    if current is limiter and same_cache:
        return
    mgr.rate_limiter = _PyrateAdapter(limiter)
    mgr.rate_limiter_enabled = True
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        mgr.cache_dir = cache_dir
    mgr.close()  # the next client is built with the new transport chain


# --------------------------------------------------------------------------------------------- client


@dataclass(frozen=True)
class FilingRef:
    """One filing from a company's (or fund's) filing list, before anything is downloaded."""

    cik: int
    form: str
    accession_no: str
    filing_date: dt.date
    report_date: dt.date | None = None
    accepted_at: dt.datetime | None = None  # submissions JSON (see module docstring)
    items: str | None = None
    primary_document: str | None = None
    handle: Any = field(default=None, compare=False, repr=False)  # the edgartools Filing

    @property
    def url(self) -> str:
        base = f"{SEC_ARCHIVES}/{self.cik}/{self.accession_no.replace('-', '')}"
        return f"{base}/{self.primary_document}" if self.primary_document else f"{base}/{self.accession_no}-index.html"

    @property
    def rough_known_at(self) -> dt.date:
        return ep.known_at_for(self.accepted_at, self.filing_date)


class EdgarClient:
    """Fetches from SEC through edgartools. Nothing else in the provider does network I/O."""

    def __init__(
        self, limiter: RateLimiter, *, cache_dir: Path | None = None, submission_cache: int = 8, company_ttl: float = 900.0
    ) -> None:
        self.limiter = limiter
        self.cache_dir = cache_dir
        self._ready = False
        self._lock = threading.Lock()
        self._sgml: OrderedDict[str, Any] = OrderedDict()
        self._sgml_max = submission_cache
        self._companies: OrderedDict[int, tuple[float, Any]] = OrderedDict()
        self.company_ttl = company_ttl

    def ensure_ready(self) -> None:
        with self._lock:
            if self._ready:
                return
            email = os.environ.get(IDENTITY_ENV, "").strip()
            if not email:
                raise ProviderUnavailable(
                    f"SEC EDGAR needs a contact email: set {IDENTITY_ENV} (e.g. export "
                    f"{IDENTITY_ENV}=you@example.com); SEC refuses requests without a User-Agent naming a contact"
                )
            import edgar

            edgar.set_identity(f"Meridian research {email}")
            install_rate_limiter(self.limiter, self.cache_dir)
            self._ready = True

    def cik_for(self, ticker: str) -> int:
        from edgar.reference.tickers import find_cik  # bundled table first, SEC's list as a fallback

        for spelling in dict.fromkeys((ticker, ticker.replace(".", "-"), ticker.replace(".", ""))):
            cik = find_cik(spelling)
            if cik:
                return int(cik)
        raise LookupError(f"no SEC CIK known for ticker {ticker!r}")

    def company(self, cik: int) -> Any:
        """`edgar.Company` (its submissions JSON: 1 request), reused for ``company_ttl`` seconds."""
        from edgar import Company

        now = time.monotonic()
        with self._lock:
            hit = self._companies.get(int(cik))
            if hit is not None and now - hit[0] < self.company_ttl:
                self._companies.move_to_end(int(cik))
                return hit[1]
        company = Company(int(cik))
        with self._lock:
            self._companies[int(cik)] = (now, company)
            while len(self._companies) > 1000:
                self._companies.popitem(last=False)
        return company

    def filings(self, cik: int, forms: Sequence[str], start: dt.date, end: dt.date) -> list[FilingRef]:
        """The entity's original (non-amended) filings of ``forms`` filed in [start, end], oldest first."""
        company = self.company(cik)
        query = dict(form=list(forms), filing_date=f"{start:%Y-%m-%d}:{end:%Y-%m-%d}", amendments=False)
        found = company.get_filings(trigger_full_load=False, **query)
        try:  # SEC's JSON holds the recent ~1,000 filings; older pages cost a request each, so only if needed
            oldest = ep.to_date(pc.min(company.data.filings.data["filing_date"]).as_py())
        except Exception:  # noqa: BLE001
            oldest = None
        if oldest is None or start < oldest:
            found = company.get_filings(trigger_full_load=True, **query)
        refs = []
        for i in range(len(found) if found is not None else 0):
            f = found.get_filing_at(i)
            accepted = getattr(f, "acceptance_datetime", None)
            if isinstance(accepted, str):
                accepted = ep.parse_datetime(accepted) if accepted.strip() else None
            elif isinstance(accepted, dt.datetime) and accepted.tzinfo is not None:
                accepted = accepted.replace(tzinfo=None)  # wall-clock kept: see known_at_for
            refs.append(
                FilingRef(
                    cik=int(f.cik),
                    form=str(f.form),
                    accession_no=str(f.accession_no),
                    filing_date=ep.to_date(f.filing_date),
                    report_date=ep.to_date(getattr(f, "report_date", None)),
                    accepted_at=accepted,
                    items=(getattr(f, "items", None) or None),
                    primary_document=getattr(f, "primary_document", None),
                    handle=f,
                )
            )
        return sorted(refs, key=lambda r: (r.filing_date, r.accession_no))

    def submission(self, ref: FilingRef) -> Any:
        """The full submission (`edgar.sgml.FilingSGML`): one request, kept in a small LRU."""
        if ref.accession_no in self._sgml:
            self._sgml.move_to_end(ref.accession_no)
            return self._sgml[ref.accession_no]
        sgml = ref.handle.sgml()
        self._sgml[ref.accession_no] = sgml
        while len(self._sgml) > self._sgml_max:
            self._sgml.popitem(last=False)
        return sgml

    def xbrl(self, ref: FilingRef) -> Any:
        """The filing's XBRL (`edgar.xbrl.XBRL`), or None when it has none."""
        from edgar.xbrl import XBRL

        sgml = self.submission(ref)
        if hasattr(ref.handle, "_sgml"):
            ref.handle._sgml = sgml
        return XBRL.from_filing(ref.handle)


# --------------------------------------------------------------------------------------------- errors


def _is_network_error(exc: BaseException) -> bool:
    import httpx

    try:
        from edgar.exceptions import TransportError as EdgarTransportError
    except ImportError:  # pragma: no cover
        EdgarTransportError = ()  # type: ignore[assignment]
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (httpx.TransportError, EdgarTransportError, ConnectionError, socket.gaierror, TimeoutError)):
            return True
        e = e.__cause__ or e.__context__
    return False


def _unavailable(exc: BaseException) -> ProviderUnavailable:
    text = str(exc) or type(exc).__name__
    if "429" in text or "TooManyRequests" in type(exc).__name__:
        why = "SEC EDGAR is throttling this client (HTTP 429); lower sec.max_requests_per_second or retry later"
    else:
        why = "SEC EDGAR (www.sec.gov) is unreachable from here -- check the network / proxy, or choose the synthetic or files provider"
    return ProviderUnavailable(f"{why} ({type(exc).__name__}: {text[:200]})")


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
                if _is_network_error(exc):
                    raise _unavailable(exc) from exc
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
                if _is_network_error(exc):
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
                        if _is_network_error(exc):
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
                    if _is_network_error(exc):
                        raise
            return ep.add_position_changes(current, prior)

        frame, errors = self._each_filing(f"{fund_name}", self._candidates(refs, start, end), parse)
        errors = [FetchError(None, e.message, e.date) for e in errors]
        return self._in_window(frame, start, end), errors
