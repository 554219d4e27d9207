"""What every analyzer is: a name, the tables it reads, the answer it expects, how its input is built
for a subject as known on a date, and how its answer becomes a 0-100 fundamental sub-score.

An analyzer's `load` returns, for each subject (a ticker, or a sector for the sector analyzer), either an
`AnalyzerInput` or None when the input is missing (no transcript, no 10-K, no Form 4 in the window...): the
subject is then skipped, makes no call, and nothing is blended for it (no penalty downstream).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import duckdb
import polars as pl
from pydantic import BaseModel, BeforeValidator, Field

from meridian_assets.analysis import prompts
from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.storage import read, table_exists


@dataclass(frozen=True)
class AnalyzerInput:
    subject: str  # ticker, or sector name
    sector: str | None
    artifact_id: str  # identifies the data analysed; the cache key with (analyzer, subject)
    context: dict[str, Any] = field(default_factory=dict)  # the user template's variables


def _clip_list(n: int):
    return lambda v: v[:n] if isinstance(v, list) else v


def _clip_text(n: int):
    return lambda v: (v[: n - 1].rstrip() + "…") if isinstance(v, str) and len(v) > n else v


def clipped_list(n: int, min_items: int = 0):
    """A list of strings cut to its first ``n`` items instead of rejecting a long answer."""
    return Annotated[list[str], BeforeValidator(_clip_list(n)), Field(min_length=min_items,
                                                                        description=f"at most {n} items")]


def clipped_text(n: int):
    """Non-empty text cut to ``n`` characters instead of rejecting a long answer."""
    return Annotated[str, BeforeValidator(_clip_text(n)), Field(min_length=1, description=f"at most {n} characters")]


def digest(*parts: object, n: int = 12) -> str:
    """A short stable hash of JSON-able parts (for artifact ids built from table rows)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:n]


def scale_1_10(x: float) -> float:
    """A 1-10 score onto 0-100 (1 -> 0, 10 -> 100)."""
    return max(0.0, min(100.0, (float(x) - 1.0) / 9.0 * 100.0))


def fmt(value: object, spec: str = ".3g") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if value != value else format(value, spec)
    return str(value)


def markdown_table(df: pl.DataFrame, spec: str = ".3g") -> str:
    """A plain Markdown table for prompts (no truncation: the model needs every value)."""
    if df.height == 0:
        return "_none_"
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.iter_rows():
        lines.append("| " + " | ".join(fmt(v, spec).replace("|", "/").replace("\n", " ") for v in row) + " |")
    return "\n".join(lines)


def rows_for(conn: duckdb.DuckDBPyConnection, table: str, sql: str, params: list) -> pl.DataFrame:
    """``sql`` over ``table``, or an empty frame when the table does not exist (missing input)."""
    if not table_exists(conn, table):
        return pl.DataFrame()
    return read(conn, sql, params)


class Analyzer:
    name: ClassVar[str]  # task name: earnings | filing | risk_factor | insider | sector
    asset_name: ClassVar[str]
    answer_model: ClassVar[type[BaseModel]]
    source_tables: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    blended: ClassVar[bool] = True  # whether its score feeds the LLM fundamental score

    def load(self, conn: duckdb.DuckDBPyConnection, candidates: pl.DataFrame, as_of: dt.date,
             cfg: AnalysisConfig) -> dict[str, AnalyzerInput | None]:
        raise NotImplementedError

    def prompt(self, inp: AnalyzerInput) -> tuple[str, str]:
        return prompts.render(self.name, **inp.context)

    def prompt_version(self) -> str:
        return prompts.prompt_version(self.name)

    def check(self, answer: Any, inp: AnalyzerInput) -> list[str]:
        """Cross-field problems that make an otherwise well-formed answer unusable."""
        return []

    def score(self, answer: Any) -> float | None:
        """The 0-100 fundamental sub-score (higher = better for a long), or None when not blended."""
        raise NotImplementedError

    def summary(self, answer: Any) -> str:
        return str(getattr(answer, "summary", ""))
