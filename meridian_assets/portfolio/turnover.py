"""The turnover budget: how much of a rebalance executes this time (spec Layer 4, `rebalance`).

Trades ``Δw_i = target_i − current_i`` are taken in order of largest ``|score change|`` first (ties: lower
index first) and executed in full while ``Σ|Δw|`` stays within ``budget`` (default 0.30 of NAV). The trade
that crosses the budget is filled partially, by the fraction that lands the total exactly on the budget;
later trades are not executed (fill 0). Building from cash therefore ramps in over several rebalances,
highest-conviction changes first. If the whole rebalance fits, everything fills.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from meridian_assets.portfolio.errors import DataError


@dataclass(frozen=True)
class BudgetStep:
    """One name's step through the budget (a weight change, not an order: `risk.pre_trade.Trade` is the order
    the pre-trade check sees): ``delta`` the full change wanted, ``fill`` the executed fraction (0–1)."""

    index: int
    ticker: str | None
    delta: float
    fill: float
    score_change: float
    rejected: bool = False  # refused by the ``accept`` callback: not executed, no budget used

    @property
    def executed(self) -> float:
        return self.delta * self.fill


@dataclass(frozen=True)
class TurnoverResult:
    weights: np.ndarray
    trades: list[BudgetStep]
    turnover: float
    budget: float

    @property
    def complete(self) -> bool:
        return all(t.fill == 1.0 for t in self.trades)


def apply_turnover_budget(current, target, score_change, budget: float = 0.30,
                          tickers: Sequence[str] | None = None, order: Sequence[int] | None = None,
                          accept: Callable[[int, float], bool] | None = None) -> TurnoverResult:
    """Execute ``target − current`` within ``budget`` (Σ|Δw|), largest |score change| first.

    ``order`` overrides the execution order (e.g. `balanced_order`, which keeps the ramp's net exposure on
    course); names missing from it do not trade. ``accept(index, executed_delta)`` is asked before each trade
    (e.g. the pre-trade veto); a refused trade is recorded with ``rejected=True`` and uses none of the budget.

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
    order = np.argsort(-np.abs(sc), kind="stable") if order is None else np.asarray(order, dtype=int)
    remaining = float(budget)
    weights = cur.copy()
    trades: list[BudgetStep] = []
    for i in order:
        d = float(delta[i])
        if d == 0.0:
            continue
        size = abs(d)
        # a trade that fits to rounding (0.30 - 0.1 - 0.1 = 0.0999...98) is filled in full, not at 99.99...%
        fits = size <= remaining or math.isclose(size, remaining, rel_tol=1e-12, abs_tol=0.0)
        fill = 1.0 if fits else max(remaining, 0.0) / size
        if accept is not None and fill > 0 and not accept(int(i), d * fill):
            trades.append(BudgetStep(int(i), None if tickers is None else tickers[i], d, 0.0, float(sc[i]), True))
            continue
        remaining = remaining - size if fill == 1.0 else 0.0  # the crossing trade exhausts the budget
        weights[i] = cur[i] + d * fill
        trades.append(BudgetStep(int(i), None if tickers is None else tickers[i], d, fill, float(sc[i])))
    executed = float(np.abs(weights - cur).sum())
    return TurnoverResult(weights=weights, trades=trades, turnover=executed, budget=float(budget))


def balanced_order(current, target, score_change) -> list[int]:
    """Largest |score change| first *within each direction*, interleaving net-raising (buy / cover) and
    net-lowering (sell / short) trades so the running net exposure stays closest to the pro-rata path from the
    current net to the target's (at 30% of the way through the turnover, 30% of the way to the target net).

    Building a 20/20 book from cash, every long and short has the same |score change| (100 vs 0); a plain
    sort would spend the budget on one side and leave the ramp all long, which the pre-trade net and beta
    limits then refuse. Interleaving keeps each step near the target's balance.
    """
    cur, tgt = np.asarray(current, dtype=float), np.asarray(target, dtype=float)
    sc = np.nan_to_num(np.asarray(score_change, dtype=float), nan=0.0)
    delta = tgt - cur
    up = sorted((i for i in range(len(delta)) if delta[i] > 0), key=lambda i: (-abs(sc[i]), i))
    down = sorted((i for i in range(len(delta)) if delta[i] < 0), key=lambda i: (-abs(sc[i]), i))
    start, goal = float(cur.sum()), float(tgt.sum())
    total = float(np.abs(delta).sum())
    net, done = start, 0.0
    out: list[int] = []

    def miss(i: int) -> float:  # distance from the pro-rata net after taking trade i
        progress = (done + abs(delta[i])) / total
        return abs(net + delta[i] - (start + (goal - start) * progress))

    while up or down:
        # a tie (to float noise) goes to the buy, whatever order the sums were accumulated in
        take_up = (miss(up[0]) <= miss(down[0]) + 1e-12) if up and down else bool(up)
        i = (up if take_up else down).pop(0)
        net += delta[i]
        done += abs(delta[i])
        out.append(i)
    return out
