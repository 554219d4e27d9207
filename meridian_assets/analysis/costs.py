"""Pricing LLM calls and holding a run to a hard dollar ceiling.

**Price of a call** (rates in USD per million tokens from ``analysis.pricing``; a dated model id such as
``claude-sonnet-4-6-20260301`` uses the longest key it starts with)::

    cost = (input * p_input + output * p_output + cache_write * p_cache_write + cache_read * p_cache_read) / 1e6

with the token counts of `client.Usage` (``input`` = uncached input tokens).

**The ceiling is never crossed.** Before each call `reserve` prices the most it can bill — every byte sent
(system, user, the schema and its name and description, UTF-8) counted as one input token, plus
``REQUEST_OVERHEAD_TOKENS`` for what the provider adds around it (message framing, the tool-use
instructions), at the dearer of the input and cache-write rates, plus ``max_tokens`` of output — and raises
`CostCeilingReached` when ``spent + in-flight reservations + worst case > ceiling``; no call is made. A byte
per token is a bound, not an estimate: byte-level BPE tokenizers never make a token of less than one byte,
whereas a characters-per-token guess is beaten by digits, tables and non-ASCII text. After the answer
`settle` swaps the reservation for the actual cost read from the response's usage, releasing the unused
part. Calls running on several threads therefore cannot jointly overshoot, and `stop_message` gives the
final total once the calls in flight have settled. A budget (``analysis``, ``commentary``, ``chat``...) is per run: a
tracker starts from what the run already spent on that budget (see `AuditLog.spent`), so the steps of one
run share one ceiling even when they run in separate processes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from meridian_assets.analysis.client import Prompt, Usage, schema_json
from meridian_assets.analysis.errors import CostCeilingReached, PricingMissing
from meridian_assets.analysis.settings import ModelPrice

CHARS_PER_TOKEN = 4.0  # for estimates shown to people
REQUEST_OVERHEAD_TOKENS = 1000  # tokens a provider adds to a request (framing, tool-use instructions), at most


def price_for(pricing: Mapping[str, ModelPrice], model: str) -> ModelPrice:
    """The rates of ``model``: its exact entry, else the longest key it starts with."""
    if model in pricing:
        return pricing[model]
    matches = [k for k in pricing if model.startswith(k)]
    if not matches:
        raise PricingMissing(f"analysis.pricing has no entry for model {model!r}: add its USD per million tokens "
                             "(input, output, cache_write, cache_read) so its calls can be priced and capped")
    return pricing[max(matches, key=len)]


def call_cost(price: ModelPrice, usage: Usage) -> float:
    return (usage.input_tokens * price.input + usage.output_tokens * price.output
            + usage.cache_write_tokens * price.cache_write + usage.cache_read_tokens * price.cache_read) / 1e6


def prompt_chars(prompt: Prompt) -> int:
    return len(prompt.system) + len(prompt.user) + len(schema_json(prompt.schema))


def estimate_tokens(chars: int, chars_per_token: float = CHARS_PER_TOKEN) -> int:
    return math.ceil(chars / chars_per_token) if chars > 0 else 0


def max_input_tokens(prompt: Prompt) -> int:
    """The most input tokens ``prompt`` can be billed for (module docstring): its bytes plus the overhead."""
    sent = (prompt.system, prompt.user, schema_json(prompt.schema), prompt.schema_name if prompt.schema else "",
            prompt.schema_description if prompt.schema else "")
    return sum(len(part.encode("utf-8")) for part in sent) + REQUEST_OVERHEAD_TOKENS


@dataclass(frozen=True)
class Reservation:
    model: str
    usd: float


class CostTracker:
    """Spend of one budget in one run, with its hard ceiling (module docstring). Thread-safe."""

    def __init__(self, budget: str, ceiling_usd: float, pricing: Mapping[str, ModelPrice],
                 spent_usd: float = 0.0) -> None:
        self.budget, self.ceiling_usd, self.pricing = budget, float(ceiling_usd), pricing
        self.prior_usd = float(spent_usd)  # spent by earlier steps of the same run
        self._spent = float(spent_usd)
        self._reserved = 0.0
        self._calls = 0
        self._usage = Usage()
        self._lock = threading.Lock()

    # ---- pricing
    def cost(self, model: str, usage: Usage, fallback: str | None = None) -> float:
        """The price of ``usage`` at ``model``'s rates (``fallback``'s when the answering model has none: the
        call was made and billed, so it is always counted)."""
        try:
            return call_cost(price_for(self.pricing, model), usage)
        except PricingMissing:
            if fallback is None:
                raise
            return call_cost(price_for(self.pricing, fallback), usage)

    def worst_case(self, model: str, prompt: Prompt) -> float:
        price = price_for(self.pricing, model)
        tokens_in = max_input_tokens(prompt)
        return (tokens_in * max(price.input, price.cache_write) + prompt.max_tokens * price.output) / 1e6

    # ---- the guard
    def reserve(self, model: str, prompt: Prompt) -> Reservation:
        """Hold the worst case of the next call, or raise `CostCeilingReached` (no call may be made)."""
        usd = self.worst_case(model, prompt)
        with self._lock:
            if self._spent + self._reserved + usd > self.ceiling_usd:
                raise CostCeilingReached(self.budget, self.ceiling_usd, self._spent, usd)
            self._reserved += usd
        return Reservation(model, usd)

    def settle(self, reservation: Reservation, usage: Usage, model: str | None = None) -> float:
        """Replace the reservation with the call's actual cost (the unused part is released); returns that cost."""
        cost = self.cost(model or reservation.model, usage, fallback=reservation.model)
        with self._lock:
            self._reserved -= reservation.usd
            self._spent += cost
            self._calls += 1
            self._usage = self._usage + usage
        return cost

    def release(self, reservation: Reservation) -> None:
        """Drop the reservation of a call that failed without usage (nothing was billed)."""
        with self._lock:
            self._reserved -= reservation.usd

    # ---- figures
    @property
    def spent_usd(self) -> float:
        return self._spent

    @property
    def reserved_usd(self) -> float:
        """Held for calls in flight."""
        return self._reserved

    def stop_message(self) -> str:
        """Why no further call was made, with the final total (call it once the calls in flight settled)."""
        return (f"{self.budget} cost ceiling ${self.ceiling_usd:.2f} reached: ${self._spent:.4f} spent this run in "
                f"total (${self.ceiling_usd - self._spent:.4f} left, less than the next call could cost). Results so "
                "far are kept; re-run later (cached results are free) or raise the ceiling in meridian.yaml.")

    @property
    def run_usd(self) -> float:
        """Spent by this tracker (excluding earlier steps of the run)."""
        return self._spent - self.prior_usd

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def usage(self) -> Usage:
        return self._usage

    def summary(self) -> dict:
        u = self._usage
        total_in = u.total_input_tokens
        return {
            "budget": self.budget,
            "calls": self._calls,
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "cache_read_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "prompt_cache_hit_rate": round(u.cache_read_tokens / total_in, 4) if total_in else 0.0,
            "cost_usd": round(self.run_usd, 6),
            "run_cost_usd": round(self._spent, 6),
            "ceiling_usd": self.ceiling_usd,
        }
