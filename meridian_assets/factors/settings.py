"""The factors domain's configuration block (``scoring`` in meridian.yaml): composite weights, the VIX
regimes that re-weight them, the lookbacks of the price factors and the crowding monitor.

Base layer: imports pydantic and `config_base` only.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from meridian_assets.config_base import Block, Fraction, require_order


class ScoringConfig(Block):
    """Layer 2: within-sector factor scores and their composite (see `meridian_assets/factors/scoring.py`)."""

    # Parent weights (fractions, sum 1). A parent with no source data on a date is absent and the composite
    # re-weights over the parents present (factors/weights.py); the price-and-volume parents (momentum,
    # reversal, low_risk, liquidity) are live wherever there are bars.
    composite_weights: dict[str, Fraction] = {
        "momentum": 0.15,
        "value": 0.15,
        "quality": 0.15,
        "growth": 0.10,
        "revisions": 0.10,
        "short_interest": 0.05,
        "insider": 0.05,
        "institutional": 0.05,
        "reversal": 0.05,
        "low_risk": 0.10,
        "liquidity": 0.05,
    }
    # Use the VIX-conditional weights below (a run may override it: `regime_weights` in its run config).
    regime_weights_enabled: bool = False
    # Per regime, parent weights that replace `composite_weights`' (the rest kept, then all renormalised to 1).
    regime_weights: dict[str, dict[str, Fraction]] = {
        "high_vix": {"momentum": 0.10, "quality": 0.20},
        "low_vix": {"momentum": 0.20, "quality": 0.10},
    }
    # VIX close (index points) above which a date is `high_vix`, and below which it is `low_vix`.
    vix_high: float = Field(25.0, gt=0, le=200)
    vix_low: float = Field(15.0, gt=0, le=200)
    # Share of a sector's names flagged LONG (top) and SHORT (bottom) by composite rank.
    quintile: float = Field(0.20, gt=0, le=0.5)
    # Momentum: return over `momentum_lookback_days` sessions, skipping the latest `momentum_skip_days` (12-1).
    momentum_lookback_days: int = Field(252, ge=2, le=1260)
    momentum_skip_days: int = Field(21, ge=0, le=252)
    # Revisions: distinct estimate snapshot dates needed up to a date before the factor is live there.
    revisions_min_days: int = Field(30, ge=0, le=365)
    # Sessions of factor returns the crowding correlations are computed over.
    factor_return_window_days: int = Field(60, ge=2, le=1260)
    # Long-run correlation of each pair of factor returns (from the literature), keyed "a|b" (in [-1, 1]).
    crowding_baselines: dict[str, Annotated[float, Field(ge=-1, le=1)]] = {
        "momentum|value": -0.40,
        "quality|value": -0.20,
        "momentum|quality": 0.10,
        "growth|value": -0.30,
    }
    # A pair is flagged crowded when its window correlation is farther than this from its baseline.
    crowding_deviation: float = Field(0.30, gt=0, le=2)
    # The sector ETF of each GICS sector: the benchmark of excess returns (else SPY), attribution and
    # sector-relative alpha, and the sector shocks of the stress calibration.
    sector_etfs: dict[str, str] = {
        "Communication Services": "XLC",
        "Consumer Discretionary": "XLY",
        "Consumer Staples": "XLP",
        "Energy": "XLE",
        "Financials": "XLF",
        "Health Care": "XLV",
        "Industrials": "XLI",
        "Information Technology": "XLK",
        "Materials": "XLB",
        "Real Estate": "XLRE",
        "Utilities": "XLU",
    }

    @field_validator("composite_weights")
    @classmethod
    def _weights_sum_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        total = sum(v.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"composite weights must sum to 1.0, got {total:.4f}")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> "ScoringConfig":
        require_order(self, ("vix_low", "vix_high"), ("momentum_skip_days", "momentum_lookback_days"))
        return self
