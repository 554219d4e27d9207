"""The ingest domain's configuration blocks: which provider serves each kind of data, the embedded synthetic
market, the `files` folder layout, SEC EDGAR access and the thresholds of the warning-severity data checks.

Base layer: imports pydantic and `config_base` only. `config.py` assembles these into `MeridianConfig`
under the keys ``providers``, ``synthetic``, ``files``, ``sec`` and ``quality``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from meridian_assets.config_base import Block


class ProvidersConfig(Block):
    """Which provider serves each kind of data: synthetic (embedded market), files, alpaca, edgar."""

    # Source of the index membership and sectors (the `universe` table).
    universe: Literal["synthetic", "files"] = "synthetic"
    # Source of daily OHLCV bars (`daily_prices`, benchmark and ETF bars).
    prices: Literal["synthetic", "files", "alpaca"] = "synthetic"
    # Source of quarterly statements (income, balance sheet, cash flow).
    fundamentals: Literal["synthetic", "files", "edgar"] = "synthetic"
    # Source of filings: Form 4 insider trades, 13F holdings, 10-K/10-Q/8-K text.
    filings: Literal["synthetic", "files", "edgar"] = "synthetic"
    # Source of analyst estimate snapshots (for the revisions factor).
    estimates: Literal["synthetic", "files"] = "synthetic"
    # Source of earnings-call transcripts (read by the earnings analyst).
    transcripts: Literal["synthetic", "files"] = "synthetic"
    # Source of the macro series (rates, credit spread; see `macro_series`).
    macro: Literal["synthetic", "files"] = "synthetic"
    # What a real provider does when its key is missing or its service unreachable: fail the load, or serve
    # the synthetic market's rows instead (with a warning).
    on_unavailable: Literal["fail", "fallback_synthetic"] = "fail"


class SyntheticConfig(Block):
    """The embedded deterministic market (see `meridian_assets/ingest/synthetic`)."""

    # Random seed of the market: the same seed gives the same prices, filings and text, byte for byte.
    seed: int = Field(20240601, ge=0)
    # Number of companies in the index (one more joins it later, to exercise membership changes).
    n_tickers: int = Field(500, ge=22, le=2000)
    # The market is simulated from this date on; values on a day never depend on the requested range.
    epoch: dt.date = dt.date(2018, 1, 2)


class FilesConfig(Block):
    """The `files` provider: a folder of CSV/Parquet in the documented schema (see README)."""

    # The folder holding the files; a relative path is relative to the project root.
    root: str = "../shared/realdata"
    # Daily bars of the index members, relative to `root` (Parquet or CSV).
    prices: str = "prices/sp500_daily_2014_2024.parquet"
    # Daily bars of the benchmark ETFs and indices (SPY, the sector ETFs, ^VIX), relative to `root`.
    benchmarks: str = "prices/etf_index_daily.parquet"
    # Current members with sector and industry, relative to `root`.
    constituents: str = "constituents/constituents.csv"
    # Folder of dated membership snapshots and changes (point-in-time membership), relative to `root`.
    constituents_history: str = "constituents/history"


class TrackedFund(Block):
    """A 13F filer whose holdings feed the institutional factor."""

    name: str  # the fund's name as shown in reports
    cik: int = Field(gt=0)  # the SEC Central Index Key of the filer


class SecConfig(Block):
    """SEC EDGAR access. Identity comes from the SEC_USER_AGENT_EMAIL environment variable."""

    # Request rate, requests per second across the process (SEC's fair-access limit is 10).
    max_requests_per_second: float = Field(8.0, gt=0, le=10)
    # Form types loaded by `meridian data` when `--forms` is not given.
    forms: tuple[str, ...] = ("10-K", "10-Q", "8-K", "4")
    # Calendar days of Form 4 / of 10-K, 10-Q, 8-K filings to look back. Not read by the loaders today: each
    # load covers its partition's window plus `history.warmup_days`; kept so existing files still validate.
    form4_lookback_days: int = Field(90, ge=1, le=3660)
    filings_lookback_days: int = Field(400, ge=1, le=3660)
    # The 13F filers whose holdings are loaded (the institutional factor counts their positions).
    tracked_funds: tuple[TrackedFund, ...] = (
        TrackedFund(name="Berkshire Hathaway", cik=1067983),
        TrackedFund(name="Bridgewater Associates", cik=1350694),
        TrackedFund(name="Renaissance Technologies", cik=1037389),
        TrackedFund(name="Citadel Advisors", cik=1423053),
        TrackedFund(name="Two Sigma Investments", cik=1179392),
        TrackedFund(name="D. E. Shaw & Co.", cik=1009207),
        TrackedFund(name="Millennium Management", cik=1273087),
        TrackedFund(name="AQR Capital Management", cik=1167557),
        TrackedFund(name="Pershing Square Capital Management", cik=1336528),
    )


class QualityConfig(Block):
    """Thresholds of the warning-severity data checks (the blocking ones have no knobs)."""

    # Largest plausible one-day move, as a fraction: |close / previous close - 1| above it is flagged.
    max_abs_daily_move: float = Field(0.5, gt=0, le=10)
    # Sessions in a row a member may lack a bar before the gap is flagged.
    max_gap_sessions: int = Field(5, ge=0, le=252)
