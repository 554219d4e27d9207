"""The `risk` block of meridian.yaml: the factor risk model, every limit on the book, the circuit breakers, the
monitors and the stress scenarios.

Each limit lives here once: the optimizer builds the book inside them and the pre-trade check denies a trade
that breaks them (`max_position_pct`, `max_sector_side_pct`, `max_beta`, `max_adv_pct`). Fractions are of NAV
unless a comment says otherwise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from meridian_assets.config_base import Block, require_order


class StressScenario(Block):
    """One stress test: a replayed historical window or a hypothetical shock."""

    name: str  # as shown in the risk report
    kind: Literal["historical", "sector_shock", "momentum_reversal", "short_squeeze"]  # replayed window or shock
    shock: float = Field(0.0, ge=-1, le=10)  # a return: -0.30 is a 30% fall (unused by `historical`)


class RiskConfig(Block):
    """Layer 5: the risk model, the limits of the book, circuit breakers, monitors and stress tests."""

    factor_lookback_days: int = Field(120, ge=2, le=1260)  # sessions of factor returns behind the covariance
    # the style factors of the risk model, beside one factor per sector
    style_factors: tuple[str, ...] = ("beta", "momentum", "size", "value", "volatility", "quality")
    feed_to_mvo: bool = True  # the MVO uses the factor covariance (else the sample covariance)
    # ---- limits of the book: the optimizer's constraints and the pre-trade checks (risk/pre_trade.py)
    earnings_blackout_days: int = Field(5, ge=0, le=63)  # calendar days before earnings the blackout starts
    earnings_blackout_size_fraction: float = Field(0.5, ge=0, le=1)  # in blackout: cap = this x max_position_pct
    max_adv_pct: float = Field(0.05, gt=0, le=1)  # |trade| (and a position) <= this x 20-day ADV (USD)
    max_position_pct: float = Field(0.05, gt=0, le=1)  # |position| <= this fraction of NAV
    max_sector_side_pct: float = Field(0.25, gt=0, le=1)  # long (and short) book in one sector <= this of NAV
    max_gross: float = Field(1.65, gt=0, le=10)  # long + short <= this fraction of NAV
    net_min: float = Field(-0.10, ge=-1, le=1)  # net (long - short) within [net_min, net_max] of NAV
    net_max: float = Field(0.15, ge=-1, le=1)
    max_beta: float = Field(0.15, ge=0, le=5)  # |net beta| = |sum w_i beta_i| <= this (beta vs SPY)
    # ---- circuit breakers (risk/breakers.py); losses are fractions of NAV, each fires strictly above
    daily_loss_size_down: float = Field(0.015, gt=0, lt=1)  # one-day loss -> size down (REDUCING)
    daily_loss_close_all: float = Field(0.025, gt=0, lt=1)  # one-day loss -> close all today (HALTED)
    weekly_loss_size_down: float = Field(0.04, gt=0, lt=1)  # 5-session loss -> size down
    drawdown_kill: float = Field(0.08, gt=0, lt=1)  # drawdown from the peak -> kill switch (persistent halt)
    single_position_force_close: float = Field(0.03, gt=0, lt=1)  # one name's unrealized loss -> close it
    size_down_fraction: float = Field(0.30, ge=0, le=1)  # gross is cut by this share on SIZE_DOWN
    # ---- monitors (risk/monitors.py)
    factor_z_alert: float = Field(2.0, gt=0, le=20)  # |long - short factor exposure| in cross-sectional sigmas
    correlation_alert: float = Field(0.60, gt=0, le=1)  # mean pairwise correlation of a book's names
    correlation_window_days: int = Field(60, ge=2, le=1260)  # sessions of returns for the correlation
    vix_reduce: float = Field(25.0, gt=0, le=200)  # VIX level (points) that cuts gross by vix_reduce_fraction
    vix_reduce_fraction: float = Field(0.20, ge=0, le=1)
    vix_severe: float = Field(35.0, gt=0, le=200)  # VIX level (points) that cuts gross by vix_severe_fraction
    vix_severe_fraction: float = Field(0.50, ge=0, le=1)
    credit_spread_sigma: float = Field(1.0, gt=0, le=10)  # HY OAS above its mean by this many std devs ...
    credit_spread_window_days: int = Field(252, ge=2, le=2520)  # ... of this many previous days ...
    credit_spread_reduce_fraction: float = Field(0.20, ge=0, le=1)  # ... cuts gross by this share
    stress_scenarios: tuple[StressScenario, ...] = (
        StressScenario(name="2008 Crisis", kind="historical"),
        StressScenario(name="2020 Covid", kind="historical"),
        StressScenario(name="2022 Rate Hikes", kind="historical"),
        StressScenario(name="Sector Shock", kind="sector_shock", shock=-0.30),
        StressScenario(name="Momentum Reversal", kind="momentum_reversal", shock=0.20),
        StressScenario(name="Short Squeeze", kind="short_squeeze", shock=0.30),
    )

    @model_validator(mode="after")
    def _ordered(self) -> "RiskConfig":
        require_order(self, ("net_min", "net_max"), ("daily_loss_size_down", "daily_loss_close_all"),
                      ("vix_reduce", "vix_severe"))
        return self
