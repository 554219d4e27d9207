"""The rule engine of `meridian_assets.ingest.quality`: `Violation`, `Violations`, `Rule`, `evaluate`, the
formatting helpers and the key/not-null rules shared by every table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from meridian_assets import calendar
from meridian_assets.errors import DataError, PriceDataError
from meridian_assets.tables import TableSchema

DEFAULT_MAX_PER_RULE = 50
MISSING_COLUMN = "missing_column"  # a field null in every row of the frame: reported once, not per row

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
        if _column_missing(df, r, n):
            counts[MISSING_COLUMN] = counts.get(MISSING_COLUMN, 0) + 1
            if not any(v.rule == MISSING_COLUMN and v.field == r.field for v in items):
                reason = f"column missing: null in all {n} rows"
                items.append(Violation(table, None, None, r.field, None, MISSING_COLUMN,
                                       f"{table} {r.field} ({reason})", reason, r.blocking))
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


def _column_missing(df: pl.DataFrame, rule: Rule, n_violations: int) -> bool:
    """True when ``rule`` fails on every row because its field is null in every row: the column is missing
    from the source, which is one problem, reported once (not once per row or ticker)."""
    col = rule.field
    return (
        df.height > 1
        and n_violations == df.height
        and col is not None
        and col in df.columns
        and df.get_column(col).null_count() == df.height
    )


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
