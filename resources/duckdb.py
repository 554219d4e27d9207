"""The DuckDB resource. DuckDB allows one writing process: assets that use it are all in the `duckdb`
concurrency pool (limit 1, see dagster.yaml), and connections are always closed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

# The one pool every asset and check that opens DuckDB belongs to.
DUCKDB_POOL = "duckdb"


class DuckDBStore(dg.ConfigurableResource):
    """The Meridian database file (default: `$MERIDIAN_HOME/meridian.duckdb`)."""

    database: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = Path(self.database)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(str(path), read_only=read_only)
        try:
            yield conn
        finally:
            conn.close()
