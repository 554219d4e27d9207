"""Circuit breakers: five triggers on the NAV series and the positions, mapped to a trading state.

    trigger                       value                          action            state
    daily loss    > 1.5%          1 - NAV_t / NAV_{t-1}          SIZE_DOWN 30%     REDUCING
    daily loss    > 2.5%          1 - NAV_t / NAV_{t-1}          CLOSE_ALL_TODAY   HALTED (day-scoped)
    5-day loss    > 4%            1 - NAV_t / NAV_{t-5}          SIZE_DOWN 30%     REDUCING
    drawdown      > 8%            1 - NAV_t / max(NAV_0..t)      KILL_SWITCH       HALTED (persistent lock)
    single name   > 3% of NAV     unrealized loss_i / NAV_t       FORCE_CLOSE name  (state unchanged)

Every trigger fires *strictly above* its threshold: a value exactly at the threshold does not fire. Values
within `AT_THRESHOLD_TOL` (1e-12) of a threshold count as "at" it, because NAV ratios carry float round-off
(1 - 98.5/100 = 0.015000000000000013); anything 1e-9 above fires. Thresholds come from `RiskConfig`.
The state is the most severe of the fired actions (HALTED > REDUCING > ACTIVE).

The single-name trigger is read like its four siblings, as a *loss*: a position that has lost more than 3% of
NAV (mark to market against its average cost) is force-closed. Read as position *size*, it would close every
position the optimizer builds at its 5% cap. It acts on that name only: the rebalance targets it at zero
and the pre-trade checks still allow the closing trade; the book's trading state is not changed by it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.states import TradingState

AT_THRESHOLD_TOL = 1e-12


class BreakerAction(str, enum.Enum):
    SIZE_DOWN = "SIZE_DOWN"
    CLOSE_ALL_TODAY = "CLOSE_ALL_TODAY"
    KILL_SWITCH = "KILL_SWITCH"
    FORCE_CLOSE = "FORCE_CLOSE"


_STATE_OF = {
    BreakerAction.SIZE_DOWN: TradingState.REDUCING,
    BreakerAction.FORCE_CLOSE: TradingState.ACTIVE,
    BreakerAction.CLOSE_ALL_TODAY: TradingState.HALTED,
    BreakerAction.KILL_SWITCH: TradingState.HALTED,
}
_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass(frozen=True)
class BreakerEvent:
    trigger: str  # daily_loss_size_down | daily_loss_close_all | weekly_loss | drawdown | single_position
    action: BreakerAction
    value: float
    threshold: float
    ticker: str | None = None


@dataclass(frozen=True)
class BreakerReport:
    state: TradingState
    events: tuple[BreakerEvent, ...]
    daily_loss: float
    weekly_loss: float
    drawdown: float
    size_multiplier: float = 1.0  # 1 - size_down_fraction when any SIZE_DOWN fired
    force_close: tuple[str, ...] = ()
    persistent_halt: bool = False  # kill switch: write the halt lock
    values: dict[str, float] = field(default_factory=dict)

    @property
    def actions(self) -> tuple[BreakerAction, ...]:
        return tuple(e.action for e in self.events)


def fires(value: float, threshold: float) -> bool:
    """Strictly above the threshold, with values within AT_THRESHOLD_TOL treated as exactly at it."""
    return value > threshold + AT_THRESHOLD_TOL


def nav_figures(nav: Sequence[float]) -> tuple[float, float, float]:
    """(daily loss, 5-day loss, drawdown) as positive loss fractions from a NAV series, oldest first."""
    x = np.asarray(nav, dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("circuit breakers need a non-empty, positive, finite NAV series")
    last = x[-1]
    daily = 1.0 - last / x[-2] if x.size >= 2 else 0.0
    weekly = 1.0 - last / x[-6] if x.size >= 6 else 1.0 - last / x[0]
    drawdown = 1.0 - last / x.max()
    return float(daily), float(weekly), float(drawdown)


def evaluate_values(
    daily_loss: float,
    weekly_loss: float,
    drawdown: float,
    position_losses: Mapping[str, float],
    cfg: RiskConfig,
) -> BreakerReport:
    """Evaluate the five triggers on already-computed values (losses positive; ``position_losses`` = each
    position's unrealized loss / NAV, positive = a loss)."""
    events: list[BreakerEvent] = []
    if fires(daily_loss, cfg.daily_loss_size_down):
        events.append(BreakerEvent("daily_loss_size_down", BreakerAction.SIZE_DOWN, daily_loss, cfg.daily_loss_size_down))
    if fires(daily_loss, cfg.daily_loss_close_all):
        events.append(
            BreakerEvent("daily_loss_close_all", BreakerAction.CLOSE_ALL_TODAY, daily_loss, cfg.daily_loss_close_all)
        )
    if fires(weekly_loss, cfg.weekly_loss_size_down):
        events.append(BreakerEvent("weekly_loss", BreakerAction.SIZE_DOWN, weekly_loss, cfg.weekly_loss_size_down))
    if fires(drawdown, cfg.drawdown_kill):
        events.append(BreakerEvent("drawdown", BreakerAction.KILL_SWITCH, drawdown, cfg.drawdown_kill))
    for ticker, loss in sorted(position_losses.items()):
        if fires(loss, cfg.single_position_force_close):
            events.append(
                BreakerEvent("single_position", BreakerAction.FORCE_CLOSE, loss, cfg.single_position_force_close, ticker)
            )
    state = TradingState.ACTIVE
    for e in events:
        if _SEVERITY[_STATE_OF[e.action]] > _SEVERITY[state]:
            state = _STATE_OF[e.action]
    size_down = any(e.action is BreakerAction.SIZE_DOWN for e in events)
    return BreakerReport(
        state=state,
        events=tuple(events),
        daily_loss=daily_loss,
        weekly_loss=weekly_loss,
        drawdown=drawdown,
        size_multiplier=1.0 - cfg.size_down_fraction if size_down else 1.0,
        force_close=tuple(e.ticker for e in events if e.ticker is not None),
        persistent_halt=any(e.action is BreakerAction.KILL_SWITCH for e in events),
        values={"daily_loss": daily_loss, "weekly_loss": weekly_loss, "drawdown": drawdown},
    )


def unrealized_pnl(positions) -> dict[str, float]:
    """Each position's unrealized P&L ($) from a frame with ticker, shares, last_price, avg_cost."""
    return {t: q * (p - c) for t, q, p, c in zip(positions["ticker"], positions["shares"], positions["last_price"],
                                                 positions["avg_cost"])}


def breaker_inputs(nav: Sequence[float]) -> dict[str, float]:
    """What the book-level breakers need, from a daily NAV series (oldest first): ``nav``, ``peak_nav``,
    ``daily_return``, ``weekly_return`` (returns signed, a loss < 0) and ``drawdown`` (a positive fraction).

    The book asset publishes these in its materialization metadata, so the kill switch evaluates the breakers
    from Dagster's event log the moment the book is written, without waiting for a DuckDB step."""
    x = np.asarray(nav, dtype=float)
    if x.size and np.all(np.isfinite(x)) and np.all(x > 0):
        daily, weekly, drawdown = nav_figures(x)
        return {"nav": float(x[-1]), "peak_nav": float(x.max()), "daily_return": -daily, "weekly_return": -weekly,
                "drawdown": drawdown}
    # a wiped-out (or unreadable) NAV: every book-level breaker fires, the kill switch first
    return {"nav": float(x[-1]) if x.size else 0.0, "peak_nav": float(np.nanmax(x)) if x.size else 0.0,
            "daily_return": -1.0, "weekly_return": -1.0, "drawdown": 1.0}


def evaluate_inputs(inputs: Mapping[str, float], cfg: RiskConfig) -> BreakerReport:
    """The book-level breakers (daily, 5-day, drawdown) on `breaker_inputs` values; the single-name trigger
    needs positions and is left to the risk state."""
    return evaluate_values(-float(inputs["daily_return"]), -float(inputs["weekly_return"]),
                           float(inputs["drawdown"]), {}, cfg)


def evaluate_breakers(nav: Sequence[float], unrealized_pnl: Mapping[str, float], cfg: RiskConfig) -> BreakerReport:
    """Evaluate the breakers from a daily NAV series (oldest first) and each position's unrealized P&L ($)."""
    daily, weekly, drawdown = nav_figures(nav)
    last = float(np.asarray(nav, dtype=float)[-1])
    losses = {t: -v / last for t, v in unrealized_pnl.items()}
    return evaluate_values(daily, weekly, drawdown, losses, cfg)
