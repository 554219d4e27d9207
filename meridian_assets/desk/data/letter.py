"""Page VI, Letter: the latest LP letter and weekly PDF."""

from __future__ import annotations

from pathlib import Path

from meridian_assets.desk.source import Snapshot
from meridian_assets.reporting.partitions import week_key


def latest_letter(snap: Snapshot) -> dict | None:
    df = snap.query("SELECT as_of, doc_id, path, body, source, llm_note, voice_flags, created_at FROM lp_letter "
                    "ORDER BY as_of DESC, created_at DESC LIMIT 1")
    return df.row(0, named=True) if df.height else None


def latest_weekly_pdf(snap: Snapshot) -> dict | None:
    df = snap.query("SELECT week_start, week_end, doc_id, path, pages, bytes, created_at FROM weekly_report_pdf "
                    "ORDER BY week_start DESC LIMIT 1")
    if df.is_empty():
        return None
    row = df.row(0, named=True)
    return {**row, "exists": Path(row["path"]).exists()}


def report_week(snap: Snapshot) -> str | None:
    """The weekly partition (its Monday) a Regenerate builds: the week of the book's latest session, else of the
    latest PDF (None: neither exists)."""
    df = snap.query("SELECT max(date) AS d FROM portfolio_history")
    if df.height and df["d"][0] is not None:
        return week_key(df["d"][0])
    pdf = latest_weekly_pdf(snap)
    return str(pdf["week_start"]) if pdf else None
