"""DuckLake as Meridian's warehouse: a catalog database (SQLite file or PostgreSQL) plus Parquet files, opened as
an ordinary DuckDB connection so `meridian_assets.storage` (replace_window, replace_all, replace_where, read)
runs on it unchanged.

Why: the single DuckDB file takes one writing process at a time (the `duckdb` pool of 1). In a lake every
commit is a transaction in the catalog; several processes, on one host or many, can write different tables
and partitions at once, and readers never block on a writer's file lock. Each `delete-then-insert` window is
one lake transaction, so a reader sees the old rows or the new ones, as with the file.

What it needs: the `ducklake` extension built for the running DuckDB (plus `sqlite_scanner` or
`postgres_scanner` for the catalog). DuckDB downloads extensions at run time from its own server, which a
locked-down host cannot reach; PyPI ships them as `duckdb-extension-<name>`, each pinned to one DuckDB
release (1.5.5 at the time of writing) and refused, or crashing, under any other. `extension_problem()` says
which, before anything is attached. The measured comparison with the single file is
benchmarks/bench_warehouse.py; the verdict is in docs/scaling.md.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

LAKE = "lake"  # the attached catalog's name; `USE lake` makes it the default for unqualified table names


class LakeUnavailableError(RuntimeError):
    """The ducklake extension (or the catalog's scanner) cannot be loaded into this DuckDB."""


def _extension_file(name: str) -> Path | None:
    """The extension file shipped by the PyPI package `duckdb-extension-<name>` for this DuckDB, if installed."""
    module = f"duckdb_extension_{name}"
    if importlib.util.find_spec(module) is None:
        return None
    folder = Path(importlib.import_module(module).__file__).parent / "extensions" / f"v{duckdb.__version__}"
    found = sorted(folder.glob(f"{name}.duckdb_extension"))
    return found[0] if found else None


def _scanner(catalog: str) -> str | None:
    if catalog.startswith("sqlite:"):
        return "sqlite_scanner"
    if catalog.startswith("postgres:"):
        return "postgres_scanner"
    return None


def extension_problem(catalog: str = "sqlite:") -> str | None:
    """None if a lake with ``catalog`` can be attached by this DuckDB, else why not (one line)."""
    for name in filter(None, ("ducklake", _scanner(catalog))):
        if _extension_file(name) is None:
            package = f"duckdb-extension-{name.replace('_', '-')}"
            return (f"no {name} extension for duckdb {duckdb.__version__}: install {package}=={duckdb.__version__} "
                    f"(PyPI builds exist only for some DuckDB releases)")
    return None


def _load(conn: duckdb.DuckDBPyConnection, catalog: str) -> None:
    problem = extension_problem(catalog)
    if problem:
        raise LakeUnavailableError(problem)
    for name in filter(None, ("ducklake", _scanner(catalog))):
        conn.execute(f"LOAD '{_extension_file(name)}'")


def catalog_uri(catalog: str) -> str:
    """The ATTACH string of a catalog: a `.sqlite` path → SQLite (several processes on one host), a
    `postgres:` connection string → PostgreSQL (several hosts), anything else → a DuckDB file (one process)."""
    if catalog.startswith(("sqlite:", "postgres:")):
        return f"ducklake:{catalog}"
    if catalog.endswith((".sqlite", ".db")):
        return f"ducklake:sqlite:{catalog}"
    return f"ducklake:{catalog}"


@contextmanager
def connect(catalog: str, data_path: str | Path, *, read_only: bool = False,
            retries: int = 100) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the lake attached as the default database.

    ``retries``: how often a commit that conflicts with another writer's is retried (DuckLake's
    `ducklake_max_retry_count`); two writers of different tables or partitions do not conflict on rows, but
    their commits are serialised in the catalog."""
    uri = catalog_uri(catalog)
    conn = duckdb.connect()
    try:
        _load(conn, uri.removeprefix("ducklake:"))
        data = Path(data_path)
        if not read_only:
            data.mkdir(parents=True, exist_ok=True)
        options = [f"DATA_PATH '{data}/'"] + (["READ_ONLY"] if read_only else [])
        conn.execute(f"ATTACH '{uri}' AS {LAKE} ({', '.join(options)})")
        conn.execute(f"USE {LAKE}")
        conn.execute(f"SET ducklake_max_retry_count = {int(retries)}")
        yield conn
    finally:
        conn.close()


def table_names(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The lake's tables (`storage.row_counts` lists the schema `main` of every attached database)."""
    return [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'main' "
        "ORDER BY 1", [LAKE]).fetchall()]


def create_tables(conn: duckdb.DuckDBPyConnection, schemas) -> None:
    """Create ``schemas``' tables once, before concurrent writers start: two writers whose first commit both
    create the same table conflict ("table has been created by another transaction"), and DuckLake does not
    retry that; writes to an existing table from several processes do commit."""
    from meridian_assets.storage import ensure_table

    for schema in schemas:
        ensure_table(conn, schema)
