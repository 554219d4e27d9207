"""10-K risk-factor analyst: Item 1A of the latest 10-K known on the scored date (at most
``analysis.risk_factors_max_chars`` characters), diffed against the prior 10-K's Item 1A when there is one ->
material risks, new risks, boilerplate percentage, severity (1-10, 10 = most severe) and reasoning.

**The diff** is computed here, not by the model: both texts are split into paragraphs (blank-line
separated, whitespace normalised). A current paragraph also in the prior text is *unchanged*; one whose
closest prior paragraph has a `difflib` similarity of at least 0.8 is *modified* (typically updated figures);
any other is *added*; prior paragraphs neither unchanged nor matched are *removed*. The model gets the
current text plus the added, modified and removed paragraphs, so "new risks" rest on evidence.

Artifact id: the 10-K's accession number, plus the prior's (``current|prior``).
Sub-score = (10 - severity) / 9 * 100.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from typing import Annotated

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from meridian_assets.analysis.analyzers.base import Analyzer, AnalyzerInput, clipped_list, clipped_text, rows_for
from meridian_assets.analysis.settings import AnalysisConfig

SIMILAR = 0.8
Score10 = Annotated[float, Field(ge=1, le=10)]


@dataclass
class RiskDiff:
    added: list[str] = field(default_factory=list)
    modified: list[tuple[str, str]] = field(default_factory=list)  # (prior, current)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    total: int = 0  # paragraphs in the current text

    @property
    def unchanged_share(self) -> float:
        return self.unchanged / self.total if self.total else 0.0


def paragraphs(text: str | None) -> list[str]:
    """Blank-line separated paragraphs with whitespace collapsed; empty ones dropped."""
    parts = re.split(r"\n\s*\n", text or "")
    return [p for p in (" ".join(x.split()) for x in parts) if p]


def diff_risk_factors(current: str, prior: str | None, similar: float = SIMILAR) -> RiskDiff:
    """Paragraph-level diff of two Item 1A texts (module docstring)."""
    cur, old = paragraphs(current), paragraphs(prior)
    diff = RiskDiff(total=len(cur))
    if prior is None:
        return diff
    old_set = set(old)
    unmatched_old = [p for p in old if p not in set(cur)]
    taken: set[int] = set()
    for p in cur:
        if p in old_set:
            diff.unchanged += 1
            continue
        best, best_i = 0.0, -1
        for i, q in enumerate(unmatched_old):
            if i in taken:
                continue
            m = difflib.SequenceMatcher(None, p, q, autojunk=False)
            if m.real_quick_ratio() < similar or m.quick_ratio() < similar:
                continue
            r = m.ratio()
            if r > best:
                best, best_i = r, i
        if best >= similar:
            taken.add(best_i)
            diff.modified.append((unmatched_old[best_i], p))
        else:
            diff.added.append(p)
    diff.removed = [q for i, q in enumerate(unmatched_old) if i not in taken]
    return diff


class RiskFactorAnswer(BaseModel):
    """Record the risk-factor review: material and new risks, boilerplate share and overall severity."""

    model_config = ConfigDict(extra="ignore")

    material_risks: clipped_list(10, min_items=1)
    new_risks: clipped_list(10) = Field(default_factory=list)
    removed_risks: clipped_list(10) = Field(default_factory=list)
    boilerplate_percentage: float = Field(ge=0, le=100)
    risk_severity: Score10 = Field(description="1 = benign, 10 = severe, company-specific risks")
    reasoning: str = Field(min_length=1)
    summary: clipped_text(600)


class RiskFactorAnalyzer(Analyzer):
    name = "risk_factor"
    asset_name = "risk_factor_analysis"
    answer_model = RiskFactorAnswer
    source_tables = ("sec_filings",)
    description = ("LLM review of each candidate's latest 10-K Item 1A (<= 80K chars) diffed against the prior "
                   "10-K: material and new risks, boilerplate percentage and severity.")

    def load(self, conn: duckdb.DuckDBPyConnection, candidates: pl.DataFrame, as_of: dt.date,
             cfg: AnalysisConfig) -> dict[str, AnalyzerInput | None]:
        tickers = candidates["ticker"].to_list()
        rows = rows_for(conn, "sec_filings", """
            SELECT ticker, accession_no, filed_at, period_of_report, risk_factors FROM sec_filings
            WHERE ticker IN (SELECT unnest(?)) AND form = '10-K' AND known_at <= ?
              AND risk_factors IS NOT NULL AND length(trim(risk_factors)) > 0
            QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY filed_at DESC, accession_no DESC) <= 2""",
                        [tickers, as_of])
        out: dict[str, AnalyzerInput | None] = {}
        cap = cfg.risk_factors_max_chars
        for c in candidates.iter_rows(named=True):
            t = c["ticker"]
            filings = rows.filter(pl.col("ticker") == t).sort("filed_at", descending=True) if rows.height else rows
            if filings.height == 0:
                out[t] = None
                continue
            cur = filings.row(0, named=True)
            prior = filings.row(1, named=True) if filings.height > 1 else None
            d = diff_risk_factors(cur["risk_factors"][:cap], prior["risk_factors"][:cap] if prior else None)
            artifact = cur["accession_no"] + (f"|{prior['accession_no']}" if prior else "")
            out[t] = AnalyzerInput(
                subject=t, sector=c["sector"], artifact_id=artifact,
                context={"ticker": t, "name": c.get("name") or t, "sector": c["sector"],
                         "filed_at": cur["filed_at"], "period": cur["period_of_report"],
                         "text": cur["risk_factors"][:cap], "truncated": len(cur["risk_factors"]) > cap,
                         "max_chars": cap, "has_prior": prior is not None,
                         "prior_filed_at": prior["filed_at"] if prior else None,
                         "added": d.added, "modified": [m[1] for m in d.modified],
                         "removed": [r[:400] for r in d.removed], "unchanged": d.unchanged, "total": d.total,
                         "unchanged_pct": round(100 * d.unchanged_share, 1)})
        return out

    def score(self, answer: RiskFactorAnswer) -> float:
        return max(0.0, min(100.0, (10.0 - answer.risk_severity) / 9.0 * 100.0))
