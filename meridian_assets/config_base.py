"""What every configuration block is built from: the frozen, strict pydantic base and two shared field helpers.

Each domain keeps its own block in ``<domain>/settings.py`` (imports: pydantic and this module only, so a
settings module sits in the base layer beside `config.py`); `config.py` assembles them into the root
`MeridianConfig` and loads ``meridian.yaml``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# A share of something (a weight, a fraction of NAV, a probability): in [0, 1].
Fraction = Annotated[float, Field(ge=0, le=1)]


def require_order(block: BaseModel, *pairs: tuple[str, str]) -> None:
    """Each (low, high) pair of fields must satisfy low <= high."""
    for low, high in pairs:
        if getattr(block, low) > getattr(block, high):
            raise ValueError(f"{low}={getattr(block, low)} must not exceed {high}={getattr(block, high)}")


class Block(BaseModel):
    """A configuration block: unknown keys refused, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf / .nan are typos, never limits
