"""Meridian's configuration: one validated `meridian.yaml`.

Every tunable of every layer lives here with the specification's default, so code never carries its own
literals. The file is validated at load time; an unknown or mistyped key fails with a message that names
it (``ConfigError: meridian.yaml: portfolio.num_longs: Input should be a valid integer``).

Secrets are *not* configuration: API keys come only from environment variables (see `.env.example`) and
are read by the resources in `resources/`.

Where the file is looked up, first match wins:
1. the path in ``MERIDIAN_CONFIG``;
2. ``meridian.yaml`` in the project root (the directory holding ``pyproject.toml``);
3. built-in defaults (identical to the committed ``meridian.yaml``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from meridian_assets.config_base import Block as _Block
from meridian_assets.config_base import Fraction
from meridian_assets.config_base import require_order as _require_order
from meridian_assets.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------- top level
class PathsConfig(_Block):
    """Where Meridian keeps its state, relative to ``MERIDIAN_HOME`` (default: ``.meridian`` in the project)."""

    database: str = "meridian.duckdb"
    output_dir: str = "output"
    halt_lock: str = "risk_halt.lock"
    risk_state: str = "risk_state.json"
    edgar_cache: str = "edgar"
    stress_cache: str = "stress"


class HistoryConfig(_Block):
    """The span of history loaded by `make demo` and the first backfill."""

    years: int = Field(3, ge=1, le=30)
    # Extra calendar days of Layer-1 history loaded before the scored window, for lookbacks (12-month
    # momentum, year-over-year growth, 52-week highs).
    warmup_days: int = Field(380, ge=0, le=3660)
    # Last trading day to load; `latest` = the last completed NYSE session before now.
    end_date: dt.date | Literal["latest"] = "latest"
    # First date partitions exist for (backfills can reach back this far).
    partitions_start: dt.date = dt.date(2014, 1, 2)


class ProvidersConfig(_Block):
    """Which provider serves each kind of data: synthetic (embedded market), files, alpaca, edgar."""

    universe: Literal["synthetic", "files"] = "synthetic"
    prices: Literal["synthetic", "files", "alpaca"] = "synthetic"
    fundamentals: Literal["synthetic", "files", "edgar"] = "synthetic"
    filings: Literal["synthetic", "files", "edgar"] = "synthetic"
    estimates: Literal["synthetic", "files"] = "synthetic"
    transcripts: Literal["synthetic", "files"] = "synthetic"
    macro: Literal["synthetic", "files"] = "synthetic"
    # What a real provider does when its key is missing or its service unreachable.
    on_unavailable: Literal["fail", "fallback_synthetic"] = "fail"


class SyntheticConfig(_Block):
    """The embedded deterministic market (see `meridian_assets/ingest/synthetic`)."""

    seed: int = Field(20240601, ge=0)
    n_tickers: int = Field(500, ge=22, le=2000)
    # The market is simulated from this date on; values on a day never depend on the requested range.
    epoch: dt.date = dt.date(2018, 1, 2)


class FilesConfig(_Block):
    """The `files` provider: a folder of CSV/Parquet in the documented schema (see README)."""

    root: str = "../shared/realdata"
    prices: str = "prices/sp500_daily_2014_2024.parquet"
    benchmarks: str = "prices/etf_index_daily.parquet"
    constituents: str = "constituents/constituents.csv"
    constituents_history: str = "constituents/history"


class TrackedFund(_Block):
    name: str
    cik: int = Field(gt=0)


class SecConfig(_Block):
    """SEC EDGAR access. Identity comes from the SEC_USER_AGENT_EMAIL environment variable."""

    max_requests_per_second: float = Field(8.0, gt=0, le=10)
    forms: tuple[str, ...] = ("10-K", "10-Q", "8-K", "4")
    form4_lookback_days: int = Field(90, ge=1, le=3660)
    filings_lookback_days: int = Field(400, ge=1, le=3660)
    tracked_funds: tuple[TrackedFund, ...] = (
        TrackedFund(name="Berkshire Hathaway", cik=1067983),
        TrackedFund(name="Bridgewater Associates", cik=1350694),
        TrackedFund(name="Renaissance Technologies", cik=1037389),
        TrackedFund(name="Citadel Advisors", cik=1423053),
        TrackedFund(name="Two Sigma Investments", cik=1179392),
        TrackedFund(name="D. E. Shaw & Co.", cik=1009207),
        TrackedFund(name="Millennium Management", cik=1273087),
        TrackedFund(name="AQR Capital Management", cik=1167557),
        TrackedFund(name="Pershing Square Capital Management", cik=1336528),
    )


class RetryConfig(_Block):
    max_attempts: int = Field(3, ge=1, le=20)
    backoff_base_seconds: float = Field(1.0, ge=0, le=600)
    backoff_max_seconds: float = Field(30.0, ge=0, le=3600)


class QualityConfig(_Block):
    """Thresholds of the warning-severity data checks (the blocking ones have no knobs)."""

    max_abs_daily_move: float = Field(0.5, gt=0, le=10)  # |close/prev close - 1|
    max_gap_sessions: int = Field(5, ge=0, le=252)


# --------------------------------------------------------------------------------------------- layers
class ScoringConfig(_Block):
    # Parent weights (sum 1). A parent with no source data on a date is absent and the composite re-weights
    # over the parents present (factors/scoring.py); the price-and-volume parents (momentum, reversal, low_risk,
    # liquidity) are live wherever there are bars.
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
    regime_weights_enabled: bool = False
    regime_weights: dict[str, dict[str, Fraction]] = {
        "high_vix": {"momentum": 0.10, "quality": 0.20},
        "low_vix": {"momentum": 0.20, "quality": 0.10},
    }
    vix_high: float = Field(25.0, gt=0, le=200)
    vix_low: float = Field(15.0, gt=0, le=200)
    quintile: float = Field(0.20, gt=0, le=0.5)  # share of a sector flagged LONG (and SHORT)
    momentum_lookback_days: int = Field(252, ge=2, le=1260)
    momentum_skip_days: int = Field(21, ge=0, le=252)
    revisions_min_days: int = Field(30, ge=0, le=365)
    factor_return_window_days: int = Field(60, ge=2, le=1260)
    crowding_baselines: dict[str, Annotated[float, Field(ge=-1, le=1)]] = {
        "momentum|value": -0.40,
        "quality|value": -0.20,
        "momentum|quality": 0.10,
        "growth|value": -0.30,
    }
    crowding_deviation: float = Field(0.30, gt=0, le=2)
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
        _require_order(self, ("vix_low", "vix_high"), ("momentum_skip_days", "momentum_lookback_days"))
        return self


class ModelPrice(_Block):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)


class LLMTaskConfig(_Block):
    """The provider and model one LLM task uses (``max_tokens`` None: ``analysis.max_tokens``)."""

    provider: Literal["anthropic", "openai"]
    model: str
    max_tokens: int | None = Field(None, ge=16)


_SONNET = LLMTaskConfig(provider="anthropic", model="claude-sonnet-4-6")


class AnalysisConfig(_Block):
    """Layer 3: LLM analysts, their budget, cache and the blend into the composite."""

    # Default provider and model of a task not listed in `tasks`.
    provider: Literal["anthropic", "openai"] = "anthropic"
    model: str = "claude-sonnet-4-6"
    # Every task that calls an LLM, by name: the five analyzers and the dashboard chat.
    tasks: dict[str, LLMTaskConfig] = {
        "earnings": _SONNET,
        "filing": _SONNET,
        "risk_factor": _SONNET,
        "insider": _SONNET,
        "sector": _SONNET,
        "chat": LLMTaskConfig(provider="anthropic", model="claude-haiku-4-5", max_tokens=1024),
    }
    max_tokens: int = Field(4096, ge=16, le=200_000)
    # Sent to OpenAI only (the Anthropic Messages API of the installed SDK takes no temperature); null: omit.
    temperature: float | None = Field(0.0, ge=0, le=2)
    # Per-run ceilings (USD): the analysis run, and one dashboard chat session. Commentary: reporting block.
    cost_ceiling_usd: float = Field(25.0, gt=0)
    chat_cost_ceiling_usd: float = Field(2.0, gt=0)
    # SDK retries (exponential backoff, honouring retry-after) on 429 / 5xx / 529 overloaded.
    max_retries: int = Field(4, ge=0, le=10)
    timeout_seconds: float = Field(300.0, gt=0)
    max_concurrency: int = Field(4, ge=1, le=32)
    # Consecutive failed calls (after retries) that stop an analyzer: the provider is down.
    max_consecutive_errors: int = Field(3, ge=1)
    cache_ttl_days: int = Field(30, ge=0)
    candidates_long: int = Field(20, ge=0)
    candidates_short: int = Field(20, ge=0)
    transcript_max_chars: int = Field(120_000, ge=1)
    risk_factors_max_chars: int = Field(80_000, ge=1)
    insider_lookback_days: int = Field(90, ge=1, le=3660)
    insider_max_transactions: int = Field(100, ge=1)
    filing_quarters: int = Field(8, ge=1)
    filing_min_quarters: int = Field(2, ge=1)
    # Typical answer length, for `meridian analyze --estimate-cost` (the ceiling guard assumes max_tokens).
    estimate_output_tokens: int = Field(900, ge=1)
    quant_weight: float = Field(0.6, ge=0, le=1)
    llm_weight: float = Field(0.4, ge=0, le=1)
    # USD per million tokens, by model (a dated model id uses the longest matching prefix).
    pricing: dict[str, ModelPrice] = {
        "claude-sonnet-4-6": ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30),
        "claude-haiku-4-5": ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
        "claude-opus-4-1": ModelPrice(input=15.0, output=75.0, cache_write=18.75, cache_read=1.50),
        "gpt-4o-mini": ModelPrice(input=0.15, output=0.60, cache_write=0.15, cache_read=0.075),
        "gpt-4.1-mini": ModelPrice(input=0.40, output=1.60, cache_write=0.40, cache_read=0.10),
    }

    @model_validator(mode="after")
    def _consistent(self) -> "AnalysisConfig":
        if abs(self.quant_weight + self.llm_weight - 1.0) > 1e-6:
            raise ValueError(f"quant_weight + llm_weight must sum to 1.0, got {self.quant_weight + self.llm_weight:.4f}")
        if self.filing_min_quarters > self.filing_quarters:
            raise ValueError("filing_min_quarters must not exceed filing_quarters")
        for name, task in {"(default)": self.task("(default)"), **self.tasks}.items():
            if self.price_key(task.model) is None:
                raise ValueError(f"tasks.{name}: model {task.model!r} has no entry in analysis.pricing "
                                 "(add its USD per million tokens so the cost ceiling can be enforced)")
        return self

    def task(self, name: str) -> LLMTaskConfig:
        """The provider and model of task ``name`` (the block's default when it is not listed)."""
        found = self.tasks.get(name)
        return found if found is not None else LLMTaskConfig(provider=self.provider, model=self.model)

    def price_key(self, model: str) -> str | None:
        """The `pricing` entry of ``model``: exact, else the longest key it starts with."""
        if model in self.pricing:
            return model
        matches = [k for k in self.pricing if model.startswith(k)]
        return max(matches, key=len) if matches else None


class PortfolioConfig(_Block):
    num_longs: int = Field(20, ge=0, le=1000)
    num_shorts: int = Field(20, ge=0, le=1000)
    long_exposure: float = Field(0.80, ge=0, le=5)  # of NAV
    short_exposure: float = Field(0.70, ge=0, le=5)  # of NAV, a positive number
    gross_exposure: float = Field(1.50, gt=0, le=10)
    net_exposure_min: float = Field(0.0, ge=-1, le=1)
    net_exposure_max: float = Field(0.10, ge=-1, le=1)
    min_position_pct: float = Field(0.005, ge=0, le=1)
    max_position_pct: float = Field(0.05, gt=0, le=1)
    max_sector_side_pct: float = Field(0.25, gt=0, le=1)
    max_sector_net_pct: float = Field(0.05, ge=0, le=1)
    max_beta: float = Field(0.15, ge=0, le=5)  # |net beta|
    turnover_budget: float = Field(0.30, ge=0, le=4)  # sum |dw| per rebalance
    min_trade_pct: float = Field(0.001, ge=0, lt=0.05)  # smaller trades wait, unless they close a position
    optimize_method: Literal["mvo", "conviction", "sleeves"] = "mvo"  # sleeves: the meta layer's combined target
    mvo_risk_aversion: float = Field(1.0, ge=0, le=1000)
    # turnover in the MVO objective: "off" = the spec's optimum, the budget step (turnover.py) ramps to it;
    # "soft" = minus mvo_turnover_penalty per unit (fraction of NAV) of turnover beyond the budget; "hard" = a limit
    mvo_turnover_mode: Literal["off", "soft", "hard"] = "off"
    mvo_turnover_penalty: float = Field(1.0, ge=0, le=100)
    expected_return_range: float = Field(0.15, gt=0, le=1)
    capital_base: float = Field(10_000_000.0, gt=0)
    beta_lookback_days: int = Field(60, ge=2, le=1260)
    covariance_lookback_days: int = Field(120, ge=2, le=1260)
    adv_lookback_days: int = Field(20, ge=1, le=252)
    max_adv_pct: float = Field(0.05, gt=0, le=1)
    earnings_half_size_days: int = Field(5, ge=0, le=63)
    tilt_top5_multiplier: float = Field(1.5, gt=0, le=5)
    tilt_top10_multiplier: float = Field(1.25, gt=0, le=5)
    commission_bps: float = Field(0.0, ge=0, le=1000)
    spread_fraction_of_range: float = Field(0.05, ge=0, le=1)
    impact_coefficient: float = Field(0.10, ge=0, le=10)
    fomc_dates: tuple[dt.date, ...] = (
        dt.date(2026, 1, 28),
        dt.date(2026, 3, 18),
        dt.date(2026, 4, 29),
        dt.date(2026, 6, 17),
        dt.date(2026, 7, 29),
        dt.date(2026, 9, 16),
        dt.date(2026, 10, 28),
        dt.date(2026, 12, 9),
    )
    advisory_earnings_days: int = Field(2, ge=0, le=63)
    advisory_fomc_days: int = Field(5, ge=0, le=63)
    advisory_opex_days: int = Field(3, ge=0, le=63)

    @model_validator(mode="after")
    def _ordered(self) -> "PortfolioConfig":
        _require_order(self, ("net_exposure_min", "net_exposure_max"), ("min_position_pct", "max_position_pct"))
        return self


class StressScenario(_Block):
    name: str
    kind: Literal["historical", "sector_shock", "momentum_reversal", "short_squeeze"]
    shock: float = Field(0.0, ge=-1, le=10)  # a return: -0.30 is a 30% fall


class RiskConfig(_Block):
    factor_lookback_days: int = Field(120, ge=2, le=1260)
    style_factors: tuple[str, ...] = ("beta", "momentum", "size", "value", "volatility", "quality")
    feed_to_mvo: bool = True
    # pre-trade limits
    earnings_blackout_days: int = Field(5, ge=0, le=63)
    earnings_blackout_size_fraction: float = Field(0.5, ge=0, le=1)
    max_adv_pct: float = Field(0.05, gt=0, le=1)
    max_position_pct: float = Field(0.05, gt=0, le=1)
    max_sector_side_pct: float = Field(0.25, gt=0, le=1)
    max_gross: float = Field(1.65, gt=0, le=10)
    net_min: float = Field(-0.10, ge=-1, le=1)
    net_max: float = Field(0.15, ge=-1, le=1)
    max_beta: float = Field(0.15, ge=0, le=5)
    # circuit breakers
    daily_loss_size_down: float = Field(0.015, gt=0, lt=1)
    daily_loss_close_all: float = Field(0.025, gt=0, lt=1)
    weekly_loss_size_down: float = Field(0.04, gt=0, lt=1)
    drawdown_kill: float = Field(0.08, gt=0, lt=1)
    single_position_force_close: float = Field(0.03, gt=0, lt=1)
    size_down_fraction: float = Field(0.30, ge=0, le=1)
    # monitors
    factor_z_alert: float = Field(2.0, gt=0, le=20)
    correlation_alert: float = Field(0.60, gt=0, le=1)
    correlation_window_days: int = Field(60, ge=2, le=1260)
    vix_reduce: float = Field(25.0, gt=0, le=200)
    vix_reduce_fraction: float = Field(0.20, ge=0, le=1)
    vix_severe: float = Field(35.0, gt=0, le=200)
    vix_severe_fraction: float = Field(0.50, ge=0, le=1)
    credit_spread_sigma: float = Field(1.0, gt=0, le=10)
    credit_spread_window_days: int = Field(252, ge=2, le=2520)
    credit_spread_reduce_fraction: float = Field(0.20, ge=0, le=1)
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
        _require_order(self, ("net_min", "net_max"), ("daily_loss_size_down", "daily_loss_close_all"),
                       ("vix_reduce", "vix_severe"))
        return self


class ExecutorConfig(_Block):
    limit_offset_pct: float = Field(0.001, ge=0, lt=0.1)
    chunk_max_adv_pct: float = Field(0.02, gt=0, le=1)
    time_in_force_seconds: int = Field(120, gt=0)
    poll_seconds: int = Field(5, gt=0)
    max_retries: int = Field(3, ge=0)


class SimulatedVenueConfig(_Block):
    """The simulated venue (`execution.broker: simulated`): its starting cash, borrow list and fill model.

    A limit order trades against the embedded market's next bar: the quoted spread is
    `spread_fraction_of_range` of the bar's high-low range, the impact per share is
    `impact_coefficient` x range/close x sqrt(qty / volume) x price, and at most `max_participation` of the
    bar's volume fills. Fills arrive in `fill_slices` equal slices, the first `fill_delay_seconds` after
    acceptance and the last `fill_duration_seconds` later (0 and 0: filled at acceptance).

    With `virtual_time` the venue and the executor share a simulated clock: polling, fill delays and the
    time in force elapse in simulated seconds, so a run takes seconds of wall time with the same behaviour.
    """

    starting_cash: float = Field(10_000_000.0, gt=0)
    spread_fraction_of_range: float = Field(0.05, ge=0)
    impact_coefficient: float = Field(0.10, ge=0)
    max_participation: float = Field(0.10, gt=0, le=1)
    fill_delay_seconds: float = Field(5.0, ge=0)
    fill_duration_seconds: float = Field(20.0, ge=0)
    fill_slices: int = Field(2, ge=1)
    not_shortable: tuple[str, ...] = ()
    hard_to_borrow: tuple[str, ...] = ()
    virtual_time: bool = True


class ExecutionConfig(_Block):
    mode: Literal["paper", "live"] = "paper"
    broker: Literal["simulated", "alpaca"] = "simulated"
    sync_on_startup: bool = True
    retries: RetryConfig = RetryConfig()
    # 429s are ridden out longer than other transient errors (they say "slow down", not "broken")
    rate_limit_retries: int = Field(10, ge=0)
    # lookups by client order id that settle an ambiguous submit (timeout, 5xx, dropped connection)
    order_lookup_attempts: int = Field(5, ge=1)
    request_timeout_seconds: float = Field(10.0, gt=0)
    short_check_cache_days: int = Field(7, ge=0, le=365)
    executor: ExecutorConfig = ExecutorConfig()
    max_requests_per_minute: int = Field(200, ge=1, le=200)
    slippage_window_days: int = Field(30, ge=1, le=3660)
    slippage_worst_n: int = Field(5, ge=0, le=1000)
    simulated: SimulatedVenueConfig = SimulatedVenueConfig()


class FundIdentity(_Block):
    """Who the LP letter and the weekly report are from."""

    name: str = "Meridian Capital Partners"
    domicile: str = "Delaware, USA"
    inception: dt.date = dt.date(2024, 1, 2)
    doc_id_prefix: str = "MCP-IM"
    signatory: str = "Meridian Capital Partners, Investment Manager"
    signatory_title: str = "On behalf of the General Partner"
    compliance_footer: str = (
        "This document is confidential and intended solely for the limited partners of the fund. It is not an "
        "offer to sell or a solicitation of an offer to buy any security. Past performance is not indicative of "
        "future results. Figures are unaudited and may be revised."
    )


class ReportingConfig(_Block):
    output_subdir: str = "reports"
    risk_free_rate: float = Field(0.04, ge=-0.1, le=1)  # annual
    rolling_sharpe_days: int = Field(252, ge=2, le=2520)
    holding_buckets_days: tuple[Annotated[int, Field(ge=1)], ...] = (5, 20, 60)
    vix_low: float = Field(15.0, gt=0, le=200)
    vix_high: float = Field(25.0, gt=0, le=200)
    short_term_tax_rate: float = Field(0.37, ge=0, le=1)
    long_term_tax_rate: float = Field(0.20, ge=0, le=1)
    turnover_annualisation: int = Field(12, ge=1, le=366)
    commentary_weekday: Literal["Mon", "Tue", "Wed", "Thu", "Fri"] = "Fri"
    commentary_provider: Literal["anthropic", "openai"] = "anthropic"
    commentary_model: str = "claude-sonnet-4-6"
    commentary_cost_ceiling_usd: float = Field(5.0, gt=0)
    commentary_max_context_bytes: int = Field(4096, ge=512)
    llm_max_tokens: int = Field(1200, ge=100)
    fund: FundIdentity = FundIdentity()
    # attribution: factor betas from OLS over the previous `attribution_window_days` sessions
    attribution_window_days: int = Field(60, ge=10)
    attribution_min_observations: int = Field(20, ge=5)
    sector_relative_days: int = Field(90, ge=5)
    turnover_windows_days: tuple[Annotated[int, Field(ge=1)], ...] = (30, 90)
    cvar_confidence: float = Field(0.95, gt=0.5, lt=1.0)
    predictive_power_min_points: int = Field(5, ge=3)
    # calendar days ending the report date: the CVaR-by-regime heatmap and the live-vs-sim chart
    report_window_days: int = Field(90, ge=7)
    capital_movement_snapshots: int = Field(14, ge=2)
    capital_movement_top_n: int = Field(12, ge=1)
    top_allocations: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "ReportingConfig":
        _require_order(self, ("vix_low", "vix_high"))
        return self


class MetaConfig(_Block):
    """The meta layer: sleeve backtests, capital allocation across sleeves, sleeve decisions and the
    config-change proposals (see `meridian_assets/meta`)."""

    # backtests: sessions the weekly sleeve backtests cover, ending at the latest scored session
    backtest_sessions: int = Field(252, ge=5)
    # annual borrow fee charged daily on short market value (shorts the venue refuses are not filled)
    borrow_rate: float = Field(0.005, ge=0, le=1)
    # processes a sweep of sleeves runs in (1: in the calling process)
    workers: int = Field(2, ge=1, le=32)
    # sessions after a trade over which its forward return is measured (score buckets, veto impact)
    forward_sessions: int = Field(5, ge=1, le=63)
    # allocation: risk parity on the sleeves' covariance of daily returns with a CVaR penalty
    allocation_lookback_sessions: int = Field(126, ge=20)
    cvar_penalty: float = Field(0.5, ge=0)
    cvar_confidence: float = Field(0.95, gt=0.5, lt=1.0)
    min_sleeve_weight: float = Field(0.05, ge=0, lt=1)
    max_sleeve_weight: float = Field(0.60, gt=0, le=1)
    promote_tilt: float = Field(0.25, ge=0, le=1)
    # decisions: a sleeve's live window is its record since its config version took effect (at least
    # `min_live_sessions`), else its last `live_sessions`; the sessions before are its backtest
    live_sessions: int = Field(63, ge=5)
    min_live_sessions: int = Field(20, ge=5)
    promote_sharpe: float = 1.0
    kill_drawdown: float = Field(0.08, gt=0, lt=1)
    kill_sharpe_gap: float = Field(2.0, gt=0)
    retire_sharpe: float = 0.0
    retire_correlation: float = Field(0.90, gt=0, le=1)
    regime_min_sessions: int = Field(10, ge=2)
    regime_sharpe_floor: float = -1.0
    # proposals: evidence backtests cover the last `evidence_sessions`; fewer than the minimum is insufficient
    evidence_sessions: int = Field(126, ge=5)
    min_evidence_sessions: int = Field(60, ge=5)
    cost_drag_max: float = Field(0.25, gt=0)
    veto_rate_max: float = Field(0.20, gt=0, le=1)
    drawdown_budget: float = Field(0.06, gt=0, lt=1)
    auto_apply_min_confidence: float = Field(0.95, ge=0, le=1)
    auto_apply_target_types: tuple[str, ...] = ("ALLOCATION_CONFIG",)
    rationale_provider: Literal["anthropic", "openai"] = "anthropic"
    rationale_model: str = "claude-haiku-4-5"
    rationale_cost_ceiling_usd: float = Field(1.0, gt=0)
    # information measures
    entropy_bins: int = Field(20, ge=4)
    mi_bins: int = Field(3, ge=2)
    mi_permutations: int = Field(200, ge=0)


# --------------------------------------------------------------------------------------------- root
class DeskConfig(_Block):
    """The PM's desk (`make desk`, meridian_assets/desk): where it listens, the Dagster webserver its actions
    go through, and when it refreshes itself."""

    port: int = Field(8502, ge=1, le=65535)  # the desk's HTTP port (loopback)
    dagster_host: str = "127.0.0.1"  # the Dagster webserver that Approve / Execute / Regenerate launch runs on
    dagster_port: int = Field(3000, ge=1, le=65535)
    auto_refresh_seconds: int = Field(300, ge=10)  # reload interval, only while NYSE is open (09:30-16:00 ET)
    chat_memory_turns: int = Field(6, ge=1, le=50)  # question/answer pairs the chat remembers
    chat_context_max_kb: int = Field(19, ge=1, le=200)  # size bound of the network snapshot sent as context


class MeridianConfig(_Block):
    paths: PathsConfig = PathsConfig()
    history: HistoryConfig = HistoryConfig()
    providers: ProvidersConfig = ProvidersConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    files: FilesConfig = FilesConfig()
    sec: SecConfig = SecConfig()
    retries: RetryConfig = RetryConfig()
    quality: QualityConfig = QualityConfig()
    benchmarks: tuple[str, ...] = (
        "SPY", "XLB", "XLC", "XLE", "XLF", "XLI", "XLK", "XLP", "XLRE", "XLU", "XLV", "XLY", "^VIX",
    )
    macro_series: tuple[str, ...] = ("DGS3MO", "DGS2", "DGS10", "T10Y2Y", "BAMLH0A0HYM2", "FEDFUNDS")
    scoring: ScoringConfig = ScoringConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    reporting: ReportingConfig = ReportingConfig()
    meta: MetaConfig = MetaConfig()
    desk: DeskConfig = DeskConfig()

    # ---- derived locations
    def home(self) -> Path:
        return meridian_home()

    def database_path(self) -> Path:
        return self.home() / self.paths.database

    def output_dir(self) -> Path:
        return self.home() / self.paths.output_dir

    def halt_lock_path(self) -> Path:
        return self.home() / self.paths.halt_lock

    def risk_state_path(self) -> Path:
        return self.home() / self.paths.risk_state

    def files_root(self) -> Path:
        root = Path(self.files.root)
        return root if root.is_absolute() else (PROJECT_ROOT / root).resolve()


def meridian_home() -> Path:
    """The folder holding the DuckDB file, the Dagster instance and outputs (``MERIDIAN_HOME``)."""
    return Path(os.environ.get("MERIDIAN_HOME", PROJECT_ROOT / ".meridian")).resolve()


def _known_keys(loc: tuple) -> list[str]:
    """The keys the block at ``loc`` (a path of field names) accepts, for a did-you-mean hint."""
    model: type[BaseModel] | None = MeridianConfig
    for part in loc:
        field = model.model_fields.get(str(part)) if model is not None else None
        ann = field.annotation if field is not None else None
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(model.model_fields) if model is not None else []


def _describe(e: dict) -> str:
    """One pydantic error as ``key.path: problem (got value)``."""
    loc = tuple(e["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc[:-1]), n=1)
        return f"{where}: unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    value = e.get("input")
    if e["type"] != "missing" and not isinstance(value, (dict, list, tuple, BaseModel)):
        got = repr(value)
        msg += f" (got {got[:57] + '...' if len(got) > 60 else got})"
    return f"{where}: {msg}"


def _format_validation_error(source: str, err: ValidationError) -> str:
    """Every problem on one line: ``source: key.path: problem (got value); key2: ...``."""
    return f"{source}: " + "; ".join(_describe(e) for e in err.errors())


def parse_config(raw: dict | None, source: str = "meridian.yaml") -> MeridianConfig:
    """Validate a raw mapping into a `MeridianConfig`, naming every bad key in the error."""
    try:
        return MeridianConfig.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_format_validation_error(source, err)) from None


def config_path() -> Path | None:
    env = os.environ.get("MERIDIAN_CONFIG")
    if env:
        return Path(env)
    default = PROJECT_ROOT / "meridian.yaml"
    return default if default.exists() else None


def load_config(path: str | Path | None = None) -> MeridianConfig:
    """Load and validate `meridian.yaml` (see the module docstring for the lookup order)."""
    p = Path(path) if path is not None else config_path()
    if p is None:
        return MeridianConfig()
    if not p.exists():
        raise ConfigError(f"{p}: configuration file not found (given by --config or MERIDIAN_CONFIG)")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_problem(p, err)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot be read: {getattr(err, 'strerror', None) or err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of blocks, got {type(raw).__name__}")
    return parse_config(raw, source=str(p))


def _yaml_problem(path: Path, err: yaml.YAMLError) -> str:
    """``path:line:column: not valid YAML: problem`` on one line (PyYAML's own text spans several)."""
    mark = getattr(err, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = ", ".join(str(x) for x in (getattr(err, "context", None), getattr(err, "problem", None)) if x)
    return f"{where}: not valid YAML: {problem or ' '.join(str(err).split())}"


@lru_cache(maxsize=8)
def _cached(path: str | None, mtime: float) -> MeridianConfig:
    return load_config(path)


def get_config() -> MeridianConfig:
    """The active configuration, re-read when the file changes."""
    p = config_path()
    if p is None or not p.exists():
        return _cached(None, 0.0)
    return _cached(str(p), p.stat().st_mtime)
