"""The LLM analysts' configuration block (``analysis`` in meridian.yaml): provider and model per task, the
per-run cost ceilings, the SDK's retries and timeouts, the cache, the candidates analysed, the input caps of
each analyst and the blend of the LLM score into the composite.

Base layer: imports pydantic and `config_base` only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from meridian_assets.config_base import Block


class ModelPrice(Block):
    """A model's price, USD per million tokens."""

    input: float = Field(ge=0)  # uncached input tokens
    output: float = Field(ge=0)  # output tokens
    cache_write: float = Field(ge=0)  # input tokens written to the prompt cache
    cache_read: float = Field(ge=0)  # input tokens read from the prompt cache


class LLMTaskConfig(Block):
    """The provider and model one LLM task uses (``max_tokens`` None: ``analysis.max_tokens``)."""

    provider: Literal["anthropic", "openai"]  # whose API serves the task
    model: str  # the model id sent to that API (must have an `analysis.pricing` entry)
    max_tokens: int | None = Field(None, ge=16)  # output token cap of one call


_SONNET = LLMTaskConfig(provider="anthropic", model="claude-sonnet-4-6")


class AnalysisConfig(Block):
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
    # Output token cap of one call, unless the task sets its own.
    max_tokens: int = Field(4096, ge=16, le=200_000)
    # Sent to OpenAI only (the Anthropic Messages API of the installed SDK takes no temperature); null: omit.
    temperature: float | None = Field(0.0, ge=0, le=2)
    # Per-run ceilings (USD): the analysis run, and one dashboard chat session. Commentary: reporting block.
    cost_ceiling_usd: float = Field(25.0, gt=0)
    chat_cost_ceiling_usd: float = Field(2.0, gt=0)
    # SDK retries (exponential backoff, honouring retry-after) on 429 / 5xx / 529 overloaded.
    max_retries: int = Field(4, ge=0, le=10)
    # Seconds one call may take before it fails (then retried as above).
    timeout_seconds: float = Field(300.0, gt=0)
    # Calls in flight at once within an analyzer (threads).
    max_concurrency: int = Field(4, ge=1, le=32)
    # Consecutive failed calls (after retries) that stop an analyzer: the provider is down.
    max_consecutive_errors: int = Field(3, ge=1)
    # Days a cached answer (same prompt, model and input) is reused instead of calling again.
    cache_ttl_days: int = Field(30, ge=0)
    # Names analysed per date: the top `candidates_long` and bottom `candidates_short` by quant composite.
    candidates_long: int = Field(20, ge=0)
    candidates_short: int = Field(20, ge=0)
    # Input caps, in characters: the earnings-call transcript, and the 10-K's Item 1A risk factors.
    transcript_max_chars: int = Field(120_000, ge=1)
    risk_factors_max_chars: int = Field(80_000, ge=1)
    # Insider analyst: calendar days of Form 4 transactions shown, and at most this many (most recent).
    insider_lookback_days: int = Field(90, ge=1, le=3660)
    insider_max_transactions: int = Field(100, ge=1)
    # Filing analyst: quarters of ratios shown, and the fewest with which it is called at all.
    filing_quarters: int = Field(8, ge=1)
    filing_min_quarters: int = Field(2, ge=1)
    # Typical answer length, for `meridian analyze --estimate-cost` (the ceiling guard assumes max_tokens).
    estimate_output_tokens: int = Field(900, ge=1)
    # The blend: combined score = quant_weight x quant composite + llm_weight x LLM score (weights sum 1).
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
