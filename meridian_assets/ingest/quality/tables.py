"""The per-table rules of `meridian_assets.ingest.quality` (listed in its docstring): `TABLE_RULES`,
`range_violations`, `violations_for`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from meridian_assets.ingest import schemas
from meridian_assets.ingest.settings import QualityConfig
from meridian_assets.ingest.quality.engine import (
    DEFAULT_MAX_PER_RULE,
    Rule,
    Violations,
    _fin,
    _finite_positive_violated,
    _is_session_expr,
    _key_rules,
    _negative_or_non_finite,
    _with_key_count,
    evaluate,
)
from meridian_assets.ingest.providers.constituent_lists import UNKNOWN_SECTOR
from meridian_assets.ingest.quality.prices import price_violations

INSIDER_CODES: frozenset[str] = frozenset("P S V A D F I M C E H O X G L W Z J K U".split())
ASSET_TYPES = frozenset({"stock", "etf", "index"})
CORPORATE_ACTION_TYPES = frozenset({"split", "ticker_change", "delisting", "dividend"})
PERIOD_TYPES = frozenset({"quarterly", "annual"})
FISCAL_PERIODS = frozenset({"Q1", "Q2", "Q3", "Q4", "FY"})
FUNDAMENTAL_FORMS = frozenset({"10-K", "10-Q", "10-K/A", "10-Q/A"})
FILING_FORMS = frozenset({"10-K", "10-K/A", "10-Q", "10-Q/A", "8-K", "8-K/A", "4", "4/A"})
EARNINGS_SESSIONS = frozenset({"BMO", "AMC"})


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


_BALANCE_ITEMS = schemas.NON_NEGATIVE_BALANCE_ITEMS


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
            # A stock is scored within its sector: one without a sector (null is not_null's) would be ranked
            # alone, in a group of one, and get an extreme score from nothing.
            Rule(
                "sector_missing",
                ~c("is_benchmark").fill_null(False) & c("sector").str.strip_chars().is_in(["", UNKNOWN_SECTOR]),
                "no sector in any source: a stock is scored within its sector, so add its GICS sector",
                field="sector",
            ),
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
    if table == "index_coverage":
        return [
            *_non_negative(("members", "members_with_prices", "members_without_prices")),
            Rule(
                "with_prices_above_members",
                c("members_with_prices") > c("members"),
                "must be <= members={members}",
                field="members_with_prices",
            ),
        ]
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
