"""Sector analyst: for each sector with at least two candidates, the Layer-2 scores of its candidates and
every available LLM result for them -> rankings, top long idea, top short idea and sector outlook.

Input is missing (no call) for a sector none of whose candidates has an LLM result. The answer must only
name the sector's candidates, each once, with distinct ranks; the long and short ideas must differ. The
artifact id hashes the candidate set and the results used, so the call is repeated only when one changes.
Its output is read in the reports; it is not part of the LLM fundamental score.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from meridian_assets.factors.schemas import PARENTS
from meridian_assets.analysis.analyzers.base import Analyzer, AnalyzerInput, clipped_text, digest, fmt, rows_for
from meridian_assets.analysis.settings import AnalysisConfig

SOURCE_ANALYZERS = ("earnings", "filing", "risk_factor", "insider")


class SectorRanking(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ticker: str
    rank: int = Field(ge=1)
    rationale: str = Field(min_length=1)

    @field_validator("ticker", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v


class SectorAnswer(BaseModel):
    """Record the sector view: every candidate ranked (1 = best long), the top long and short ideas and the
    sector outlook."""

    model_config = ConfigDict(extra="ignore")

    rankings: list[SectorRanking] = Field(min_length=1)
    top_long_idea: str | None = None
    top_short_idea: str | None = None
    sector_outlook: Literal["POSITIVE", "NEUTRAL", "NEGATIVE"]
    summary: clipped_text(800)

    @field_validator("sector_outlook", mode="before")
    @classmethod
    def _outlook(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("top_long_idea", "top_short_idea", mode="before")
    @classmethod
    def _idea(cls, v: object) -> object:
        return (v.strip().upper() or None) if isinstance(v, str) else v


class SectorAnalyzer(Analyzer):
    name = "sector"
    asset_name = "sector_analysis"
    answer_model = SectorAnswer
    source_tables = ("factor_scores", "analysis_results")
    description = ("LLM sector view over the candidates' quant scores and analyst results: rankings, the top "
                   "long and short idea and the sector outlook, per sector.")
    blended = False

    def load(self, conn: duckdb.DuckDBPyConnection, candidates: pl.DataFrame, as_of: dt.date,
             cfg: AnalysisConfig) -> dict[str, AnalyzerInput | None]:
        results = rows_for(conn, "analysis_results", """
            SELECT analyzer, ticker, result_id, score, summary FROM analysis_results
            WHERE status = 'ok' AND as_of <= ? AND analyzer IN (SELECT unnest(?)) AND ticker IN (SELECT unnest(?))
            QUALIFY row_number() OVER (PARTITION BY analyzer, ticker ORDER BY as_of DESC, created_at DESC) = 1""",
                           [as_of, list(SOURCE_ANALYZERS), candidates["ticker"].to_list()])
        out: dict[str, AnalyzerInput | None] = {}
        for sector in sorted(candidates["sector"].unique().to_list()):
            names = candidates.filter(pl.col("sector") == sector).sort("composite", descending=True)
            mine = results.filter(pl.col("ticker").is_in(names["ticker"].implode())) if results.height else results
            if names.height < 2 or mine.height == 0:
                out[sector] = None
                continue
            rows = []
            for c in names.iter_rows(named=True):
                res = mine.filter(pl.col("ticker") == c["ticker"]).sort("analyzer")
                rows.append({
                    "ticker": c["ticker"], "name": c.get("name") or c["ticker"], "side": c.get("side") or "-",
                    "composite": fmt(c["composite"], ".1f"),
                    "parents": ", ".join(f"{p} {fmt(c.get(f'{p}_score'), '.0f')}" for p in PARENTS),
                    "results": [{"analyzer": r["analyzer"], "score": fmt(r["score"], ".0f"), "summary": r["summary"]}
                                for r in res.iter_rows(named=True)],
                })
            artifact = f"{digest(sorted(names['ticker'].to_list()), sorted(mine['result_id'].to_list()))}"
            out[sector] = AnalyzerInput(subject=sector, sector=sector, artifact_id=artifact,
                                        context={"sector": sector, "as_of": as_of, "names": rows,
                                                 "tickers": names["ticker"].to_list()})
        return out

    def check(self, answer: SectorAnswer, inp: AnalyzerInput) -> list[str]:
        allowed = set(inp.context["tickers"])
        problems = []
        ranked = [r.ticker for r in answer.rankings]
        unknown = sorted(set(ranked) - allowed)
        if unknown:
            problems.append(f"rankings name tickers outside the sector's candidates: {', '.join(unknown)}")
        if len(set(ranked)) != len(ranked):
            problems.append("rankings list a ticker more than once")
        if len({r.rank for r in answer.rankings}) != len(answer.rankings):
            problems.append("rankings reuse a rank")
        for label, idea in (("top_long_idea", answer.top_long_idea), ("top_short_idea", answer.top_short_idea)):
            if idea is not None and idea not in allowed:
                problems.append(f"{label} {idea} is not one of the sector's candidates")
        if answer.top_long_idea and answer.top_long_idea == answer.top_short_idea:
            problems.append("top_long_idea and top_short_idea are the same ticker")
        return problems

    def score(self, answer: SectorAnswer) -> None:
        return None

    def summary(self, answer: SectorAnswer) -> str:
        return f"{answer.sector_outlook}: {answer.summary}"
