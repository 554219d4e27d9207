"""Forensic filing analyst: the last ``analysis.filing_quarters`` (8) quarters of `fundamental_ratios` and the
matching `fundamentals_raw` line items known on the scored date -> earnings quality, revenue quality and
balance-sheet scores (1-10), an accruals assessment, red and green flags and a risk level.

Input is missing (no call) with fewer than ``analysis.filing_min_quarters`` quarters. The artifact id is a
hash of the exact table sent, so a restatement or a new quarter is a new artifact.
Sub-score = the mean of the three 1-10 scores on 0-100.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from meridian_assets.ingest.schemas import RATIO_COLUMNS
from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.analysis.analyzers.base import (
    Analyzer, AnalyzerInput, clipped_list, clipped_text, digest, markdown_table, rows_for, scale_1_10,
)

Score10 = Annotated[float, Field(ge=1, le=10)]
LINE_ITEMS = ("revenue", "net_income", "operating_cash_flow", "free_cash_flow", "receivables", "inventory",
              "total_assets", "total_liabilities", "long_term_debt", "cash")


class FilingAnswer(BaseModel):
    """Record the forensic review of the quarterly financials."""

    model_config = ConfigDict(extra="ignore")

    earnings_quality_score: Score10 = Field(description="10 = earnings fully backed by cash flow")
    revenue_quality_score: Score10 = Field(description="10 = receivables and revenue grow in line")
    balance_sheet_score: Score10 = Field(description="10 = strong liquidity and low leverage")
    accruals_assessment: str = Field(min_length=1)
    red_flags: clipped_list(10) = Field(default_factory=list)
    green_flags: clipped_list(10) = Field(default_factory=list)
    risk_level: Literal["LOW", "MEDIUM", "HIGH"]
    summary: clipped_text(600)

    @field_validator("risk_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v


class FilingAnalyzer(Analyzer):
    name = "filing"
    asset_name = "filing_analysis"
    answer_model = FilingAnswer
    source_tables = ("fundamental_ratios", "fundamentals_raw")
    description = ("LLM forensic review of each candidate's last 8 quarters of ratios and line items (cash vs "
                   "earnings, receivables vs revenue, accruals): quality scores, flags and a risk level.")

    def load(self, conn: duckdb.DuckDBPyConnection, candidates: pl.DataFrame, as_of: dt.date,
             cfg: AnalysisConfig) -> dict[str, AnalyzerInput | None]:
        tickers = candidates["ticker"].to_list()
        n = cfg.filing_quarters
        ratios = rows_for(conn, "fundamental_ratios", f"""
            SELECT ticker, period_end, {", ".join(RATIO_COLUMNS)} FROM fundamental_ratios
            WHERE ticker IN (SELECT unnest(?)) AND period_type = 'quarterly' AND known_at <= ?
            QUALIFY row_number() OVER (PARTITION BY ticker, period_end ORDER BY known_at DESC) = 1""",
                          [tickers, as_of])
        items = rows_for(conn, "fundamentals_raw", f"""
            SELECT ticker, period_end, {", ".join(LINE_ITEMS)} FROM fundamentals_raw
            WHERE ticker IN (SELECT unnest(?)) AND period_type = 'quarterly' AND known_at <= ?
            QUALIFY row_number() OVER (PARTITION BY ticker, period_end ORDER BY known_at DESC) = 1""",
                         [tickers, as_of])
        out: dict[str, AnalyzerInput | None] = {}
        for c in candidates.iter_rows(named=True):
            t = c["ticker"]
            r = (ratios.filter(pl.col("ticker") == t).sort("period_end", descending=True).head(n)
                 if ratios.height else ratios)
            if r.height < cfg.filing_min_quarters:
                out[t] = None
                continue
            r = r.sort("period_end")
            ratio_table = _transpose(r.drop("ticker"))
            li = items.filter((pl.col("ticker") == t) & pl.col("period_end").is_in(r["period_end"].implode())
                              ).sort("period_end") if items.height else items
            item_table = _transpose(li.drop("ticker"), spec=",.0f") if li.height else "_not available_"
            out[t] = AnalyzerInput(
                subject=t, sector=c["sector"],
                artifact_id=f"q{r['period_end'].max()}-{r.height}q-{digest(ratio_table, item_table)}",
                context={"ticker": t, "name": c.get("name") or t, "sector": c["sector"], "n_quarters": r.height,
                         "first_period": r["period_end"].min(), "last_period": r["period_end"].max(),
                         "ratio_table": ratio_table, "item_table": item_table})
        return out

    def score(self, answer: FilingAnswer) -> float:
        return scale_1_10((answer.earnings_quality_score + answer.revenue_quality_score
                           + answer.balance_sheet_score) / 3)


def _transpose(df: pl.DataFrame, spec: str = ".3g") -> str:
    """Periods as columns, metrics as rows: how analysts read quarterly tables."""
    periods = [str(p) for p in df["period_end"].to_list()]
    body = df.drop("period_end")
    rows = [{"metric": col, **{p: v for p, v in zip(periods, body[col].to_list())}} for col in body.columns]
    return markdown_table(pl.DataFrame(rows, schema={"metric": pl.Utf8, **{p: pl.Float64 for p in periods}},
                                       strict=False), spec=spec)
