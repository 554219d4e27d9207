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

from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.config_base import Block as _Block
from meridian_assets.desk.settings import DeskConfig
from meridian_assets.errors import ConfigError
from meridian_assets.execution.settings import ExecutionConfig
from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.ingest.settings import FilesConfig, ProvidersConfig, QualityConfig, SecConfig, SyntheticConfig
from meridian_assets.meta.settings import MetaConfig
from meridian_assets.portfolio.settings import PortfolioConfig
from meridian_assets.reporting.settings import ReportingConfig
from meridian_assets.risk.settings import RiskConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------- top level
class PathsConfig(_Block):
    """Where Meridian keeps its state, relative to ``MERIDIAN_HOME`` (default: ``.meridian`` in the project)."""

    database: str = "meridian.duckdb"  # the DuckDB file every asset is materialized into
    output_dir: str = "output"  # reports, tear sheets and charts (see `reporting.output_subdir`)
    halt_lock: str = "risk_halt.lock"  # the kill switch's lock file: while it exists no order is sent
    risk_state: str = "risk_state.json"  # the latest risk state, as JSON, for the CLI and the desk
    edgar_cache: str = "edgar"  # edgartools' HTTP cache of SEC EDGAR responses (folder)
    stress_cache: str = "stress"  # a folder for stress-scenario data; not read today, kept so old files validate


class HistoryConfig(_Block):
    """The span of history loaded by `make demo` and the first backfill."""

    # Years of scored history before `end_date`.
    years: int = Field(3, ge=1, le=30)
    # Extra calendar days of Layer-1 history loaded before the scored window, for lookbacks (12-month
    # momentum, year-over-year growth, 52-week highs).
    warmup_days: int = Field(380, ge=0, le=3660)
    # Last trading day to load; `latest` = the last completed NYSE session before now.
    end_date: dt.date | Literal["latest"] = "latest"
    # First date partitions exist for (backfills can reach back this far).
    partitions_start: dt.date = dt.date(2014, 1, 2)


# --------------------------------------------------------------------------------------------- root
class MeridianConfig(_Block):
    paths: PathsConfig = PathsConfig()
    history: HistoryConfig = HistoryConfig()
    providers: ProvidersConfig = ProvidersConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    files: FilesConfig = FilesConfig()
    sec: SecConfig = SecConfig()
    quality: QualityConfig = QualityConfig()
    # Tickers of the benchmark ETFs and indices loaded beside the universe (SPY, the sector ETFs, the VIX).
    benchmarks: tuple[str, ...] = (
        "SPY", "XLB", "XLC", "XLE", "XLF", "XLI", "XLK", "XLP", "XLRE", "XLU", "XLV", "XLY", "^VIX",
    )
    # FRED series ids of the macro table (rates in percent, the high-yield spread in percent points).
    macro_series: tuple[str, ...] = ("DGS3MO", "DGS2", "DGS10", "T10Y2Y", "BAMLH0A0HYM2", "FEDFUNDS")
    scoring: ScoringConfig = ScoringConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    reporting: ReportingConfig = ReportingConfig()
    meta: MetaConfig = MetaConfig()
    desk: DeskConfig = DeskConfig()

    @model_validator(mode="after")
    def _across_blocks(self) -> "MeridianConfig":
        if self.portfolio.min_position_pct > self.risk.max_position_pct:
            raise ValueError(f"portfolio.min_position_pct={self.portfolio.min_position_pct} must not exceed "
                             f"risk.max_position_pct={self.risk.max_position_pct}")
        return self

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


# Keys that moved to another block: an old meridian.yaml is told where each one lives now.
MOVED_KEYS = {
    "retries": "execution.retries",
    **{f"portfolio.{k}": f"risk.{k}" for k in ("max_position_pct", "max_sector_side_pct", "max_beta", "max_adv_pct")},
    **{f"execution.simulated.{k}": f"portfolio.{k}" for k in ("spread_fraction_of_range", "impact_coefficient")},
}


def _describe(e: dict) -> str:
    """One pydantic error as ``key.path: problem (got value)``."""
    loc = tuple(e["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "extra_forbidden" and ".".join(map(str, loc)) in MOVED_KEYS:
        return f"{where}: unknown key (moved to {MOVED_KEYS['.'.join(map(str, loc))]})"
    if e["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc[:-1]), n=1)
        return f"{where}: unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    value = e.get("input")
    if e["type"] != "missing" and not isinstance(value, (dict, list, tuple, BaseModel)):
        got = repr(value)
        msg += f" (got {got[:57] + '...' if len(got) > 60 else got})"
    return f"{where}: {msg}" if loc else msg  # a rule across blocks names its keys itself


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
