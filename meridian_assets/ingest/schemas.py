"""The Layer-1 tables: their columns, keys and the column each is partitioned on.

This is the single contract between the providers (which return polars frames in these shapes) and the
DuckDB tables the ingestion assets write. Providers must return exactly these columns (extra columns are
dropped, missing nullable ones are filled with nulls by `conform`).

**Point in time.** Every row that became known at a moment carries `known_at`, a DATE: the first trading
session whose end-of-day computation may use the row (a filing accepted after 16:00 ET is known the next
session). Later layers join history *as of* `known_at`, never on the period it describes, so nothing looks
ahead. For the daily-partitioned tables the partition column is the date the row became known, so a
partition holds exactly what was learned that session and a backfill of a range loads what was learned in it.
"""

from __future__ import annotations

import polars as pl

# The table type and its column-type shorthands are base (meridian_assets/tables.py).
from meridian_assets.tables import Bool, Date, Float, Int, Str, TableSchema  # noqa: F401

# Stock (balance-sheet) items that cannot be negative; the data-quality rules check them.
NON_NEGATIVE_BALANCE_ITEMS: tuple[str, ...] = (
    "shares_outstanding",
    "total_assets",
    "current_assets",
    "cash",
    "receivables",
    "inventory",
    "total_liabilities",
    "current_liabilities",
    "long_term_debt",
    "short_term_debt",
)

# Line items of fundamentals_raw: enough for the 24 ratios, the Piotroski F-score and the Altman Z-score.
FUNDAMENTAL_ITEMS: tuple[str, ...] = (
    "revenue",
    "cost_of_revenue",
    "gross_profit",
    "operating_income",
    "ebit",
    "ebitda",
    "depreciation",
    "interest_expense",
    "income_tax",
    "net_income",
    "eps_diluted",
    *NON_NEGATIVE_BALANCE_ITEMS,
    "retained_earnings",
    "total_equity",
    "operating_cash_flow",
    "capex",
    "free_cash_flow",
    "dividends_paid",
    "share_repurchases",
)

# The 24 derived ratios of fundamental_ratios (formulas in meridian_assets/ingest/ratios.py).
RATIO_COLUMNS: tuple[str, ...] = (
    "roe",
    "roa",
    "roic",
    "gross_margin",
    "operating_margin",
    "net_margin",
    "ebitda_margin",
    "fcf_margin",
    "revenue_growth_yoy",
    "eps_growth_yoy",
    "net_income_growth_yoy",
    "fcf_growth_yoy",
    "debt_to_equity",
    "debt_to_assets",
    "current_ratio",
    "quick_ratio",
    "interest_coverage",
    "asset_turnover",
    "inventory_turnover",
    "receivables_turnover",
    "accruals_ratio",
    "cfo_to_net_income",
    "fcf_yield",
    "earnings_yield",
)

UNIVERSE = TableSchema(
    name="universe",
    columns={
        "ticker": Str,
        "name": Str,
        "sector": Str,  # GICS sector on the row's dates (point in time, see sector_as_of)
        "sub_industry": Str,
        "cik": Int,
        "is_benchmark": Bool,
        "asset_type": Str,  # stock | etf | index
        "start_date": Date,  # first session the name is in the index (or listed, for benchmarks)
        "end_date": Date,  # last session in the index; null while it is a member
        "successor": Str,  # new ticker after a ticker change; null otherwise
        # The company across ticker changes: <first ticker>:<first date>; a reused ticker is a new security.
        "security_id": Str,
        "sector_as_of": Date,  # the dated constituent list the sector comes from; null: today's list
    },
    key=("ticker", "start_date"),
    partition_column=None,
    description="S&P 500 membership intervals (point in time) plus benchmark tickers (is_benchmark).",
    not_null=("ticker", "sector", "is_benchmark", "asset_type", "start_date"),
)

DAILY_PRICES = TableSchema(
    name="daily_prices",
    columns={
        "date": Date,
        "ticker": Str,
        "open": Float,
        "high": Float,
        "low": Float,
        "close": Float,  # as traded that day (split-adjusted only where the source is)
        "adj_close": Float,  # total-return series: ratios give split- and dividend-adjusted returns
        "volume": Float,
        "security_id": Str,  # universe.security_id: the company, whatever ticker it traded under that day
    },
    key=("date", "ticker"),
    partition_column="date",
    description="Daily OHLCV bars with an adjusted close, one row per (date, ticker), under each date's ticker.",
    not_null=("date", "ticker"),
)

CORPORATE_ACTIONS = TableSchema(
    name="corporate_actions",
    columns={
        "date": Date,  # effective (ex) date
        "ticker": Str,
        "action": Str,  # split | ticker_change | delisting | dividend
        "ratio": Float,  # split: new shares per old share; dividend: cash per share
        "new_ticker": Str,  # ticker_change only
        "known_at": Date,
    },
    key=("date", "ticker", "action"),
    partition_column="date",
    description="Splits, ticker changes, delistings and cash dividends by effective date.",
    not_null=("date", "ticker", "action", "known_at"),
)

FUNDAMENTALS_RAW = TableSchema(
    name="fundamentals_raw",
    columns={
        "ticker": Str,
        "period_end": Date,
        "fiscal_year": Int,
        "fiscal_period": Str,  # Q1 | Q2 | Q3 | Q4 | FY
        "period_type": Str,  # quarterly | annual
        "form": Str,  # 10-Q | 10-K
        "accession_no": Str,
        "known_at": Date,  # the session the filing became public
        **{item: Float for item in FUNDAMENTAL_ITEMS},
    },
    key=("ticker", "period_end", "period_type"),
    partition_column="known_at",
    description="Quarterly and annual income, balance-sheet and cash-flow line items, by filing date.",
    not_null=("ticker", "period_end", "period_type", "known_at"),
)

FUNDAMENTAL_RATIOS = TableSchema(
    name="fundamental_ratios",
    columns={
        "ticker": Str,
        "period_end": Date,
        "period_type": Str,
        "known_at": Date,
        **{r: Float for r in RATIO_COLUMNS},
    },
    key=("ticker", "period_end", "period_type"),
    partition_column="known_at",
    description="24 ratios per reported period (profitability, growth, leverage, liquidity, efficiency, cash).",
    not_null=("ticker", "period_end", "period_type", "known_at"),
)

SEC_FILINGS = TableSchema(
    name="sec_filings",
    columns={
        "ticker": Str,
        "cik": Int,
        "form": Str,  # 10-K | 10-Q | 8-K | 4
        "accession_no": Str,
        "filed_at": Date,
        "period_of_report": Date,
        "items": Str,  # 8-K item numbers, comma separated
        "url": Str,
        "risk_factors": Str,  # 10-K Item 1A text when available
        "known_at": Date,
    },
    key=("accession_no",),
    partition_column="known_at",
    description="Metadata of 10-K, 10-Q, 8-K and Form 4 filings; 10-K rows carry the Item 1A risk-factor text.",
    not_null=("ticker", "form", "accession_no", "filed_at", "known_at"),
)

INSIDER_TRANSACTIONS = TableSchema(
    name="insider_transactions",
    columns={
        "ticker": Str,
        "accession_no": Str,
        "line": Int,  # position of the transaction within the filing
        "insider_name": Str,
        "insider_cik": Int,
        "insider_title": Str,
        "is_director": Bool,
        "is_officer": Bool,
        "transaction_date": Date,
        "code": Str,  # P open-market buy | S sale | A grant | M exercise | F tax withholding
        "acquired_disposed": Str,  # A | D
        "shares": Float,
        "price": Float,
        "value": Float,
        "shares_owned_after": Float,
        "is_ceo_cfo_buy": Bool,
        "known_at": Date,
    },
    key=("accession_no", "line"),
    partition_column="known_at",
    description="Form 4 non-derivative transactions; is_ceo_cfo_buy marks open-market buys by a CEO or CFO.",
    not_null=("ticker", "accession_no", "line", "insider_name", "transaction_date", "code", "known_at"),
)

INSIDER_CLUSTER_FLAGS = TableSchema(
    name="insider_cluster_flags",
    columns={
        "ticker": Str,
        "known_at": Date,  # the session the cluster became visible (the filing that completed it)
        "window_start": Date,
        "window_end": Date,
        "n_insiders": Int,
        "n_transactions": Int,
        "total_value": Float,
        "includes_ceo_cfo": Bool,
    },
    key=("ticker", "known_at"),
    partition_column="known_at",
    description="Open-market buying by 3+ distinct insiders within 30 days, as known on each session.",
    not_null=("ticker", "known_at", "n_insiders"),
)

INSTITUTIONAL_HOLDINGS = TableSchema(
    name="institutional_holdings",
    columns={
        "fund_name": Str,
        "fund_cik": Int,
        "ticker": Str,
        "cusip": Str,
        "report_period": Date,  # quarter end the 13-F describes
        "shares": Float,
        "value_usd": Float,
        "prior_shares": Float,  # previous quarter's holding by the same fund (0 when new)
        "change_shares": Float,
        "is_new_position": Bool,
        "accession_no": Str,
        "known_at": Date,
    },
    key=("fund_cik", "ticker", "report_period"),
    partition_column="known_at",
    description="13-F holdings of the tracked funds in S&P 500 names, with the change since the prior quarter.",
    not_null=("fund_cik", "ticker", "report_period", "shares", "known_at"),
)

INSTITUTIONAL_SUMMARY = TableSchema(
    name="institutional_summary",
    columns={
        "ticker": Str,
        "report_period": Date,
        "known_at": Date,  # the session the last tracked fund's 13-F for the period counted here was filed
        "fund_count": Int,
        "total_shares": Float,
        "net_share_change": Float,
        "new_positions": Int,
        "exited_positions": Int,
        "new_position_cluster": Bool,
    },
    key=("ticker", "report_period", "known_at"),
    partition_column="known_at",
    description="Per ticker and quarter: tracked-fund count, net share change and the new-position cluster flag.",
    not_null=("ticker", "report_period", "known_at", "fund_count"),
)

SHORT_INTEREST = TableSchema(
    name="short_interest",
    columns={
        "date": Date,  # snapshot session (= known_at)
        "ticker": Str,
        "settlement_date": Date,  # the settlement date the published figure refers to
        "shares_short": Float,
        "short_ratio": Float,  # days to cover
        "short_pct_float": Float,
    },
    key=("date", "ticker"),
    partition_column="date",
    description="Daily snapshots of the latest published short interest (shares short, days to cover, % of float).",
    not_null=("date", "ticker"),
)

ANALYST_ESTIMATES = TableSchema(
    name="analyst_estimates",
    columns={
        "date": Date,  # snapshot session (= known_at)
        "ticker": Str,
        "fwd_eps": Float,  # consensus EPS, next fiscal year
        "fwd_eps_next_q": Float,
        "price_target": Float,
        "n_analysts": Int,
        "rating_mean": Float,  # 1 strong buy .. 5 strong sell
    },
    key=("date", "ticker"),
    partition_column="date",
    description="Daily snapshots of consensus forward EPS, price target and rating.",
    not_null=("date", "ticker"),
)

EARNINGS_CALENDAR = TableSchema(
    name="earnings_calendar",
    columns={
        "ticker": Str,
        "earnings_date": Date,
        "session": Str,  # BMO | AMC
        "fiscal_period": Str,
        "eps_estimate": Float,
        "known_at": Date,  # when the date was announced
    },
    key=("ticker", "earnings_date"),
    partition_column="known_at",
    description="Scheduled earnings dates with the session they were announced; filter on known_at for 'upcoming'.",
    not_null=("ticker", "earnings_date", "known_at"),
)

EARNINGS_TRANSCRIPTS = TableSchema(
    name="earnings_transcripts",
    columns={
        "ticker": Str,
        "event_date": Date,
        "fiscal_period": Str,
        "transcript_id": Str,
        "text": Str,
        "n_chars": Int,
        "known_at": Date,
    },
    key=("transcript_id",),
    partition_column="known_at",
    description="Earnings-call transcripts (prepared remarks and Q&A).",
    not_null=("ticker", "event_date", "transcript_id", "text", "known_at"),
)

MACRO_SERIES = TableSchema(
    name="macro_series",
    columns={
        "date": Date,  # the observation date
        "series_id": Str,  # FRED ids: DGS3MO DGS2 DGS10 T10Y2Y BAMLH0A0HYM2 FEDFUNDS
        "value": Float,
        "known_at": Date,  # FRED publishes the next session
    },
    key=("series_id", "date"),
    partition_column="known_at",
    description="Macro series: Treasury yields, the 10y-2y curve, the HY credit spread (OAS) and fed funds.",
    not_null=("date", "series_id", "value", "known_at"),
)

INGEST_ERRORS = TableSchema(
    name="ingest_errors",
    columns={
        "run_id": Str,
        "table_name": Str,
        "ticker": Str,
        "date": Date,
        "message": Str,
    },
    key=(),
    partition_column=None,
    description="Per-ticker failures caught during ingestion, one row each, by run.",
)

RUN_LOG = TableSchema(
    name="run_log",
    columns={
        "run_id": Str,
        "finished_at": pl.Datetime("us"),
        "start_date": Date,
        "end_date": Date,
        "tickers_updated": Int,
        "price_bars_added": Int,
        "filings_cached": Int,
        "insider_txns_parsed": Int,
        "errors": Int,
    },
    key=("run_id",),
    partition_column=None,
    description="One row per ingestion run with its summary counts.",
)

INDEX_COVERAGE = TableSchema(
    name="index_coverage",
    columns={
        "date": Date,
        "members": Int,  # stocks in the index that session (point-in-time membership)
        "members_with_prices": Int,  # of them, those with a bar that session (followed across ticker changes)
        "members_without_prices": Int,  # members the price source has no bar for (e.g. later removed from the index)
    },
    key=("date",),
    partition_column="date",
    description="Survivorship, per session: the index members and how many of them have prices. A price source "
                "that holds today's members only (as many free ones do) shows here as members without prices.",
)

TABLES: dict[str, TableSchema] = {
    t.name: t
    for t in (
        UNIVERSE,
        DAILY_PRICES,
        INDEX_COVERAGE,
        CORPORATE_ACTIONS,
        FUNDAMENTALS_RAW,
        FUNDAMENTAL_RATIOS,
        SEC_FILINGS,
        INSIDER_TRANSACTIONS,
        INSIDER_CLUSTER_FLAGS,
        INSTITUTIONAL_HOLDINGS,
        INSTITUTIONAL_SUMMARY,
        SHORT_INTEREST,
        ANALYST_ESTIMATES,
        EARNINGS_CALENDAR,
        EARNINGS_TRANSCRIPTS,
        MACRO_SERIES,
        INGEST_ERRORS,
        RUN_LOG,
    )
}
