"""The desk never blocks a writer: while a reader holds the published snapshot open, a materialization writes
the live database and the next publish swaps in a new copy; the reader keeps its consistent old copy."""

import datetime as dt

import dagster as dg
import duckdb

from meridian_assets.config import get_config
from meridian_assets.desk.source import Snapshot
from meridian_assets.serving.assets import serving_snapshot
from tests.conftest import materialize_ingest, write_config


def test_a_writer_succeeds_while_the_desk_reads(meridian_home):
    from meridian_assets.definitions import build_resources

    res = build_resources(str(write_config(meridian_home)), str(meridian_home / "meridian.duckdb"))
    first = (dt.date(2024, 3, 1), dt.date(2024, 3, 15))
    assert materialize_ingest(res, *first, selection=["universe", "daily_prices"]).success
    assert dg.materialize([serving_snapshot], resources=res).success
    snap = Snapshot.of(get_config())
    assert snap.query("SELECT max(date) AS d FROM daily_prices")["d"][0] == first[1]
    desk = duckdb.connect(str(snap.path), read_only=True)  # the desk mid-render
    try:
        assert materialize_ingest(res, dt.date(2024, 3, 18), dt.date(2024, 3, 28),
                                  selection=["daily_prices"]).success
        assert dg.materialize([serving_snapshot], resources=res).success
        assert desk.sql("SELECT max(date) FROM daily_prices").fetchall()[0][0] == first[1]
    finally:
        desk.close()
    assert snap.query("SELECT max(date) AS d FROM daily_prices")["d"][0] == dt.date(2024, 3, 28)
    assert not snap.staleness()["stale"]
