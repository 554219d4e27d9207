"""MVO maths: every constraint holds on random feasible problems; infeasibility, fallback and costs; the compiled
program (one per shape, reused) gives the one-shot formulation's answers on random feasible and infeasible books."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from meridian_assets.portfolio.settings import PortfolioConfig
from meridian_assets.risk.settings import RiskConfig
from meridian_assets.portfolio.costs import TransactionCost
from meridian_assets.portfolio.errors import DataError, NumericalSolverError, ProgramInfeasible
from meridian_assets.portfolio.mvo import MVOProblem, expected_returns, optimize_mvo
from meridian_assets.portfolio import mvo_program
from meridian_assets.portfolio.mvo_program import solve_mvo

CFG = PortfolioConfig()
LIM = RiskConfig()  # the limits of the book: the optimizer reads them from the risk block
TOL = 1e-6


def make_problem(seed: int, n_sectors: int = 4, with_current: bool = True, n: int = 60):
    """A feasible problem by construction: the equal-weight book satisfies every constraint."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 100, n)
    order = np.argsort(-scores)
    L, S = order[:20], order[-20:]
    sectors = rng.integers(0, n_sectors, n)
    sectors[L] = np.arange(20) % n_sectors  # each sector: same count on both sides
    sectors[S] = rng.permutation(np.arange(20) % n_sectors)
    beta = rng.uniform(0.5, 1.5, n)
    w_eq = np.zeros(n)
    w_eq[L], w_eq[S] = CFG.long_exposure / 20, -CFG.short_exposure / 20
    target = rng.uniform(-0.1, 0.1)  # equal-weight net beta, inside the 0.15 limit
    beta[S] *= (beta[L] @ w_eq[L] - target) / (-(beta[S] @ w_eq[S]))
    k = 5
    X = rng.normal(size=(n, k))
    A = rng.normal(size=(k, k)) * 0.1
    F = A @ A.T + 0.01 * np.eye(k)
    D = rng.uniform(0.02, 0.12, n)
    costs = TransactionCost.from_market(rng.uniform(0.01, 0.05, n), rng.uniform(0.01, 0.04, n),
                                        rng.uniform(2e6, 5e8, n), nav=1e7)
    current = None
    if with_current:
        noise = rng.normal(size=n) * (rng.random(n) < 0.4)
        current = w_eq + 0.25 * noise / max(np.abs(noise).sum(), 1e-12)  # ≤ 0.25 away from a feasible book
    return dict(mu=expected_returns(scores), sigma=(X, F, D), beta=beta, sectors=sectors, current=current,
                costs=costs, L=L, S=S)


def assert_feasible(w, p, cfg=CFG, turnover=True):
    n = len(w)
    L, S = p["L"], p["S"]
    outside = np.setdiff1d(np.arange(n), np.concatenate([L, S]))
    assert np.all(w[outside] == 0)
    assert np.all(w[L] >= cfg.min_position_pct - TOL) and np.all(w[L] <= LIM.max_position_pct + TOL)
    assert np.all(-w[S] >= cfg.min_position_pct - TOL) and np.all(-w[S] <= LIM.max_position_pct + TOL)
    assert abs(w[L].sum() - cfg.long_exposure) <= TOL
    assert abs(-w[S].sum() - cfg.short_exposure) <= TOL
    assert abs(p["beta"] @ w) <= LIM.max_beta + TOL
    for s in np.unique(p["sectors"]):
        m = p["sectors"] == s
        assert abs(w[m].sum()) <= cfg.max_sector_net_pct + TOL
        assert w[m & (w > 0)].sum() <= LIM.max_sector_side_pct + TOL
        assert -w[m & (w < 0)].sum() <= LIM.max_sector_side_pct + TOL
    if turnover and p["current"] is not None:
        assert np.abs(w - p["current"]).sum() <= cfg.turnover_budget + TOL


def solve(p, **kw):
    return optimize_mvo(p["mu"], p["sigma"], p["beta"], p["sectors"], p["current"], p["costs"], None,
                        p["L"], p["S"], **kw)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_sectors=st.sampled_from([4, 5]), with_current=st.booleans())
@example(seed=1350694, n_sectors=4, with_current=True)  # CLARABEL "AlmostSolved": accepted on violation
def test_mvo_weights_satisfy_every_constraint(seed, n_sectors, with_current):
    p = make_problem(seed, n_sectors, with_current)
    res = solve(p)
    assert res.solver in ("CLARABEL", "SCS") and res.max_violation <= 1e-7
    assert_feasible(res.weights, p)
    assert res.costs["total"] > 0 and res.risk > 0
    assert res.objective == pytest.approx(res.expected_return - CFG.mvo_risk_aversion * res.risk
                                          - res.costs["total"])


def test_expected_returns_linear_map():
    assert expected_returns([100, 50, 0, 75]) == pytest.approx([0.15, 0.0, -0.15, 0.075])
    with pytest.raises(DataError):
        expected_returns([np.nan])


def test_factor_and_dense_covariance_give_the_same_book():
    p = make_problem(3)
    X, F, D = p["sigma"]
    dense = dict(p, sigma=X @ F @ X.T + np.diag(D))
    a, b = solve(p), solve(dense)
    assert np.abs(a.weights - b.weights).max() < 1e-5
    assert a.risk == pytest.approx(b.risk, rel=1e-6)


def test_optimum_beats_the_equal_weight_book():
    p = make_problem(5, with_current=False)
    res = solve(p)
    w_eq = np.zeros(len(p["mu"]))
    w_eq[p["L"]], w_eq[p["S"]] = 0.04, -0.035
    X, F, D = p["sigma"]
    eq_obj = p["mu"] @ w_eq - w_eq @ (X @ F @ X.T + np.diag(D)) @ w_eq - p["costs"].estimate(w_eq).totals()["total"]
    assert res.objective >= eq_obj - 1e-7


def test_beta_infeasible_names_the_binding_constraint():
    p = make_problem(1, with_current=False)
    p["beta"] = np.where(np.isin(np.arange(60), p["L"]), 2.0, 0.5)  # long β 1.6 vs short β 0.35
    with pytest.raises(ProgramInfeasible) as err:
        solve(p)
    assert err.value.binding == ("beta",)


def test_turnover_infeasible_and_soft_mode():
    p = make_problem(2)
    cur = np.zeros(60)
    outside = np.setdiff1d(np.arange(60), np.concatenate([p["L"], p["S"]]))
    cur[outside[:10]] = 0.05  # a book of names no longer selected: selling it alone is 0.5 turnover
    p["current"] = cur
    with pytest.raises(ProgramInfeasible) as err:
        solve(p)
    assert "turnover" in err.value.binding
    soft = solve(p, turnover_mode="soft")
    assert_feasible(soft.weights, p, turnover=False)
    assert soft.turnover > CFG.turnover_budget


def test_sector_side_infeasible():
    p = make_problem(4, with_current=False)
    p["sectors"] = np.zeros(60, dtype=int)
    p["sectors"][p["S"]] = np.arange(20) % 4
    with pytest.raises(ProgramInfeasible) as err:
        solve(p)
    assert "sector_side" in err.value.binding  # no single group suffices: the elastic answer


def test_falls_back_to_the_second_solver():
    p = make_problem(6)
    res = solve(p, solver_options={"CLARABEL": {"max_iter": 1}, "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9}})
    assert res.solver == "SCS" and res.attempts[0][0] == "CLARABEL" and res.attempts[0][1] != "optimal"
    ref = solve(p)
    assert np.abs(res.weights - ref.weights).max() < 1e-4
    assert abs(res.weights[p["L"]].sum() - CFG.long_exposure) < 1e-5


def test_all_solvers_failing_raises_numerical_error():
    p = make_problem(6)
    with pytest.raises(NumericalSolverError) as err:
        solve(p, solvers=("CLARABEL",), solver_options={"CLARABEL": {"max_iter": 1}})
    assert err.value.attempts[0][0] == "CLARABEL"


def test_costs_are_in_the_objective_and_a_costly_name_gets_less_weight():
    p = make_problem(7, with_current=False)
    base = solve(p)
    name = p["L"][int(np.argmin(p["mu"][p["L"]]))]  # the least attractive long name
    assert base.weights[name] > CFG.min_position_pct + 1e-3
    c = p["costs"]
    spread = c.half_spread.copy()
    spread[name] = 0.20  # 2000 bps to trade this one name: more than its expected return
    p2 = dict(p, costs=TransactionCost(spread, c.sigma, c.adv, c.impact_coefficient, c.commission, c.nav))
    dear = solve(p2)
    assert dear.weights[name] < base.weights[name] - 1e-4
    assert dear.weights[name] == pytest.approx(CFG.min_position_pct, abs=1e-6)
    no_cost = solve(dict(p, costs=None))
    assert no_cost.costs["total"] == 0 and base.costs["total"] > 0


def test_one_shot_problem_solves_again_for_new_returns():
    p = make_problem(8)
    prob = MVOProblem(60, p["L"], p["S"], p["beta"], p["sectors"], p["sigma"], p["costs"])
    first = prob.solve(p["mu"], p["current"])
    second = prob.solve(p["mu"] * 0.5, p["current"])
    assert_feasible(second.weights, p)
    assert second.expected_return < first.expected_return


# ------------------------------------------------------------------------------ the compiled program
# Both paths solved to a tight gap so their books can be compared to 1e-6 (at the default 1e-8 gap the optimum
# is flat enough that two formulations' books differ by up to ~1e-5 while the objectives agree to ~1e-9).
TIGHT = {"CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}}


def _args(p, cfg=None):
    return p["mu"], p["sigma"], p["beta"], p["sectors"], p["current"], p["costs"], cfg, p["L"], p["S"]


def _both(p, **kw):
    return optimize_mvo(*_args(p), **kw), solve_mvo(*_args(p), **kw)


def _shrunk(p, drop_long: int, drop_short: int):
    """The problem with fewer names a side (held dropped names must be sold): the program's unused slots."""
    return dict(p, L=p["L"][: len(p["L"]) - drop_long], S=p["S"][: len(p["S"]) - drop_short])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), n_sectors=st.sampled_from([4, 5]), with_current=st.booleans(),
       mode=st.sampled_from(["hard", "soft", "off"]), dense=st.booleans(), costs=st.booleans(),
       drop_long=st.integers(0, 3), drop_short=st.integers(0, 3))
def test_compiled_program_gives_the_one_shot_answer(seed, n_sectors, with_current, mode, dense, costs, drop_long,
                                                    drop_short):
    p = make_problem(seed, n_sectors, with_current)
    if dense:
        X, F, D = p["sigma"]
        p["sigma"] = X @ F @ X.T + np.diag(D)
    if not costs:
        p["costs"] = None
    p = _shrunk(p, drop_long, drop_short)
    try:
        ref = optimize_mvo(*_args(p), turnover_mode=mode, solver_options=TIGHT)
    except ProgramInfeasible as err:  # fewer names or a held book to sell can make it infeasible: same diagnosis
        with pytest.raises(ProgramInfeasible) as got:
            solve_mvo(*_args(p), turnover_mode=mode, solver_options=TIGHT)
        assert got.value.binding == err.binding
        return
    res = solve_mvo(*_args(p), turnover_mode=mode, solver_options=TIGHT)
    assert np.abs(res.weights - ref.weights).max() <= 1e-6
    assert res.objective == pytest.approx(ref.objective, abs=1e-8)
    assert res.risk == pytest.approx(ref.risk, abs=1e-7) and res.turnover == pytest.approx(ref.turnover, abs=1e-5)
    assert res.costs["total"] == pytest.approx(ref.costs["total"], abs=1e-7)
    assert res.max_violation <= 1e-7


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), mode=st.sampled_from(["hard", "soft", "off"]))
def test_compiled_program_at_default_tolerances_agrees_with_the_one_shot(seed, mode):
    a, b = _both(make_problem(seed), turnover_mode=mode)
    assert b.solver == "CLARABEL" and b.max_violation <= 1e-7
    assert b.objective == pytest.approx(a.objective, abs=1e-7)
    assert np.abs(a.weights - b.weights).max() <= 2e-5


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(["beta", "sector_side", "turnover", "position"]))
def test_compiled_program_names_the_same_binding_groups_when_infeasible(seed, kind):
    p = make_problem(seed)
    n = len(p["mu"])
    if kind == "beta":
        p["beta"] = np.where(np.isin(np.arange(n), p["L"]), 2.0, 0.5)
    elif kind == "sector_side":
        p["sectors"] = np.zeros(n, dtype=int)
        p["sectors"][p["S"]] = np.arange(20) % 4
    elif kind == "turnover":
        cur = np.zeros(n)
        cur[np.setdiff1d(np.arange(n), np.concatenate([p["L"], p["S"]]))[:10]] = 0.05
        p["current"] = cur
    else:  # 3 longs cannot hold 80% at 5% each
        p["L"] = p["L"][:3]
    with pytest.raises(ProgramInfeasible) as ref:
        optimize_mvo(*_args(p))
    with pytest.raises(ProgramInfeasible) as got:
        solve_mvo(*_args(p))
    assert got.value.binding == ref.value.binding and got.value.binding


def test_solver_options_of_one_solve_do_not_stay_with_the_compiled_program():
    """cvxpy keeps CLARABEL's solver object (and its settings) between solves of a program: a one-iteration
    limit asked for once must not make the next, default solve of the same program fail."""
    p = make_problem(6)
    with pytest.raises(NumericalSolverError):
        solve_mvo(*_args(p), solvers=("CLARABEL",), solver_options={"CLARABEL": {"max_iter": 1}})
    again = solve_mvo(*_args(p), solvers=("CLARABEL",))
    assert again.solver == "CLARABEL" and again.status == "optimal"
    assert again.objective == pytest.approx(optimize_mvo(*_args(p)).objective, abs=1e-7)


def test_an_answer_does_not_depend_on_what_the_process_solved_before():
    """A backtest's book must be a function of its own data: solving other books of the same shape first (as a
    sweep does with the sleeves ahead of it) leaves the next answer identical to the bit."""
    target = make_problem(11)
    mvo_program._PROGRAMS.clear()
    alone = solve_mvo(*_args(target)).weights
    mvo_program._PROGRAMS.clear()
    for seed in (12, 13, 14):
        solve_mvo(*_args(make_problem(seed)))
    after_others = solve_mvo(*_args(target)).weights
    assert len(mvo_program._PROGRAMS) == 1
    assert np.array_equal(alone, after_others)


def test_one_compiled_program_serves_every_book_of_a_shape():
    """Books of 17–20 names a side, new names, returns, risk, betas, sectors, costs and current books: one program,
    compiled once (cvxpy keeps its parametrised program), only parameter values change."""
    mvo_program._PROGRAMS.clear()
    seen = []
    for seed in range(5):
        p = _shrunk(make_problem(100 + seed), seed % 4, (seed + 1) % 4)
        pc = PortfolioConfig(long_exposure=0.035 * len(p["L"]), short_exposure=0.035 * len(p["S"]))
        ref = optimize_mvo(*_args(p, pc), turnover_mode="off", solver_options=TIGHT)
        res = solve_mvo(*_args(p, pc), turnover_mode="off", solver_options=TIGHT)
        assert np.abs(res.weights - ref.weights).max() <= 1e-6
        (prog,) = mvo_program._PROGRAMS.values()
        seen.append((prog, prog.problem._cache.param_prog))
    assert all(s[0] is seen[0][0] and s[1] is seen[0][1] for s in seen)
    assert seen[0][0].shape.long_slots == seen[0][0].shape.short_slots == 20


def test_bad_inputs_raise_data_error():
    p = make_problem(9)
    with pytest.raises(DataError):
        optimize_mvo(p["mu"], p["sigma"], p["beta"], p["sectors"], None, None, None, p["L"], p["L"])
    with pytest.raises(DataError):
        optimize_mvo(p["mu"], np.eye(3), p["beta"], p["sectors"], None, None, None, p["L"], p["S"])
