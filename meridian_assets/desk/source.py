"""Reading the published snapshot (`serving_snapshot`): never the live database file.

Each read opens the snapshot read-only and closes it at once, so a newly published copy is picked up by the
next read and nothing is held between page renders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from meridian_assets import dbread
from meridian_assets.config import MeridianConfig
from meridian_assets.serving.publish import read_manifest, snapshot_path


@dataclass(frozen=True)
class Snapshot:
    """The serving copy of the database of a Meridian home."""

    path: Path
    cfg: MeridianConfig

    @classmethod
    def of(cls, cfg: MeridianConfig) -> Snapshot:
        return cls(snapshot_path(cfg.home()), cfg)

    def exists(self) -> bool:
        return self.path.exists()

    def manifest(self) -> dict | None:
        return read_manifest(self.cfg.home())

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Rows of ``sql`` (an empty frame when the snapshot or a table in it is missing)."""
        if not self.exists():
            return pl.DataFrame()
        with dbread.read_only(self.path) as conn:  # waits while a publish holds the file, then a clear error
            try:
                return conn.sql(sql, params=params).pl()
            except duckdb.CatalogException:
                return pl.DataFrame()

    def tables(self) -> set[str]:
        df = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
        return set(df["table_name"].to_list()) if df.height else set()

    def has(self, *names: str) -> bool:
        return set(names) <= self.tables()

    def staleness(self) -> dict:
        """When the snapshot was published, and whether the live file changed since (the desk then asks for a
        fresh one)."""
        man = self.manifest() or {}
        live = self.cfg.database_path()
        published = man.get("published_at")
        live_mtime = dt.datetime.fromtimestamp(live.stat().st_mtime, dt.timezone.utc) if live.exists() else None
        pub = dt.datetime.fromisoformat(published) if published else None
        return {"published_at": published, "live_modified_at": live_mtime.isoformat(timespec="seconds")
                if live_mtime else None,
                "stale": live_mtime is not None and (pub is None or live_mtime > pub + dt.timedelta(seconds=2))}
