"""The real S&P 500 bars through the `files` provider: real gaps, zero-volume days and genuine crash-day
moves are warnings, never blocking errors, and point-in-time membership drives which names load."""

import datetime as dt

import dagster as dg
import pytest

from meridian_assets.definitions import build_resources
from tests.conftest import REALDATA, materialize_ingest, query, write_config

pytestmark = pytest.mark.skipif(not (REALDATA / "prices").exists(), reason=f"real data not found at {REALDATA}")

COVID = (dt.date(2020, 3, 2), dt.date(2020, 4, 30))


def test_real_bars_load_and_pass_the_blocking_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    cfg = write_config(tmp_path, providers={"universe": "files", "prices": "files"},
                       files={"root": str(REALDATA)})
    res = build_resources(str(cfg), str(tmp_path / "m.duckdb"))
    result = materialize_ingest(res, *COVID, selection=["universe", "daily_prices"])
    assert result.success
    evals = {(e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name):
             e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert evals[("daily_prices", "valid")].passed
    db = tmp_path / "m.duckdb"
    n = query(db, "SELECT count(DISTINCT ticker) n FROM daily_prices WHERE ticker NOT LIKE '^%'")["n"][0]
    # The price file holds today's members only, so 2020 members that left since have no bars: they are
    # counted as per-ticker errors, not silently dropped.
    mat = [e.event_specific_data.materialization for e in result.all_events
           if e.event_type_value == "ASSET_MATERIALIZATION"
           and e.event_specific_data.materialization.asset_key == dg.AssetKey("daily_prices")][0]
    assert 300 < n <= 505 and mat.metadata["errors"].value > 50
    # Point in time: TSLA traded in 2020 but joined the index at the end of that year: not loaded for March.
    assert query(db, "SELECT count(*) n FROM daily_prices WHERE ticker = 'TSLA'")["n"][0] == 0
    vix = query(db, "SELECT max(close) m FROM daily_prices WHERE ticker = '^VIX'")["m"][0]
    assert vix > 80  # 2020-03-16 closed at 82.69
