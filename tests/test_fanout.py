"""Fanned-out sleeve backtests through real materializations on one instance: the plan registers one dynamic
partition per sleeve@version; the job over every partition, launched as a user launches it (`dagster job
execute`), reads the history once, runs each sleeve in a process of its own forked by the research executor
without opening DuckDB, and its publishing step writes the same rows the in-step serial sweep
(`sleeve_backtests`, meta.workers 1) writes. The publish refuses, leaving the tables as they were, a result
that is missing or was computed for an older plan."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from meridian_assets.config import load_config
from meridian_assets.meta import fanout
from meridian_assets.meta.definitions import defs as meta_defs
from meridian_assets.meta.fanout_assets import RESEARCH_SLEEVES, research_run_tags
from resources import DuckDBStore, MeridianSettings
from tests import meta_world as w
from tests.conftest import query

SLEEVES = ["core", "conviction"]
RUN = {"ops": {"research_plan": {"config": {"sleeves": SLEEVES}}}}


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
    instance = dg.DagsterInstance.get()  # $DAGSTER_HOME: the job below runs in another process on it
    serial = defs.resolve_job_def("meta_backtest_job").execute_in_process(
        instance=instance, run_config={"ops": {"sleeve_backtests": {"config": {"sleeves": SLEEVES}}}})
    assert serial.success
    expected = _tables(home)
    assert expected["runs"]["sleeve"].sort().to_list() == sorted(SLEEVES) and expected["trades"].height > 0

    plan = defs.resolve_job_def("meta_research_plan_job").execute_in_process(instance=instance, run_config=RUN)
    assert plan.success
    keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)
    assert sorted(keys) == ["conviction@1", "core@1"]
    assert (home / "research" / "plan.json").exists()

    # The job as launched over every partition: one run, each sleeve in a process forked by the research executor.
    every = research_run_tags(instance)
    planned = instance.fetch_materializations(dg.AssetKey("research_plan"), limit=1).records[0]
    assert planned.asset_materialization.metadata["launch_tags"].value == every  # what the UI shows to launch with
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m",
                           "meridian_assets.definitions", "-j", "meta_research_sleeves_job", "--tags",
                           json.dumps(every)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = instance.get_runs(dg.RunsFilter(job_name="meta_research_sleeves_job"), limit=1)[0]
    assert run.status == dg.DagsterRunStatus.SUCCESS
    got = _tables(home)
    for name in expected:  # delete-then-insert over the serial rows (same run ids): equal tables, equal rows
        assert got[name].equals(expected[name]), name

    records = instance.get_records_for_run(run.run_id).records
    events = [r.event_log_entry for r in records if r.event_log_entry.dagster_event]
    steps = {e.step_key: e.dagster_event.pid for e in events
             if e.dagster_event.event_type == dg.DagsterEventType.STEP_START}
    prefix = "research_sleeve_backtests.research_sleeve_backtest["
    assert sorted(k for k in steps if k.startswith(prefix)) == [f"{prefix}conviction_v1]", f"{prefix}core_v1]"]
    worker = next(e.dagster_event.pid for e in events if e.dagster_event.event_type == dg.DagsterEventType.ENGINE_EVENT
                  and "parent process" in e.user_message)
    here = {"research_sleeve_backtests.research_history", "research_sleeve_backtests.research_publish"}
    assert {k for k, pid in steps.items() if pid == worker} == here  # the history while the fork server starts
    assert len({pid for k, pid in steps.items() if k not in here}) == 2  # each sleeve in a forked process
    assert "multiprocess executor" in " ".join(e.user_message for e in events)
    mats = {(m.asset_key.to_user_string(), m.partition): m.metadata
            for m in (e.dagster_event.event_specific_data.materialization for e in events
                      if e.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION)}
    run_ids = dict(zip(expected["runs"]["sleeve"], expected["runs"]["run_id"]))
    for k in keys:  # each partition its own materialization, with its own backtest's figures
        assert mats[("research_sleeve_backtests", k)]["run_id"].value == run_ids[k.split("@")[0]]
    assert {"backtest_runs", "backtest_daily", "backtest_trades"} <= {a for a, _ in mats}
    timed = fanout.read_timings(home / "research")  # each step's speed, for the next run's order
    assert set(timed) == {*keys, *SLEEVES} and all(v > 0 for v in timed.values())


def test_sleeve_steps_never_open_duckdb_and_a_stale_result_is_not_published(home):
    defs = _defs(home)
    instance = dg.DagsterInstance.ephemeral()
    assert defs.resolve_job_def("meta_research_plan_job").execute_in_process(
        instance=instance, run_config=RUN).success
    keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)
    job = defs.resolve_job_def("meta_research_sleeves_job")
    # Only the history and publishing steps hold the writer's pool and the DuckDB resource.
    nodes = {n.name: n.definition for n in job.graph.node_dict["research_sleeve_backtests"].definition.nodes}
    assert {name: (d.pool, "db" in d.required_resource_keys) for name, d in nodes.items()} == {
        "research_history": ("duckdb", True), "research_sleeve_backtest": (None, False),
        "research_publish": ("duckdb", True)}
    assert job.execute_in_process(instance=instance, tags=research_run_tags(instance)).success
    published = _tables(home)

    # A sleeve's computation with the DuckDB file moved away: a connection would have created a new one.
    old = fanout.read_plan(home / "research")
    history = fanout.read_history(old)
    db, aside = home / "meridian.duckdb", home / "aside.duckdb"
    db.rename(aside)
    fanout.run_partition(old, keys[0], load_config(str(home / "meridian.yaml")), history)
    assert not db.exists()
    aside.rename(db)

    # A new plan for the same window removes the old files: nothing to publish yet, by name.
    assert defs.resolve_job_def("meta_research_plan_job").execute_in_process(
        instance=instance, run_config=RUN).success
    new = fanout.read_plan(home / "research")
    assert new.plan_id != old.plan_id and not new.result_dir(keys[0]).exists()
    with pytest.raises(fanout.FanoutError, match="partitions not run: " + ", ".join(new.sleeves)):
        fanout.collect(new)
    # A result computed for the old plan in the same folder is refused as from another plan.
    fanout.write_history(new, history)
    fanout.run_partition(old, keys[0], load_config(str(home / "meridian.yaml")))
    with pytest.raises(fanout.FanoutError, match=f"from another plan: {keys[0]}"):
        fanout.collect(new, [keys[0]])
    assert all(_tables(home)[n].equals(published[n]) for n in published)


def test_sleeve_steps_start_longest_first_and_untimed_sleeves_before_timed_ones(tmp_path):
    plan = fanout.Plan("p", None, None, "sweep", {k: ({}, 1) for k in ("a@1", "b@1", "c@1", "d@1")}, tmp_path)
    # d was never backtested (its cost is unknown: start it first); then the slowest per day; c is not in the run
    assert fanout.longest_first(plan, ["a@1", "b@1", "d@1"], {"a": 0.01, "b": 0.03, "c": 0.5}) == ["d@1", "b@1", "a@1"]
    # a partition's own timing (a grid's variant) before its sleeve's
    assert fanout.longest_first(plan, ["a@1", "b@1"], {"a": 0.01, "b": 0.03, "a@1": 0.05}) == ["a@1", "b@1"]


def test_published_step_timings_order_the_next_run_before_the_serial_sweeps(tmp_path):
    """The research steps' own speed (one library thread, forked, side by side) orders the next run; a serial
    sweep's timing is the fallback for a sleeve no step has run yet. An unreadable file orders by the fallback."""
    from types import SimpleNamespace

    import numpy as np

    def result(name, per_day, sessions=4):
        return SimpleNamespace(sleeve=SimpleNamespace(name=name), sessions=sessions,
                               seconds_per_day=lambda: per_day)

    assert fanout.read_timings(tmp_path) == {}
    fanout.record_timings(tmp_path, [("core@1", result("core", 0.002)), ("qv@2", result("qv", 0.004)),
                                     ("idle@1", result("idle", np.nan, sessions=0))])
    fanout.record_timings(tmp_path, [("core@1~risk_aversion=8", result("core", 0.003))])
    assert fanout.read_timings(tmp_path) == {"core@1": 0.002, "core@1~risk_aversion=8": 0.003, "core": 0.003,
                                             "qv@2": 0.004, "qv": 0.004}
    plan = fanout.Plan("p", None, None, "sweep", {k: ({}, 1) for k in ("core@1", "qv@2", "mom@1")}, tmp_path)
    serial = {"core": 0.009, "qv": 0.001, "mom": 0.005}
    assert fanout.longest_first(plan, plan.sleeves, {**serial, **fanout.read_timings(tmp_path)}) == [
        "mom@1", "qv@2", "core@1"]
    (tmp_path / fanout.TIMINGS).write_text("{not json")
    assert fanout.read_timings(tmp_path) == {}


def test_history_file_reads_back_every_field_and_a_partial_one_is_refused(tmp_path):
    import duckdb
    import numpy as np

    from meridian_assets.meta.history import load_history

    w.write_db(tmp_path / "meridian.duckdb")
    cfg = load_config(w.write_yaml(tmp_path))
    with duckdb.connect(str(tmp_path / "meridian.duckdb"), read_only=True) as conn:
        start, end = conn.execute("SELECT min(date), max(date) FROM factor_scores").fetchall()[0]
        history = load_history(conn, start, end, cfg)
    plan = fanout.write_plan(tmp_path / "research", [], start, end, "sweep", "plan-1")
    fanout.write_history(plan, history)
    back = fanout.read_history(plan)
    assert history.scores.height > 0 and set(vars(back)) == set(vars(history))
    for name, value in vars(history).items():
        got = getattr(back, name)
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got, value, err_msg=name)
        elif isinstance(value, pl.DataFrame):
            assert got.equals(value), name
        elif name != "risk_models":
            assert got == value, name
    assert [d for d, _ in back.risk_models] == [d for d, _ in history.risk_models]
    i = len(back.sessions) - 1
    assert back.candidates(i, back.scores.filter(pl.col("date") == back.sessions[i]).rename({"composite": "score"}),
                           {}, {}).equals(history.candidates(i, history.scores.filter(
                               pl.col("date") == history.sessions[i]).rename({"composite": "score"}), {}, {}))
    # A history step that stopped after the frames and before history.pkl leaves no history to read
    plan.history_path.unlink()
    with pytest.raises(fanout.FanoutError, match="history file .* is missing"):
        fanout.read_history(plan)


def test_a_parameter_grid_is_one_partition_per_variant_kept_apart_from_the_weekly_sweep(home):
    from meridian_assets.meta.backtest import run_backtest
    from meridian_assets.meta.runs import latest_runs
    from meridian_assets.meta.sleeves import builtin_sleeves

    defs = _defs(home)
    instance = dg.DagsterInstance.ephemeral()
    grid = {"risk_aversion": ["1", "5"], "num_longs": ["10"]}
    run_config = {"ops": {"research_plan": {"config": {"sleeves": ["core"], "grid": grid}}}}
    assert defs.resolve_job_def("meta_research_plan_job").execute_in_process(
        instance=instance, run_config=run_config).success
    keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)
    assert keys == ["core@1~num_longs=10~risk_aversion=1", "core@1~num_longs=10~risk_aversion=5"]
    assert defs.resolve_job_def("meta_research_sleeves_job").execute_in_process(
        instance=instance, tags=research_run_tags(instance)).success

    plan = fanout.read_plan(home / "research")
    assert plan.purpose == "research"
    runs = query(home / "meridian.duckdb", "SELECT * FROM backtest_runs ORDER BY run_id")
    assert runs["purpose"].to_list() == ["research", "research"] and runs["sleeve"].to_list() == ["core", "core"]
    # each variant is the sleeve with the point's knobs, backtested as run_backtest backtests it
    cfg = load_config(str(home / "meridian.yaml"))
    core = next(s for s in builtin_sleeves() if s.name == "core")
    history = fanout.read_history(plan)
    for aversion in (1.0, 5.0):
        variant = core.model_copy(update={"risk_aversion": aversion, "num_longs": 10})
        direct = run_backtest(history, variant, cfg, plan.start, plan.end, version=1, purpose="research")
        daily = query(home / "meridian.duckdb",
                      f"SELECT date, nav FROM backtest_daily WHERE run_id = '{direct.run_id}' ORDER BY date")
        assert daily["nav"].to_list() == direct.daily["nav"].to_list() and daily.height == direct.sessions
    with DuckDBStore(database=str(home / "meridian.duckdb")).connect() as conn:
        assert latest_runs(conn).height == 0  # the weekly decisions read purpose sweep: no variant stands in

    # a grid published as the weekly sweep, an unknown knob, a value the sleeve refuses: the plan fails, saying so
    for bad, message in (({"grid": grid, "purpose": "sweep"}, "cannot be published as the weekly sweep"),
                         ({"grid": {"aversion": ["1"]}}, "unknown sleeve knobs aversion; a grid varies"),
                         ({"grid": {"risk_aversion": ["-1"]}}, "core with risk_aversion=-1: sleeve config")):
        result = defs.resolve_job_def("meta_research_plan_job").execute_in_process(
            instance=instance, run_config={"ops": {"research_plan": {"config": {"sleeves": ["core"], **bad}}}},
            raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
        assert message in failure.step_failure_data.error.message
    assert fanout.read_plan(home / "research").plan_id == plan.plan_id  # the failed plans wrote nothing


def test_a_failing_run_worker_step_fails_the_run_before_any_sleeve_starts(home):
    """The history step runs in the run worker (meta/executors.py): its failure is the step's failure,
    named, and no sleeve step is launched; the backtest tables stay as they were (here: never written)."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    instance = dg.DagsterInstance.get()
    assert _defs(home).resolve_job_def("meta_research_plan_job").execute_in_process(
        instance=instance, run_config=RUN).success
    instance.add_dynamic_partitions(RESEARCH_SLEEVES.name, ["zeta@1"])  # registered, but not in the plan
    recon = ReconstructableRepository.for_module(
        "meridian_assets.definitions", "defs", str(Path(__file__).resolve().parents[1])).get_reconstructable_job(
        "meta_research_sleeves_job")
    result = dg.execute_job(recon, instance, tags=research_run_tags(instance), raise_on_error=False)
    assert not result.success
    events = [r.event_log_entry for r in instance.get_records_for_run(result.run_id).records
              if r.event_log_entry.dagster_event]
    failed = [e for e in events if e.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert [e.step_key for e in failed] == ["research_sleeve_backtests.research_history"]
    assert "partitions zeta@1 are not in the plan" in failed[0].dagster_event.step_failure_data.error.message
    assert failed[0].dagster_event.pid == os.getpid()  # failed here, in the run worker
    assert not [e for e in events if e.dagster_event.event_type == dg.DagsterEventType.STEP_START
                and "research_sleeve_backtest[" in e.step_key]
    assert query(home / "meridian.duckdb", "SELECT count(*) AS n FROM information_schema.tables "
                                           "WHERE table_name = 'backtest_runs'")["n"][0] == 0
