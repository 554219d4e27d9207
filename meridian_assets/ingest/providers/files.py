"""The `files` provider: a folder of CSV/Parquet in a documented schema (see docs/files_provider.md).

It serves the real data in ``../shared/realdata`` as it is, and any licensed data a user brings in the same
shape:

- ``daily_prices`` from the stock-price file and the benchmark (ETF/index) file of `FilesConfig`; the
  benchmark file has no ``adj_close`` (its close is already adjusted), so ``adj_close = close`` there.
- ``universe(as_of)``: point-in-time S&P 500 membership intervals from the dated snapshots in
  ``constituents/history`` (only snapshots dated on or before ``as_of`` are read), GICS metadata from
  ``constituents/constituents.csv``, plus the configured benchmarks present in the benchmark file. The
  snapshot format is in `constituent_lists`, the interval rules in `constituents`.
- every other Layer-1 table from ``<table_name>.parquet`` or ``<table_name>.csv`` in the root folder, in
  the columns of `schemas.TABLES[table_name]`, filtered on the table's partition column.

**Tickers** follow one convention everywhere (`normalize_ticker`): upper case, share classes separated by
a dot (``BRK.B``, ``BF.B``; ``BRK-B`` and ``BRK/B`` are rewritten), index symbols keep their caret
(``^VIX``). It is the convention of the S&P constituents files and of Alpaca.

Data are passed through as they are (gaps, zero-volume days, large moves): the data-quality checks classify
them. Only rows that cannot be keyed (null date or ticker) and exact duplicate rows are dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import ProviderUnavailable, ProviderUnsupported
from meridian_assets.ingest.providers.base import FetchError, FetchResult, UnsupportedMixin
from meridian_assets.ingest.providers.constituent_lists import Membership, load_membership, load_metadata, normalize_ticker
from meridian_assets.ingest.providers.constituents import (
    Interval,
    assign_securities,
    link_renames,
    membership_intervals,
    price_keys,
    price_labels,
    stock_rows,
    ticker_changes,
)
from meridian_assets.ingest.providers.file_frames import (
    as_date,
    coerce,
    collect,
    helper_columns,
    missing_columns,
    normalize_ticker_expr,
    placed,
    refuse_unparsed,
    scan,
    ticker_in,
    variant_map,
)
from meridian_assets.ingest.identity import relabel, security_ids
from meridian_assets.ingest.schemas import CORPORATE_ACTIONS, DAILY_PRICES, TABLES, UNIVERSE
from meridian_assets.ingest.settings import FilesConfig

log = logging.getLogger(__name__)

__all__ = ["FilesProvider"]

_BENCHMARK_NAMES = {
    "SPY": "SPDR S&P 500 ETF Trust",
    "XLB": "Materials Select Sector SPDR Fund",
    "XLC": "Communication Services Select Sector SPDR Fund",
    "XLE": "Energy Select Sector SPDR Fund",
    "XLF": "Financial Select Sector SPDR Fund",
    "XLI": "Industrial Select Sector SPDR Fund",
    "XLK": "Technology Select Sector SPDR Fund",
    "XLP": "Consumer Staples Select Sector SPDR Fund",
    "XLRE": "Real Estate Select Sector SPDR Fund",
    "XLU": "Utilities Select Sector SPDR Fund",
    "XLV": "Health Care Select Sector SPDR Fund",
    "XLY": "Consumer Discretionary Select Sector SPDR Fund",
    "QQQ": "Invesco QQQ Trust",
    "IWM": "iShares Russell 2000 ETF",
    "TLT": "iShares 20+ Year Treasury Bond ETF",
    "^VIX": "CBOE Volatility Index",
    "^TNX": "CBOE 10-Year Treasury Note Yield",
    "^RUT": "Russell 2000 Index",
    "^DJI": "Dow Jones Industrial Average",
}
# Columns a price file must have: the key, and the prices whose absence the blocking checks would otherwise
# report once per row (adj_close defaults to close, volume may be absent).
PRICE_REQUIRED = ("date", "ticker", "open", "high", "low", "close")
BENCHMARK_SECTOR = "Benchmark"  # sector of benchmarks that track no single GICS sector (SPY, ^VIX, ...)


# --------------------------------------------------------------------------------------------- provider
class FilesProvider(UnsupportedMixin):
    """Serves Layer-1 tables from a folder of CSV/Parquet files (layout: docs/files_provider.md)."""

    name = "files"

    def __init__(
        self,
        root: str | Path | None = None,
        prices: str | None = None,
        benchmarks: str | None = None,
        constituents: str | None = None,
        constituents_history: str | None = None,
        benchmark_tickers: Sequence[str] | None = None,
        sector_etfs: dict[str, str] | None = None,
        bridge_max_days: int = 400,
        drop_max_days: int = 31,
    ) -> None:
        cfg = MeridianConfig()
        defaults = FilesConfig()
        self.root = Path(root) if root is not None else cfg.files_root()
        self.prices_path = self.root / (prices or defaults.prices)
        self.benchmarks_path = self.root / (benchmarks or defaults.benchmarks)
        self.constituents_path = self.root / (constituents or defaults.constituents)
        self.history_path = self.root / (constituents_history or defaults.constituents_history)
        self.benchmark_tickers = tuple(
            normalize_ticker(t) for t in (benchmark_tickers if benchmark_tickers is not None else cfg.benchmarks)
        )
        etfs = sector_etfs if sector_etfs is not None else cfg.scoring.sector_etfs
        self._etf_sector = {normalize_ticker(etf): sector for sector, etf in etfs.items()}
        self.bridge_max_days, self.drop_max_days = bridge_max_days, drop_max_days
        self._membership: Membership | None = None
        self._meta: dict[str, dict] | None = None
        self._identity: tuple[dict[str, str], dict[str, list]] | None = None

    def __repr__(self) -> str:
        return f"FilesProvider(root={str(self.root)!r})"

    # ------------------------------------------------------------------ helpers
    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise ProviderUnavailable(
                f"the 'files' provider's folder {self.root} does not exist; set files.root in meridian.yaml "
                "to a folder laid out as in docs/files_provider.md"
            )

    def _table_file(self, table: str) -> Path | None:
        for ext in (".parquet", ".csv"):
            p = self.root / f"{table}{ext}"
            if p.is_file():
                return p
        return None

    def _missing_table(self, table: str, extra: Iterable[Path] = ()) -> ProviderUnsupported:
        looked = [*map(str, extra), str(self.root / f"{table}.parquet"), str(self.root / f"{table}.csv")]
        return ProviderUnsupported(
            f"the 'files' provider has no {table} data: none of {', '.join(looked)} exists "
            f"(columns: docs/files_provider.md#{table})"
        )

    # ------------------------------------------------------------------ daily prices
    def _price_frame(self, path: Path, tickers: set[str], start: dt.date, end: dt.date) -> pl.DataFrame:
        lf = scan(path)
        cols = lf.collect_schema().names()
        missing_columns(path, cols, PRICE_REQUIRED, "daily_prices")
        lf = coerce(lf.filter(ticker_in(tickers)), DAILY_PRICES)
        if "adj_close" not in cols:  # the benchmark file: its close is already adjusted
            lf = lf.with_columns(pl.col("close").alias("adj_close"))
        lf = placed(lf, pl.col("date").is_between(start, end))
        keep = [c for c in DAILY_PRICES.columns if c in lf.collect_schema().names()] + helper_columns(lf)
        df = refuse_unparsed(collect(lf.select(keep), path), path, "daily_prices")
        spellings = variant_map(tickers)
        if df["ticker"].is_in(list(spellings)).any():
            df = df.with_columns(pl.col("ticker").replace(spellings))
        return DAILY_PRICES.conform(df)

    def _price_identity(self) -> tuple[dict[str, str], dict[str, list]]:
        """(file ticker -> security_id, security_id -> [(from, ticker)]) from every constituent list: a price
        file is keyed by today's tickers, so mapping its bars back needs the whole history (the universe
        itself stays point in time)."""
        if self._identity is None:
            if not self.history_path.is_dir():
                self._identity = ({}, {})
            else:
                hist = self._load_history()
                intervals = self._intervals(hist.snapshots)
                self._identity = (price_keys(intervals), price_labels(intervals))
        return self._identity

    def daily_prices(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        """Bars of ``tickers`` in [start, end] under each date's ticker, with ``security_id``. A ticker asked
        for is resolved to its company: FB's 2021 bars are read from the file's META rows and shown as FB;
        a ticker the file holds for a later company (a reused ticker) lends nothing to the earlier one."""
        self._check_root()
        start, end = as_date(start), as_date(end)
        wanted = list(dict.fromkeys(normalize_ticker(t) for t in tickers if t and str(t).strip()))
        if not wanted:
            return FetchResult(DAILY_PRICES.empty())
        sources = [p for p in (self.prices_path, self.benchmarks_path) if p.is_file()]
        generic = self._table_file("daily_prices")
        if generic is not None and generic not in sources:
            sources.append(generic)
        if not sources:
            raise self._missing_table("daily_prices", extra=(self.prices_path, self.benchmarks_path))
        keys, labels = self._price_identity()
        wanted_set = set(wanted)
        sids = {sid for sid, seq in labels.items() if any(t in wanted_set for _, t in seq)}
        file_keys = {t for t, sid in keys.items() if sid in sids} | {t for t in wanted if t not in keys}
        frames, remaining = [], set(file_keys)
        for path in sources:  # a ticker is served by the first file that has it
            if not remaining:
                break
            df = self._price_frame(path, remaining, start, end)
            if df.height:
                frames.append(df)
                remaining -= set(df["ticker"].unique().to_list())
        frame = pl.concat(frames) if frames else DAILY_PRICES.empty()
        frame = frame.filter(pl.col("date").is_not_null() & pl.col("ticker").is_not_null())
        # exact duplicate rows share their key: look for repeated keys first (cheap), dedupe only then
        if frame.height and frame.select(pl.struct("ticker", "date").is_duplicated().any()).item():
            frame = frame.unique(maintain_order=True)
        frame = relabel(frame, keys, labels).filter(pl.col("ticker").is_in(wanted))
        frame = frame.sort("ticker", "date")
        names = ", ".join(p.name for p in sources)
        served = set(frame["ticker"].unique().to_list())
        errors = [
            FetchError(t, f"no price rows for {t} between {start} and {end} in {names}")
            for t in wanted
            if t not in served
        ]
        return FetchResult(DAILY_PRICES.conform(frame), errors)

    # ------------------------------------------------------------------ universe
    def _load_meta(self) -> dict[str, dict]:
        if self._meta is None:
            self._meta = load_metadata(self.constituents_path)
        return self._meta

    def _load_history(self) -> Membership:
        if self._membership is None:
            self._membership = load_membership(self.history_path)
        return self._membership

    def _intervals(self, snaps: list) -> list[Interval]:
        """Membership intervals of ``snaps`` with successor links, end dates and security ids."""
        intervals = membership_intervals(snaps, self.bridge_max_days, self.drop_max_days)
        link_renames(intervals, self._load_meta(), [s.date for s in snaps])
        assign_securities(intervals)
        return intervals

    def _benchmark_rows(self, as_of: dt.date) -> list[dict]:
        if not self.benchmark_tickers or not self.benchmarks_path.is_file():
            return []
        lf = coerce(scan(self.benchmarks_path).filter(ticker_in(self.benchmark_tickers)), DAILY_PRICES)
        firsts = collect(
            lf.filter(pl.col("date") <= as_of)
            .with_columns(normalize_ticker_expr())
            .group_by("ticker")
            .agg(pl.col("date").min().alias("first")),
            self.benchmarks_path,
        )
        first = dict(zip(firsts["ticker"].to_list(), firsts["first"].to_list(), strict=True))
        rows = []
        for t in self.benchmark_tickers:
            if t not in first:
                continue
            rows.append(
                {
                    "ticker": t,
                    "security_id": t,
                    "name": _BENCHMARK_NAMES.get(t, t),
                    "sector": self._etf_sector.get(t, BENCHMARK_SECTOR),
                    "is_benchmark": True,
                    "asset_type": "index" if t.startswith("^") else "etf",
                    "start_date": first[t],
                }
            )
        return rows

    def _generic_universe(self, as_of: dt.date) -> pl.DataFrame:
        path = self._table_file("universe")
        if path is None:
            raise self._missing_table("universe", extra=(self.history_path,))
        lf = placed(coerce(scan(path), UNIVERSE), pl.col("start_date") <= as_of)
        df = refuse_unparsed(collect(lf, path), path, "universe")
        if "end_date" in df.columns:  # an end after as_of was not known yet
            df = df.with_columns(
                pl.when(pl.col("end_date") > as_of).then(None).otherwise(pl.col("end_date")).alias("end_date")
            )
        if "ticker" in df.columns:
            df = df.with_columns(normalize_ticker_expr())
        return security_ids(UNIVERSE.conform(df))

    def universe(self, as_of: dt.date) -> pl.DataFrame:
        """Membership intervals from the snapshots dated on or before ``as_of``, then the benchmarks."""
        self._check_root()
        as_of = as_date(as_of)
        if not self.history_path.is_dir():
            return self._generic_universe(as_of)
        hist = self._load_history()
        snaps = [s for s in hist.snapshots if s.date <= as_of]
        if not snaps:
            log.warning("files provider: no constituent snapshot on or before %s (first: %s)", as_of, hist.dates[:1])
        rows = stock_rows(self._intervals(snaps), self._load_meta())
        rows += self._benchmark_rows(as_of)
        if not rows:
            return UNIVERSE.empty()
        return UNIVERSE.conform(pl.DataFrame(rows, schema_overrides=UNIVERSE.columns, strict=False))

    # ------------------------------------------------------------------ generic tables
    def read_table(
        self,
        table: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        tickers: Sequence[str] | None = None,
        filters: dict[str, Sequence] | None = None,
    ) -> pl.DataFrame:
        """``<table>.parquet`` or ``<table>.csv`` of the root folder, in `schemas.TABLES[table]`'s columns,
        rows whose partition column is in [start, end] (and ticker / other columns in the given values)."""
        self._check_root()
        schema = TABLES.get(table)
        if schema is None:
            raise ValueError(f"unknown table '{table}'")
        path = self._table_file(table)
        if path is None:
            raise self._missing_table(table)
        lf = coerce(scan(path), schema)
        cols = lf.collect_schema().names()
        missing_columns(path, cols, schema.not_null, table)
        if tickers is not None and "ticker" in cols:
            lf = lf.filter(ticker_in(tickers))
        for col, values in (filters or {}).items():
            if col in cols:
                lf = lf.filter(pl.col(col).is_in(list(values)))
        part = schema.partition_column
        if part is not None and start is not None and end is not None:
            lf = placed(lf, pl.col(part).is_between(as_date(start), as_date(end)))
        df = refuse_unparsed(collect(lf, path), path, table)
        if "ticker" in df.columns:
            df = df.with_columns(normalize_ticker_expr())
        key_cols = [c for c in (*schema.key, *([part] if part else [])) if c in df.columns]
        if key_cols:  # a row that cannot be keyed cannot be stored
            df = df.drop_nulls(list(dict.fromkeys(key_cols)))
        return schema.conform(df).unique(maintain_order=True)

    def _generic(self, table: str, tickers, start, end, **filters) -> FetchResult:
        return FetchResult(self.read_table(table, start, end, tickers=tickers, filters=filters or None))

    def corporate_actions(self, tickers, start, end) -> FetchResult:
        """``corporate_actions.parquet``/``.csv`` when the folder has it, plus the ticker changes the constituent
        history implies (`constituents.ticker_changes`: the renames daily_prices relabels bars by), so a book
        holding FB is carried to META on the day its bars change label. A file row for the same (date, ticker,
        action) wins."""
        start, end = as_date(start), as_date(end)
        wanted = {normalize_ticker(t) for t in tickers} if tickers is not None else None
        labels = self._price_identity()[1]
        renames = pl.DataFrame(ticker_changes(labels, start, end), schema=CORPORATE_ACTIONS.columns)
        if wanted is not None:
            renames = renames.filter(pl.col("ticker").is_in(list(wanted)))
        try:
            given = self._generic("corporate_actions", tickers, start, end).frame
        except ProviderUnsupported:
            if not labels:  # no file and no constituent history: nothing to serve
                raise
            given = CORPORATE_ACTIONS.empty()
        extra = renames.join(given, on=["date", "ticker", "action"], how="anti")
        return FetchResult(CORPORATE_ACTIONS.conform(pl.concat([given, CORPORATE_ACTIONS.conform(extra)])))

    def fundamentals(self, tickers, start, end) -> FetchResult:
        return self._generic("fundamentals_raw", tickers, start, end)

    def sec_filings(self, tickers, start, end, forms) -> FetchResult:
        return self._generic("sec_filings", tickers, start, end, form=list(forms))

    def insider_transactions(self, tickers, start, end) -> FetchResult:
        return self._generic("insider_transactions", tickers, start, end)

    def institutional_holdings(self, funds, tickers, start, end) -> FetchResult:
        return self._generic("institutional_holdings", tickers, start, end, fund_cik=[int(c) for _, c in (funds or [])])

    def short_interest(self, tickers, start, end) -> FetchResult:
        return self._generic("short_interest", tickers, start, end)

    def analyst_estimates(self, tickers, start, end) -> FetchResult:
        return self._generic("analyst_estimates", tickers, start, end)

    def earnings_calendar(self, tickers, start, end) -> FetchResult:
        return self._generic("earnings_calendar", tickers, start, end)

    def earnings_transcripts(self, tickers, start, end) -> FetchResult:
        return self._generic("earnings_transcripts", tickers, start, end)

    def macro_series(self, series, start, end) -> FetchResult:
        return self._generic("macro_series", None, start, end, series_id=list(series))
