"""The reporting domain's configuration block (``reporting`` in meridian.yaml): the statistics' windows and
rates, the tax estimate, the weekly commentary's model and budget, and the fund's identity on documents.

Base layer: imports pydantic and `config_base` only.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from meridian_assets.config_base import Block, require_order


class FundIdentity(Block):
    """Who the LP letter and the weekly report are from."""

    name: str = "Meridian Capital Partners"  # the fund's name on every document
    domicile: str = "Delaware, USA"  # where the fund is organised
    inception: dt.date = dt.date(2024, 1, 2)  # the fund's first trading day (since-inception figures)
    doc_id_prefix: str = "MCP-IM"  # prefix of each document's id (MCP-IM-2024-0329 for 2024-03-29)
    signatory: str = "Meridian Capital Partners, Investment Manager"  # who signs the LP letter
    signatory_title: str = "On behalf of the General Partner"  # the line under the signature
    # The legal notice printed at the foot of each document.
    compliance_footer: str = (
        "This document is confidential and intended solely for the limited partners of the fund. It is not an "
        "offer to sell or a solicitation of an offer to buy any security. Past performance is not indicative of "
        "future results. Figures are unaudited and may be revised."
    )


class ReportingConfig(Block):
    """Layer 7: attribution, tear sheet, weekly PDF and letters (see `meridian_assets/reporting`)."""

    # Folder under `paths.output_dir` for the PDFs, tear sheets and charts.
    output_subdir: str = "reports"
    # Annual risk-free rate (a fraction: 0.04 is 4%) of the Sharpe and Sortino ratios.
    risk_free_rate: float = Field(0.04, ge=-0.1, le=1)
    # Sessions of the rolling Sharpe ratio on the tear sheet.
    rolling_sharpe_days: int = Field(252, ge=2, le=2520)
    # Holding-period bucket boundaries of the win/loss table, in sessions (<=5, 5-20, 20-60, >60).
    holding_buckets_days: tuple[Annotated[int, Field(ge=1)], ...] = (5, 20, 60)
    # VIX close (index points) below which a session is low-VIX and above which high-VIX, for the reports.
    vix_low: float = Field(15.0, gt=0, le=200)
    vix_high: float = Field(25.0, gt=0, le=200)
    # Tax rates (fractions) on realised gains of lots held under / at least 365 calendar days.
    short_term_tax_rate: float = Field(0.37, ge=0, le=1)
    long_term_tax_rate: float = Field(0.20, ge=0, le=1)
    # Periods of 30 days a year, annualising a window's turnover (turnover x 12 x 30 / window days).
    turnover_annualisation: int = Field(12, ge=1, le=366)
    # Weekday the weekly report and its commentary are produced (the schedule runs at 20:00 New York).
    commentary_weekday: Literal["Mon", "Tue", "Wed", "Thu", "Fri"] = "Fri"
    # Provider and model that write the weekly commentary, the summary and the LP letter.
    commentary_provider: Literal["anthropic", "openai"] = "anthropic"
    commentary_model: str = "claude-sonnet-4-6"
    # USD ceiling of one report run's LLM calls.
    commentary_cost_ceiling_usd: float = Field(5.0, gt=0)
    # Size bound, in bytes, of the JSON figures sent to the model as context.
    commentary_max_context_bytes: int = Field(4096, ge=512)
    # Output token cap of one commentary call.
    llm_max_tokens: int = Field(1200, ge=100)
    fund: FundIdentity = FundIdentity()
    # Attribution: factor betas from OLS over the previous `attribution_window_days` sessions, needing at
    # least `attribution_min_observations` of them.
    attribution_window_days: int = Field(60, ge=10)
    attribution_min_observations: int = Field(20, ge=5)
    # Sessions over which a position's return is compared with its sector ETF's.
    sector_relative_days: int = Field(90, ge=5)
    # Calendar-day windows of the turnover and tax table.
    turnover_windows_days: tuple[Annotated[int, Field(ge=1)], ...] = (30, 90)
    # Confidence level of CVaR (0.95: the mean of the worst 5% of days).
    cvar_confidence: float = Field(0.95, gt=0.5, lt=1.0)
    # Fewest closed positions for the entry-score/return rank correlation to be reported.
    predictive_power_min_points: int = Field(5, ge=3)
    # Calendar days ending the report date: the CVaR-by-regime heatmap and the live-vs-sim chart.
    report_window_days: int = Field(90, ge=7)
    # Capital movement: across the latest this-many allocation snapshots, the `capital_movement_top_n`
    # largest weight changes.
    capital_movement_snapshots: int = Field(14, ge=2)
    capital_movement_top_n: int = Field(12, ge=1)
    # Positions listed in the weekly report's top allocations.
    top_allocations: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "ReportingConfig":
        require_order(self, ("vix_low", "vix_high"))
        return self
