"""The `portfolio` block of meridian.yaml: how the book is built, what a trade costs, the rebalance calendar.

The limits the book must respect (largest position, sector side, net beta, share of ADV) are risk's vocabulary
and live in the `risk` block (`risk/settings.py`); the optimizer reads them from there. Fractions are of NAV
unless a comment says otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from meridian_assets.calendar import FOMC_DECISIONS
from meridian_assets.config_base import Block, require_order


class PortfolioConfig(Block):
    """Layer 4: book sizes and exposures, the optimizer, turnover and the transaction-cost model."""

    num_longs: int = Field(20, ge=0, le=1000)  # names in the long book
    num_shorts: int = Field(20, ge=0, le=1000)  # names in the short book
    long_exposure: float = Field(0.80, ge=0, le=5)  # target long book, fraction of NAV
    short_exposure: float = Field(0.70, ge=0, le=5)  # target short book, fraction of NAV (a positive number)
    gross_exposure: float = Field(1.50, gt=0, le=10)  # target long + short, fraction of NAV
    net_exposure_min: float = Field(0.0, ge=-1, le=1)  # target band of long - short, fraction of NAV
    net_exposure_max: float = Field(0.10, ge=-1, le=1)  # upper end of that band, fraction of NAV
    min_position_pct: float = Field(0.005, ge=0, le=1)  # smallest position held, fraction of NAV
    max_sector_net_pct: float = Field(0.05, ge=0, le=1)  # |long - short| within one sector, fraction of NAV
    turnover_budget: float = Field(0.30, ge=0, le=4)  # sum |dw| per rebalance, fraction of NAV
    min_trade_pct: float = Field(0.001, ge=0, lt=0.05)  # smaller trades (fraction of NAV) wait, unless they close
    # mvo | conviction | sleeves (the meta layer's capital-weighted sleeve book)
    optimize_method: Literal["mvo", "conviction", "sleeves"] = "mvo"
    mvo_risk_aversion: float = Field(1.0, ge=0, le=1000)  # lambda of mu'w - lambda w'Sigma w (unitless)
    # turnover in the MVO objective: "off" = the spec's optimum, the budget step (turnover.py) ramps to it;
    # "soft" = minus mvo_turnover_penalty per unit (fraction of NAV) of turnover beyond the budget; "hard" = a limit
    mvo_turnover_mode: Literal["off", "soft", "hard"] = "off"
    mvo_turnover_penalty: float = Field(1.0, ge=0, le=100)  # objective units per unit of excess turnover
    expected_return_range: float = Field(0.15, gt=0, le=1)  # score 100 -> +this, 0 -> -this annual return
    capital_base: float = Field(10_000_000.0, gt=0)  # USD the book starts from in cash
    beta_lookback_days: int = Field(60, ge=2, le=1260)  # sessions of returns for beta vs SPY
    covariance_lookback_days: int = Field(120, ge=2, le=1260)  # sessions for the sample covariance fallback
    adv_lookback_days: int = Field(20, ge=1, le=252)  # sessions averaged for ADV (USD) and the high-low range
    earnings_half_size_days: int = Field(5, ge=0, le=63)  # conviction book: half size within this many days
    tilt_top5_multiplier: float = Field(1.5, gt=0, le=5)  # conviction weight of the top 5% by score
    tilt_top10_multiplier: float = Field(1.25, gt=0, le=5)  # conviction weight of the top 10% by score
    # ---- transaction costs (portfolio/costs.py `TransactionCost`: the optimizer, the simulated venue and the
    # backtest all price trades with these three keys)
    commission_bps: float = Field(0.0, ge=0, le=1000)  # commission, bps of traded notional ($0 at Alpaca)
    # The half-spread a trade pays (mid to the side it trades on, once per trade) as a fraction of the daily
    # high-low range: cost per $ traded = spread_fraction_of_range x (high - low) / close (the spec: 5% of range).
    spread_fraction_of_range: float = Field(0.05, ge=0, le=1)
    # b of the impact term: cost per $ traded = b x daily vol x sqrt(trade $ / ADV $) (the spec: 0.10)
    impact_coefficient: float = Field(0.10, ge=0, le=10)
    # ---- advisory calendar (warns, never blocks)
    fomc_dates: tuple[dt.date, ...] = FOMC_DECISIONS  # FOMC decision days to warn ahead of (calendar.py)
    advisory_earnings_days: int = Field(2, ge=0, le=63)  # warn when a name reports within this many days
    advisory_fomc_days: int = Field(5, ge=0, le=63)  # warn within this many days of an FOMC decision
    advisory_opex_days: int = Field(3, ge=0, le=63)  # warn within this many days of monthly options expiry

    @model_validator(mode="after")
    def _ordered(self) -> "PortfolioConfig":
        require_order(self, ("net_exposure_min", "net_exposure_max"))
        return self
