"""Data-quality output a person reads: the violations table row by row (a key violation has no value), the
summary line of a long list with and without per-rule counts, a capped key check, and the table rules called
directly with a severity and a cap."""

from __future__ import annotations

import datetime as dt

import polars as pl

from meridian_assets.ingest import schemas
from meridian_assets.ingest.quality import (
    Violation, format_violations, key_violations, range_violations, violations_frame,
)
from tests.test_quality import _table

D = dt.date


def test_the_violations_table_keeps_every_field_of_each_violation():
    v = Violation.make("daily_prices", "positive_price", "must be > 0", ticker="NVDA", date=D(2024, 3, 5),
                       field="close", value=-1.0)
    df = pl.concat([_table("macro_series"), _table("macro_series")])
    [dup] = key_violations(df, schemas.MACRO_SERIES)
    assert violations_frame([v, dup]).rows(named=True) == [
        {"table": "daily_prices", "ticker": "NVDA", "date": D(2024, 3, 5), "field": "close", "value": "-1.0",
         "rule": "positive_price", "blocking": True, "message": v.message},
        {"table": "macro_series", "ticker": dup.ticker, "date": dup.date, "field": dup.field, "value": None,
         "rule": dup.rule, "blocking": dup.blocking, "message": dup.message},
    ]


def test_a_long_list_ends_with_a_count_of_the_rest():
    vs = [Violation.make("macro_series", "non_finite_value", "must be finite", ticker="DGS10", date=D(2024, 3, d),
                         field="value", value=float("nan")) for d in (4, 5, 6)]
    assert format_violations(vs, limit=1).splitlines() == [vs[0].message, "... and 2 more"]  # no counts to show
    two_rules = pl.concat([_table("corporate_actions", ratio=0.0), _table("corporate_actions", action="merger")])
    found = range_violations("corporate_actions", two_rules, max_per_rule=1)
    assert format_violations(found, limit=1).splitlines()[-1] == "... and 1 more (action_allowed: 1, split_ratio: 1)"


def test_a_capped_key_check_keeps_the_count():
    a, b = _table("macro_series"), _table("macro_series", date=D(2024, 3, 5))
    vs = key_violations(pl.concat([a, a, a, b, b]), schemas.MACRO_SERIES, max_per_rule=1)
    assert len(vs) == 1 and vs.total == 2  # two keys duplicated, the first one shown
    assert vs[0].message.endswith("(duplicate key (series_id, date): 3 rows)")


def test_table_rules_called_directly_split_by_severity_and_capped():
    bad = pl.concat([_table("fundamentals_raw", revenue=-5.0, cash=-1.0), _table("fundamentals_raw", cash=-2.0)])
    blocking = range_violations("fundamentals_raw", bad, blocking=True, max_per_rule=1)
    assert blocking.counts == {"negative_balance": 2} and len(blocking) == 1
    assert {v.table for v in blocking} == {"fundamentals_raw"} and all(v.blocking for v in blocking)
    warnings = range_violations("fundamentals_raw", bad, blocking=False)
    assert warnings.counts == {"negative_revenue": 1} and not any(v.blocking for v in warnings)


def test_the_price_check_through_its_table_entry_passes_every_setting_on():
    from meridian_assets.ingest.quality import violations_for
    from meridian_assets.ingest.settings import QualityConfig
    from tests.test_quality import _prices, _scale_from, _split

    moved = _scale_from(_prices(), "NVDA", D(2024, 3, 12), 0.40)  # a 60% fall on the day of a 2-for-1 split
    split = _split(D(2024, 3, 12), 2.0)
    assert violations_for("daily_prices", moved, blocking=False).counts == {"large_move": 1}
    assert violations_for("daily_prices", moved, blocking=False, corporate_actions=split) == []
    loose = QualityConfig(max_abs_daily_move=0.7)
    assert violations_for("daily_prices", moved, blocking=False, quality=loose) == []
    bad = moved.with_columns(adj_close=pl.lit(-1.0))
    only = violations_for("daily_prices", bad, blocking=True, max_per_rule=2)
    assert (len(only), only.total, all(v.blocking for v in only)) == (2, 60, True)
    both = violations_for("daily_prices", bad, corporate_actions=split, max_per_rule=2)
    assert both.counts == {"positive_price": 60} and len(both) == 2


def test_each_table_rule_counts_under_its_own_name():
    from meridian_assets.ingest.quality import violations_for

    cases = [("insider_transactions", dict(shares=-100.0), "negative_amount"),
             ("fundamentals_raw", dict(revenue=float("inf")), "non_finite_value"),
             ("fundamentals_raw", dict(known_at=D(2024, 1, 26)), "known_before_period_end"),
             ("fundamentals_raw", dict(period_type="ttm"), "period_type_allowed")]
    for table, changes, rule in cases:
        assert violations_for(table, _table(table, **changes), blocking=True).counts == {rule: 1}


# the rule each one-bad-row case of tests/test_quality.py breaks, as named in the violations table and the check
# metadata's per-rule counts (one name per rule, the same for every table that has it)
RULES = ["asset_type_allowed", "end_before_start", "cik_positive", "not_null", "action_allowed", "split_ratio",
         "dividend_amount", "ticker_change_target", "known_at_session", "known_before_period_end",
         "period_type_allowed", "fiscal_period_allowed", "non_finite_value", "negative_balance", "not_null",
         "negative_revenue", "current_assets_above_total", "form_allowed", "non_finite_value",
         "known_before_period_end", "known_before_filed", "period_after_filing", "form_allowed",
         "known_before_transaction", "code_allowed", "acquired_disposed_allowed", "negative_amount",
         "negative_amount", "value_mismatch", "code_direction", "n_insiders_positive", "transactions_below_insiders",
         "window_inverted", "window_after_known", "negative_amount", "negative_amount", "known_before_period",
         "change_mismatch", "new_with_prior", "negative_amount", "new_above_count", "known_before_period",
         "short_pct_float_range", None, "short_pct_float_above_one", "negative_amount", "settlement_after_date",
         "date_session", "negative_amount", "rating_range", "price_target_positive", "non_finite_value",
         "session_allowed", "n_chars_mismatch", "known_before_event", "empty_text", "non_finite_value",
         "known_before_date", "with_prices_above_members", "negative_amount", "negative_amount"]


def test_every_rule_reports_under_its_name():
    from meridian_assets.ingest.quality import violations_for
    from tests.test_quality import CASES

    assert len(CASES) == len(RULES)
    for (table, changes, blocking, _), rule in zip(CASES, RULES):
        vs = violations_for(table, _table(table, **changes), blocking=blocking)
        assert [v.rule for v in vs] == ([rule] if rule else []), (table, changes)


def test_a_stock_without_a_sector_is_refused_but_a_benchmark_is_not():
    from meridian_assets.ingest.quality import violations_for

    message = "no sector in any source: a stock is scored within its sector, so add its GICS sector"
    for sector in ("", "  ", "Unknown"):
        [v] = violations_for("universe", _table("universe", sector=sector), blocking=True)
        assert (v.rule, v.field, v.message.endswith(f"({message})")) == ("sector_missing", "sector", True)
    assert violations_for("universe", _table("universe", sector="", is_benchmark=True, asset_type="index")) == []
    unflagged = violations_for("universe", _table("universe", sector="", is_benchmark=None), blocking=True)
    assert "sector_missing" in [v.rule for v in unflagged]  # an unknown benchmark flag: treated as a stock
    assert violations_for("universe", _table("universe", cik=1)) == []  # the smallest valid CIK
