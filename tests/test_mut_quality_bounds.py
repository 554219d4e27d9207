"""The table rules at their edges: a value exactly at a limit passes and the next one over is flagged (each
comparison's direction and strictness), a rule that needs finite inputs says nothing when one of them is not,
the session rule of the tables whose own date must be a session, and each table's checker, built afresh, finds
what the registered one finds: its own rules and known_at's session rule, each capped to the number asked."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from meridian_assets.ingest import schemas
from meridian_assets.ingest.quality import range_violations, violations_for
from meridian_assets.ingest.quality import tables as quality_tables
from tests.test_quality import BASES, CASES, _table

D = dt.date
NAN, INF = float("nan"), float("inf")

# (table, changes, the rule that must NOT fire): values exactly at the rule's limit
AT_THE_LIMIT = [
    ("universe", dict(end_date=D(2001, 11, 30)), "end_before_start"),
    ("corporate_actions", dict(ratio=0.1), "split_ratio"),  # a 1-for-10 reverse split
    ("corporate_actions", dict(action="dividend", ratio=0.24), "dividend_amount"),
    ("analyst_estimates", dict(price_target=0.5), "price_target_positive"),
    ("index_coverage", dict(members_with_prices=503, members_without_prices=0), "with_prices_above_members"),
    ("fundamentals_raw", dict(revenue=0.0), "negative_revenue"),
    ("fundamentals_raw", {i: 0.0 for i in quality_tables._BALANCE_ITEMS}, "negative_balance"),
    ("fundamentals_raw", dict(current_assets=10.0, total_assets=10.0), "current_assets_above_total"),
    ("fundamentals_raw", dict(current_assets=NAN), "current_assets_above_total"),
    ("fundamentals_raw", dict(total_assets=-INF), "current_assets_above_total"),
    ("sec_filings", dict(period_of_report=D(2024, 2, 21)), "period_after_filing"),
    ("insider_transactions", dict(shares=1.0, price=197.0, value=200.0), "value_mismatch"),  # |diff| = 3 = 1% + 1
    ("insider_transactions", dict(value=NAN), "value_mismatch"),
    ("insider_transactions", dict(shares=NAN), "value_mismatch"),
    ("insider_transactions", dict(price=NAN), "value_mismatch"),
    # shares x price overflows to inf and inf - inf is NaN, which polars orders above every number: the value's
    # own finiteness is what keeps a non-finite value a negative_amount only
    ("insider_transactions", dict(shares=1e200, price=1e200, value=INF), "value_mismatch"),
    ("insider_transactions", dict(code="S", acquired_disposed="D"), "code_direction"),
    ("insider_cluster_flags", dict(n_insiders=1, n_transactions=1), "n_insiders_positive"),
    ("insider_cluster_flags", dict(n_insiders=4, n_transactions=4), "transactions_below_insiders"),
    ("insider_cluster_flags", dict(window_start=D(2024, 3, 5)), "window_inverted"),
    ("institutional_holdings", dict(change_shares=10.5), "change_mismatch"),  # |diff| = 0.5
    ("institutional_holdings", dict(change_shares=NAN), "change_mismatch"),
    ("institutional_holdings", dict(shares=NAN), "change_mismatch"),
    ("institutional_holdings", dict(prior_shares=NAN), "change_mismatch"),
    ("institutional_holdings", dict(is_new_position=True, prior_shares=0.0, change_shares=100.0), "new_with_prior"),
    ("institutional_summary", dict(new_positions=3), "new_above_count"),
    ("short_interest", dict(short_pct_float=0.0), "short_pct_float_range"),
    ("short_interest", dict(short_pct_float=1.0), "short_pct_float_above_one"),
    ("short_interest", dict(short_pct_float=1.0), "short_pct_float_range"),
    ("short_interest", dict(settlement_date=D(2024, 3, 5)), "settlement_after_date"),
    ("analyst_estimates", dict(rating_mean=1.0), "rating_range"),
    ("analyst_estimates", dict(rating_mean=5.0), "rating_range"),
]

# (table, changes, the rule that must fire): just past the limit
PAST_THE_LIMIT = [
    ("insider_transactions", dict(shares=1.0, price=196.5, value=200.0), "value_mismatch"),  # |diff| = 3.5 > 3
    ("insider_transactions", dict(code="S", acquired_disposed="A"), "code_direction"),
    ("institutional_holdings", dict(change_shares=11.0), "change_mismatch"),  # |diff| = 1
    ("institutional_holdings", dict(is_new_position=True, prior_shares=1.0, change_shares=99.0), "new_with_prior"),
    ("insider_cluster_flags", dict(n_insiders=1, n_transactions=0), "transactions_below_insiders"),
    ("fundamentals_raw", dict(cash=-0.5), "negative_balance"),
    ("fundamentals_raw", dict(current_assets=10.5), "current_assets_above_total"),
    ("short_interest", dict(short_pct_float=1.01), "short_pct_float_above_one"),
    ("analyst_estimates", dict(rating_mean=0.99), "rating_range"),
    ("analyst_estimates", dict(rating_mean=5.01), "rating_range"),
]


def _rules(table: str, **changes) -> set[str]:
    return {v.rule for v in violations_for(table, _table(table, **changes))}


@pytest.mark.parametrize(("table", "changes", "rule"), AT_THE_LIMIT,
                         ids=[f"{t}-{r}-{'-'.join(c)}" for t, c, r in AT_THE_LIMIT])
def test_a_value_at_the_limit_passes(table, changes, rule):
    assert rule not in _rules(table, **changes)


@pytest.mark.parametrize(("table", "changes", "rule"), PAST_THE_LIMIT,
                         ids=[f"{t}-{r}-{'-'.join(c)}" for t, c, r in PAST_THE_LIMIT])
def test_a_value_past_the_limit_is_flagged(table, changes, rule):
    assert rule in _rules(table, **changes)


@pytest.mark.parametrize("table", ["short_interest", "analyst_estimates"])
def test_the_own_date_of_a_daily_table_must_be_a_session(table):
    bad = _table(table, date=D(2024, 3, 9))  # a Saturday
    for found in (range_violations(table, bad), violations_for(table, bad)):
        assert found.counts == {"date_session": 1}
        [v] = list(found)
        assert (v.field, v.date, v.blocking) == ("date", D(2024, 3, 9), True)
        assert v.message.endswith("date=2024-03-09 (not an NYSE session)")


@pytest.mark.parametrize("table", sorted(t for t in BASES if schemas.TABLES[t].key))
def test_each_tables_checker_built_afresh_finds_what_the_registered_one_finds(table):
    """`TABLE_RULES` is built once, at import; the same builder called now must give the same checker."""
    check = quality_tables._table_checker(table)
    assert check.__name__ == f"check_{table}"
    assert check.__doc__ == f"Key, not-null and range rules of {table} (see the quality module docstring)."
    clean = _table(table)
    bad = pl.concat([clean, clean])
    # every bad row of the table's one-bad-row cases twice (each rule found twice, shown once under a cap of
    # one), plus a known_at that is not a session where the table has one
    rows = [_table(t, **changes) for t, changes, _, _ in CASES if t == table]
    if "known_at" in clean.columns:
        rows.append(_table(table, known_at=D(2024, 3, 9)))
    many = pl.concat(rows + rows)
    for df in (clean, bad, many, schemas.TABLES[table].empty()):
        for blocking in (None, True, False):
            got = check(df, blocking=blocking, max_per_rule=1)
            want = violations_for(table, df, blocking=blocking, max_per_rule=1)
            assert [v.message for v in got] == [v.message for v in want]
            assert (got.counts, got.total) == (want.counts, want.total)
    assert check(clean) == [] and check(schemas.TABLES[table].empty()) == []
    found = check(bad)
    assert found.counts == {"duplicate_key": 1} and [(v.blocking, v.table) for v in found] == [(True, table)]
    assert check(bad, blocking=False) == [] and check(bad, blocking=True).counts == {"duplicate_key": 1}
    found = check(many, max_per_rule=1)
    assert "known_at_session" in found.counts or "known_at" not in clean.columns
    ranged = {v.rule for v in range_violations(table, many)}
    assert ranged and ranged <= set(found.counts)  # the table's own rules, not only its key rules
    assert len(found) < found.total  # each rule shows one of the two it found
