"""Transaction costs (numpy and cvxpy agree, grow with size) and the turnover budget."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.portfolio.settings import PortfolioConfig
from meridian_assets.portfolio.costs import TransactionCost
from meridian_assets.portfolio.errors import DataError
from meridian_assets.portfolio.turnover import apply_turnover_budget


def test_hand_checked_cost():
    c = TransactionCost.from_market([0.02], [0.02], [1e6], nav=1e7, cfg=PortfolioConfig())
    est = c.estimate(np.array([0.01]))  # $100k trade, 10% of a $1M ADV
    assert est.spread_frac[0] == pytest.approx(0.05 * 0.02 * 0.01)  # 10 bps
    # spec form: 0.10 * sqrt(trade/ADV) * vol_bps = 0.1 * sqrt(0.1) * 200 bps = 6.32 bps
    assert est.bps[0] == pytest.approx(10 + 0.1 * np.sqrt(0.1) * 200)
    assert est.dollars[0] == pytest.approx(est.total_frac[0] * 1e7)
    assert est.totals()["commission"] == 0.0


@settings(max_examples=50, deadline=None)
@given(x=st.floats(1e-5, 0.2), k=st.floats(1.01, 10))
def test_costs_grow_with_size_and_cvxpy_agrees(x, k):
    c = TransactionCost.from_market([0.03, 0.01], [0.02, 0.03], [5e6, 1e8], nav=1e7)
    small, big = c.estimate(np.array([x, -x])), c.estimate(np.array([k * x, -k * x]))
    assert np.all(big.total_frac > small.total_frac)
    assert np.all(big.bps > small.bps)  # impact makes cost per dollar rise with size
    v = cp.Variable(2)
    v.value = np.array([k * x, -k * x])
    assert c.expression(v).value == pytest.approx(big.total_frac.sum(), rel=1e-9)
    assert c.expression(v).is_convex()


def test_cost_inputs_are_validated():
    with pytest.raises(DataError):
        TransactionCost.from_market([0.02], [0.02], [0.0], nav=1e7)
    with pytest.raises(DataError):
        TransactionCost.from_market([np.nan], [0.02], [1e6], nav=1e7)


def test_turnover_budget_hand_case():
    current = np.array([0.0, 0.10, 0.05, 0.0])
    target = np.array([0.20, 0.0, 0.05, -0.15])
    score_change = np.array([5.0, -30.0, 0.0, 12.0])
    res = apply_turnover_budget(current, target, score_change, 0.30, tickers=["A", "B", "C", "D"])
    assert [t.ticker for t in res.trades] == ["B", "D", "A"]  # by |score change|; C does not trade
    assert [t.fill for t in res.trades] == pytest.approx([1.0, 1.0, 0.25])  # 0.10 + 0.15 + 0.05 of 0.20
    assert res.weights == pytest.approx([0.05, 0.0, 0.05, -0.15])
    assert res.turnover == pytest.approx(0.30) and not res.complete


def test_turnover_within_budget_fills_everything():
    res = apply_turnover_budget([0.1, 0.0], [0.0, 0.1], [1.0, 2.0], 0.30)
    assert res.complete and res.weights == pytest.approx([0.0, 0.1]) and res.turnover == pytest.approx(0.2)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 10_000), budget=st.floats(0.0, 1.0))
def test_turnover_lands_exactly_on_budget_in_score_order(n, seed, budget):
    rng = np.random.default_rng(seed)
    cur, tgt = rng.normal(0, 0.05, n), rng.normal(0, 0.05, n)
    sc = rng.normal(0, 10, n)
    res = apply_turnover_budget(cur, tgt, sc, budget)
    wanted = np.abs(tgt - cur).sum()
    assert res.turnover == pytest.approx(min(budget, wanted), abs=1e-12)
    mags = [abs(t.score_change) for t in res.trades]
    assert mags == sorted(mags, reverse=True)
    fills = [t.fill for t in res.trades]
    partial = [f for f in fills if 0 < f < 1]
    assert len(partial) <= 1
    first_short = next((i for i, f in enumerate(fills) if f < 1), len(fills))
    assert all(f == 1 for f in fills[:first_short]) and all(f == 0 for f in fills[first_short + 1:])
    executed = np.zeros(n)
    for t in res.trades:
        executed[t.index] = t.executed
    assert np.allclose(res.weights, cur + executed)
