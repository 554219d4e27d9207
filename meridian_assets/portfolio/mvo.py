"""Markowitz mean-variance book over the 20/20 selected names, in cvxpy.

Problem (``w`` weights as fractions of NAV, ``w₀`` the current book, ``x = w − w₀`` the trade)::

    maximise    μᵀw − λ·wᵀΣw − cost(x)
    subject to  0.005 ≤ w_i ≤ 0.05          i ∈ long book      Σ_long w_i = 0.80
               −0.05 ≤ w_i ≤ −0.005         i ∈ short book     Σ_short w_i = −0.70
                w_i = 0                     elsewhere
               |βᵀw| ≤ 0.15
               |Σ_{i∈s} w_i| ≤ 0.05                      every sector s   (sector net)
                Σ_{i∈s,long} w_i ≤ 0.25,  Σ_{i∈s,short} |w_i| ≤ 0.25      (single side; spec's "< 25%" as ≤)
               ‖w − w₀‖₁ ≤ 0.30                          turnover (see ``turnover_mode``)

* ``μ = expected_returns(score)``: composite 100 → +15%/yr, 50 → 0, 0 → −15%/yr (linear). ``Σ`` annualised;
  ``λ`` = ``cfg.mvo_risk_aversion``; cost = `TransactionCost` (one-off fraction of NAV, convex).
* The book's names are fixed (the 20/20 selection), so the min-position bounds are convex boxes rather than
  a semi-continuous (mixed-integer) constraint. Names outside the books are fixed at zero and not variables:
  selling them out adds a constant to turnover and cost, reported in the result.
* Risk: ``Σ`` dense (n×n) or a factor model ``(X, F, D)`` with ``Σ = X F Xᵀ + diag(D)``. Either way the
  program uses ``‖G w‖²`` with ``GᵀG = Σ`` restricted to the book (factor form: ``G = [(X L_F)ᵀ; diag √D]``
  with ``L_F L_Fᵀ = F`` — k+m rows instead of an m×m square root).
* Turnover: ``"hard"`` (this function's default) constraint when a current book exists; from cash it is
  skipped. ``"soft"`` subtracts ``turnover_penalty · max(0, ‖x‖₁ − budget)`` instead (and the reported
  objective includes it); ``"off"`` ignores it. The rebalance uses ``portfolio.mvo_turnover_mode`` (default
  ``"off"``): the target is the spec's optimum and `turnover.apply_turnover_budget` ramps to it.
* Solvers: CLARABEL, then SCS (tightened to 1e-9) (a second, first-order conic solver; OSQP cannot take the 3/2-power cost and is
  only tried for programs without costs). Infeasible ⇒ `ProgramInfeasible` naming the binding constraint
  groups: those whose removal alone restores feasibility, else those an elastic re-solve (a non-negative
  slack per group, minimise Σ slack) had to relax. All solvers failing ⇒
  `NumericalSolverError`. "optimal_inaccurate" is accepted only if no constraint is off by > 1e-7.

`MVOProblem` / `optimize_mvo` build the program for one book and solve it once: the reference formulation (the
tests pin the compiled program against it) and the infeasibility diagnosis. The rebalance solves through
`mvo_program.solve_mvo`: the same program compiled once per structural shape, every number a parameter.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from meridian_assets.portfolio.settings import PortfolioConfig
from meridian_assets.risk.settings import RiskConfig
from meridian_assets.portfolio.costs import TransactionCost
from meridian_assets.portfolio.errors import DataError, NumericalSolverError, ProgramInfeasible

DEFAULT_SOLVERS = ("CLARABEL", "SCS", "OSQP")
# SCS is first-order: tighten it so a fallback answer still meets the constraints to ~1e-7. CLARABEL without
# iterative refinement of its linear solves: these programs are well scaled, the books agree with refined ones to
# ~3e-8 and a re-solve takes a quarter less CPU (an inaccurate answer is still checked, then SCS).
DEFAULT_SOLVER_OPTIONS: dict[str, dict] = {"CLARABEL": {"iterative_refinement_enable": False},
                                           "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000}}
ACCEPT_VIOLATION = 1e-7  # an "optimal_inaccurate" answer is accepted when no constraint is off by more
GROUPS = ("long_exposure", "short_exposure", "position_bounds", "beta", "sector_net", "sector_side", "turnover")


def expected_returns(scores, expected_return_range: float = 0.15) -> np.ndarray:
    """Annual expected return from a 0–100 composite: ``μ = range · (score − 50) / 50``."""
    s = np.asarray(scores, dtype=float)
    if not np.isfinite(s).all():
        raise DataError("scores", "composite scores must be finite", field="composite")
    return expected_return_range * (s - 50.0) / 50.0


@dataclass(frozen=True)
class MVOResult:
    """The optimised book (length-n ``weights``) and what it costs; costs are fractions of NAV."""

    weights: np.ndarray
    expected_return: float
    risk: float
    costs: dict[str, float]
    turnover: float
    objective: float
    solver: str
    solve_seconds: float
    status: str
    attempts: tuple[tuple[str, str], ...] = field(default=())
    max_violation: float = 0.0

    @property
    def volatility(self) -> float:
        return float(np.sqrt(max(self.risk, 0.0)))

    @classmethod
    def build(cls, w, cur, idx, mu, G, d, costs: TransactionCost | None, cfg: PortfolioConfig, budget: float,
              turnover_mode: str, turnover_penalty: float, *, solver: str, seconds: float, status: str,
              attempts: tuple, violation: float) -> "MVOResult":
        """The result of the book ``w`` (length n) traded from ``cur``: risk ``‖G w_b‖² + ‖d∘w_b‖²`` with
        ``w_b = w[idx]`` the book's names; costs of the whole trade (selling names outside the book included);
        the objective as maximised (with the soft turnover penalty when ``turnover_mode="soft"``)."""
        trade = w - cur
        costs_ = costs.estimate(trade).totals() if costs is not None else dict(NO_COSTS)
        wb = w[idx]
        risk = float(np.sum((G @ wb) ** 2) + np.sum((d * wb) ** 2))
        turnover = float(np.abs(trade).sum())
        penalty = turnover_penalty * max(0.0, turnover - budget) if turnover_mode == "soft" else 0.0
        mu_w = float(mu @ w)
        return cls(weights=w, expected_return=mu_w, risk=risk, costs=costs_, turnover=turnover,
                   objective=mu_w - cfg.mvo_risk_aversion * risk - costs_["total"] - penalty, solver=solver,
                   solve_seconds=seconds, status=status, attempts=attempts, max_violation=violation)


NO_COSTS = {"commission": 0.0, "spread": 0.0, "impact": 0.0, "total": 0.0, "total_dollars": 0.0}


def check_books(n: int, long_names, short_names, beta, sectors, costs: TransactionCost | None):
    """Validated (long index, short index, beta, sectors) of a universe of ``n`` names; `DataError` if not."""
    L, S = np.asarray(long_names, dtype=int), np.asarray(short_names, dtype=int)
    if len(L) == 0 or len(S) == 0:
        raise DataError("books", "both books need at least one name")
    if len(np.unique(np.concatenate([L, S]))) < len(L) + len(S):
        raise DataError("books", "a name is repeated or in both the long and the short book")
    idx = np.concatenate([L, S])
    if idx.min() < 0 or idx.max() >= n:
        raise DataError("books", f"book index outside 0..{n - 1}")
    b = np.asarray(beta, dtype=float)
    if b.shape != (n,) or not np.isfinite(b).all():
        raise DataError("betas", f"beta must be {n} finite values", field="beta")
    sec = np.asarray(sectors)
    if sec.shape != (n,):
        raise DataError("sectors", f"sector ids must have length {n}", field="sector")
    if costs is not None and costs.n != n:
        raise DataError("transaction_costs", f"cost model has {costs.n} names, universe {n}")
    return L, S, b, sec


def from_cash_budget(cfg: PortfolioConfig, m: int, limits: RiskConfig | None = None) -> float:
    """The hard turnover budget used from cash: larger than any possible trade, i.e. no budget."""
    return cfg.gross_exposure + 2 * (limits or RiskConfig()).max_position_pct * m + 1.0


def risk_factor(sigma, idx: np.ndarray, n: int, *, split: bool = False):
    """``G`` with ``GᵀG = Σ[idx, idx]`` from a dense Σ or a factor model (X, F, D).

    ``split=False``: one matrix (factor form ``[(X L_F)ᵀ; diag √D]``, dense form the eigen square root).
    ``split=True``: ``(G, d)`` with ``GᵀG + diag(d²) = Σ[idx, idx]``: factor form ``((X L_F)ᵀ, √D)``, dense form
    ``(Lᵀ, 0)`` from the Cholesky factor (the eigen square root if Σ is singular).
    """
    if isinstance(sigma, tuple):
        X, F, D = (np.asarray(a, dtype=float) for a in sigma)
        if X.ndim != 2 or X.shape[0] != n or F.shape != (X.shape[1],) * 2 or D.shape != (n,):
            raise DataError("covariance", f"factor model shapes X{X.shape} F{F.shape} D{D.shape} for n={n}")
        if not (np.isfinite(X).all() and np.isfinite(F).all() and np.isfinite(D).all()) or (D < 0).any():
            raise DataError("covariance", "factor model must be finite with non-negative specific variance")
        vals, vecs = np.linalg.eigh((F + F.T) / 2)
        LF = vecs * np.sqrt(np.clip(vals, 0, None))
        if split:
            return (X[idx] @ LF).T, np.sqrt(D[idx])
        return np.vstack([(X[idx] @ LF).T, np.diag(np.sqrt(D[idx]))])
    S = np.asarray(sigma, dtype=float)
    if S.shape != (n, n) or not np.isfinite(S).all():
        raise DataError("covariance", f"covariance has shape {S.shape}, expected ({n}, {n}) and finite")
    sub = S[np.ix_(idx, idx)]
    sub = (sub + sub.T) / 2
    if split:
        try:
            return np.linalg.cholesky(sub).T, np.zeros(len(idx))
        except np.linalg.LinAlgError:
            pass
    vals, vecs = np.linalg.eigh(sub)
    G = (vecs * np.sqrt(np.clip(vals, 0, None))).T
    return (G, np.zeros(len(idx))) if split else G


class MVOProblem:
    """The program for one universe, book and constraint set, built for one solve (`solve` for μ and w₀)."""

    def __init__(self, n: int, long_names: Sequence[int], short_names: Sequence[int], beta, sectors, sigma,
                 costs: TransactionCost | None = None, cfg: PortfolioConfig | None = None, *,
                 turnover_mode: Literal["hard", "soft", "off"] = "hard", turnover_budget: float | None = None,
                 turnover_penalty: float = 1.0, limits: RiskConfig | None = None) -> None:
        import cvxpy as cp

        self.cfg = cfg = cfg or PortfolioConfig()
        self.limits = limits or RiskConfig()
        self.n = n
        self.long_idx, self.short_idx, self.beta, self.sectors = check_books(n, long_names, short_names, beta,
                                                                             sectors, costs)
        self.idx = np.concatenate([self.long_idx, self.short_idx])
        self.sigma = sigma
        self.costs = costs
        self.turnover_mode = turnover_mode
        self.budget = cfg.turnover_budget if turnover_budget is None else float(turnover_budget)
        self.turnover_penalty = turnover_penalty
        self.G = risk_factor(sigma, self.idx, n)

        m, nl = len(self.idx), len(self.long_idx)
        self.w = cp.Variable(m, name="w")
        self.mu = cp.Parameter(m, name="mu")
        self.w0 = cp.Parameter(m, name="w_current")
        self.fixed_turnover = cp.Parameter(nonneg=True, name="turnover_outside_book")
        self.budget_p = cp.Parameter(nonneg=True, name="turnover_budget")
        self._sub_costs = costs.subset(self.idx) if costs is not None else None
        sel_sectors = self.sectors[self.idx]
        self._sector_rows = []
        for s in np.unique(sel_sectors):
            row = (sel_sectors == s).astype(float)
            self._sector_rows.append((s, row, row * (np.arange(m) < nl), row * (np.arange(m) >= nl)))

        trade = self.w - self.w0
        self.risk_expr = cp.sum_squares(self.G @ self.w)
        self.cost_expr = (self._sub_costs.expression(trade) if self._sub_costs is not None else cp.Constant(0))
        self.turnover_expr = cp.norm1(trade) + self.fixed_turnover
        objective = self.mu @ self.w - cfg.mvo_risk_aversion * self.risk_expr - self.cost_expr
        if turnover_mode == "soft":
            objective = objective - turnover_penalty * cp.pos(self.turnover_expr - self.budget_p)
        self.problem = cp.Problem(cp.Maximize(objective), self._constraints(self.w, {}))

    def _constraints(self, w, slack: dict) -> list:
        """Constraint list; ``slack[group]`` (≥ 0) loosens a group for the infeasibility diagnosis."""
        import cvxpy as cp

        cfg, lim, nl = self.cfg, self.limits, len(self.long_idx)
        z = lambda g: slack.get(g, 0)  # noqa: E731
        wl, ws = w[:nl], w[nl:]
        cons = [cp.abs(cp.sum(wl) - cfg.long_exposure) <= z("long_exposure") if slack
                else cp.sum(wl) == cfg.long_exposure,
                cp.abs(cp.sum(ws) + cfg.short_exposure) <= z("short_exposure") if slack
                else cp.sum(ws) == -cfg.short_exposure,
                wl >= cfg.min_position_pct - z("position_bounds"), wl <= lim.max_position_pct + z("position_bounds"),
                ws <= -cfg.min_position_pct + z("position_bounds"), ws >= -lim.max_position_pct - z("position_bounds"),
                cp.abs(self.beta[self.idx] @ w) <= lim.max_beta + z("beta")]
        A = np.array([r for _, r, _, _ in self._sector_rows])
        AL = np.array([r for _, _, r, _ in self._sector_rows])
        AS = np.array([r for _, _, _, r in self._sector_rows])
        cons += [cp.abs(A @ w) <= cfg.max_sector_net_pct + z("sector_net"),
                 AL @ w <= lim.max_sector_side_pct + z("sector_side"),
                 -(AS @ w) <= lim.max_sector_side_pct + z("sector_side")]
        if self.turnover_mode == "hard":
            cons.append(cp.norm1(w - self.w0) + self.fixed_turnover <= self.budget_p + z("turnover"))
        return cons

    def _feasible_without(self, groups: Sequence[str]) -> dict[str, float] | None:
        """Slack per group of the elastic program relaxing only ``groups`` (min Σ slack); None if infeasible."""
        import cvxpy as cp

        w = cp.Variable(len(self.idx))
        slack = {g: cp.Variable(nonneg=True, name=g) for g in groups}
        prob = cp.Problem(cp.Minimize(sum(slack.values())), self._constraints(w, slack))
        try:
            prob.solve(solver="CLARABEL")
        except cp.error.SolverError:
            return None
        if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return None
        return {g: float(v.value) for g, v in slack.items()}

    def diagnose(self) -> tuple[str, ...]:
        """Name the binding constraint groups of an infeasible program (`prime` first).

        First the groups whose removal alone restores feasibility (leave-one-out, ≤ 7 tiny solves); if no
        single group suffices, the groups with positive slack in the elastic program relaxing all of them.
        """
        single = tuple(g for g in GROUPS if self._feasible_without([g]) is not None)
        if single:
            return single
        slack = self._feasible_without(GROUPS) or {}
        return tuple(g for g in GROUPS if slack.get(g, 0.0) > 1e-7)

    def prime(self, mu, current=None) -> tuple[np.ndarray, np.ndarray]:
        """Set the parameters for expected returns ``mu`` (length n, annual) and the book ``current`` (length
        n); returns (current, mask of names outside the book)."""
        mu = np.asarray(mu, dtype=float)
        if mu.shape != (self.n,) or not np.isfinite(mu).all():
            raise DataError("expected_returns", f"mu must be {self.n} finite values", field="mu")
        cur = np.zeros(self.n) if current is None else np.asarray(current, dtype=float)
        if cur.shape != (self.n,) or not np.isfinite(cur).all():
            raise DataError("current_book", f"current weights must be {self.n} finite values", field="weight")
        outside = np.ones(self.n, dtype=bool)
        outside[self.idx] = False
        self.mu.value = mu[self.idx]
        self.w0.value = cur[self.idx]
        self.fixed_turnover.value = float(np.abs(cur[outside]).sum())
        # From cash the hard budget is skipped: a budget larger than any possible trade.
        self.budget_p.value = self.budget if np.any(cur) else from_cash_budget(self.cfg, len(self.idx), self.limits)
        return cur, outside

    def solve(self, mu, current=None, *, solvers: Sequence[str] = DEFAULT_SOLVERS,
              solver_options: dict[str, dict] | None = None) -> MVOResult:
        """Optimise for expected returns ``mu`` (length n, annual) from the book ``current`` (length n)."""
        import cvxpy as cp

        cur, _ = self.prime(mu, current)
        opts = {**DEFAULT_SOLVER_OPTIONS, **(solver_options or {})}
        attempts: list[tuple[str, str]] = []
        t0 = time.perf_counter()
        for solver in solvers:
            if solver == "OSQP" and self.costs is not None:
                continue  # a QP solver cannot take the 3/2-power cost
            try:
                with warnings.catch_warnings():  # an inaccurate answer is reported in ``attempts``
                    warnings.simplefilter("ignore", UserWarning)
                    self.problem.solve(solver=solver, **opts.get(solver, {}))
            except cp.error.SolverError as exc:
                attempts.append((solver, f"error: {str(exc)[:80]}"))
                continue
            status = self.problem.status
            attempts.append((solver, status))
            ok = status == cp.OPTIMAL or (status == cp.OPTIMAL_INACCURATE and self._violation() <= ACCEPT_VIOLATION)
            if ok and self.w.value is not None:
                w = np.zeros(self.n)
                w[self.idx] = self.w.value
                return MVOResult.build(w, cur, self.idx, np.asarray(mu, dtype=float), self.G,
                                       np.zeros(len(self.idx)), self.costs, self.cfg, float(self.budget_p.value),
                                       self.turnover_mode, self.turnover_penalty, solver=solver,
                                       seconds=time.perf_counter() - t0, status=status, attempts=tuple(attempts),
                                       violation=self._violation())
            if self.problem.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
                raise ProgramInfeasible("MVO program is infeasible", self.diagnose())
        raise NumericalSolverError("no solver returned an optimal MVO solution", tuple(attempts))

    def _violation(self) -> float:
        """Largest constraint violation of the current solution (inf if there is none)."""
        if self.w.value is None:
            return float("inf")
        return max(float(np.max(c.violation())) for c in self.problem.constraints)


def optimize_mvo(mu, sigma, beta, sectors, current, costs: TransactionCost | None, cfg: PortfolioConfig | None,
                 long_names: Sequence[int], short_names: Sequence[int], **kwargs) -> MVOResult:
    """One-shot MVO: build `MVOProblem` and solve. ``sigma`` is a dense n×n Σ or a factor model (X, F, D).

    ``kwargs``: ``turnover_mode``, ``turnover_budget``, ``turnover_penalty`` (problem) and ``solvers``,
    ``solver_options`` (solve). ``mu`` is annual expected return per name (see `expected_returns`).
    """
    solve_kw = {k: kwargs.pop(k) for k in ("solvers", "solver_options") if k in kwargs}
    mu = np.asarray(mu, dtype=float)
    problem = MVOProblem(len(mu), long_names, short_names, beta, sectors, sigma, costs, cfg, **kwargs)
    return problem.solve(mu, current, **solve_kw)
