"""Typed errors of the LLM layer. Each says what happened and what to do; none ever carries a key."""

from __future__ import annotations

from meridian_assets.errors import ConfigError, MeridianError, ProviderError


class CostCeilingReached(MeridianError):
    """The next call could take the run past its budget's hard ceiling; no call was made."""

    def __init__(self, budget: str, ceiling_usd: float, spent_usd: float, next_call_usd: float) -> None:
        self.budget, self.ceiling_usd = budget, ceiling_usd
        self.spent_usd, self.next_call_usd = spent_usd, next_call_usd
        super().__init__(
            f"{budget} cost ceiling ${ceiling_usd:.2f} reached: ${spent_usd:.4f} spent this run and the next call "
            f"could cost up to ${next_call_usd:.4f}. Results so far are kept; re-run later (cached results are "
            "free) or raise the ceiling in meridian.yaml."
        )


class LLMUnavailable(ProviderError):
    """The provider cannot be used here: its API key is not set."""


class LLMAuthError(ProviderError):
    """The provider refused the key (401/403). Every further call would fail too."""


class LLMCallError(ProviderError):
    """A call failed after the SDK's retries (429, 5xx, overloaded, timeout) or was rejected (400)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        self.status, self.retryable = status, retryable
        super().__init__(message)


class PricingMissing(ConfigError):
    """A model has no entry in `analysis.pricing`, so its calls could not be priced or capped."""
