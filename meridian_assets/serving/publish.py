"""Publishing the serving snapshot: a complete, read-only copy of the live DuckDB file.

Why a file copy: DuckDB lets one process write a file or any number read it, never both, so a reader that
opens the live file (the desk, open all day) would make the next writing run wait for it. Readers open
``$MERIDIAN_HOME/serving/meridian.duckdb`` instead, which no writer ever opens in place. The copy is made
inside the `duckdb` pool (so no run writes the live file meanwhile) after a ``CHECKPOINT`` (so the main file
holds every committed row and the WAL is empty), written beside the target and swapped in with
``os.replace``: a reader sees the old snapshot or the new one, never half of one, and a reader that still
has the old file open keeps reading the old inode.

The desk's chat archives its LLM calls in a small database of its own (``serving/chat_calls.duckdb``: the
desk never writes the live file); each publish first merges those rows into the live ``llm_calls``, so the
audit table is complete and the snapshot shows them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from meridian_assets import dbread
from meridian_assets.analysis.schemas import LLM_CALLS
from meridian_assets.storage import ensure_table, table_exists

SNAPSHOT_NAME = "meridian.duckdb"
CHAT_CALLS_NAME = "chat_calls.duckdb"
MANIFEST_NAME = "snapshot.json"
CHAT_WAIT_SECONDS = 10.0  # the desk holds its chat file for milliseconds per call


def serving_dir(home: Path) -> Path:
    return Path(home) / "serving"


def snapshot_path(home: Path) -> Path:
    return serving_dir(home) / SNAPSHOT_NAME


def chat_calls_path(home: Path) -> Path:
    return serving_dir(home) / CHAT_CALLS_NAME


@dataclass(frozen=True)
class Published:
    path: Path
    bytes: int
    tables: int
    chat_calls_merged: int
    published_at: str


def merge_chat_calls(conn: duckdb.DuckDBPyConnection, chat_db: Path) -> int:
    """Copy the chat's `llm_calls` rows that the live table lacks (by call_id); returns how many."""
    if not chat_db.exists():
        return 0
    try:
        src = dbread.connect(chat_db, read_only=True, wait_seconds=CHAT_WAIT_SECONDS, say=lambda _: None)
    except dbread.DatabaseBusyError:
        return 0  # merged by the next publish
    try:
        if not table_exists(src, LLM_CALLS.name):
            return 0
        rows = src.sql("SELECT * FROM llm_calls").pl()
    finally:
        src.close()
    if rows.is_empty():
        return 0
    ensure_table(conn, LLM_CALLS)
    known = set(conn.sql("SELECT call_id FROM llm_calls").pl()["call_id"].to_list())
    new = rows.filter(~pl.col("call_id").is_in(list(known)))
    if new.is_empty():
        return 0
    new = LLM_CALLS.conform(new)
    conn.register("_chat_calls", new)
    try:
        cols = ", ".join(f'"{c}"' for c in new.columns)
        conn.execute(f"INSERT INTO llm_calls ({cols}) SELECT {cols} FROM _chat_calls")
    finally:
        conn.unregister("_chat_calls")
    return new.height


def publish_snapshot(conn: duckdb.DuckDBPyConnection, live_db: Path, home: Path) -> Published:
    """Checkpoint the live database (``conn`` is its only, writing connection) and publish a copy atomically."""
    merged = merge_chat_calls(conn, chat_calls_path(home))
    conn.execute("CHECKPOINT")
    tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'").fetchall()[0][0]
    target = snapshot_path(home)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(live_db, "rb") as src, open(staging, "wb") as dst:
            shutil.copyfileobj(src, dst, length=8 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    size = target.stat().st_size
    manifest = {"published_at": now, "bytes": size, "tables": tables, "source": str(live_db)}
    tmp = target.with_name(f".{MANIFEST_NAME}.tmp")
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, target.with_name(MANIFEST_NAME))
    return Published(target, size, tables, merged, now)


def read_manifest(home: Path) -> dict | None:
    try:
        return json.loads((serving_dir(home) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
