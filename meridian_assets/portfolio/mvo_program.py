"""The MVO program compiled once per structural shape and re-solved with new data: what the rebalance (live and
backtest alike) calls.

Same program as `mvo.MVOProblem` (module docstring of `mvo`), written so every number is a cvxpy Parameter
(DPP) and only parameter values change between solves::

    maximise    μᵀw − ‖G w‖² − ‖d∘w‖² − cᵀ|x| − bᵀ|x|^{3/2} [− p·t]
    subject to  x = w − w₀,   lo ≤ w ≤ hi,   Σ_long w = e_L,   Σ_short w = −e_S,   |βᵀw| ≤ β_max
                |A w| ≤ s_net,   A_L w_L ≤ s_side,   −A_S w_S ≤ s_side
                [hard: ‖x‖₁ + f ≤ B]      [soft: t ≥ ‖x‖₁ + f − B, t ≥ 0]

* **Slots.** ``w`` has a fixed number of long and short slots (the book sizes rounded up to a multiple of
  `SLOT_STEP`); the book's names are mapped into the first slots of each side and an unused slot is pinned at
  zero by its bounds (``lo = hi = 0``), so a book of 18 longs and one of 20 share the program.
* **Risk.** ``G = √λ·(X L_F)ᵀ`` and ``d = √(λ·D)`` for a factor model (``L_F L_Fᵀ = F``); ``G = √λ·Lᵀ`` with
  ``L Lᵀ = Σ`` and ``d = 0`` for a dense Σ. ``λ`` sits inside ``G`` and ``d`` because a parameter may not
  multiply an expression that holds another parameter (DPP). Rows of ``G`` are padded with zeros to a multiple
  of `RISK_ROW_STEP`; sector rows of the incidence ``A`` likewise to `SECTOR_ROW_STEP`.
* **Costs.** ``c`` and ``b`` are `costs.TransactionCost`'s `linear_coefficient` and `impact_scale` of the book,
  through its own `expression` (one cost model for the optimizer and the fills).
* The configuration's limits are parameters too, so sleeves with other limits or risk aversion reuse it.

`compiled_program(shape)` keeps one program per `ProgramShape` for the life of the process (the cache is small:
a shape is two slot counts, a risk-row count, a sector-row count, the turnover mode and whether costs are in).
`solve_mvo` has `mvo.optimize_mvo`'s signature and answers (pinned against it in the tests); an infeasible
program is diagnosed by the one-shot formulation (`MVOProblem.diagnose`) and raises `ProgramInfeasible`
naming the binding groups.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from meridian_assets.portfolio.costs import TransactionCost, cost_expression
from meridian_assets.portfolio.errors import DataError, NumericalSolverError, ProgramInfeasible
from meridian_assets.portfolio.mvo import (ACCEPT_VIOLATION, DEFAULT_SOLVER_OPTIONS, DEFAULT_SOLVERS, MVOProblem,
                                           MVOResult, check_books, from_cash_budget, risk_factor)
from meridian_assets.portfolio.settings import PortfolioConfig
from meridian_assets.risk.settings import RiskConfig

SLOT_STEP = 10
RISK_ROW_STEP = 10
SECTOR_ROW_STEP = 4
CACHE_SIZE = 16


def _bucket(k: int, step: int) -> int:
    return max(step, step * -(-k // step))


@dataclass(frozen=True)
class ProgramShape:
    """What fixes the compiled program's structure; everything else is a parameter value."""

    long_slots: int
    short_slots: int
    risk_rows: int
    sector_rows: int
    turnover_mode: Literal["hard", "soft", "off"] = "hard"
    with_costs: bool = True
    specific_risk: bool = True  # the ‖d∘w‖² term (a factor model); a dense Σ has it all in G


class CompiledMVO:
    """The DPP program of one `ProgramShape` (module docstring); `solve_slots` sets values and solves."""

    def __init__(self, shape: ProgramShape) -> None:
        import cvxpy as cp

        self.shape = shape
        self.compiled_for: set[str] = set()  # solvers that have solved this program (compiled it for themselves)
        nl, ns, r, s = shape.long_slots, shape.short_slots, shape.risk_rows, shape.sector_rows
        m = nl + ns
        P = cp.Parameter
        self.p = {"mu": P(m), "G": P((r, m)), "d": P(m, nonneg=True), "lo": P(m), "hi": P(m),
                  "long_exposure": P(), "short_exposure": P(), "beta": P(m), "max_beta": P(nonneg=True),
                  "A": P((s, m)), "sector_net": P(nonneg=True), "sector_side": P(nonneg=True), "w0": P(m),
                  "fixed_turnover": P(nonneg=True), "budget": P(nonneg=True), "penalty": P(nonneg=True),
                  "linear": P(m, nonneg=True), "impact": P(m, nonneg=True)}
        p = self.p
        self.w, self.x = w, x = cp.Variable(m, name="w"), cp.Variable(m, name="trade")
        wl, ws = w[:nl], w[nl:]
        objective = p["mu"] @ w - cp.sum_squares(p["G"] @ w)
        if shape.specific_risk:
            objective -= cp.sum_squares(cp.multiply(p["d"], w))
        if shape.with_costs:
            objective -= cost_expression(x, p["linear"], p["impact"])
        cons = [x == w - p["w0"], w >= p["lo"], w <= p["hi"],
                cp.sum(wl) == p["long_exposure"], cp.sum(ws) == -p["short_exposure"],
                cp.abs(p["beta"] @ w) <= p["max_beta"], cp.abs(p["A"] @ w) <= p["sector_net"],
                p["A"][:, :nl] @ wl <= p["sector_side"], -(p["A"][:, nl:] @ ws) <= p["sector_side"]]
        if shape.turnover_mode == "hard":
            cons.append(cp.norm1(x) + p["fixed_turnover"] <= p["budget"])
        elif shape.turnover_mode == "soft":
            self.t = cp.Variable(nonneg=True, name="turnover_over_budget")
            cons.append(self.t >= cp.norm1(x) + p["fixed_turnover"] - p["budget"])
            objective -= p["penalty"] * self.t
        self.problem = cp.Problem(cp.Maximize(objective), cons)
        assert self.problem.is_dcp(dpp=True)
        self.lock = threading.Lock()

    def solve_slots(self, values: dict[str, np.ndarray | float], solvers: Sequence[str],
                    solver_options: dict[str, dict]) -> tuple[np.ndarray | None, str, str, tuple]:
        """(slot weights or None, solver, status, attempts); status ``"infeasible"`` when a solver proves it,
        ``"failed"`` when no solver returned an acceptable answer."""
        import cvxpy as cp

        for k, v in values.items():  # built by `solve_mvo` with the parameters' shapes and signs
            param = self.p[k]
            v = np.asarray(v, dtype=float)
            if v.shape != param.shape:
                raise DataError("mvo", f"parameter {k} has shape {v.shape}, the program {param.shape}")
            param.save_value(v)  # without cvxpy's per-assignment sign/PSD validation (measurable per re-solve)
        attempts: list[tuple[str, str]] = []
        for solver in solvers:
            if solver == "OSQP" and self.shape.with_costs:
                continue  # a QP solver cannot take the 3/2-power cost
            try:
                with warnings.catch_warnings():  # an inaccurate answer is reported in ``attempts``
                    warnings.simplefilter("ignore", UserWarning)
                    # warm_start=False: cvxpy would otherwise update the previous solve's CLARABEL object in
                    # place, and the answer would depend on what this process solved before (a backtest's
                    # result on the sleeves run ahead of it). A fresh solver object per solve costs little
                    # next to the compile this program saves, and keeps every answer a function of its data.
                    t = time.perf_counter()
                    self.problem.solve(solver=solver, warm_start=False, **solver_options.get(solver, {}))
                    if solver not in self.compiled_for:  # its first solve compiled the program for it
                        self.compiled_for.add(solver)
                        _COMPILING[0] += time.perf_counter() - t
            except cp.error.SolverError as exc:
                attempts.append((solver, f"error: {str(exc)[:80]}"))
                continue
            status = self.problem.status
            attempts.append((solver, status))
            w = None if self.w.value is None else np.array(self.w.value)
            if w is not None and (status == cp.OPTIMAL or (
                    status == cp.OPTIMAL_INACCURATE and self.violation(w) <= ACCEPT_VIOLATION)):
                return w, solver, status, tuple(attempts)
            if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
                return None, solver, "infeasible", tuple(attempts)
        return None, "", "failed", tuple(attempts)

    def violation(self, w: np.ndarray) -> float:
        """Largest violation of the book's constraints by the slot weights ``w`` (numpy, current values)."""
        v = {k: p.value for k, p in self.p.items()}
        nl = self.shape.long_slots
        A = v["A"]
        out = [abs(w[:nl].sum() - v["long_exposure"]), abs(w[nl:].sum() + v["short_exposure"]),
               np.max(v["lo"] - w), np.max(w - v["hi"]), abs(v["beta"] @ w) - v["max_beta"],
               np.max(np.abs(A @ w)) - v["sector_net"], np.max(A[:, :nl] @ w[:nl]) - v["sector_side"],
               np.max(-(A[:, nl:] @ w[nl:])) - v["sector_side"]]
        if self.shape.turnover_mode == "hard":
            out.append(np.abs(w - v["w0"]).sum() + v["fixed_turnover"] - v["budget"])
        return max(0.0, float(max(out)))


_PROGRAMS: OrderedDict[ProgramShape, CompiledMVO] = OrderedDict()
_PROGRAMS_LOCK = threading.Lock()
_COMPILING = [0.0]  # seconds this process has spent building programs and in each solver's first solve of one


def compile_seconds() -> float:
    """Wall seconds this process has spent compiling programs (building one, the first solve of it by each
    solver, importing cvxpy with the first): a one-off per shape and process, which a backtest's per-session
    timing leaves out so that it measures the sleeve, not what ran before it in the process."""
    return _COMPILING[0]


def compiled_program(shape: ProgramShape) -> CompiledMVO:
    """The process's program for ``shape``: compiled on first use, then reused (least recently used dropped past
    `CACHE_SIZE` shapes)."""
    with _PROGRAMS_LOCK:
        prog = _PROGRAMS.get(shape)
        if prog is None:
            t = time.perf_counter()
            prog = _PROGRAMS[shape] = CompiledMVO(shape)
            _COMPILING[0] += time.perf_counter() - t
            while len(_PROGRAMS) > CACHE_SIZE:
                _PROGRAMS.popitem(last=False)
        _PROGRAMS.move_to_end(shape)
        return prog


def solve_mvo(mu, sigma, beta, sectors, current, costs: TransactionCost | None, cfg: PortfolioConfig | None,
              long_names: Sequence[int], short_names: Sequence[int], *,
              turnover_mode: Literal["hard", "soft", "off"] = "hard", turnover_budget: float | None = None,
              turnover_penalty: float = 1.0, solvers: Sequence[str] = DEFAULT_SOLVERS,
              solver_options: dict[str, dict] | None = None, limits: RiskConfig | None = None) -> MVOResult:
    """`mvo.optimize_mvo` through the cached compiled program: same arguments, same answer. The book's limits
    (position, sector side, beta) are read from ``limits``, the `risk` block."""
    cfg = cfg or PortfolioConfig()
    lim = limits or RiskConfig()
    mu = np.asarray(mu, dtype=float)
    n = len(mu)
    L, S, beta, sectors = check_books(n, long_names, short_names, beta, sectors, costs)
    if mu.shape != (n,) or not np.isfinite(mu).all():
        raise DataError("expected_returns", f"mu must be {n} finite values", field="mu")
    cur = np.zeros(n) if current is None else np.asarray(current, dtype=float)
    if cur.shape != (n,) or not np.isfinite(cur).all():
        raise DataError("current_book", f"current weights must be {n} finite values", field="weight")
    idx = np.concatenate([L, S])
    G, d = risk_factor(sigma, idx, n, split=True)
    nl_, ns_ = len(L), len(S)
    row_of = {}  # sector -> row of the incidence matrix, in order of first appearance
    sector_row = np.array([row_of.setdefault(x, len(row_of)) for x in sectors[idx].tolist()])
    shape = ProgramShape(_bucket(nl_, SLOT_STEP), _bucket(ns_, SLOT_STEP), _bucket(G.shape[0], RISK_ROW_STEP),
                         _bucket(len(row_of), SECTOR_ROW_STEP), turnover_mode, costs is not None, bool(np.any(d)))
    nl, m = shape.long_slots, shape.long_slots + shape.short_slots
    slot = np.concatenate([np.arange(nl_), nl + np.arange(ns_)])

    def spread(values, fill=0.0) -> np.ndarray:
        out = np.full(m, fill)
        out[slot] = values
        return out

    scale = np.sqrt(cfg.mvo_risk_aversion)
    Gs = np.zeros((shape.risk_rows, m))
    Gs[:G.shape[0], slot] = scale * G
    A = np.zeros((shape.sector_rows, m))
    A[sector_row, slot] = 1.0
    lo = spread(np.r_[np.full(nl_, cfg.min_position_pct), np.full(ns_, -lim.max_position_pct)])
    hi = spread(np.r_[np.full(nl_, lim.max_position_pct), np.full(ns_, -cfg.min_position_pct)])
    outside = np.ones(n, dtype=bool)
    outside[idx] = False
    # From cash the turnover budget is skipped (as in `MVOProblem.prime`): larger than any possible trade.
    budget = cfg.turnover_budget if turnover_budget is None else float(turnover_budget)
    budget = budget if np.any(cur) else from_cash_budget(cfg, len(idx), lim)
    sub = costs.subset(idx) if costs is not None else None
    values = {"mu": spread(mu[idx]), "G": Gs, "d": spread(scale * d), "lo": lo, "hi": hi,
              "long_exposure": cfg.long_exposure, "short_exposure": cfg.short_exposure, "beta": spread(beta[idx]),
              "max_beta": lim.max_beta, "A": A, "sector_net": cfg.max_sector_net_pct,
              "sector_side": lim.max_sector_side_pct, "w0": spread(cur[idx]),
              "fixed_turnover": float(np.abs(cur[outside]).sum()),
              "budget": budget,
              "penalty": float(turnover_penalty),
              "linear": spread(sub.linear_coefficient) if sub is not None else np.zeros(m),
              "impact": spread(sub.impact_scale) if sub is not None else np.zeros(m)}
    prog = compiled_program(shape)
    opts = {**DEFAULT_SOLVER_OPTIONS, **(solver_options or {})}
    t0 = time.perf_counter()
    with prog.lock:
        ws, solver, status, attempts = prog.solve_slots(values, solvers, opts)
        violation = prog.violation(ws) if ws is not None else float("inf")
    seconds = time.perf_counter() - t0
    if status == "infeasible":
        reference = MVOProblem(n, L, S, beta, sectors, sigma, costs, cfg, turnover_mode=turnover_mode,
                               turnover_budget=turnover_budget, turnover_penalty=turnover_penalty, limits=lim)
        reference.prime(mu, cur)
        raise ProgramInfeasible("MVO program is infeasible", reference.diagnose())
    if ws is None:
        raise NumericalSolverError("no solver returned an optimal MVO solution", attempts)
    w = np.zeros(n)
    w[idx] = ws[slot]
    return MVOResult.build(w, cur, idx, mu, G, d, costs, cfg, budget, turnover_mode, turnover_penalty, solver=solver,
                           seconds=seconds, status=status, attempts=attempts, violation=violation)
