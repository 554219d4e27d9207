"""The rule engine's bookkeeping: a column null in every row is one "column missing" violation per field however
many rules fail on it (counted per rule), only from two rows up; a table without an identity of its own names
rows by ticker and date; a severity with no rules is an empty answer; counts built from the violations when
none are given, summed over rules of one name and over merged lists; the key count on a frame of one row and on
a unique key, and a key check of a frame that lacks a key column; the default length of the summary."""

from __future__ import annotations

import datetime as dt

import polars as pl

from meridian_assets import calendar
from meridian_assets.ingest import schemas
from meridian_assets.ingest.quality import price_violations, range_violations
from meridian_assets.ingest.quality.engine import (
    VIOLATIONS_SCHEMA, Rule, Violation, Violations, evaluate, format_violations, key_violations, violations_frame,
)
from tests.test_mut_quality_prices import MON, TUE, WED, bars
from tests.test_quality import _table

NULL = pl.lit(None, dtype=pl.Float64)


def test_columns_null_in_every_row_are_one_violation_each():
    df = bars((MON, 100.0), (TUE, 100.0)).with_columns(close=NULL, open=NULL)
    found = price_violations(df, blocking=True)
    assert [(v.table, v.rule, v.field, v.message, v.reason, v.ticker, v.date, v.blocking) for v in found] == [
        ("daily_prices", "missing_column", "open", "daily_prices open (column missing: null in all 2 rows)",
         "column missing: null in all 2 rows", None, None, True),
        ("daily_prices", "missing_column", "close", "daily_prices close (column missing: null in all 2 rows)",
         "column missing: null in all 2 rows", None, None, True)]
    assert found.counts == {"missing_column": 2}
    # the violations table of a source missing whole columns keeps its column types (no value, ticker or date)
    assert violations_frame(found).schema == pl.Schema(VIOLATIONS_SCHEMA)
    assert violations_frame(found).select("table", "ticker", "date", "value").rows() == [
        ("daily_prices", None, None, None)] * 2


def test_two_rules_failing_on_one_missing_column_report_it_once_and_count_both():
    df = bars((MON, 100.0), (TUE, 100.0), (WED, 100.0))
    rules = [Rule("a", pl.col("close") > 0, "a", field="close"), Rule("b", pl.col("close") < 1e9, "b", field="close"),
             Rule("c", pl.col("close") > 0, "c", field="volume", blocking=False)]
    found = evaluate("daily_prices", df.with_columns(close=pl.lit(5.0), volume=NULL), [
        Rule(r.name, pl.col(r.field).is_null(), "is null", field=r.field, blocking=r.blocking) for r in rules])
    assert [(v.rule, v.field, v.blocking) for v in found] == [("missing_column", "volume", False)]
    both = evaluate("daily_prices", df.with_columns(close=NULL), [
        Rule("a", pl.col("close").is_null(), "a", field="close"), Rule("b", pl.col("close").is_null(), "b",
                                                                        field="close")])
    assert [(v.rule, v.field, v.message) for v in both] == [
        ("missing_column", "close", "daily_prices close (column missing: null in all 3 rows)")]
    assert both.counts == {"missing_column": 2} and both.total == 2


def test_a_single_row_or_a_partly_null_column_is_reported_row_by_row():
    one = bars((MON, 100.0)).with_columns(close=NULL)
    assert [(v.rule, v.date) for v in price_violations(one, blocking=True)] == [("positive_price", MON)]
    some = bars((MON, 100.0), (TUE, 100.0)).with_columns(
        close=pl.when(pl.col("date") == MON).then(None).otherwise(pl.col("close")))
    assert [(v.rule, v.date) for v in price_violations(some, blocking=True)] == [("positive_price", MON)]
    everywhere = evaluate("daily_prices", bars((MON, 1.0), (TUE, 1.0)), [Rule("r", pl.lit(True), "always")])
    assert [(v.rule, v.field) for v in everywhere] == [("r", None), ("r", None)]  # no field: never "missing"


def test_a_table_without_its_own_identity_names_rows_by_ticker_and_date():
    df = pl.DataFrame({"ticker": ["AAA"], "date": [MON], "x": [-1.0]})
    [v] = evaluate("scratch", df, [Rule("neg", pl.col("x") < 0, "must be >= 0", field="x")])
    assert (v.table, v.ticker, v.date, v.field, v.value, v.message) == (
        "scratch", "AAA", MON, "x", -1.0, "scratch 2024-03-04 AAA x=-1.0 (must be >= 0)")
    [w] = evaluate("scratch", df.drop("ticker", "date"), [Rule("neg", pl.col("x") < 0, "must be >= 0", field="x")])
    assert (w.ticker, w.date, w.value) == (None, None, -1.0)


def test_a_severity_without_rules_finds_nothing():
    df = _table("earnings_calendar", session="DMH")
    assert range_violations("earnings_calendar", df, blocking=False) == []
    assert range_violations("earnings_calendar", df, blocking=True).counts == {"session_allowed": 1}
    assert evaluate("x", df, []) == [] and evaluate("x", df.head(0), [Rule("r", pl.lit(True), "r")]) == []
    # an empty frame has nothing to count either, even under a rule that holds everywhere
    assert evaluate("x", df.head(0), [Rule("r", pl.lit(True), "r")]).counts == {}


def test_counts_are_built_from_the_violations_when_not_given():
    v = Violation.make("t", "r1", "bad", ticker="A", date=dt.date(2024, 3, 4), field="f", value=1)
    w = Violation.make("t", "r2", "bad", ticker="B", date=dt.date(2024, 3, 4), field="f", value=2)
    vs = Violations([v, v, w])
    assert vs.counts == {"r1": 2, "r2": 1} and vs.total == 3
    assert Violations().counts == {} and Violations([v], {"r1": 7}).total == 7


def test_the_key_count_of_one_row_and_of_a_unique_key():
    one = _table("macro_series")
    assert key_violations(one, schemas.MACRO_SERIES) == []
    two = pl.concat([one, _table("macro_series", date=dt.date(2024, 3, 5))])
    assert key_violations(two, schemas.MACRO_SERIES) == []
    dup = pl.concat([two, one])
    [v] = key_violations(dup, schemas.MACRO_SERIES)
    assert v.message.endswith("(duplicate key (series_id, date): 2 rows)")


def test_rules_of_one_name_add_up():
    # a bar negative everywhere: one positive_price violation per price field, counted together
    found = price_violations(bars((MON, -1.0, -1.0, -1.0)), blocking=True)
    assert found.counts == {"positive_price": 5} and found.total == 5


def test_merged_lists_add_the_counts_of_a_rule_both_found():
    staged = pl.concat([_table("macro_series"), _table("macro_series")])
    ours = key_violations(staged, schemas.MACRO_SERIES)  # a key twice among the staged rows
    published = evaluate("macro_series", staged.with_columns(clash=pl.lit(True)),
                         [Rule("duplicate_key", pl.col("clash"), "already published")])  # and both rows again
    both = ours.merged(published)
    assert (ours.counts, published.counts, both.counts) == (
        {"duplicate_key": 1}, {"duplicate_key": 2}, {"duplicate_key": 3})
    assert [v.reason for v in both] == ["duplicate key (series_id, date): 2 rows", "already published",
                                        "already published"]


def test_a_key_check_of_a_frame_without_a_key_column_checks_what_is_there():
    one = _table("macro_series")
    assert key_violations(one.drop("date"), schemas.MACRO_SERIES) == []
    [v] = key_violations(pl.concat([one, one]).drop("date").with_columns(value=NULL), schemas.MACRO_SERIES)
    assert (v.rule, v.field, v.message) == ("missing_column", "value", "macro_series value (column missing: null "
                                                                       "in all 2 rows)")


def test_the_summary_shows_twenty_messages_by_default():
    days = calendar.sessions(MON, dt.date(2024, 4, 30))[:25]
    many = price_violations(bars(*[(d, -1.0, -1.0, -1.0) for d in days]), blocking=True, max_per_rule=100)
    assert many.counts == {"positive_price": 125}
    lines = format_violations(many).splitlines()
    assert lines[:20] == [v.message for v in many[:20]]
    assert lines[20:] == ["... and 105 more (positive_price: 125)"]
