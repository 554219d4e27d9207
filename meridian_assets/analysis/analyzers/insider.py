"""Insider analyst: Form 4 transactions known in the ``analysis.insider_lookback_days`` (90) days to the scored
date -> signal strength (STRONG_BUY ... STRONG_SELL), confidence (0-1), cluster detected, reasoning.

The prompt carries the transactions (most recent ``analysis.insider_max_transactions``) and figures computed
here: open-market buy and sale values, distinct buyers and sellers, CEO/CFO buys, and the 3+ insider buying
clusters of `insider_cluster_flags` in the window. No transaction in the window: input missing, no call.
Artifact id: a hash of the (accession, line) pairs, so a new filing is a new artifact.

Sub-score = 50 + (signal - 50) * confidence, with STRONG_BUY 100, BUY 75, NEUTRAL 50, SELL 25, STRONG_SELL 0.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.analysis.analyzers.base import (
    Analyzer, AnalyzerInput, clipped_text, digest, markdown_table, rows_for,
)

SIGNAL_SCORE = {"STRONG_BUY": 100.0, "BUY": 75.0, "NEUTRAL": 50.0, "SELL": 25.0, "STRONG_SELL": 0.0}


class InsiderAnswer(BaseModel):
    """Record the insider-trading read: signal strength, confidence, cluster detection and reasoning."""

    model_config = ConfigDict(extra="ignore")

    signal_strength: Literal["STRONG_BUY", "BUY", "NEUTRAL", "SELL", "STRONG_SELL"]
    confidence: float = Field(ge=0, le=1)
    cluster_detected: bool
    reasoning: str = Field(min_length=1)
    summary: clipped_text(600)

    @field_validator("signal_strength", mode="before")
    @classmethod
    def _normalise(cls, v: object) -> object:
        return v.strip().upper().replace(" ", "_").replace("-", "_") if isinstance(v, str) else v

    @field_validator("confidence", mode="before")
    @classmethod
    def _percent(cls, v: object) -> object:
        # "70" or 70 means 70%: a percentage is read as a fraction, anything else is left to the bounds
        return float(v) / 100 if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 < v <= 100 else v


def insider_figures(tx: pl.DataFrame) -> dict:
    """Open-market buy/sale values and counts of one name's transactions (code P = buy, S = sale)."""
    buys, sales = tx.filter(pl.col("code") == "P"), tx.filter(pl.col("code") == "S")
    return {
        "n_transactions": tx.height,
        "buy_value": float(buys["value"].fill_null(0).sum()) if buys.height else 0.0,
        "sale_value": float(sales["value"].fill_null(0).sum()) if sales.height else 0.0,
        "buyers": buys["insider_name"].n_unique() if buys.height else 0,
        "sellers": sales["insider_name"].n_unique() if sales.height else 0,
        "ceo_cfo_buys": int(tx["is_ceo_cfo_buy"].fill_null(False).sum()) if tx.height else 0,
    }


class InsiderAnalyzer(Analyzer):
    name = "insider"
    asset_name = "insider_analysis"
    answer_model = InsiderAnswer
    source_tables = ("insider_transactions", "insider_cluster_flags")
    description = ("LLM read of each candidate's Form 4 transactions of the last 90 days: signal strength, "
                   "confidence and whether insiders are buying as a cluster.")

    def load(self, conn: duckdb.DuckDBPyConnection, candidates: pl.DataFrame, as_of: dt.date,
             cfg: AnalysisConfig) -> dict[str, AnalyzerInput | None]:
        tickers = candidates["ticker"].to_list()
        start = as_of - dt.timedelta(days=cfg.insider_lookback_days)
        tx = rows_for(conn, "insider_transactions", """
            SELECT ticker, accession_no, line, transaction_date, insider_name, insider_title, code,
                   acquired_disposed, shares, price, value, shares_owned_after, is_ceo_cfo_buy
            FROM insider_transactions
            WHERE ticker IN (SELECT unnest(?)) AND known_at > ? AND known_at <= ?""", [tickers, start, as_of])
        clusters = rows_for(conn, "insider_cluster_flags", """
            SELECT ticker, known_at, window_start, window_end, n_insiders, total_value, includes_ceo_cfo
            FROM insider_cluster_flags WHERE ticker IN (SELECT unnest(?)) AND known_at > ? AND known_at <= ?""",
                            [tickers, start, as_of])
        out: dict[str, AnalyzerInput | None] = {}
        for c in candidates.iter_rows(named=True):
            t = c["ticker"]
            mine = tx.filter(pl.col("ticker") == t) if tx.height else tx
            if mine.height == 0:
                out[t] = None
                continue
            mine = mine.sort(["transaction_date", "accession_no", "line"], descending=[True, False, False])
            keys = sorted(f"{a}:{n}" for a, n in mine.select("accession_no", "line").iter_rows())
            shown = mine.head(cfg.insider_max_transactions).drop("ticker", "accession_no", "line")
            cl = clusters.filter(pl.col("ticker") == t).drop("ticker") if clusters.height else clusters
            out[t] = AnalyzerInput(
                subject=t, sector=c["sector"], artifact_id=f"form4-{mine.height}-{digest(keys)}",
                context={"ticker": t, "name": c.get("name") or t, "sector": c["sector"], "as_of": as_of,
                         "start": start, "lookback_days": cfg.insider_lookback_days,
                         "figures": insider_figures(mine), "shown": shown.height,
                         "transactions": markdown_table(shown, spec=",.6g"),
                         "clusters": markdown_table(cl, spec=",.6g") if cl.height else "_none_"})
        return out

    def score(self, answer: InsiderAnswer) -> float:
        return 50.0 + (SIGNAL_SCORE[answer.signal_strength] - 50.0) * answer.confidence
