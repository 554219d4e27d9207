"""What the sensors share: reading new materializations of an asset from Dagster's event log (never DuckDB),
past a cursor that is the last storage id looked at, and their metadata values."""

from collections.abc import Mapping
from typing import Any

import dagster as dg


def new_materializations(context: dg.SensorEvaluationContext, asset: dg.AssetKey, limit: int
                         ) -> tuple[list[tuple[int, Mapping[str, Any]]], str | None]:
    """(storage id, metadata) of each materialization after the cursor, oldest first, and the new cursor."""
    after = int(context.cursor) if context.cursor else None
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, after_storage_id=after), limit=limit, ascending=True)
    seen = [(r.storage_id, r.asset_materialization.metadata if r.asset_materialization else {})
            for r in result.records]
    last = seen[-1][0] if seen else after
    return seen, (str(last) if last is not None else None)


def value(metadata: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A metadata entry's plain value (``default`` when absent)."""
    v = metadata.get(key)
    return default if v is None else getattr(v, "value", getattr(v, "text", v))
