"""The turnover budget by hand: full fills while the budget lasts, the crossing trade filled to land exactly on
it, nothing after; ties in index order; the veto callback asked only for trades that would execute and a
refusal using none of the budget; explicit orders; bad input refused. And the balanced order's interleaving."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.portfolio.errors import DataError
from meridian_assets.portfolio.turnover import BudgetStep, apply_turnover_budget, balanced_order


def fills(result) -> list[tuple[int, float]]:
    return [(t.index, round(t.fill, 12)) for t in result.trades]


def test_the_crossing_trade_lands_exactly_on_the_budget():
    r = apply_turnover_budget([0.0, 0.0, 0.0, 0.05], [0.2, -0.15, 0.1, 0.05], [3.0, -2.0, 1.0, 9.0], 0.30,
                              tickers=["A", "B", "C", "D"])
    assert fills(r) == [(0, 1.0), (1, round(0.1 / 0.15, 12)), (2, 0.0)]  # D has no trade
    assert [t.ticker for t in r.trades] == ["A", "B", "C"] and not r.complete
    assert r.weights.tolist() == pytest.approx([0.2, -0.1, 0.0, 0.05])
    assert r.turnover == pytest.approx(0.30) and r.budget == 0.30
    b = r.trades[1]
    assert b == BudgetStep(1, "B", -0.15, b.fill, -2.0) and b.executed == pytest.approx(-0.1) and not b.rejected


def test_everything_fills_when_it_fits_and_ties_go_in_index_order():
    # (binary fractions, so "exactly the budget" is exact in floats)
    r = apply_turnover_budget([0.125, 0.0, 0.0], [0.0, 0.125, 0.0625], [1.0, 1.0, 1.0], 0.5)
    assert fills(r) == [(0, 1.0), (1, 1.0), (2, 1.0)] and r.complete
    assert r.turnover == 0.3125 and [t.ticker for t in r.trades] == [None] * 3
    exact = apply_turnover_budget([0.0, 0.0], [0.125, 0.25], [0.0, 0.0], 0.375)  # exactly the budget: all in full
    assert fills(exact) == [(0, 1.0), (1, 1.0)] and exact.complete
    nothing = apply_turnover_budget([0.0, 0.0], [0.1, -0.1], [1.0, 2.0], 0.0)
    assert fills(nothing) == [(1, 0.0), (0, 0.0)] and nothing.turnover == 0.0
    nan = apply_turnover_budget([0.0, 0.0], [0.1, 0.1], [np.nan, 5.0], 0.1)  # a missing score change counts 0
    assert fills(nan) == [(1, 1.0), (0, 0.0)] and nan.trades[1].score_change == 0.0


def test_the_veto_is_asked_only_for_trades_that_would_execute_and_a_refusal_costs_nothing():
    asked = []

    def accept(i, executed):
        asked.append((i, round(executed, 12)))
        return i != 0

    r = apply_turnover_budget([0.0, 0.0, 0.0, 0.0], [0.2, 0.15, 0.1, 0.3], [4.0, 3.0, 2.0, 1.0], 0.30, accept=accept)
    assert asked == [(0, 0.2), (1, 0.15), (2, 0.1), (3, 0.05)]  # the refused 0.2 left the budget whole
    assert fills(r) == [(0, 0.0), (1, 1.0), (2, 1.0), (3, round(0.05 / 0.3, 12))]
    assert r.trades[0].rejected and r.trades[0].fill == 0.0 and not r.trades[1].rejected
    assert r.weights.tolist() == pytest.approx([0.0, 0.15, 0.1, 0.05]) and r.turnover == pytest.approx(0.30)
    asked.clear()
    apply_turnover_budget([0.0, 0.0], [0.3, 0.1], [2.0, 1.0], 0.30, accept=lambda i, e: asked.append(i) or True)
    assert asked == [0]  # the budget is spent: the second trade (fill 0) is not put to the veto


def test_an_explicit_order_and_names_left_out_of_it():
    r = apply_turnover_budget([0.0, 0.0, 0.0], [0.1, 0.2, 0.3], [9.0, 5.0, 1.0], 0.25, order=[2, 0])
    assert fills(r) == [(2, round(0.25 / 0.3, 12)), (0, 0.0)]  # name 1 is not in the order: no trade
    assert r.weights.tolist() == pytest.approx([0.0, 0.0, 0.25])
    r2 = apply_turnover_budget([0.0, 0.0, 0.0], [0.1, 0.2, 0.3], [9.0, 5.0, 1.0], 0.35, order=[2, 0])
    assert fills(r2) == [(2, 1.0), (0, 0.5)]


@pytest.mark.parametrize(("cur", "tgt", "sc", "budget", "message"), [
    ([0.0, 0.0], [0.1], [1.0, 1.0], 0.3, "differ"),
    ([[0.0]], [[0.1]], [[1.0]], 0.3, "differ"),
    ([0.0, np.inf], [0.1, 0.1], [1.0, 1.0], 0.3, "finite"),
    ([0.0, 0.0], [0.1, np.nan], [1.0, 1.0], 0.3, "finite"),
    ([0.0], [0.1], [1.0], -0.01, "budget >= 0"),
])
def test_bad_input_is_refused(cur, tgt, sc, budget, message):
    with pytest.raises(DataError, match=message):
        apply_turnover_budget(cur, tgt, sc, budget)


def test_the_balanced_order_interleaves_to_stay_on_the_pro_rata_net():
    # a 2/2 book from cash: equal conviction on both sides -> long, short, long, short
    assert balanced_order([0.0] * 4, [0.1, 0.1, -0.1, -0.1], [100.0, 100.0, -100.0, -100.0]) == [0, 2, 1, 3]
    # target net +0.25: after the 0.3 long, the short is closer to the path than the small long
    assert balanced_order([0.0] * 3, [0.3, -0.1, 0.05], [1.0, 1.0, 1.0]) == [0, 1, 2]
    # within a direction: largest |score change| first, then index
    assert balanced_order([0.0] * 4, [0.1, 0.1, 0.1, 0.0], [1.0, -5.0, 1.0, 9.0]) == [1, 0, 2]
    assert balanced_order([0.1, -0.1], [0.0, 0.0], [0.0, np.nan]) == [1, 0]  # a tie goes to the net-raising side
    assert balanced_order([0.0], [0.0], [1.0]) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.05, 0.05), st.floats(-0.05, 0.05), st.floats(-100, 100)), min_size=1,
                max_size=25), st.floats(0.0, 0.5))
def test_the_budget_holds_and_every_trade_executes_toward_its_target(rows, budget):
    cur, tgt, sc = (np.array(c) for c in zip(*rows))
    for order in (None, balanced_order(cur, tgt, sc)):
        r = apply_turnover_budget(cur, tgt, sc, budget, order=order)
        assert r.turnover <= budget + 1e-12
        assert r.turnover == pytest.approx(min(budget, float(np.abs(tgt - cur).sum())), abs=1e-12)
        for t in r.trades:
            assert 0.0 <= t.fill <= 1.0
            assert r.weights[t.index] == pytest.approx(cur[t.index] + t.delta * t.fill)
        partial = [t for t in r.trades if 0.0 < t.fill < 1.0]
        assert len(partial) <= 1
    order = balanced_order(cur, tgt, sc)
    assert sorted(order) == [i for i in range(len(cur)) if tgt[i] != cur[i]]


def test_the_default_budget_is_thirty_percent_and_integer_weights_are_fine():
    r = apply_turnover_budget([0, 0], [1, 2], [2, 1])  # integer inputs: the fill is still fractional
    assert fills(r) == [(0, 0.3), (1, 0.0)] and r.weights.tolist() == pytest.approx([0.3, 0.0])
    assert r.budget == 0.30 and r.weights.dtype == np.float64


def test_a_refused_trade_is_recorded_in_full():
    r = apply_turnover_budget([0.0, 0.0], [0.1, -0.2], [1.0, 2.0], 0.5, tickers=["A", "B"],
                              accept=lambda i, e: i == 0)
    assert r.trades == [BudgetStep(1, "B", -0.2, 0.0, 2.0, True), BudgetStep(0, "A", 0.1, 1.0, 1.0)]


def test_bad_input_names_the_table_and_the_field():
    with pytest.raises(DataError) as err:
        apply_turnover_budget([0.0], [0.1], [1.0], -0.5)
    assert (err.value.table, err.value.field, err.value.value) == ("rebalance", "budget", -0.5)
    assert str(err.value) == "rebalance budget=-0.5 (weights must be finite and the budget >= 0)"
    with pytest.raises(DataError) as err:
        apply_turnover_budget([0.0, 0.0], [0.1], [1.0, 1.0])
    assert str(err.value) == "rebalance (current (2,), target (1,), score_change (2,) differ)"


def test_many_ties_keep_their_index_order():
    sc = np.random.default_rng(0).choice([0.0, 1.0, -2.0], 300)  # three score changes, 100 names each
    r = apply_turnover_budget(np.zeros(300), np.full(300, 0.001), sc, 1.0)
    expected = [i for level in (2.0, 1.0, 0.0) for i in range(300) if abs(sc[i]) == level]
    assert [t.index for t in r.trades] == expected


def reference_balanced_order(cur, tgt, sc) -> list[int]:
    """The balanced order from its definition: at each step, of the best remaining buy and the best remaining
    sell (largest |score change|, then index), take the one whose running net lands closer to the straight
    path from the current net to the target net, measured by the share of turnover done (a tie: the buy)."""
    sc = [0.0 if s != s else abs(s) for s in sc]
    delta = [t - c for c, t in zip(cur, tgt)]
    ups = sorted((i for i, d in enumerate(delta) if d > 0), key=lambda i: (-sc[i], i))
    downs = sorted((i for i, d in enumerate(delta) if d < 0), key=lambda i: (-sc[i], i))
    start, goal, total = sum(cur), sum(tgt), sum(abs(d) for d in delta)
    out, net, done = [], start, 0.0
    while ups or downs:
        def miss(i):
            return abs(net + delta[i] - (start + (goal - start) * ((done + abs(delta[i])) / total)))  # share first: ties compare equal
        pick = ups if ups and (not downs or miss(ups[0]) <= miss(downs[0]) + 1e-12) else downs
        i = pick.pop(0)
        out.append(i)
        net, done = net + delta[i], done + abs(delta[i])
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([-0.04, -0.02, 0.0, 0.01, 0.03]), st.sampled_from([-0.05, -0.01, 0.0, 0.02, 0.06]),
                          st.one_of(st.just(float("nan")), st.sampled_from([-3.0, -1.0, 0.0, 0.5, 2.0]))),
                min_size=1, max_size=14))
def test_the_balanced_order_matches_its_definition(rows):
    cur, tgt, sc = (list(c) for c in zip(*rows))
    assert balanced_order(cur, tgt, sc) == reference_balanced_order(cur, tgt, sc)


def test_trades_that_fit_the_budget_to_rounding_fill_in_full():
    """Three 0.1 trades on a 0.30 budget: the running budget is 0.0999...98 before the third, which must still
    fill completely (not at 99.99...% and reported partial)."""
    res = apply_turnover_budget(np.zeros(3), np.full(3, 0.1), np.array([3.0, 2.0, 1.0]), budget=0.30)
    assert [t.fill for t in res.trades] == [1.0, 1.0, 1.0]
    assert np.array_equal(res.weights, np.full(3, 0.1))


def test_a_trade_past_the_budget_by_more_than_rounding_is_filled_partially():
    """A 0.30000000003 trade on a 0.30 budget (1e-10 over: $0.0003 on a $3M budget of a $10M book, far beyond
    float rounding) lands on the budget instead of filling in full."""
    size = 0.30 * (1 + 1e-10)
    res = apply_turnover_budget(np.zeros(1), np.array([size]), np.array([1.0]), budget=0.30)
    assert res.trades[0].fill == 0.30 / size < 1.0 and not res.complete
    assert res.weights[0] == pytest.approx(0.30, rel=1e-15, abs=0.0)
