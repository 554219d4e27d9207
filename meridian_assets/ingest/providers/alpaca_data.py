"""The `alpaca` provider: daily bars from Alpaca's market-data API through alpaca-py.

- **Keys** come only from the environment, ``ALPACA_API_KEY`` and ``ALPACA_SECRET_KEY``, read at the first
  request (never at import or construction); missing -> `ProviderUnavailable` naming both. The keys are
  never logged nor put in an error message (messages are scrubbed of them as well).
- **Endpoint**: Alpaca's data URL, or ``ALPACA_DATA_URL`` (passed to the client's ``url_override``; the
  client appends ``/v2/stocks/bars``). Tests point it at a loopback stub.
- **Feed**: ``iex`` by default (free plans), or ``feed=`` / ``ALPACA_DATA_FEED`` (``sip``, ``delayed_sip``).
- **Adjustment**: each batch is fetched twice. ``open/high/low/close/volume`` come from
  ``adjustment=split``: the price as traded, restated only for splits, which is what the `files` provider's
  close is (a raw close would show a -75% "return" on a 4:1 split day). ``adj_close`` is the close of
  ``adjustment=all`` (splits and dividends), the total-return series.
- **Batches** of ``batch_size`` symbols (default 100) per request; alpaca-py follows ``next_page_token``.
  Tickers use Meridian's convention (``BRK.B``), which is Alpaca's too. Index symbols (``^VIX``) are not
  on Alpaca: they come back as per-ticker errors without a request.
- **Errors**: a ticker with no bars in the window -> a `FetchError`; a symbol Alpaca refuses (HTTP 400/404/
  422) is isolated by re-requesting its batch one symbol at a time -> a `FetchError` for it; bad keys
  (401/403), rate limiting that outlasts the retries (429), server errors (5xx), an unreachable host or a
  malformed response -> `ProviderUnavailable` with a one-line message.
- **Retries**: alpaca-py (0.44) retries a request itself on HTTP 429 and 504: 3 retries, 3 s apart
  (``RESTClient._retry``, ``_retry_wait``, ``_retry_codes``; `StockHistoricalDataClient` has no arguments
  for them). ``retry_attempts`` / ``retry_wait_seconds`` here override those attributes. A request also
  gets a ``timeout_seconds`` timeout (alpaca-py sets none).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from meridian_assets.errors import ProviderUnavailable
from meridian_assets.ingest.providers.base import FetchError, FetchResult, UnsupportedMixin
from meridian_assets.ingest.providers.constituent_lists import normalize_ticker
from meridian_assets.ingest.schemas import DAILY_PRICES

log = logging.getLogger(__name__)

__all__ = ["AlpacaDataProvider", "to_alpaca_symbol"]

KEY_ENV = "ALPACA_API_KEY"
SECRET_ENV = "ALPACA_SECRET_KEY"
URL_ENV = "ALPACA_DATA_URL"
FEED_ENV = "ALPACA_DATA_FEED"
NEW_YORK = ZoneInfo("America/New_York")


def to_alpaca_symbol(ticker: str) -> str | None:
    """Alpaca's symbol for a Meridian ticker (the same: ``BRK.B``); None for an index (``^VIX``)."""
    t = normalize_ticker(ticker)
    return None if t.startswith("^") or not t else t


class _SymbolRefused(Exception):
    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class AlpacaDataProvider(UnsupportedMixin):
    """Daily bars from Alpaca (`daily_prices` only; every other kind raises `ProviderUnsupported`)."""

    name = "alpaca"

    def __init__(
        self,
        *,
        feed: str | None = None,
        batch_size: int = 100,
        url: str | None = None,
        retry_attempts: int | None = None,
        retry_wait_seconds: float | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.feed = (feed or os.environ.get(FEED_ENV) or "iex").lower()
        self.batch_size = max(1, int(batch_size))
        self._url = url
        self.retry_attempts = retry_attempts
        self.retry_wait_seconds = retry_wait_seconds
        self.timeout_seconds = timeout_seconds
        self._client_obj: Any = None
        self._secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never shows the keys
        return f"AlpacaDataProvider(feed={self.feed!r}, url={self.url!r})"

    @property
    def url(self) -> str:
        return self._url or os.environ.get(URL_ENV) or "https://data.alpaca.markets"

    # ------------------------------------------------------------------ client
    def _redact(self, text: str) -> str:
        for s in self._secrets:
            if s:
                text = text.replace(s, "***")
        return text

    def _client(self) -> Any:
        if self._client_obj is not None:
            return self._client_obj
        key, secret = os.environ.get(KEY_ENV, "").strip(), os.environ.get(SECRET_ENV, "").strip()
        if not key or not secret:
            missing = [n for n, v in ((KEY_ENV, key), (SECRET_ENV, secret)) if not v]
            raise ProviderUnavailable(
                f"the 'alpaca' provider needs {KEY_ENV} and {SECRET_ENV} in the environment "
                f"(missing: {', '.join(missing)}); set both (see .env.example) or choose another prices provider"
            )
        self._secrets = (key, secret)
        try:
            from alpaca.data.historical import StockHistoricalDataClient
        except ImportError as err:  # pragma: no cover - alpaca-py is a dependency
            raise ProviderUnavailable(f"the 'alpaca' provider needs the alpaca-py package ({err})") from None
        override = self._url or os.environ.get(URL_ENV) or None
        client = StockHistoricalDataClient(api_key=key, secret_key=secret, url_override=override)
        # alpaca-py's retry settings are attributes of its RESTClient (no constructor arguments here)
        if self.retry_attempts is not None and hasattr(client, "_retry"):
            client._retry = int(self.retry_attempts)
        if self.retry_wait_seconds is not None and hasattr(client, "_retry_wait"):
            client._retry_wait = self.retry_wait_seconds
        session = getattr(client, "_session", None)
        if session is not None and self.timeout_seconds:
            request = session.request
            timeout = self.timeout_seconds

            def request_with_timeout(method, url, **kwargs):
                kwargs.setdefault("timeout", timeout)
                return request(method, url, **kwargs)

            session.request = request_with_timeout
        self._client_obj = client
        return client

    @property
    def retry_settings(self) -> dict[str, Any]:
        """The retry behaviour of the alpaca-py client in use (attempts, wait, HTTP codes)."""
        c = self._client()
        return {"retries": getattr(c, "_retry", None), "wait_seconds": getattr(c, "_retry_wait", None),
                "codes": list(getattr(c, "_retry_codes", []) or [])}

    # ------------------------------------------------------------------ requests
    def _get_bars(self, symbols: list[str], start: dt.date, end: dt.date, adjustment: str) -> dict[str, list]:
        """One (paginated) bars request; raises `ProviderUnavailable` or `_SymbolRefused`."""
        import requests
        from alpaca.common.exceptions import APIError
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame

        ny = NEW_YORK
        req = StockBarsRequest(
            symbol_or_symbols=symbols,
            timeframe=TimeFrame.Day,
            start=dt.datetime.combine(start, dt.time(0, 0), tzinfo=ny),
            end=dt.datetime.combine(end, dt.time(23, 59, 59), tzinfo=ny),
            adjustment=adjustment,
            feed=self.feed,
        )
        client = self._client()
        try:
            barset = client.get_stock_bars(req)
            return dict(barset.data)
        except APIError as err:
            status = err.status_code
            detail = self._redact(str(err).strip().replace("\n", " "))[:300]
            if status in (400, 404, 422):
                raise _SymbolRefused(status, detail) from None
            if status in (401, 403):
                msg = (
                    f"Alpaca market data refused the request (HTTP {status}: {detail}); check {KEY_ENV} / "
                    f"{SECRET_ENV} and that the plan allows feed '{self.feed}'"
                )
            elif status == 429:
                msg = "Alpaca market data is rate limiting (HTTP 429) after alpaca-py's retries; try again later"
            else:
                msg = f"Alpaca market data answered HTTP {status} ({detail}) at {self.url}"
            raise ProviderUnavailable(msg) from None
        except requests.RequestException as err:
            kind = type(err).__name__
            raise ProviderUnavailable(
                f"cannot reach Alpaca market data at {self.url} ({kind}); check the network or {URL_ENV}"
            ) from None
        except Exception as err:  # a response alpaca-py could not parse
            raise ProviderUnavailable(
                f"unexpected response from Alpaca market data at {self.url} ({type(err).__name__}: "
                f"{self._redact(str(err))[:200]})"
            ) from None

    def _fetch_batch(
        self, symbols: list[str], start: dt.date, end: dt.date, errors: list[FetchError]
    ) -> list[dict]:
        """Rows of one batch; a batch Alpaca refuses is retried one symbol at a time."""
        try:
            split = self._get_bars(symbols, start, end, "split")
            total = self._get_bars(symbols, start, end, "all")
        except _SymbolRefused as refused:
            if len(symbols) == 1:
                msg = f"Alpaca refused {symbols[0]} (HTTP {refused.status}: {refused.detail})"
                errors.append(FetchError(symbols[0], msg))
                return []
            log.info("alpaca: batch of %d refused (HTTP %s); one symbol at a time", len(symbols), refused.status)
            rows: list[dict] = []
            for s in symbols:
                rows += self._fetch_batch([s], start, end, errors)
            return rows
        ny = NEW_YORK
        adj = {
            (sym, b.timestamp.astimezone(ny).date()): b.close
            for sym, bars in total.items()
            for b in bars
            if b is not None
        }
        rows = []
        for sym, bars in split.items():
            for b in bars:
                if b is None:
                    continue
                day = b.timestamp.astimezone(ny).date()
                rows.append(
                    {
                        "date": day,
                        "ticker": sym,
                        "open": b.open,
                        "high": b.high,
                        "low": b.low,
                        "close": b.close,
                        "adj_close": adj.get((sym, day)),
                        "volume": float(b.volume) if b.volume is not None else None,
                    }
                )
        return rows

    def daily_prices(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        wanted = list(dict.fromkeys(normalize_ticker(t) for t in tickers if t and str(t).strip()))
        errors: list[FetchError] = []
        symbol_of: dict[str, str] = {}
        for t in wanted:
            s = to_alpaca_symbol(t)
            if s is None:
                errors.append(FetchError(t, f"{t} is an index; Alpaca serves no index data (use the files provider)"))
            else:
                symbol_of[s] = t
        if not symbol_of or start > end:
            return FetchResult(DAILY_PRICES.empty(), errors)
        symbols = list(symbol_of)
        rows: list[dict] = []
        for i in range(0, len(symbols), self.batch_size):
            rows += self._fetch_batch(symbols[i : i + self.batch_size], start, end, errors)
        frame = (
            DAILY_PRICES.conform(pl.DataFrame(rows, schema=DAILY_PRICES.columns, strict=False))
            if rows
            else DAILY_PRICES.empty()
        )
        frame = (
            frame.with_columns(pl.col("ticker").replace(symbol_of))
            .filter(pl.col("date").is_between(start, end))
            .unique(subset=["date", "ticker"], keep="first", maintain_order=True)
            .sort("ticker", "date")
        )
        got = set(frame["ticker"].unique().to_list())
        refused = {e.ticker for e in errors}
        for s, t in symbol_of.items():
            if t not in got and t not in refused:
                msg = f"no bars from Alpaca (feed {self.feed}) for {t} between {start} and {end}"
                errors.append(FetchError(t, msg))
        log.info(
            "alpaca: %d bars for %d of %d tickers %s..%s (%d errors)",
            frame.height, len(got), len(wanted), start, end, len(errors),
        )
        return FetchResult(frame, errors)

