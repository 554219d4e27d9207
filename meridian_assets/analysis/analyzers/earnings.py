"""Earnings-call analyst: the latest transcript known on the scored date (at most
``analysis.transcript_max_chars`` characters) -> six 1-10 scores, bull and bear case, key quotes, summary.

Sub-score = the mean of the six scores on 0-100 (1 -> 0, 10 -> 100); every score is oriented so that 10 is
best for a long (``risk_factors`` 10 = risks well contained).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.analysis.analyzers.base import (
    Analyzer, AnalyzerInput, clipped_list, clipped_text, rows_for, scale_1_10,
)

Score10 = Annotated[float, Field(ge=1, le=10)]
DIMENSIONS = ("management_confidence", "revenue_guidance", "margin_trajectory", "competitive_position",
              "risk_factors", "capital_allocation")


class EarningsAnswer(BaseModel):
    """Record the earnings-call analysis: six 1-10 scores (10 = best for shareholders), bull and bear case,
    verbatim key quotes and a one-line summary."""

    model_config = ConfigDict(extra="ignore")

    management_confidence: Score10
    revenue_guidance: Score10
    margin_trajectory: Score10
    competitive_position: Score10
    risk_factors: Score10 = Field(description="10 = risks few and well contained, 1 = severe or rising risks")
    capital_allocation: Score10
    bull_case: str = Field(min_length=1)
    bear_case: str = Field(min_length=1)
    key_quotes: clipped_list(6) = Field(default_factory=list)
    summary: clipped_text(600)


class EarningsAnalyzer(Analyzer):
    name = "earnings"
    asset_name = "earnings_analysis"
    answer_model = EarningsAnswer
    source_tables = ("earnings_transcripts",)
    description = ("LLM read of each candidate's latest earnings-call transcript (<= 120K chars): six 1-10 "
                   "scores, bull/bear case, key quotes and a summary, cached by transcript id.")

    def load(self, conn: duckdb.DuckDBPyConnection, candidates: pl.DataFrame, as_of: dt.date,
             cfg: AnalysisConfig) -> dict[str, AnalyzerInput | None]:
        tickers = candidates["ticker"].to_list()
        rows = rows_for(conn, "earnings_transcripts", """
            SELECT ticker, event_date, fiscal_period, transcript_id, text FROM earnings_transcripts
            WHERE ticker IN (SELECT unnest(?)) AND known_at <= ? AND text IS NOT NULL AND length(text) > 0
            QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY event_date DESC, known_at DESC) = 1""",
                        [tickers, as_of])
        latest = {r["ticker"]: r for r in rows.iter_rows(named=True)} if rows.height else {}
        out: dict[str, AnalyzerInput | None] = {}
        for c in candidates.iter_rows(named=True):
            row = latest.get(c["ticker"])
            if row is None:
                out[c["ticker"]] = None
                continue
            text = row["text"]
            cap = cfg.transcript_max_chars
            out[c["ticker"]] = AnalyzerInput(
                subject=c["ticker"], sector=c["sector"], artifact_id=row["transcript_id"],
                context={"ticker": c["ticker"], "name": c.get("name") or c["ticker"], "sector": c["sector"],
                         "event_date": row["event_date"], "fiscal_period": row["fiscal_period"],
                         "transcript": text[:cap], "truncated": len(text) > cap, "n_chars": len(text),
                         "max_chars": cap})
        return out

    def score(self, answer: EarningsAnswer) -> float:
        return scale_1_10(sum(getattr(answer, d) for d in DIMENSIONS) / len(DIMENSIONS))
