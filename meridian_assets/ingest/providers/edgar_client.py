"""The only code that talks to SEC EDGAR (through edgartools): `EdgarClient` lists a company's filings and
fetches a submission or its XBRL; one process-wide rate limiter paces every request; network failures become
`ProviderUnavailable` with what to do. The `edgar` provider (`edgar.py`) turns what it fetches into rows.

* **Identity.** SEC requires a contact in the User-Agent: ``SEC_USER_AGENT_EMAIL`` is read at first use
  (not at import) and passed to ``edgar.set_identity``; without it `ProviderUnavailable` says what to set.
* **Rate.** One process-wide `RateLimiter(sec.max_requests_per_second)` (<= 8/s) replaces the pyrate limiter
  inside edgartools' HTTP transport, so every request that reaches SEC -- ours and edgartools' internal
  ones -- waits on it (answers from edgartools' HTTP cache do not count).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from meridian_assets.errors import ProviderUnavailable
from meridian_assets.ingest.providers import edgar_parse as ep
from meridian_assets.ingest.providers.ratelimit import RateLimiter

IDENTITY_ENV = "SEC_USER_AGENT_EMAIL"
SEC_ARCHIVES = "https://www.sec.gov/Archives/edgar/data"


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


def is_network_error(exc: BaseException) -> bool:
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


def unavailable(exc: BaseException) -> ProviderUnavailable:
    text = str(exc) or type(exc).__name__
    if "429" in text or "TooManyRequests" in type(exc).__name__:
        why = "SEC EDGAR is throttling this client (HTTP 429); lower sec.max_requests_per_second or retry later"
    else:
        why = "SEC EDGAR (www.sec.gov) is unreachable from here -- check the network / proxy, or choose the synthetic or files provider"
    return ProviderUnavailable(f"{why} ({type(exc).__name__}: {text[:200]})")
