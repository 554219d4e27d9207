"""Sleeves: named, versioned strategy configurations the meta layer backtests and allocates capital across.

A sleeve says where its scores come from and how its book is built. Every knob left ``None`` inherits the
`portfolio` block of meridian.yaml (``max_position_pct``: the `risk` block, where the limits live), so ``core``
(all ``None``) is today's book and follows the configuration; a tilt changes only what makes it a tilt.

    field             meaning                                                    portfolio field it sets
    score_source      factor_scores (the quant composite) | combined_scores (Layer 3's blended score)
    factor_weights    parent weights (sum 1) re-ranking the composite within sector; None: as scored
    optimizer         mvo | conviction                                           optimize_method
    risk_aversion     λ of the MVO                                               mvo_risk_aversion
    num_longs/shorts  book sizes                                                 num_longs / num_shorts
    long/short_exposure                                                          (gross_exposure = their sum)
    turnover_budget   Σ|Δw| per rebalance                                        turnover_budget
    max_position_pct  cap per name (the optimizer's and the pre-trade check's)   risk.max_position_pct

Shipped sleeves: ``core``; ``momentum_tilt`` and ``quality_value_tilt`` (factor weights); ``conviction``
(conviction-tilt over 15/15 names); ``combined_llm`` (Layer 3's combined score, active only when
`combined_scores` has rows). A sleeve's identity for versioning is the SHA-256 of its canonical JSON
(`content_hash`); `config_store` keeps every version.

`AllocationPolicy` is the versioned config of the allocation across sleeves: sleeves excluded from it (a KILL
or RETIRE applied), per-sleeve weight caps, and the CVaR penalty (``None``: meta.cvar_penalty).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meridian_assets.config import MeridianConfig
from meridian_assets.portfolio.settings import PortfolioConfig
from meridian_assets.risk.settings import RiskConfig
from meridian_assets.errors import ConfigError
from meridian_assets.factors.schemas import PARENTS

CORE = "core"
COMBINED_LLM = "combined_llm"
# knob -> the PortfolioConfig field it overrides
PORTFOLIO_FIELDS = {"optimizer": "optimize_method", "risk_aversion": "mvo_risk_aversion", "num_longs": "num_longs",
                    "num_shorts": "num_shorts", "long_exposure": "long_exposure", "short_exposure": "short_exposure",
                    "turnover_budget": "turnover_budget"}
# knob -> the RiskConfig field it overrides
RISK_FIELDS = {"max_position_pct": "max_position_pct"}


def _problems(err: ValidationError) -> str:
    """Each invalid field with its message (``bogus: Extra inputs are not permitted``)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in err.errors())


def canonical_json(doc: object) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(doc: dict) -> str:
    """SHA-256 of the canonical JSON of a config document."""
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


class Sleeve(BaseModel):
    """One sleeve's configuration (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    description: str = ""
    score_source: Literal["factor_scores", "combined_scores"] = "factor_scores"
    factor_weights: dict[str, float] | None = None
    optimizer: Literal["mvo", "conviction"] | None = None
    risk_aversion: float | None = Field(None, gt=0, le=100)
    num_longs: int | None = Field(None, ge=2, le=200)
    num_shorts: int | None = Field(None, ge=2, le=200)
    long_exposure: float | None = Field(None, gt=0, le=2)
    short_exposure: float | None = Field(None, gt=0, le=2)
    turnover_budget: float | None = Field(None, gt=0, le=4)
    max_position_pct: float | None = Field(None, gt=0, le=1)
    enabled: bool = True

    @field_validator("factor_weights")
    @classmethod
    def _weights(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        unknown = set(v) - set(PARENTS)
        if unknown:
            raise ValueError(f"unknown parent factors {sorted(unknown)}; use {', '.join(PARENTS)}")
        if any(w < 0 for w in v.values()) or abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"factor weights must be >= 0 and sum to 1, got {sum(v.values()):.4f}")
        return {p: float(v.get(p, 0.0)) for p in PARENTS}

    @model_validator(mode="after")
    def _source(self) -> "Sleeve":
        if self.factor_weights is not None and self.score_source != "factor_scores":
            raise ValueError("factor_weights re-rank the quant composite: they need score_source factor_scores")
        return self

    def doc(self) -> dict:
        return self.model_dump(mode="json")

    @property
    def hash(self) -> str:
        return content_hash(self.doc())

    def portfolio(self, base: PortfolioConfig) -> PortfolioConfig:
        """The portfolio block this sleeve trades with: ``base`` with the sleeve's knobs."""
        over = {PORTFOLIO_FIELDS[k]: v for k, v in self.doc().items() if k in PORTFOLIO_FIELDS and v is not None}
        merged = {**base.model_dump(), **over}
        merged["gross_exposure"] = merged["long_exposure"] + merged["short_exposure"]
        try:
            return PortfolioConfig.model_validate(merged)
        except ValidationError as err:
            raise ConfigError(f"sleeve {self.name}: portfolio {_problems(err)}") from None

    def limits(self, base: RiskConfig) -> RiskConfig:
        """The risk block this sleeve trades with: ``base`` with the sleeve's limits."""
        over = {RISK_FIELDS[k]: v for k, v in self.doc().items() if k in RISK_FIELDS and v is not None}
        return base.model_copy(update=over) if over else base

    def config(self, base: MeridianConfig) -> MeridianConfig:
        """The whole configuration a backtest of this sleeve runs with."""
        c = base.model_copy(update={"portfolio": self.portfolio(base.portfolio), "risk": self.limits(base.risk)})
        if c.portfolio.min_position_pct > c.risk.max_position_pct:
            raise ConfigError(f"sleeve {self.name}: max_position_pct={c.risk.max_position_pct} is below "
                              f"portfolio.min_position_pct={c.portfolio.min_position_pct}")
        return c

    def knobs(self, base: MeridianConfig) -> dict[str, float | str]:
        """The effective value of every knob (inherited ones resolved), for the knob/outcome diagnostics."""
        pc = self.portfolio(base.portfolio)
        out: dict[str, float | str] = {k: getattr(pc, f) for k, f in PORTFOLIO_FIELDS.items()}
        lim = self.limits(base.risk)
        out.update({k: getattr(lim, f) for k, f in RISK_FIELDS.items()})
        weights = self.factor_weights or base.scoring.composite_weights
        out.update({f"weight_{p}": float(weights.get(p, 0.0)) for p in PARENTS})
        out["score_source"] = self.score_source
        return out


class AllocationPolicy(BaseModel):
    """The allocation's versioned knobs (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    excluded: tuple[str, ...] = ()
    max_weights: dict[str, float] = {}
    cvar_penalty: float | None = Field(None, ge=0)

    def doc(self) -> dict:
        d = self.model_dump(mode="json")
        d["excluded"] = sorted(d["excluded"])
        return d


def builtin_sleeves() -> list[Sleeve]:
    """The shipped sleeves (module docstring)."""
    return [
        Sleeve(name=CORE, description="Today's book: the quant composite, the portfolio block as configured."),
        Sleeve(name="momentum_tilt", description="Momentum-tilted composite (momentum 40%).",
               factor_weights={"momentum": 0.40, "value": 0.10, "quality": 0.15, "growth": 0.10, "revisions": 0.10,
                               "short_interest": 0.05, "insider": 0.05, "institutional": 0.05}),
        Sleeve(name="quality_value_tilt", description="Quality and value tilted composite (30% each).",
               factor_weights={"momentum": 0.10, "value": 0.30, "quality": 0.30, "growth": 0.10, "revisions": 0.05,
                               "short_interest": 0.05, "insider": 0.05, "institutional": 0.05}),
        Sleeve(name="conviction", description="Conviction-tilt weights over a concentrated 15/15 book.",
               optimizer="conviction", num_longs=15, num_shorts=15),
        Sleeve(name=COMBINED_LLM, score_source="combined_scores",
               description="Layer 3's combined quant + LLM score; active only when combined_scores has rows."),
    ]


def parse_sleeve(doc: dict | str) -> Sleeve:
    raw = json.loads(doc) if isinstance(doc, str) else doc
    try:
        return Sleeve.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"sleeve config {raw.get('name', '?')!r} is invalid: {_problems(err)}") from None


def parse_policy(doc: dict | str) -> AllocationPolicy:
    raw = json.loads(doc) if isinstance(doc, str) else doc
    try:
        return AllocationPolicy.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"allocation config is invalid: {_problems(err)}") from None
