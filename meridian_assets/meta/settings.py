"""The meta layer's configuration block (``meta`` in meridian.yaml): sleeve backtests, capital allocation
across sleeves, sleeve decisions, config-change proposals and the information measures.

Base layer: imports pydantic and `config_base` only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from meridian_assets.config_base import Block


class MetaConfig(Block):
    """The meta layer: sleeve backtests, capital allocation across sleeves, sleeve decisions and the
    config-change proposals (see `meridian_assets/meta`)."""

    # Backtests: scored sessions the weekly sleeve backtests cover, ending at the latest scored session.
    backtest_sessions: int = Field(252, ge=5)
    # Sessions between a backtest's rebalances (5: the live book's weekly cadence; 1: every session). The book is
    # marked, charged borrow and filled every session; it is re-proposed only on every n-th one from the first.
    rebalance_every_sessions: int = Field(5, ge=1, le=63)
    # Annual borrow fee (a fraction of short market value), charged daily; shorts the venue refuses are not filled.
    borrow_rate: float = Field(0.005, ge=0, le=1)
    # Processes a sweep of sleeves runs in (1: in the calling process).
    workers: int = Field(2, ge=1, le=32)
    # Sessions after a trade over which its forward return is measured (score buckets, veto impact).
    forward_sessions: int = Field(5, ge=1, le=63)
    # Allocation: risk parity on the sleeves' covariance of daily returns over the last
    # `allocation_lookback_sessions` common sessions, plus `cvar_penalty` x CVaR at `cvar_confidence`.
    allocation_lookback_sessions: int = Field(126, ge=20)
    cvar_penalty: float = Field(0.5, ge=0)
    cvar_confidence: float = Field(0.95, gt=0.5, lt=1.0)
    # Bounds of one sleeve's weight (fractions of capital).
    min_sleeve_weight: float = Field(0.05, ge=0, lt=1)
    max_sleeve_weight: float = Field(0.60, gt=0, le=1)
    # Extra risk budget of a PROMOTE sleeve (0.25: its budget is 1.25 against 1 for the others).
    promote_tilt: float = Field(0.25, ge=0, le=1)
    # Decisions: a sleeve's live window is its record since its config version took effect (at least
    # `min_live_sessions`), else its last `live_sessions`; the sessions before are its backtest.
    live_sessions: int = Field(63, ge=5)
    min_live_sessions: int = Field(20, ge=5)
    # PROMOTE needs a live annualised Sharpe ratio at least this.
    promote_sharpe: float = 1.0
    # KILL: live drawdown deeper than `kill_drawdown` (a fraction), or live Sharpe below 0 and more than
    # `kill_sharpe_gap` (Sharpe units) under the backtest's.
    kill_drawdown: float = Field(0.08, gt=0, lt=1)
    kill_sharpe_gap: float = Field(2.0, gt=0)
    # RETIRE: Sharpe over the whole record below `retire_sharpe`, or daily returns correlated at least
    # `retire_correlation` with a sleeve of higher Sharpe.
    retire_sharpe: float = 0.0
    retire_correlation: float = Field(0.90, gt=0, le=1)
    # Regime behaviour: sessions of the current VIX regime needed, and the Sharpe below which it blocks PROMOTE.
    regime_min_sessions: int = Field(10, ge=2)
    regime_sharpe_floor: float = -1.0
    # Proposals: evidence backtests cover the last `evidence_sessions`; fewer than the minimum is insufficient.
    evidence_sessions: int = Field(126, ge=5)
    min_evidence_sessions: int = Field(60, ge=5)
    # Proposal triggers: costs over this fraction of gross P&L; vetoed over asked trades above this fraction;
    # a max drawdown (fraction) deeper than the budget (also PROMOTE's drawdown limit).
    cost_drag_max: float = Field(0.25, gt=0)
    veto_rate_max: float = Field(0.20, gt=0, le=1)
    drawdown_budget: float = Field(0.06, gt=0, lt=1)
    # A proposal is applied without a human only at this confidence (0-1) and only for these target types.
    auto_apply_min_confidence: float = Field(0.95, ge=0, le=1)
    auto_apply_target_types: tuple[str, ...] = ("ALLOCATION_CONFIG",)
    # Provider, model and USD ceiling (per run) of the LLM that writes each proposal's rationale.
    rationale_provider: Literal["anthropic", "openai"] = "anthropic"
    rationale_model: str = "claude-haiku-4-5"
    rationale_cost_ceiling_usd: float = Field(1.0, gt=0)
    # Information measures: histogram bins of the return entropy, quantile bins of the knob/outcome mutual
    # information, and permutations of its p-value (0: no p-value).
    entropy_bins: int = Field(20, ge=4)
    mi_bins: int = Field(3, ge=2)
    mi_permutations: int = Field(200, ge=0)
