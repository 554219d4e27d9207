"""Data-quality rules for the Layer-1 tables, as pure functions that return violations. No Dagster.

Every rule is a vectorised polars predicate (True on a violating row). All violations are *counted*; only the
first ``max_per_rule`` of each rule are materialised as `Violation` objects, so a frame of ~400k rows is
checked in well under a second. A violation reads like a `meridian_assets.errors.DataError`::

    daily_prices 2024-03-05 NVDA close=-1.0 (must be > 0)

(table, date, ticker, field=value, reason). A rule that fails on every row because its field is null in every
row reports one ``missing_column`` violation (``daily_prices open (column missing: null in all 812 rows)``):
a column absent from the source is one problem, not one per row or ticker. Severity: **blocking** rules
describe rows that cannot be true (the asset check should fail); **warning** rules describe rows that are
suspicious but can be real.

``daily_prices`` (`price_violations`)
------------------------------------
=====================  ========  ====================================================================
rule                   severity  violated when
=====================  ========  ====================================================================
not_null               blocking  date or ticker is null
duplicate_key          blocking  more than one row per (date, ticker) (reported once per key)
positive_price         blocking  open/high/low/close/adj_close null, NaN, inf or <= 0 (one rule per field)
negative_volume        blocking  volume < 0 or non-finite (null volume is allowed)
high_below_low         blocking  high < low
open_outside_range     warning   open outside [low, high] (relative tolerance 1e-9; real vendors' bars do this)
close_outside_range    blocking  close outside [low, high] (idem)
not_a_session          blocking  date is not an NYSE session
session_gap            warning   a ticker has no bar for more than ``max_gap_sessions`` consecutive sessions
                                 between its first and last bar in the frame (reported at the first missing
                                 session, field ``sessions_missing``)
zero_volume            warning   volume == 0 on a stock (tickers starting with '^' are indices: exempt)
large_move             warning   |close_t / close_prev - 1| > ``max_abs_daily_move`` (close_prev: the ticker's
                                 previous bar in the frame) and no split on that (date, ticker) explains it
=====================  ========  ====================================================================

A split of ratio ``r`` (new shares per old share, ``corporate_actions``) *explains* a move when the observed
``close_t / close_prev`` is within 15% of ``1 / r``, measured on the larger of the two price levels:
``|close_t/close_prev - 1/r| <= 0.15 * max(1, 1/r)``. For a 2:1 split (1/r = 0.5) any ratio in [0.35, 0.65]
(a 35% to 65% fall) is explained; for a 1:10 reverse split (1/r = 10) any ratio in [8.5, 11.5].

Other tables (`TABLE_RULES`, `violations_for`)
---------------------------------------------
Every table gets ``not_null`` (the schema's ``not_null`` columns) and ``duplicate_key`` (the schema's key),
both blocking, plus ``known_at_session`` (blocking: ``known_at`` must be an NYSE session, by its definition)
where the table has ``known_at``. Then:

* universe: ``asset_type_allowed`` {stock, etf, index}; ``end_before_start`` (end_date < start_date);
  ``cik_positive``; ``sector_missing`` (a stock whose sector is ``Unknown`` or empty: no source gave one,
  and a stock is scored within its sector) -- all blocking.
* corporate_actions: ``action_allowed`` {split, ticker_change, delisting, dividend}; ``split_ratio``
  (a split needs a finite ratio > 0); ``dividend_amount`` (> 0); ``ticker_change_target`` (new_ticker set)
  -- all blocking.
* fundamentals_raw: ``known_before_period_end`` (known_at < period_end); ``period_type_allowed``
  {quarterly, annual}; ``fiscal_period_allowed`` {Q1, Q2, Q3, Q4, FY}; ``non_finite_value`` (any line item
  NaN/inf); ``negative_balance`` (shares_outstanding, total/current assets, cash, receivables, inventory,
  total/current liabilities, long/short-term debt < 0) -- blocking. Warnings: ``negative_revenue`` (possible
  for some financials), ``current_assets_above_total`` and ``form_allowed`` {10-K, 10-Q, 10-K/A, 10-Q/A}.
* fundamental_ratios: ``non_finite_value`` (a ratio is NaN/inf); ``known_before_period_end`` -- blocking.
* sec_filings: ``known_before_filed`` (known_at < filed_at); ``period_after_filing`` (period_of_report >
  filed_at) -- blocking; ``form_allowed`` {10-K, 10-K/A, 10-Q, 10-Q/A, 8-K, 8-K/A, 4, 4/A} -- warning.
* insider_transactions: ``known_before_transaction`` (known_at < transaction_date); ``code_allowed``;
  ``acquired_disposed_allowed`` {A, D}; ``negative_amount`` (shares, price, value, shares_owned_after < 0 or
  non-finite) -- blocking. Warnings: ``value_mismatch`` (|value - shares*price| > 1% of value + $1) and
  ``code_direction`` (a P marked D or an S marked A).
  The allowed codes are the SEC's Form 4 transaction codes (General Instructions 8): general P (open-market
  or private purchase), S (sale), V (voluntarily reported); Rule 16b-3 A (grant/award), D (disposition to the
  issuer), F (tax/exercise-price withholding), I (discretionary); derivative M (exempt exercise/conversion),
  C (conversion), E (expiration of short position), H (expiration of long position with value received),
  O (out-of-the-money exercise), X (in/at-the-money exercise); other G (gift), L (small acquisition),
  W (will/laws of descent), Z (voting trust), J (other), K (equity swap), U (tender in a change of control).
* insider_cluster_flags: ``n_insiders_positive`` (>= 1); ``transactions_below_insiders``
  (n_transactions < n_insiders); ``window_inverted`` (window_start > window_end); ``window_after_known``
  (window_end > known_at: a cluster cannot be seen before its last buy); ``negative_amount`` (total_value)
  -- all blocking.
* institutional_holdings: ``negative_amount`` (shares, value_usd, prior_shares); ``known_before_period``
  (known_at < report_period) -- blocking. Warnings: ``change_mismatch`` (|change_shares - (shares -
  prior_shares)| > 0.5) and ``new_with_prior`` (is_new_position with prior_shares > 0).
* institutional_summary: ``negative_amount`` (fund_count, total_shares, new_positions, exited_positions);
  ``new_above_count`` (new_positions > fund_count); ``known_before_period`` -- all blocking.
* short_interest: ``short_pct_float_range`` (< 0 or non-finite); ``negative_amount`` (shares_short,
  short_ratio); ``settlement_after_date`` (settlement_date > date); ``date_session`` -- blocking.
  ``short_pct_float_above_one`` (> 1) is only a *warning*: short interest above 100% of the float happens
  (GME, January 2021).
* analyst_estimates: ``negative_amount`` (n_analysts); ``rating_range`` (rating_mean outside [1, 5]);
  ``price_target_positive``; ``non_finite_value`` (fwd_eps, fwd_eps_next_q); ``date_session`` -- blocking.
* earnings_calendar: ``session_allowed`` {BMO, AMC} -- blocking.
* earnings_transcripts: ``n_chars_mismatch`` (n_chars != len(text)); ``known_before_event`` -- blocking;
  ``empty_text`` -- warning.
* macro_series: ``non_finite_value`` (value NaN/inf); ``known_before_date`` (known_at < date) -- blocking.
* run_log: ``negative_amount`` on its counters -- blocking. ingest_errors: key/null rules only.
"""

from __future__ import annotations

from meridian_assets.ingest.quality.engine import (
    DEFAULT_MAX_PER_RULE,
    IDENTITY,
    VIOLATIONS_SCHEMA,
    Rule,
    Violation,
    Violations,
    evaluate,
    format_violations,
    key_violations,
    show_value,
    violations_frame,
)
from meridian_assets.ingest.quality.prices import (
    PRICE_FIELDS,
    RANGE_TOLERANCE,
    SPLIT_TOLERANCE,
    price_violations,
)
from meridian_assets.ingest.quality.tables import (
    ASSET_TYPES,
    CORPORATE_ACTION_TYPES,
    EARNINGS_SESSIONS,
    FILING_FORMS,
    FISCAL_PERIODS,
    FUNDAMENTAL_FORMS,
    INSIDER_CODES,
    PERIOD_TYPES,
    TABLE_RULES,
    range_violations,
    violations_for,
)

__all__ = [
    "ASSET_TYPES",
    "CORPORATE_ACTION_TYPES",
    "DEFAULT_MAX_PER_RULE",
    "EARNINGS_SESSIONS",
    "FILING_FORMS",
    "FISCAL_PERIODS",
    "FUNDAMENTAL_FORMS",
    "IDENTITY",
    "INSIDER_CODES",
    "PERIOD_TYPES",
    "PRICE_FIELDS",
    "RANGE_TOLERANCE",
    "SPLIT_TOLERANCE",
    "TABLE_RULES",
    "VIOLATIONS_SCHEMA",
    "Rule",
    "Violation",
    "Violations",
    "evaluate",
    "format_violations",
    "key_violations",
    "price_violations",
    "range_violations",
    "show_value",
    "violations_for",
    "violations_frame",
]
