"""The turnover budget: how much of a rebalance executes this time (spec Layer 4, `rebalance`).

Trades ``Δw_i = target_i − current_i`` are taken in order of largest ``|score change|`` first (ties: lower
index first) and executed in full while ``Σ|Δw|`` stays within ``budget`` (default 0.30 of NAV). The trade
that crosses the budget is filled partially, by the fraction that lands the total exactly on the budget;
later trades are not executed (fill 0). Building from cash therefore ramps in over several rebalances,
highest-conviction changes first. If the whole rebalance fits, everything fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from meridian_assets.portfolio.errors import DataError


@dataclass(frozen=True)
class Trade:
    """One name's trade: ``delta`` the full change wanted, ``fill`` the executed fraction (0–1)."""

    index: int
    ticker: str | None
    delta: float
    fill: float
    score_change: float

    @property
    def executed(self) -> float:
        return self.delta * self.fill


@dataclass(frozen=True)
class TurnoverResult:
    weights: np.ndarray
    trades: list[Trade]
    turnover: float
    budget: float

    @property
    def complete(self) -> bool:
        return all(t.fill == 1.0 for t in self.trades)


def apply_turnover_budget(current, target, score_change, budget: float = 0.30,
                          tickers: Sequence[str] | None = None) -> TurnoverResult:
    """Execute ``target − current`` within ``budget`` (Σ|Δw|), largest |score change| first.

    Returns the executed weights and the trades in execution order (names that do not trade are omitted).
    """
    cur, tgt = np.asarray(current, dtype=float), np.asarray(target, dtype=float)
    sc = np.asarray(score_change, dtype=float)
    if not (cur.shape == tgt.shape == sc.shape) or cur.ndim != 1:
        raise DataError("rebalance", f"current {cur.shape}, target {tgt.shape}, score_change {sc.shape} differ")
    if not (np.isfinite(cur).all() and np.isfinite(tgt).all()) or budget < 0:
        raise DataError("rebalance", "weights must be finite and the budget >= 0", field="budget", value=budget)
    sc = np.nan_to_num(sc, nan=0.0)
    delta = tgt - cur
    order = np.argsort(-np.abs(sc), kind="stable")
    remaining = float(budget)
    weights = cur.copy()
    trades: list[Trade] = []
    for i in order:
        d = float(delta[i])
        if d == 0.0:
            continue
        size = abs(d)
        fill = 1.0 if size <= remaining else max(remaining, 0.0) / size
        remaining = remaining - size if fill == 1.0 else 0.0  # the crossing trade exhausts the budget
        weights[i] = cur[i] + d * fill
        trades.append(Trade(int(i), None if tickers is None else tickers[i], d, fill, float(sc[i])))
    executed = float(np.abs(weights - cur).sum())
    return TurnoverResult(weights=weights, trades=trades, turnover=executed, budget=float(budget))
