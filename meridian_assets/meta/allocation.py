"""Capital across sleeves: risk budgeting on the sleeves' covariance with a CVaR penalty, and the live book as
the capital-weighted combination of the sleeves' targets.

**Method** (``risk_parity_cvar``). With R the T × n matrix of the sleeves' daily returns over the last
``allocation_lookback_sessions`` common sessions, Σ their covariance and b the risk budgets (equal, a PROMOTE
sleeve's raised by ``promote_tilt``), solve the convex program (Spinu's risk-budgeting form)::

    minimise    ½ yᵀΣy − Σ_i b_i log y_i + κ · CVaR_α(−R y)
    subject to  m · Σy ≤ y_i ≤ M_i · Σy             (min / max sleeve weight)

and take ``w = y / Σy``. With κ = 0 and no binding caps the risk contributions ``w_i (Σw)_i`` are proportional to
b (equal risk contributions for equal budgets); κ > 0 moves capital away from sleeves that lose together on the
worst days. CVaR is Rockafellar–Uryasev's ``ζ + Σ_t max(0, −r_tᵀy − ζ) / ((1 − α) T)``. The program is
invariant to the scale of the returns, so κ needs no units. Sleeves excluded by the allocation policy, killed or
retired by the decisions, or without returns get weight 0. Fewer than 20 common sessions: equal weights
(method ``equal_weight``), said so.

**Reported per sleeve**: annualised volatility, share of the combined variance ``w_i(Σw)_i / wᵀΣw``, its own
CVaR95 and its share of the combined CVaR (Euler: ``E[−w_i r_i | combined return in its worst 5%] / CVaR``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meridian_assets.meta.sleeves import AllocationPolicy
from meridian_assets.reporting import stats

MIN_SESSIONS = 20
METHOD = "risk_parity_cvar"


@dataclass
class Allocation:
    weights: dict[str, float]
    method: str
    details: pl.DataFrame  # sleeve, weight, volatility, risk_contribution, cvar, cvar_contribution, observations
    inputs: dict = field(default_factory=dict)


def returns_matrix(returns: dict[str, pl.DataFrame], lookback: int) -> tuple[list[str], np.ndarray, list]:
    """Sleeves' daily returns ((date, ret) frames) aligned on their common sessions, the last ``lookback``."""
    names = sorted(n for n, f in returns.items() if f.height)
    if not names:
        return [], np.zeros((0, 0)), []
    joined = None
    for n in names:
        f = returns[n].select("date", pl.col("ret").alias(n))
        joined = f if joined is None else joined.join(f, on="date", how="inner")
    joined = joined.drop_nulls().sort("date").tail(lookback)
    return names, joined.select(names).to_numpy().astype(float), joined["date"].to_list()


def _risk_parity_cvar(R: np.ndarray, budgets: np.ndarray, kappa: float, alpha: float, lo: float,
                      hi: np.ndarray) -> np.ndarray:
    import cvxpy as cp

    T, n = R.shape
    sigma = np.cov(R, rowvar=False, ddof=1).reshape(n, n)
    vals, vecs = np.linalg.eigh((sigma + sigma.T) / 2)
    G = (vecs * np.sqrt(np.clip(vals, 0, None))).T
    y = cp.Variable(n)
    total = cp.sum(y)
    obj = 0.5 * cp.sum_squares(G @ y) - budgets @ cp.log(y)
    if kappa > 0:
        zeta = cp.Variable()
        obj = obj + kappa * (zeta + cp.sum(cp.pos(-R @ y - zeta)) / ((1 - alpha) * T))
    cons = [y >= lo * total, y <= cp.multiply(hi, total)]
    prob = cp.Problem(cp.Minimize(obj), cons)
    for solver in ("CLARABEL", "SCS"):
        try:
            prob.solve(solver=solver)
        except cp.error.SolverError:
            continue
        if prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and y.value is not None:
            w = np.clip(np.asarray(y.value, dtype=float), 0, None)
            return w / w.sum()
    raise ValueError(f"allocation program: {prob.status}")


def risk_contributions(R: np.ndarray, w: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """(share of the combined variance, share of the combined CVaR) of each sleeve."""
    sigma = np.atleast_2d(np.cov(R, rowvar=False, ddof=1))
    var = float(w @ sigma @ w)
    rc = w * (sigma @ w) / var if var > 0 else np.full(len(w), np.nan)
    combined = R @ w
    k = max(1, int(np.ceil((1 - confidence) * len(combined) - 1e-9)))
    tail = np.argsort(combined)[:k]
    cvar = -float(combined[tail].mean())
    cc = (-(R[tail] * w).mean(axis=0)) / cvar if cvar > 0 else np.full(len(w), np.nan)
    return rc, cc


def allocate(returns: dict[str, pl.DataFrame], decisions: dict[str, str], policy: AllocationPolicy, *,
             lookback: int, kappa: float, confidence: float, min_weight: float, max_weight: float,
             promote_tilt: float) -> Allocation:
    """Sleeve weights (module docstring). ``returns``: sleeve -> (date, ret); ``decisions``: sleeve -> decision."""
    kappa = policy.cvar_penalty if policy.cvar_penalty is not None else kappa
    out_of = {s for s, d in decisions.items() if d in ("KILL", "RETIRE")} | set(policy.excluded)
    eligible = {n: f for n, f in returns.items() if n not in out_of}
    names, R, dates = returns_matrix(eligible, lookback)
    inputs = {"lookback_sessions": lookback, "observations": len(dates), "cvar_penalty": kappa,
              "cvar_confidence": confidence, "min_weight": min_weight, "max_weight": max_weight,
              "excluded": sorted(out_of & set(returns)), "window": [str(dates[0]), str(dates[-1])] if dates else []}
    weights = {n: 0.0 for n in returns}
    if not names:
        return Allocation(weights, "none", _details(weights, [], np.zeros((0, 0)), None, confidence), inputs)
    n = len(names)
    budgets = np.array([1.0 + (promote_tilt if decisions.get(s) == "PROMOTE" else 0.0) for s in names])
    budgets = budgets / budgets.sum()
    hi = np.array([min(max_weight, policy.max_weights.get(s, 1.0)) for s in names])
    lo = min(min_weight, 1.0 / n) if hi.sum() >= 1 else 0.0
    inputs.update(budgets=dict(zip(names, np.round(budgets, 6).tolist())), max_weights=dict(zip(names, hi.tolist())))
    if len(dates) < MIN_SESSIONS or n == 1:
        w = np.minimum(np.full(n, 1.0 / n), hi)
        method = "equal_weight" + (f" (only {len(dates)} common sessions)" if n > 1 else "")
    else:
        hi_eff = np.maximum(hi, 1.0 / n) if hi.sum() < 1 else hi  # caps that cannot hold the capital are loosened
        w = _risk_parity_cvar(R, budgets, kappa, confidence, lo, hi_eff)
        method = METHOD
    weights.update(dict(zip(names, w.tolist())))
    return Allocation(weights, method, _details(weights, names, R, w, confidence), inputs)


def _details(weights: dict[str, float], names: list[str], R: np.ndarray, w, confidence: float) -> pl.DataFrame:
    rows = {s: {"sleeve": s, "weight": weights[s], "volatility": None, "risk_contribution": None, "cvar": None,
                "cvar_contribution": None, "observations": int(R.shape[0]) if s in names else 0}
            for s in sorted(weights)}
    if names and w is not None and R.shape[0] >= 2:
        rc, cc = risk_contributions(R, np.asarray(w), confidence)
        for j, s in enumerate(names):
            rows[s].update(volatility=stats.annualised_volatility(R[:, j]), risk_contribution=float(rc[j]),
                           cvar=stats.cvar(R[:, j], confidence), cvar_contribution=float(cc[j]))
    return pl.DataFrame(list(rows.values()), schema={
        "sleeve": pl.Utf8, "weight": pl.Float64, "volatility": pl.Float64, "risk_contribution": pl.Float64,
        "cvar": pl.Float64, "cvar_contribution": pl.Float64, "observations": pl.Int64})


def combined_book(targets: dict[str, pl.DataFrame], weights: dict[str, float]) -> pl.DataFrame:
    """``Σ_s w_s · target_s``: ticker, sector, weight and each sleeve's contribution (JSON), by |weight|."""
    parts = [t.select("ticker", "sector", (pl.col("weight") * weights.get(s, 0.0)).alias("w"), sleeve=pl.lit(s))
             for s, t in targets.items() if weights.get(s, 0.0) > 0 and t.height]
    if not parts:
        return pl.DataFrame(schema={"ticker": pl.Utf8, "sector": pl.Utf8, "weight": pl.Float64,
                                    "sleeves_json": pl.Utf8})
    long = pl.concat(parts)
    agg = long.group_by("ticker").agg(pl.col("sector").drop_nulls().first(), pl.col("w").sum().alias("weight"),
                                       pl.struct("sleeve", "w").alias("parts"))
    return agg.with_columns(sleeves_json=pl.col("parts").map_elements(
        lambda ps: json.dumps({p["sleeve"]: round(p["w"], 8) for p in ps}, sort_keys=True), return_dtype=pl.Utf8)
    ).drop("parts").filter(pl.col("weight").abs() > 1e-12).sort(pl.col("weight").abs(), "ticker",
                                                                descending=[True, False])
