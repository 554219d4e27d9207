"""The analysis cache: `analysis_results` rows keyed by (analyzer, ticker, artifact id), with a TTL.

- A *hit* is an ``ok`` row for the same key created less than ``ttl_days`` ago: the analyzer reuses it and
  makes no call. ``--force`` skips the lookup (a new valid answer replaces the row). Invalid rows never hit,
  so an artifact whose answer was invalid is asked again on the next run. An invalid answer never replaces
  a valid one: a forced re-run that comes back invalid leaves the earlier result in place (the invalid
  answer stays in the `llm_calls` archive).
- *Eviction*: rows older than the TTL are deleted when an analysis run starts (`evict_expired`); the audit
  archive keeps their calls.
- The blend and the reports read the *latest* ok row per (analyzer, ticker) whose inputs were known by the
  scored date (`latest_results`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from meridian_assets.analysis.schemas import ANALYSIS_RESULTS
from meridian_assets.analysis.store import Store
from meridian_assets.storage import read, replace_all, table_exists


def result_id(analyzer: str, ticker: str, artifact_id: str) -> str:
    return f"{analyzer}|{ticker}|{artifact_id}"


class AnalysisCache:
    def __init__(self, store: Store, ttl_days: int) -> None:
        self.store, self.ttl_days = store, ttl_days

    def cutoff(self, now: dt.datetime) -> dt.datetime:
        return now - dt.timedelta(days=self.ttl_days)

    def evict_expired(self, now: dt.datetime) -> int:
        """Delete rows created before ``now - ttl``; returns how many."""
        self.store.flush()
        with self.store.connection() as conn:
            if not table_exists(conn, ANALYSIS_RESULTS.name):
                return 0
            cutoff = self.cutoff(now)
            expired = conn.execute("SELECT count(*) FROM analysis_results WHERE created_at < ?",
                                   [cutoff]).fetchall()[0][0]
            if expired:
                keep = read(conn, "SELECT * FROM analysis_results WHERE created_at >= ?", [cutoff])
                replace_all(conn, ANALYSIS_RESULTS, keep)
            return int(expired)

    def fresh_keys(self, analyzer: str, now: dt.datetime) -> dict[tuple[str, str], str]:
        """``{(ticker, artifact_id): result_id}`` of the analyzer's ok rows still within the TTL."""
        df = self.store.query(ANALYSIS_RESULTS,
                              "SELECT ticker, artifact_id, result_id FROM analysis_results "
                              "WHERE analyzer = ? AND status = 'ok' AND created_at >= ?",
                              [analyzer, self.cutoff(now)])
        return {(t, a): r for t, a, r in df.select("ticker", "artifact_id", "result_id").iter_rows()}

    def put(self, row: dict) -> bool:
        """Store ``row`` under its key; False (nothing written) when it is not ok and an ok row holds the key."""
        rid = result_id(row["analyzer"], row["ticker"], row["artifact_id"])
        if row.get("status") != "ok":
            held = self.store.query(ANALYSIS_RESULTS, "SELECT status FROM analysis_results WHERE result_id = ?", [rid])
            if "ok" in held["status"].to_list():
                return False
        self.store.put(ANALYSIS_RESULTS, {**row, "result_id": rid}, "result_id")
        return True

    def latest_results(self, as_of: dt.date, now: dt.datetime, analyzers: tuple[str, ...] | None = None,
                       subjects: list[str] | None = None) -> pl.DataFrame:
        """The latest ok row per (analyzer, ticker) with inputs known by ``as_of``, within the TTL at ``now``."""
        df = self.store.query(ANALYSIS_RESULTS,
                              "SELECT * FROM analysis_results WHERE status = 'ok' AND as_of <= ? AND created_at >= ?",
                              [as_of, self.cutoff(now)])
        if analyzers is not None:
            df = df.filter(pl.col("analyzer").is_in(list(analyzers)))
        if subjects is not None:
            df = df.filter(pl.col("ticker").is_in(subjects))
        if df.height == 0:
            return ANALYSIS_RESULTS.empty()
        return (df.sort(["as_of", "created_at"], descending=True)
                .unique(["analyzer", "ticker"], keep="first", maintain_order=True)
                .sort(["analyzer", "ticker"]))
