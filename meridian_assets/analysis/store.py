"""Short-lived DuckDB access for the LLM layer: a connection is opened for each write (or batch of writes),
rows go through `meridian_assets.storage`, and the connection is closed, so the database is not held open
while waiting on a model and results are on disk almost as soon as a call returns.

``connect`` is any zero-argument callable returning a context manager of a DuckDB connection —
`DuckDBStore.connect` in assets, or `Store.for_path(path)` in plain code.

**Write-through or batched.** By default (``flush_seconds=0``) `put` writes at once. With
``flush_seconds > 0`` rows are held and written together when that long has passed since the last write,
and on `flush()` — which the owner must call when done (the analysis runner does, even on errors). LLM
calls take seconds, so in practice each row is still written when its call returns; what batching saves is
the connection cost when many answers come back at once (cache-speed stubs, parallel calls).

DuckDB refuses a second connection to a file while one is open in the same process, so every `Store`
in the process shares one lock: threads take turns for the few milliseconds a write lasts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb
import polars as pl

from meridian_assets import dbread
from meridian_assets.tables import TableSchema
from meridian_assets.storage import ensure_table, read, replace_where, table_exists

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
_PROCESS_LOCK = threading.RLock()


class Store:
    def __init__(self, connect: Connect, flush_seconds: float = 0.0) -> None:
        self._connect = connect
        self._lock = _PROCESS_LOCK
        self.flush_seconds = flush_seconds
        self._pending: dict[tuple[str, str], tuple[TableSchema, str, dict]] = {}
        self._last_flush = time.monotonic()

    @classmethod
    def for_path(cls, path: str | Path, read_only: bool = False, flush_seconds: float = 0.0) -> Store:
        @contextmanager
        def connect() -> Iterator[duckdb.DuckDBPyConnection]:
            conn = dbread.connect(path, read_only=read_only)
            try:
                yield conn
            finally:
                conn.close()

        return cls(connect, flush_seconds)

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock, self._connect() as conn:
            try:
                # Small frequent writes: skip the checkpoint on close. The WAL is durable and the next
                # ordinary connection folds it into the file.
                conn.execute("PRAGMA disable_checkpoint_on_shutdown")
            except duckdb.Error:  # read-only connection
                pass
            yield conn

    # ---- writes
    def put(self, schema: TableSchema, row: dict, key: str) -> None:
        """Insert ``row`` replacing any row with the same ``key`` value (batched, see the module docstring)."""
        with self._lock:
            self._pending[(schema.name, str(row[key]))] = (schema, key, row)
            due = time.monotonic() - self._last_flush >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> int:
        """Write every held row now; returns how many."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
            self._last_flush = time.monotonic()
            if not pending:
                return 0
            with self.connection() as conn:
                for schema, key, row in pending:
                    frame = pl.DataFrame([row], schema=schema.columns)
                    replace_where(conn, schema, frame, key, row[key])
            return len(pending)

    # ---- reads
    def query(self, schema: TableSchema, sql: str, params: Sequence | None = None) -> pl.DataFrame:
        """A query over ``schema``'s table (held rows written first); empty when the table does not exist."""
        self.flush()
        with self.connection() as conn:
            if not table_exists(conn, schema.name):
                return schema.empty()
            return read(conn, sql, params)

    def ensure(self, *schemas: TableSchema) -> None:
        with self.connection() as conn:
            for schema in schemas:
                ensure_table(conn, schema)
