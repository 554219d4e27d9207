"""Data-quality rules for the Layer-1 tables, as pure functions that return violations. No Dagster.

Every rule is a vectorised polars predicate (True on a violating row). All violations are *counted*; only the
first ``max_per_rule`` of each rule are materialised as `Violation` objects, so a frame of ~400k rows is
checked in well under a second. A violation reads like a `meridian_assets.errors.DataError`::

    daily_prices 2024-03-05 NVDA close=-1.0 (must be > 0)

(table, date, ticker, field=value, reason). Severity: **blocking** rules describe rows that cannot be true
(the asset check should fail); **warning** rules describe rows that are suspicious but can be real.

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
  ``cik_positive`` -- all blocking.
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

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from meridian_assets import calendar
from meridian_assets.config import QualityConfig
from meridian_assets.errors import DataError, PriceDataError
from meridian_assets.ingest import schemas
from meridian_assets.ingest.schemas import TableSchema

PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
RANGE_TOLERANCE = 1e-9
SPLIT_TOLERANCE = 0.15
DEFAULT_MAX_PER_RULE = 50

INSIDER_CODES: frozenset[str] = frozenset("P S V A D F I M C E H O X G L W Z J K U".split())
ASSET_TYPES = frozenset({"stock", "etf", "index"})
CORPORATE_ACTION_TYPES = frozenset({"split", "ticker_change", "delisting", "dividend"})
PERIOD_TYPES = frozenset({"quarterly", "annual"})
FISCAL_PERIODS = frozenset({"Q1", "Q2", "Q3", "Q4", "FY"})
FUNDAMENTAL_FORMS = frozenset({"10-K", "10-Q", "10-K/A", "10-Q/A"})
FILING_FORMS = frozenset({"10-K", "10-K/A", "10-Q", "10-Q/A", "8-K", "8-K/A", "4", "4/A"})
EARNINGS_SESSIONS = frozenset({"BMO", "AMC"})

# (identifier column, date column) named in each table's messages.
IDENTITY: dict[str, tuple[str | None, str | None]] = {
    "universe": ("ticker", "start_date"),
    "daily_prices": ("ticker", "date"),
    "corporate_actions": ("ticker", "date"),
    "fundamentals_raw": ("ticker", "period_end"),
    "fundamental_ratios": ("ticker", "period_end"),
    "sec_filings": ("ticker", "filed_at"),
    "insider_transactions": ("ticker", "transaction_date"),
    "insider_cluster_flags": ("ticker", "known_at"),
    "institutional_holdings": ("ticker", "report_period"),
    "institutional_summary": ("ticker", "report_period"),
    "short_interest": ("ticker", "date"),
    "analyst_estimates": ("ticker", "date"),
    "earnings_calendar": ("ticker", "earnings_date"),
    "earnings_transcripts": ("ticker", "event_date"),
    "macro_series": ("series_id", "date"),
    "ingest_errors": ("ticker", "date"),
    "run_log": ("run_id", "start_date"),
}


# --------------------------------------------------------------------------------------------- results
class _Shown(str):
    """A pre-formatted value: its repr is itself (so DataError prints ``date=2024-03-05``, not a repr)."""

    def __repr__(self) -> str:
        return str(self)


def show_value(v: object) -> str:
    """How a value is printed after ``field=``: dates ISO, floats/strings as repr, None as None."""
    if isinstance(v, dt.date):
        return v.isoformat()
    return repr(v)


@dataclass(frozen=True)
class Violation:
    """One violating row. ``message`` is the full line (table, date, ticker, field=value, reason)."""

    table: str
    ticker: str | None
    date: dt.date | None
    field: str | None
    value: object
    rule: str
    message: str
    reason: str = ""
    blocking: bool = True

    @classmethod
    def make(
        cls,
        table: str,
        rule: str,
        reason: str,
        *,
        ticker: str | None = None,
        date: dt.date | None = None,
        field: str | None = None,
        value: object = None,
        blocking: bool = True,
    ) -> Violation:
        err = DataError(table, reason, ticker=ticker, date=date, field=field, value=_Shown(show_value(value)))
        return cls(table, ticker, date, field, value, rule, str(err), reason, blocking)

    def to_error(self) -> DataError:
        """The matching exception (`PriceDataError` for daily_prices), same message."""
        kind = PriceDataError if self.table == "daily_prices" else DataError
        err = kind(
            self.table,
            self.reason,
            ticker=self.ticker,
            date=self.date,
            field=self.field,
            value=_Shown(show_value(self.value)),
        )
        err.value = self.value
        return err

    def __str__(self) -> str:
        return self.message


class Violations(list[Violation]):
    """The materialised violations plus ``counts``: every violation counted, by rule name.

    ``total`` is the number of violations found (>= ``len(self)`` when some were not materialised).
    """

    def __init__(self, items: Iterable[Violation] = (), counts: Mapping[str, int] | None = None) -> None:
        super().__init__(items)
        if counts is None:
            counts = {}
            for v in self:
                counts[v.rule] = counts.get(v.rule, 0) + 1
        self.counts: dict[str, int] = dict(counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def merged(self, other: Violations) -> Violations:
        counts = dict(self.counts)
        for k, n in other.counts.items():
            counts[k] = counts.get(k, 0) + n
        return Violations([*self, *other], counts)

    def only(self, *, blocking: bool) -> Violations:
        """The blocking (or warning) subset; counts keep only rules of that severity."""
        items = [v for v in self if v.blocking == blocking]
        rules = {v.rule for v in items}
        return Violations(items, {k: n for k, n in self.counts.items() if k in rules})


def format_violations(violations: Iterable[Violation], limit: int = 20) -> str:
    """The first ``limit`` messages, one per line, then a line counting the rest by rule (if any)."""
    vs = list(violations)
    lines = [v.message for v in vs[:limit]]
    counts = getattr(violations, "counts", None)
    total = sum(counts.values()) if counts else len(vs)
    if total > len(lines):
        by_rule = ", ".join(f"{k}: {n}" for k, n in sorted((counts or {}).items()))
        lines.append(f"... and {total - len(lines)} more" + (f" ({by_rule})" if by_rule else ""))
    return "\n".join(lines)


VIOLATIONS_SCHEMA: dict[str, pl.DataType] = {
    "table": pl.Utf8,
    "ticker": pl.Utf8,
    "date": pl.Date,
    "field": pl.Utf8,
    "value": pl.Utf8,
    "rule": pl.Utf8,
    "blocking": pl.Boolean,
    "message": pl.Utf8,
}


def violations_frame(violations: Iterable[Violation]) -> pl.DataFrame:
    """The materialised violations as a frame (value printed as in the message)."""
    rows = [
        {
            "table": v.table,
            "ticker": v.ticker,
            "date": v.date,
            "field": v.field,
            "value": None if v.value is None else show_value(v.value),
            "rule": v.rule,
            "blocking": v.blocking,
            "message": v.message,
        }
        for v in violations
    ]
    return pl.DataFrame(rows, schema=VIOLATIONS_SCHEMA) if rows else pl.DataFrame(schema=VIOLATIONS_SCHEMA)


# --------------------------------------------------------------------------------------------- engine
@dataclass(frozen=True)
class Rule:
    """A vectorised rule: ``bad`` is True on violating rows (null counts as not violating).

    ``reason`` is a template formatted with the row (``"must be >= low={low}"``) or a callable of the row.
    ``value`` / ``date`` name the columns reported (default: ``field`` and the table's date column).
    """

    name: str
    bad: pl.Expr
    reason: str | Callable[[dict[str, Any]], str]
    field: str | None = None
    blocking: bool = True
    value: str | None = None
    date: str | None = None


def evaluate(
    table: str,
    df: pl.DataFrame,
    rules: Iterable[Rule],
    *,
    blocking: bool | None = None,
    max_per_rule: int = DEFAULT_MAX_PER_RULE,
) -> Violations:
    """Count every rule's violations in one pass; materialise the first ``max_per_rule`` of each."""
    rules = [r for r in rules if blocking is None or r.blocking == blocking]
    if not rules or df.height == 0:
        return Violations()
    ticker_col, date_col = IDENTITY.get(table, ("ticker", "date"))
    ticker_col = ticker_col if ticker_col in df.columns else None
    date_col = date_col if date_col in df.columns else None
    masks = df.select([r.bad.fill_null(False).alias(f"__r{i}") for i, r in enumerate(rules)])
    sums = masks.sum().row(0)
    items: list[Violation] = []
    counts: dict[str, int] = {}
    for i, r in enumerate(rules):
        n = int(sums[i] or 0)
        if not n:
            continue
        counts[r.name] = counts.get(r.name, 0) + n
        for row in df.filter(masks.get_column(f"__r{i}")).head(max_per_rule).iter_rows(named=True):
            reason = r.reason(row) if callable(r.reason) else r.reason.format(**row)
            value_col = r.value or r.field
            d = row.get(r.date or date_col) if (r.date or date_col) else None
            items.append(
                Violation.make(
                    table,
                    r.name,
                    reason,
                    ticker=row.get(ticker_col) if ticker_col else None,
                    date=d,
                    field=r.field,
                    value=row.get(value_col) if value_col else None,
                    blocking=r.blocking,
                )
            )
    return Violations(items, counts)


def _is_session_expr(col: str, df: pl.DataFrame) -> pl.Expr:
    """True when ``col`` is an NYSE session (null stays null)."""
    s = df.get_column(col).drop_nulls()
    if s.len() == 0:
        return pl.lit(True)
    sess = calendar.sessions(s.min(), s.max())
    return pl.col(col).is_in(sess)


def _finite_positive_violated(c: str) -> pl.Expr:
    """True when ``c`` is null, NaN, inf or <= 0."""
    return (~(pl.col(c).is_finite() & (pl.col(c) > 0))).fill_null(True)


def _fin(*cols: str) -> pl.Expr:
    """All of ``cols`` are finite numbers (polars orders NaN above every number, so comparisons involving
    NaN must be guarded)."""
    return pl.all_horizontal([pl.col(c).is_finite() for c in cols])


def _negative_or_non_finite(c: str) -> pl.Expr:
    """True when ``c`` is < 0 or NaN/inf (null: not violated)."""
    return (pl.col(c) < 0) | ~pl.col(c).is_finite()


def _key_rules(schema: TableSchema, df: pl.DataFrame) -> list[Rule]:
    rules = [
        Rule("not_null", pl.col(c).is_null(), "must not be null", field=c)
        for c in schema.not_null
        if c in df.columns
    ]
    key = list(schema.key)
    if key and all(k in df.columns for k in key):
        k = pl.struct(key)
        dup = k.is_duplicated() & k.is_first_distinct()
        # one violation per duplicated key, at its first row; the reason counts the rows
        rules.append(
            Rule(
                "duplicate_key",
                dup,
                lambda row, key=tuple(key): f"duplicate key ({', '.join(key)}): {row['__n_key']} rows",
            )
        )
    return rules


def _with_key_count(schema: TableSchema, df: pl.DataFrame) -> pl.DataFrame:
    """Add ``__n_key`` (rows sharing the row's key) for the duplicate_key message; skipped (cheaply) when
    the key is unique."""
    key = list(schema.key)
    if not key or not all(k in df.columns for k in key) or df.height == 0:
        return df
    if df.select(pl.struct(key).n_unique()).item() == df.height:
        return df.with_columns(__n_key=pl.lit(1, dtype=pl.UInt32))
    return df.with_columns(__n_key=pl.len().over(key))


def key_violations(
    df: pl.DataFrame, schema: TableSchema, *, max_per_rule: int = DEFAULT_MAX_PER_RULE
) -> Violations:
    """Blocking ``duplicate_key`` (the schema's key; once per duplicated key) and ``not_null`` (the schema's
    not-null columns) violations of ``df``."""
    df = _with_key_count(schema, df)
    return evaluate(schema.name, df, _key_rules(schema, df), max_per_rule=max_per_rule)


# --------------------------------------------------------------------------------------------- prices
def _split_factor(prices: pl.DataFrame, corporate_actions: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``__split_r``: the split ratio effective on the row's (date, ticker), null without a split."""
    if corporate_actions is None or corporate_actions.height == 0:
        return prices.with_columns(__split_r=pl.lit(None, dtype=pl.Float64))
    splits = (
        corporate_actions.filter(pl.col("action") == "split")
        .select(
            pl.col("date").cast(pl.Date),
            pl.col("ticker").cast(pl.Utf8),
            pl.col("ratio").cast(pl.Float64).alias("__split_r"),
        )
        .filter(pl.col("__split_r").is_finite() & (pl.col("__split_r") > 0))
        .unique(["date", "ticker"], keep="first")
    )
    return prices.join(splits, on=["date", "ticker"], how="left")


def _prepare_prices(
    prices: pl.DataFrame, corporate_actions: pl.DataFrame | None, with_warnings: bool
) -> pl.DataFrame:
    df = schemas.DAILY_PRICES.conform(prices)
    if not with_warnings:
        return _with_key_count(schemas.DAILY_PRICES, df)
    df = df.sort(["ticker", "date"], nulls_last=True)
    same = pl.col("ticker") == pl.col("ticker").shift(1)
    df = df.with_columns(
        __prev_close=pl.when(same).then(pl.col("close").shift(1)).otherwise(None),
        __prev_date=pl.when(same).then(pl.col("date").shift(1)).otherwise(None),
    )
    # Session index of each bar and of the previous bar -> sessions missing in between.
    dates = df.get_column("date")
    if dates.null_count() < df.height:
        sess = calendar.sessions(dates.min(), dates.max())
        sess_days = pl.Series(sess, dtype=pl.Date).to_physical().to_numpy().astype(np.int64)
        cur = dates.to_physical().fill_null(0).to_numpy().astype(np.int64)
        prev = df.get_column("__prev_date").to_physical().fill_null(0).to_numpy().astype(np.int64)
        i_cur = np.searchsorted(sess_days, cur, "left")  # index of the session on/after the bar's date
        i_prev = np.searchsorted(sess_days, prev, "right")  # first session after the previous bar
        n_missing = np.where(df.get_column("__prev_date").is_null().to_numpy(), 0, i_cur - i_prev)
        n_missing = np.maximum(n_missing, 0)
        first = sess_days[np.clip(i_prev, 0, len(sess_days) - 1)] if len(sess_days) else i_prev
        last = sess_days[np.clip(i_cur - 1, 0, len(sess_days) - 1)] if len(sess_days) else i_cur
        df = df.with_columns(
            __gap_n=pl.Series(n_missing, dtype=pl.Int64),
            __gap_from=pl.Series(first, dtype=pl.Int32).cast(pl.Date),
            __gap_to=pl.Series(last, dtype=pl.Int32).cast(pl.Date),
        )
    else:
        df = df.with_columns(
            __gap_n=pl.lit(0, dtype=pl.Int64),
            __gap_from=pl.lit(None, dtype=pl.Date),
            __gap_to=pl.lit(None, dtype=pl.Date),
        )
    df = _split_factor(df, corporate_actions)
    return df.with_columns(__move=pl.col("close") / pl.col("__prev_close") - 1.0)


def _price_rules(df: pl.DataFrame, quality: QualityConfig) -> list[Rule]:
    c, lo, hi = pl.col, pl.col("low"), pl.col("high")
    rules = _key_rules(schemas.DAILY_PRICES, df)

    def positive_reason(f: str) -> Callable[[dict[str, Any]], str]:
        def reason(row: dict[str, Any]) -> str:
            v = row[f]
            return "must be > 0" if v is None or math.isnan(v) or v <= 0 else "must be finite"

        return reason

    rules += [
        Rule("positive_price", _finite_positive_violated(f), positive_reason(f), field=f) for f in PRICE_FIELDS
    ]
    rules.append(
        Rule("negative_volume", _negative_or_non_finite("volume"), "must be >= 0 and finite", field="volume")
    )
    rules.append(Rule("high_below_low", _fin("high", "low") & (hi < lo), "must be >= low={low!r}", field="high"))
    ordered = _fin("high", "low") & (hi >= lo)
    # A close outside the day's range cannot be true. An open outside it can be a vendor's quirk (real
    # consolidated bars mix the official open with a range from other venues), so it is only a warning.
    for f, blocking in (("close", True), ("open", False)):
        outside = (c(f) < lo - RANGE_TOLERANCE * lo.abs()) | (c(f) > hi + RANGE_TOLERANCE * hi.abs())
        rules.append(
            Rule(
                f"{f}_outside_range",
                ordered & _fin(f) & outside,
                "must lie within [low={low!r}, high={high!r}]",
                field=f,
                blocking=blocking,
            )
        )
    rules.append(Rule("not_a_session", ~_is_session_expr("date", df), "not an NYSE session", field="date"))

    # warnings
    rules.append(
        Rule(
            "session_gap",
            c("__gap_n") > quality.max_gap_sessions,
            lambda row: f"no bar from {row['__gap_from']} to {row['__gap_to']}; max {quality.max_gap_sessions}",
            field="sessions_missing",
            value="__gap_n",
            date="__gap_from",
            blocking=False,
        )
    )
    rules.append(
        Rule(
            "zero_volume",
            (c("volume") == 0) & ~c("ticker").str.starts_with("^"),
            "zero volume on a stock",
            field="volume",
            blocking=False,
        )
    )
    inv = 1.0 / c("__split_r")
    deviation = (c("close") / c("__prev_close") - inv).abs()
    explained = (deviation <= SPLIT_TOLERANCE * pl.max_horizontal(inv, 1.0)).fill_null(False)
    rules.append(
        Rule(
            "large_move",
            _fin("__move") & (c("__move").abs() > quality.max_abs_daily_move) & ~explained,
            lambda row: (
                f"close-to-close move {row['__move']:+.1%} from {row['__prev_close']!r} on {row['__prev_date']}"
                f" exceeds {quality.max_abs_daily_move:.0%} and no split explains it"
            ),
            field="close",
            blocking=False,
        )
    )
    return rules


def price_violations(
    prices: pl.DataFrame,
    *,
    blocking: bool,
    corporate_actions: pl.DataFrame | None = None,
    quality: QualityConfig | None = None,
    max_per_rule: int = DEFAULT_MAX_PER_RULE,
) -> Violations:
    """The blocking (``blocking=True``) or warning (``blocking=False``) violations of a ``daily_prices``
    frame; rules in the module docstring. ``corporate_actions`` (splits) explains large moves;
    ``quality`` gives the warning thresholds (default `QualityConfig()`)."""
    quality = quality or QualityConfig()
    if prices.height == 0:
        return Violations()
    df = _prepare_prices(prices, corporate_actions, with_warnings=not blocking)
    # (the warning rules' helper columns are only built when warnings are asked for; the rules of the other
    # severity are filtered out before anything is evaluated)
    return evaluate("daily_prices", df, _price_rules(df, quality), blocking=blocking, max_per_rule=max_per_rule)


# --------------------------------------------------------------------------------------------- other tables
def _session_rule(col: str, df: pl.DataFrame, name: str | None = None) -> list[Rule]:
    if col not in df.columns:
        return []
    return [Rule(name or f"{col}_session", ~_is_session_expr(col, df), "not an NYSE session", field=col)]


def _not_before(col: str, ref: str, name: str) -> Rule:
    """``col`` must be >= ``ref`` (both dates)."""
    return Rule(name, pl.col(col) < pl.col(ref), f"must be >= {ref}={{{ref}}}", field=col)


def _allowed(col: str, allowed: frozenset[str], name: str, blocking: bool = True) -> Rule:
    listed = ", ".join(sorted(allowed))
    return Rule(
        name,
        pl.col(col).is_not_null() & ~pl.col(col).is_in(sorted(allowed)),
        f"must be one of {{{{{listed}}}}}",
        field=col,
        blocking=blocking,
    )


def _non_negative(cols: Iterable[str], name: str = "negative_amount") -> list[Rule]:
    return [Rule(name, _negative_or_non_finite(c), "must be >= 0 and finite", field=c) for c in cols]


def _finite(cols: Iterable[str], name: str = "non_finite_value") -> list[Rule]:
    return [Rule(name, ~pl.col(c).is_finite(), "must be finite", field=c) for c in cols]


_BALANCE_ITEMS = (
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


def _range_rules(table: str, df: pl.DataFrame) -> list[Rule]:
    """The table-specific rules (module docstring), given the conformed frame."""
    c = pl.col
    if table == "universe":
        return [
            _allowed("asset_type", ASSET_TYPES, "asset_type_allowed"),
            Rule(
                "end_before_start",
                c("end_date") < c("start_date"),
                "must be >= start_date={start_date}",
                field="end_date",
            ),
            Rule("cik_positive", c("cik") <= 0, "must be > 0", field="cik"),
        ]
    if table == "corporate_actions":
        return [
            _allowed("action", CORPORATE_ACTION_TYPES, "action_allowed"),
            Rule(
                "split_ratio",
                (c("action") == "split") & _finite_positive_violated("ratio"),
                "a split needs a finite ratio > 0 (new shares per old share)",
                field="ratio",
            ),
            Rule(
                "dividend_amount",
                (c("action") == "dividend") & _finite_positive_violated("ratio"),
                "a dividend needs a finite cash amount per share > 0",
                field="ratio",
            ),
            Rule(
                "ticker_change_target",
                (c("action") == "ticker_change") & c("new_ticker").is_null(),
                "a ticker change needs new_ticker",
                field="new_ticker",
            ),
        ]
    if table == "fundamentals_raw":
        return [
            _not_before("known_at", "period_end", "known_before_period_end"),
            _allowed("period_type", PERIOD_TYPES, "period_type_allowed"),
            _allowed("fiscal_period", FISCAL_PERIODS, "fiscal_period_allowed"),
            *_finite(schemas.FUNDAMENTAL_ITEMS),
            *[Rule("negative_balance", c(i) < 0, "must be >= 0", field=i) for i in _BALANCE_ITEMS],
            Rule("negative_revenue", c("revenue") < 0, "negative revenue", field="revenue", blocking=False),
            Rule(
                "current_assets_above_total",
                _fin("current_assets", "total_assets") & (c("current_assets") > c("total_assets")),
                "exceeds total_assets={total_assets!r}",
                field="current_assets",
                blocking=False,
            ),
            _allowed("form", FUNDAMENTAL_FORMS, "form_allowed", blocking=False),
        ]
    if table == "fundamental_ratios":
        return [*_finite(schemas.RATIO_COLUMNS), _not_before("known_at", "period_end", "known_before_period_end")]
    if table == "sec_filings":
        return [
            _not_before("known_at", "filed_at", "known_before_filed"),
            Rule(
                "period_after_filing",
                c("period_of_report") > c("filed_at"),
                "must be <= filed_at={filed_at}",
                field="period_of_report",
            ),
            _allowed("form", FILING_FORMS, "form_allowed", blocking=False),
        ]
    if table == "insider_transactions":
        return [
            _not_before("known_at", "transaction_date", "known_before_transaction"),
            _allowed("code", INSIDER_CODES, "code_allowed"),
            _allowed("acquired_disposed", frozenset({"A", "D"}), "acquired_disposed_allowed"),
            *_non_negative(("shares", "price", "value", "shares_owned_after")),
            Rule(
                "value_mismatch",
                _fin("value", "shares", "price")
                & ((c("value") - c("shares") * c("price")).abs() > 0.01 * c("value").abs() + 1.0),
                "differs from shares*price ({shares!r} x {price!r})",
                field="value",
                blocking=False,
            ),
            Rule(
                "code_direction",
                ((c("code") == "P") & (c("acquired_disposed") == "D"))
                | ((c("code") == "S") & (c("acquired_disposed") == "A")),
                "code {code} contradicts acquired_disposed",
                field="acquired_disposed",
                blocking=False,
            ),
        ]
    if table == "insider_cluster_flags":
        return [
            Rule("n_insiders_positive", c("n_insiders") < 1, "must be >= 1", field="n_insiders"),
            Rule(
                "transactions_below_insiders",
                c("n_transactions") < c("n_insiders"),
                "must be >= n_insiders={n_insiders}",
                field="n_transactions",
            ),
            Rule(
                "window_inverted",
                c("window_start") > c("window_end"),
                "must be <= window_end={window_end}",
                field="window_start",
            ),
            Rule(
                "window_after_known",
                c("window_end") > c("known_at"),
                "must be <= known_at={known_at} (a cluster is seen after its last buy)",
                field="window_end",
            ),
            *_non_negative(("total_value",)),
        ]
    if table == "institutional_holdings":
        return [
            *_non_negative(("shares", "value_usd", "prior_shares")),
            _not_before("known_at", "report_period", "known_before_period"),
            Rule(
                "change_mismatch",
                _fin("change_shares", "shares", "prior_shares")
                & ((c("change_shares") - (c("shares") - c("prior_shares"))).abs() > 0.5),
                "differs from shares - prior_shares ({shares!r} - {prior_shares!r})",
                field="change_shares",
                blocking=False,
            ),
            Rule(
                "new_with_prior",
                c("is_new_position") & _fin("prior_shares") & (c("prior_shares") > 0),
                "a new position with prior_shares={prior_shares!r}",
                field="is_new_position",
                blocking=False,
            ),
        ]
    if table == "institutional_summary":
        return [
            *_non_negative(("fund_count", "total_shares", "new_positions", "exited_positions")),
            Rule(
                "new_above_count",
                c("new_positions") > c("fund_count"),
                "must be <= fund_count={fund_count}",
                field="new_positions",
            ),
            _not_before("known_at", "report_period", "known_before_period"),
        ]
    if table == "short_interest":
        spf = c("short_pct_float")
        return [
            Rule(
                "short_pct_float_range", (spf < 0) | ~spf.is_finite(), "must be in [0, 1]", field="short_pct_float"
            ),
            Rule(
                "short_pct_float_above_one",
                spf.is_finite() & (spf > 1),
                "above 100% of float (possible, e.g. GME 2021)",
                field="short_pct_float",
                blocking=False,
            ),
            *_non_negative(("shares_short", "short_ratio")),
            Rule(
                "settlement_after_date",
                c("settlement_date") > c("date"),
                "must be <= date={date} (published after settlement)",
                field="settlement_date",
            ),
            *_session_rule("date", df, "date_session"),
        ]
    if table == "analyst_estimates":
        return [
            *_non_negative(("n_analysts",)),
            Rule(
                "rating_range",
                (c("rating_mean") < 1) | (c("rating_mean") > 5) | c("rating_mean").is_nan(),
                "must be in [1, 5]",
                field="rating_mean",
            ),
            Rule(
                "price_target_positive",
                c("price_target").is_not_null() & _finite_positive_violated("price_target"),
                "must be > 0",
                field="price_target",
            ),
            *_finite(("fwd_eps", "fwd_eps_next_q")),
            *_session_rule("date", df, "date_session"),
        ]
    if table == "earnings_calendar":
        return [_allowed("session", EARNINGS_SESSIONS, "session_allowed")]
    if table == "earnings_transcripts":
        return [
            Rule(
                "n_chars_mismatch",
                c("n_chars") != c("text").str.len_chars(),
                lambda row: f"must equal len(text)={len(row['text'])}",
                field="n_chars",
            ),
            _not_before("known_at", "event_date", "known_before_event"),
            Rule("empty_text", c("text").str.len_chars() == 0, "empty transcript", field="text", blocking=False),
        ]
    if table == "macro_series":
        return [*_finite(("value",)), _not_before("known_at", "date", "known_before_date")]
    if table == "run_log":
        return _non_negative(
            ("tickers_updated", "price_bars_added", "filings_cached", "insider_txns_parsed", "errors")
        )
    return []


def range_violations(
    table: str,
    df: pl.DataFrame,
    *,
    blocking: bool | None = None,
    max_per_rule: int = DEFAULT_MAX_PER_RULE,
) -> Violations:
    """The table-specific rules of a (non-price) Layer-1 table, plus ``known_at_session`` where the table
    has ``known_at``. Key and not-null rules are in `key_violations`."""
    schema = schemas.TABLES[table]
    df = schema.conform(df)
    rules = _range_rules(table, df) + _session_rule("known_at", df)
    return evaluate(table, df, rules, blocking=blocking, max_per_rule=max_per_rule)


def _table_checker(table: str) -> Callable[..., Violations]:
    schema = schemas.TABLES[table]

    def check(
        df: pl.DataFrame,
        *,
        blocking: bool | None = None,
        max_per_rule: int = DEFAULT_MAX_PER_RULE,
        **_context: Any,
    ) -> Violations:
        conformed = _with_key_count(schema, schema.conform(df))
        rules = [
            *_key_rules(schema, conformed),
            *_range_rules(table, conformed),
            *_session_rule("known_at", conformed),
        ]
        return evaluate(table, conformed, rules, blocking=blocking, max_per_rule=max_per_rule)

    check.__name__ = f"check_{table}"
    check.__doc__ = f"Key, not-null and range rules of {table} (see the quality module docstring)."
    return check


def _check_prices(
    df: pl.DataFrame,
    *,
    blocking: bool | None = None,
    corporate_actions: pl.DataFrame | None = None,
    quality: QualityConfig | None = None,
    max_per_rule: int = DEFAULT_MAX_PER_RULE,
    **_context: Any,
) -> Violations:
    kw = dict(corporate_actions=corporate_actions, quality=quality, max_per_rule=max_per_rule)
    if blocking is not None:
        return price_violations(df, blocking=blocking, **kw)
    return price_violations(df, blocking=True, **kw).merged(price_violations(df, blocking=False, **kw))


# table name -> check(df, *, blocking=None | True | False, max_per_rule=50, **context) -> Violations.
TABLE_RULES: dict[str, Callable[..., Violations]] = {
    name: (_check_prices if name == "daily_prices" else _table_checker(name)) for name in schemas.TABLES
}


def violations_for(table_name: str, df: pl.DataFrame, **context: Any) -> Violations:
    """All rules of a Layer-1 table. ``context``: ``blocking`` (None: both severities, True, False),
    ``max_per_rule``, and for daily_prices ``corporate_actions`` and ``quality`` (`QualityConfig`)."""
    try:
        check = TABLE_RULES[table_name]
    except KeyError:
        raise KeyError(f"no quality rules for table {table_name!r}; known: {sorted(TABLE_RULES)}") from None
    return check(df, **context)
