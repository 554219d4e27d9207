"""The daily_prices rules at their edges: a close or a range exactly at its limit, a penny stock, non-finite highs
and lows, a move of exactly the largest plausible size, splits that explain (or, invalid, do not explain) a move,
up to exactly their tolerance, the gap rule at zero sessions allowed and the sessions a gap names next to weekend
bars, bars on days that are not sessions (before the first or after the last one of the frame), undated bars, and
a frame of a single row."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from meridian_assets.ingest import schemas
from meridian_assets.ingest.quality import price_violations
from meridian_assets.ingest.settings import QualityConfig

D = dt.date
NAN, INF = float("nan"), float("inf")


def bars(*rows, ticker: str = "NVDA") -> pl.DataFrame:
    """rows: (date, close) or (date, close, low, high); open at the close."""
    out = []
    for r in rows:
        day, close = r[0], r[1]
        low, high = (r[2], r[3]) if len(r) == 4 else (close * 0.99, close * 1.01)
        out.append(dict(date=day, ticker=ticker, open=close, high=high, low=low, close=close, adj_close=close,
                        volume=1e6))
    return schemas.DAILY_PRICES.conform(pl.DataFrame(out, infer_schema_length=None))


def rules(df: pl.DataFrame, blocking: bool, **kw) -> list[tuple[str, dt.date | None]]:
    return [(v.rule, v.date) for v in price_violations(df, blocking=blocking, **kw)]


MON, TUE, WED = D(2024, 3, 4), D(2024, 3, 5), D(2024, 3, 6)


def test_a_close_at_either_end_of_the_range_is_inside_it():
    lo, hi = 1000.0, 1010.0
    edge_lo, edge_hi = lo - 1e-9 * abs(lo), hi + 1e-9 * abs(hi)  # the tolerance's own arithmetic
    for close in (lo, hi, edge_lo, edge_hi, lo * (1 - 5e-10)):
        assert rules(bars((MON, close, lo, hi)), True) == [], close
    assert rules(bars((MON, lo * (1 - 2e-9), lo, hi)), True) == [("close_outside_range", MON)]
    assert rules(bars((MON, hi * (1 + 2e-9), lo, hi)), True) == [("close_outside_range", MON)]


def test_a_flat_bar_is_ordered_and_a_close_off_it_is_outside():
    assert rules(bars((MON, 10.0, 10.0, 10.0)), True) == []
    assert rules(bars((MON, 11.0, 10.0, 10.0)), True) == [("close_outside_range", MON)]
    assert rules(bars((MON, 10.0, 10.0, 9.0)), True) == [("high_below_low", MON), ("close_outside_range", MON)][:1]


@pytest.mark.parametrize(("low", "high", "close"), [(10.0, -INF, 10.0), (INF, 10.0, 10.0), (10.0, INF, 9.0),
                                                     (-INF, 10.0, 11.0)])
def test_a_non_finite_high_or_low_is_only_a_bad_price(low, high, close):
    found = {r for r, _ in rules(bars((MON, close, low, high)), True)}
    assert found == {"positive_price"}


def test_rule_names_of_volume_and_range():
    df = bars((MON, 10.0, 10.0, 9.0)).with_columns(volume=pl.lit(-1.0))
    assert price_violations(df, blocking=True).counts == {"negative_volume": 1, "high_below_low": 1}


def test_a_single_bar_is_checked():
    assert rules(bars((MON, -1.0, -1.0, -1.0)), True) == [("positive_price", MON)] * 5


def test_a_move_of_exactly_the_limit_is_plausible():
    q = QualityConfig(max_abs_daily_move=0.5)
    assert rules(bars((MON, 100.0), (TUE, 150.0)), False, quality=q) == []
    assert rules(bars((MON, 100.0), (TUE, 150.5)), False, quality=q) == [("large_move", TUE)]


def test_the_second_bar_of_a_ticker_is_compared_with_the_first():
    df = pl.concat([bars((MON, 10.0), ticker="AAA"), bars((MON, 100.0), (TUE, 300.0))])
    assert rules(df, False) == [("large_move", TUE)]


def split(day: dt.date, *ratios: float) -> pl.DataFrame:
    return pl.DataFrame({"date": [day] * len(ratios), "ticker": ["NVDA"] * len(ratios), "action": ["split"] * len(ratios),
                         "ratio": list(ratios)})


def test_splits_explain_moves_within_their_tolerance():
    q = QualityConfig(max_abs_daily_move=0.2)
    # 2-for-1: the close should halve; 0.7 of the previous close is 0.2 off 0.5 (> 15% of 1): flagged
    assert rules(bars((MON, 100.0), (TUE, 70.0)), False, quality=q, corporate_actions=split(TUE, 2.0)) == [
        ("large_move", TUE)]
    assert rules(bars((MON, 100.0), (TUE, 60.0)), False, quality=q, corporate_actions=split(TUE, 2.0)) == []
    # 1-for-10: the close should be 10x; 9x is 1.0 off, within 15% of 10
    assert rules(bars((MON, 10.0), (TUE, 90.0)), False, quality=q, corporate_actions=split(TUE, 0.1)) == []


@pytest.mark.parametrize("ratio", [0.0, INF, -2.0, NAN])
def test_an_invalid_split_ratio_explains_nothing(ratio):
    assert rules(bars((MON, 100.0), (TUE, 10.0)), False, corporate_actions=split(TUE, ratio)) == [
        ("large_move", TUE)]


def test_the_first_of_two_splits_on_a_day_is_the_one():
    df = bars((MON, 100.0), (TUE, 40.0))  # 2-for-1 explains a fall to 0.4 (0.1 off 0.5); 5-for-1 does not
    assert rules(df, False, corporate_actions=split(TUE, 2.0, 5.0)) == []
    assert rules(df, False, corporate_actions=split(TUE, 5.0, 2.0)) == [("large_move", TUE)]


def test_with_no_gap_allowed_a_complete_series_has_none():
    q = QualityConfig(max_gap_sessions=0)
    assert rules(bars((MON, 100.0), (TUE, 100.0), (WED, 100.0)), False, quality=q) == []
    assert rules(bars((MON, 100.0), (WED, 100.0)), False, quality=q) == [("session_gap", TUE)]


def test_a_gap_after_a_weekend_bar_starts_at_the_first_session():
    q = QualityConfig(max_gap_sessions=3)
    df = bars((D(2024, 3, 3), 100.0), (D(2024, 3, 15), 100.0))  # a Sunday, then 9 sessions missing
    [gap] = [v for v in price_violations(df, blocking=False, quality=q) if v.rule == "session_gap"]
    assert gap.message.endswith("no bar from 2024-03-04 to 2024-03-14; max 3)") and gap.value == 9


def test_bars_after_the_last_session_or_all_on_a_weekend_do_not_break_the_warnings():
    q = QualityConfig(max_gap_sessions=0)
    assert rules(bars((D(2024, 3, 8), 100.0), (D(2024, 3, 9), 100.0)), False, quality=q) == []
    assert rules(bars((D(2024, 3, 9), 100.0), (D(2024, 3, 10), 100.0)), False, quality=q) == []
    assert {r for r, _ in rules(bars((D(2024, 3, 9), 100.0)), True)} == {"not_a_session"}


def test_undated_bars_are_blocking_only_and_sort_last():
    q = QualityConfig(max_gap_sessions=0)
    undated = bars((None, 100.0), (None, 100.0))
    assert rules(undated, False, quality=q) == []
    assert [(v.rule, v.field) for v in price_violations(undated, blocking=True)] == [("missing_column", "date"),
                                                                                      ("duplicate_key", None)]
    mixed = bars((MON, 100.0), (TUE, 100.0), (None, 300.0))
    assert rules(mixed, False) == [("large_move", None)]


def test_a_penny_stock_is_a_valid_price():
    assert rules(bars((MON, 0.5, 0.49, 0.51), (TUE, 0.5, 0.49, 0.51)), True) == []


def test_a_single_undated_bar_is_only_missing_its_date():
    assert [(v.rule, v.field) for v in price_violations(bars((None, 100.0)), blocking=True)] == [
        ("not_null", "date")]


def test_a_gap_before_a_last_bar_on_a_weekend_ends_at_the_last_session():
    q = QualityConfig(max_gap_sessions=0)
    [gap] = price_violations(bars((D(2024, 3, 7), 100.0), (D(2024, 3, 9), 100.0)), blocking=False, quality=q)
    assert (gap.rule, gap.date, gap.value) == ("session_gap", D(2024, 3, 8), 1)  # Thursday, Saturday: Friday
    assert gap.message.endswith("sessions_missing=1 (no bar from 2024-03-08 to 2024-03-08; max 0)")


def test_a_gap_of_the_first_session_after_a_weekend_bar_is_that_session():
    q = QualityConfig(max_gap_sessions=0)
    [gap] = price_violations(bars((D(2024, 3, 3), 100.0), (TUE, 100.0)), blocking=False, quality=q)
    assert (gap.rule, gap.date, gap.value) == ("session_gap", MON, 1)  # Sunday, Tuesday: Monday
    assert gap.message.endswith("sessions_missing=1 (no bar from 2024-03-04 to 2024-03-04; max 0)")


def test_a_move_exactly_at_the_split_tolerance_is_explained():
    # 10-for-1: the close should be a tenth; a quarter is 0.15 off 0.1, exactly the tolerance (in floats too)
    assert rules(bars((MON, 100.0), (TUE, 25.0)), False, corporate_actions=split(TUE, 10.0)) == []
    assert rules(bars((MON, 100.0), (TUE, 25.5)), False, corporate_actions=split(TUE, 10.0)) == [
        ("large_move", TUE)]
