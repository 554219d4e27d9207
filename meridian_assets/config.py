"""Meridian's configuration: one validated `meridian.yaml`.

Every tunable of every layer has the specification's default in its domain's block, ``<domain>/settings.py``
(e.g. `factors/settings.py` for ``scoring``), so code never carries its own literals; this module holds the
root `MeridianConfig` that assembles the blocks, the paths and history span every domain shares, and the
loading. The file is validated at load time; an unknown or mistyped key fails with a message that names
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
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from meridian_assets.config_base import Block as _Block
from meridian_assets.config_base import require_order as _require_order
from meridian_assets.errors import ConfigError
from meridian_assets.desk.settings import DeskConfig
from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.ingest.settings import FilesConfig, ProvidersConfig, QualityConfig, SecConfig, SyntheticConfig
from meridian_assets.llm.settings import AnalysisConfig
from meridian_assets.meta.settings import MetaConfig
from meridian_assets.reporting.settings import ReportingConfig

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


class RetryConfig(_Block):
    max_attempts: int = Field(3, ge=1, le=20)
    backoff_base_seconds: float = Field(1.0, ge=0, le=600)
    backoff_max_seconds: float = Field(30.0, ge=0, le=3600)


# --------------------------------------------------------------------------------------------- layers
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


# --------------------------------------------------------------------------------------------- root
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
