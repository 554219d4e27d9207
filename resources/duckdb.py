"""The DuckDB resource. DuckDB allows one writing process: assets that use it are all in the `duckdb`
concurrency pool (limit 1, see dagster.yaml), and connections are always closed. A connection waits (with a
line naming the holder) while a command outside the pool reads the file, instead of failing at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from meridian_assets import dbread

# The one pool every asset and check that opens DuckDB belongs to.
DUCKDB_POOL = "duckdb"


class DuckDBStore(dg.ConfigurableResource):
    """The Meridian database file (default: `$MERIDIAN_HOME/meridian.duckdb`)."""

    database: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A run launched by the daemon or the UI records its worker process here, so a later command or
        # dead_run_sensor can tell when that process dies while holding the pool (CLI runs tag themselves).
        if context.instance is not None and context.run_id:
            from meridian_assets.runs import record_worker

            record_worker(context.instance, context.run_id)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = Path(self.database)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = dbread.connect(path, read_only=read_only)
        try:
            yield conn
        finally:
            conn.close()
