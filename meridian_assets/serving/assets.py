"""`serving_snapshot`: the read-only copy of the database that the desk reads (see `publish`)."""

from pathlib import Path

import dagster as dg

from meridian_assets.serving.publish import publish_snapshot
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

GROUP = "serving"


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, kinds={"duckdb"})
def serving_snapshot(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """A consistent copy of the whole database at `$MERIDIAN_HOME/serving/meridian.duckdb`, swapped in
    atomically after each run that wrote DuckDB (`serving_snapshot_sensor`). Readers that stay open (the desk)
    read it, so they never hold the live file a run is about to write. The desk's chat calls are merged into
    `llm_calls` first."""
    home = settings.get().home()
    with db.connect() as conn:
        out = publish_snapshot(conn, Path(db.database), home)
    context.log.info(f"published {out.path} ({out.bytes / 1e6:.1f} MB, {out.tables} tables)")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(out.path)), "megabytes": round(out.bytes / 1e6, 2),
        "tables": out.tables, "chat_calls_merged": out.chat_calls_merged,
        "published_at": dg.MetadataValue.text(out.published_at)})


SERVING_ASSETS = [serving_snapshot]
