"""Fanned-out sleeve backtests through real materializations on one instance: the history and plan step registers
one dynamic partition per sleeve@version, each partition run computes its sleeve without DuckDB, and the publish
step writes the same rows the in-step serial sweep (`sleeve_backtests`, meta.workers 1) writes; the publish
refuses, leaving the tables as they were, while a partition is missing or was computed for an older plan."""

import json

import dagster as dg
import polars as pl
import pytest

from meridian_assets.meta.definitions import defs as meta_defs
from meridian_assets.meta.fanout_assets import RESEARCH_SLEEVES, submit_research_backfill
from resources import DuckDBStore, MeridianSettings
from tests import meta_world as w
from tests.conftest import query

SLEEVES = ["core", "conviction"]
RUN = {"ops": {"research_history": {"config": {"sleeves": SLEEVES}}}}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    monkeypatch.setenv("MERIDIAN_CONFIG", str(w.write_yaml(tmp_path, meta={**w.OVERRIDES["meta"], "workers": 1,
                                                                            "backtest_sessions": 10})))
    w.write_db(tmp_path / "meridian.duckdb")
    return tmp_path


def _defs(home) -> dg.Definitions:
    return dg.Definitions.merge(meta_defs(), dg.Definitions(resources={
        "db": DuckDBStore(database=str(home / "meridian.duckdb")),
        "settings": MeridianSettings(config_path=str(home / "meridian.yaml"))}))


def _tables(home) -> dict[str, pl.DataFrame]:
    """The three backtest tables without what differs between two runs of one backtest (timings, created_at)."""
    db = home / "meridian.duckdb"
    runs = query(db, "SELECT * EXCLUDE (created_at, seconds, seconds_per_day) FROM backtest_runs ORDER BY run_id")
    metrics = [{k: v for k, v in json.loads(m).items() if not k.startswith("seconds")} for m in runs["metrics_json"]]
    return {"runs": runs.with_columns(metrics_json=pl.Series([json.dumps(m, sort_keys=True) for m in metrics])),
            "daily": query(db, "SELECT * EXCLUDE (seconds) FROM backtest_daily ORDER BY run_id, date"),
            "trades": query(db, "SELECT * FROM backtest_trades ORDER BY run_id, as_of, ticker, status")}


def test_fanned_out_partitions_publish_the_serial_sweeps_rows(home):
    defs = _defs(home)
    instance = dg.DagsterInstance.ephemeral()
    serial = defs.resolve_job_def("meta_backtest_job").execute_in_process(
        instance=instance, run_config={"ops": {"sleeve_backtests": {"config": {"sleeves": SLEEVES}}}})
    assert serial.success
    expected = _tables(home)
    assert expected["runs"]["sleeve"].sort().to_list() == sorted(SLEEVES) and expected["trades"].height > 0

    plan = defs.resolve_job_def("meta_research_history_job").execute_in_process(instance=instance, run_config=RUN)
    keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)
    assert sorted(keys) == ["conviction@1", "core@1"]
    assert (home / "research" / "plan.json").exists()

    # Partition runs never open DuckDB: with the file moved away, a connection would create a new one.
    db, aside = home / "meridian.duckdb", home / "aside.duckdb"
    db.rename(aside)
    sleeves_job = defs.resolve_job_def("meta_research_sleeves_job")
    first = sleeves_job.execute_in_process(instance=instance, partition_key=keys[0])
    assert first.success and not db.exists()
    aside.rename(db)

    # One partition missing: the publish is refused and the tables keep the serial rows.
    publish = defs.resolve_job_def("meta_research_publish_job")
    refused = publish.execute_in_process(instance=instance, raise_on_error=False)
    assert not refused.success
    assert f"partitions not run: {keys[1]}" in str(refused.all_events)

    db.rename(aside)
    assert sleeves_job.execute_in_process(instance=instance, partition_key=keys[1]).success and not db.exists()
    aside.rename(db)
    # The partitions were materialized as partitions of the asset, on the instance.
    mats = instance.fetch_materializations(dg.AssetKey("research_sleeve_backtests"), limit=10).records
    assert sorted(m.partition_key for m in mats) == sorted(keys)

    # Publish: delete-then-insert by run id over the serial rows (same run ids), so equal tables mean equal rows.
    done = publish.execute_in_process(instance=instance)
    assert done.success
    got = _tables(home)
    for name in expected:
        assert got[name].equals(expected[name]), name
    published = {e.event_specific_data.materialization.asset_key.to_user_string()
                 for e in done.get_asset_materialization_events()}
    assert {"research_backtests", "backtest_runs", "backtest_daily", "backtest_trades"} <= published
    assert plan.success

    # What the daemon would fan out: every registered partition (one run each), then the publish.
    backfill = instance.get_backfill(submit_research_backfill(instance, defs.resolve_asset_graph()))
    targets = {(ap.asset_key.to_user_string(), ap.partition_key)
               for ap in backfill.asset_backfill_data.target_subset.iterate_asset_partitions()}
    assert targets == {("research_sleeve_backtests", k) for k in keys} | {("research_backtests", None)}

    # A new plan for the same window drops the old results: publishing now is refused until its partitions run.
    again = defs.resolve_job_def("meta_research_history_job").execute_in_process(instance=instance, run_config=RUN)
    assert again.success
    stale = publish.execute_in_process(instance=instance, raise_on_error=False)
    assert not stale.success and "partitions not run: " in str(stale.all_events)
    assert all(k in str(stale.all_events) for k in keys)
    assert all(_tables(home)[n].equals(expected[n]) for n in expected)
