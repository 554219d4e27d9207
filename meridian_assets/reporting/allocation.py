"""Allocation history: append-only snapshots of where the capital is, and the capital movement between them.

A **snapshot** is taken per rebalance (and, once the meta layer allocates between sleeves, per meta run): the
weight of each sleeve (a single ``core`` sleeve holding the whole book for now) and of each position
(signed target weights), with the book's cumulative P&L and its max drawdown to date in bps of the starting
NAV. Rows are only ever inserted: a run id is snapshotted once (``snapshot_id`` is derived from it), so
re-running the same run adds nothing and earlier snapshots are never rewritten.

**Capital movement** compares the first and the last of the latest ``n`` snapshots (up to a date): for every
sleeve and position present in either, ``delta = weight_to − weight_from`` (a name absent from a snapshot
has weight 0); the top moves by |delta| are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import numpy as np
import polars as pl

from meridian_assets.reporting.attribution import starting_nav
from meridian_assets.reporting.schemas import ALLOCATION_SNAPSHOTS, CAPITAL_MOVEMENT
from meridian_assets.storage import ensure_table, read, replace_where, table_exists

CORE_SLEEVE = "core"
SLEEVE, POSITION = "sleeve", "position"


def snapshot_id(run_id: str) -> str:
    return "snap-" + hashlib.sha256(run_id.encode()).hexdigest()[:16]


def snapshot_frame(run_id: str, method: str | None, as_of: dt.date, position_weights: dict[str, float],
                   sleeve_weights: dict[str, float] | None = None, pnl_bps: float | None = None,
                   max_drawdown_bps: float | None = None, created_at: dt.datetime | None = None) -> pl.DataFrame:
    """The rows of one snapshot (sleeve rows first, then positions sorted by name)."""
    sleeves = sleeve_weights if sleeve_weights is not None else {CORE_SLEEVE: 1.0}
    created = created_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    names = [(SLEEVE, k, float(v)) for k, v in sorted(sleeves.items())]
    names += [(POSITION, k, float(v)) for k, v in sorted(position_weights.items())]
    sid = snapshot_id(run_id)
    return ALLOCATION_SNAPSHOTS.conform(pl.DataFrame({
        "snapshot_id": [sid] * len(names), "created_at": [created] * len(names), "as_of": [as_of] * len(names),
        "run_id": [run_id] * len(names), "method": [method] * len(names), "level": [n[0] for n in names],
        "name": [n[1] for n in names], "weight": [n[2] for n in names],
        "pnl_bps": [pnl_bps] * len(names), "max_drawdown_bps": [max_drawdown_bps] * len(names),
    }, schema_overrides={"method": pl.Utf8, "pnl_bps": pl.Float64, "max_drawdown_bps": pl.Float64}))


def append_snapshot(conn: duckdb.DuckDBPyConnection, *, run_id: str, method: str | None, as_of: dt.date,
                    position_weights: dict[str, float], sleeve_weights: dict[str, float] | None = None,
                    pnl_bps: float | None = None, max_drawdown_bps: float | None = None,
                    created_at: dt.datetime | None = None) -> tuple[str, bool]:
    """Append one snapshot unless ``run_id`` already has one; returns ``(snapshot_id, appended)``.

    Opens its own transaction (do not call inside another). Safe to call again for the same run.
    """
    sid = snapshot_id(run_id)
    ensure_table(conn, ALLOCATION_SNAPSHOTS)
    seen = conn.execute(f'SELECT count(*) FROM "{ALLOCATION_SNAPSHOTS.name}" WHERE run_id = ?', [run_id]).fetchall()
    if seen[0][0]:
        return sid, False
    frame = snapshot_frame(run_id, method, as_of, position_weights, sleeve_weights, pnl_bps, max_drawdown_bps,
                           created_at)
    # the delete of replace_where matches nothing (checked above): this is an insert
    replace_where(conn, ALLOCATION_SNAPSHOTS, frame, "run_id", run_id)
    return sid, True


def load_snapshots(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    if not table_exists(conn, ALLOCATION_SNAPSHOTS.name):
        return ALLOCATION_SNAPSHOTS.empty()
    return ALLOCATION_SNAPSHOTS.conform(read(conn, f'SELECT * FROM "{ALLOCATION_SNAPSHOTS.name}"'))


def book_pnl_bps(history: pl.DataFrame, as_of: dt.date) -> tuple[float | None, float | None]:
    """Cumulative P&L since the starting NAV and max drawdown to date (≤ 0), both in bps, as of ``as_of``."""
    if history.height == 0:
        return None, None
    h = history.sort("date")
    first = starting_nav(h)
    upto = h.filter(pl.col("date") <= as_of)
    if upto.height == 0:
        return 0.0, 0.0
    nav = upto["nav"].to_numpy().astype(float)
    peak = np.maximum.accumulate(np.concatenate([[first], nav]))[1:]
    return float((nav[-1] / first - 1) * 1e4), float(np.min(nav / peak - 1) * 1e4)


def sleeve_weights_on(allocations: pl.DataFrame | None, as_of: dt.date) -> dict[str, float] | None:
    """The meta layer's latest sleeve weights on or before ``as_of`` (``allocations``: as_of, sleeve, weight)."""
    if allocations is None or allocations.height == 0:
        return None
    known = allocations.filter(pl.col("as_of") <= as_of)
    if known.height == 0:
        return None
    last = known.filter(pl.col("as_of") == known["as_of"].max())
    return dict(zip(last["sleeve"].to_list(), last["weight"].to_list()))


def snapshots_from_target_book(target_book: pl.DataFrame, history: pl.DataFrame,
                               allocations: pl.DataFrame | None = None) -> list[dict]:
    """One `append_snapshot` keyword set per rebalance of ``target_book`` (in as_of order). A rebalance that
    follows the meta layer (method ``sleeves``) carries the sleeve weights of the allocation it followed
    (``allocations``: as_of, sleeve, weight); any other holds the whole book in the core sleeve."""
    if target_book.height == 0:
        return []
    out = []
    for (rid,), book in target_book.sort("as_of", "rebalance_id").group_by("rebalance_id", maintain_order=True):
        as_of = book["as_of"][0]
        pnl, dd = book_pnl_bps(history, as_of)
        sleeves = sleeve_weights_on(allocations, as_of) if book["method"][0] == "sleeves" else None
        out.append({"run_id": rid, "method": book["method"][0], "as_of": as_of,
                    "position_weights": dict(zip(book["ticker"].to_list(), book["weight"].to_list())),
                    "sleeve_weights": sleeves, "pnl_bps": pnl, "max_drawdown_bps": dd})
    return out


def ordered_snapshots(snapshots: pl.DataFrame, end: dt.date | None = None) -> list[str]:
    """Snapshot ids in time order (as_of, then creation), those on or before ``end``."""
    s = snapshots if end is None else snapshots.filter(pl.col("as_of") <= end)
    heads = s.group_by("snapshot_id").agg(pl.col("as_of").first(), pl.col("created_at").min())
    return heads.sort("as_of", "created_at", "snapshot_id")["snapshot_id"].to_list()


def capital_movement(snapshots: pl.DataFrame, n: int = 14, top_n: int = 12, end: dt.date | None = None,
                     as_of: dt.date | None = None) -> pl.DataFrame:
    """The `capital_movement` rows between the first and last of the latest ``n`` snapshots up to ``end``."""
    ids = ordered_snapshots(snapshots, end)[-n:]
    if len(ids) < 2:
        return CAPITAL_MOVEMENT.empty()
    first, last = (snapshots.filter(pl.col("snapshot_id") == i) for i in (ids[0], ids[-1]))
    parts = []
    for level in (SLEEVE, POSITION):
        a = first.filter(pl.col("level") == level).select("name", pl.col("weight").alias("weight_from"))
        b = last.filter(pl.col("level") == level).select("name", pl.col("weight").alias("weight_to"))
        moves = (a.join(b, on="name", how="full", coalesce=True)
                 .with_columns(pl.col("weight_from", "weight_to").fill_null(0.0))
                 .with_columns((pl.col("weight_to") - pl.col("weight_from")).alias("delta"))
                 .sort(pl.col("delta").abs(), "name", descending=[True, False]).head(top_n)
                 .with_row_index("rank", offset=1).with_columns(pl.lit(level).alias("level")))
        parts.append(moves)
    out = pl.concat(parts, how="diagonal_relaxed").with_columns(
        pl.lit(as_of or last["as_of"][0]).alias("as_of"),
        pl.lit(first["run_id"][0]).alias("from_run_id"), pl.lit(last["run_id"][0]).alias("to_run_id"),
        pl.lit(first["as_of"][0]).alias("from_as_of"), pl.lit(last["as_of"][0]).alias("to_as_of"),
        pl.lit(len(ids)).alias("snapshots"),
    )
    return CAPITAL_MOVEMENT.conform(out)


def latest_allocation(snapshots: pl.DataFrame, end: dt.date | None = None) -> pl.DataFrame:
    """The rows of the latest snapshot on or before ``end``."""
    ids = ordered_snapshots(snapshots, end)
    if not ids:
        return ALLOCATION_SNAPSHOTS.empty()
    return snapshots.filter(pl.col("snapshot_id") == ids[-1])
