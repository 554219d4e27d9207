"""A crash never wedges the platform: a run killed while it holds the DuckDB pool is found, marked failed and
its slot freed, by the next CLI command, while a CLI run waits, and by dead_run_sensor; the next command says
what it waits for meanwhile."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy.exc
from dagster._core.test_utils import create_run_for_test

from meridian_assets.runs import WORKER_HOST_TAG, WORKER_PID_TAG, WORKER_STARTED_TAG, worker_tags
from sensors.runs import dead_run_sensor
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]
MERIDIAN = str(Path(sys.executable).with_name("meridian"))
POOL = "duckdb"
WINDOW = ("--start", "2024-03-01", "--end", "2024-03-28")  # a short load: its steps write within seconds


@pytest.fixture
def home(tmp_path, monkeypatch) -> dict[str, str]:
    """A Meridian home with the committed dagster.yaml (one `duckdb` slot), env set here and for subprocesses."""
    (tmp_path / "dagster").mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", tmp_path / "dagster" / "dagster.yaml")
    env = {"MERIDIAN_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "MERIDIAN_CONFIG": str(write_config(tmp_path))}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return {**os.environ, **env, "PYTHONUNBUFFERED": "1"}


def _held_by(instance: dg.DagsterInstance) -> dict[str, str]:
    """run id -> step of each claimed slot of the duckdb pool."""
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return {s.run_id: s.step_key for s in info.claimed_slots}


def _start_writer_and_freeze(env: dict, instance: dg.DagsterInstance, log: Path) -> tuple[subprocess.Popen, str]:
    """Start a real `meridian data` run, let it write some tables, and stop it (SIGSTOP) while it holds the
    pool slot in the middle of a step. Returns the process and its run id."""
    out = log.open("w")
    proc = subprocess.Popen(["timeout", "-s", "KILL", "240", MERIDIAN, "data", "--no-filings", *WINDOW], env=env,
                            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        held = _held_by(instance)
        if held and "wrote" in log.read_text():
            worker = _worker_pid(proc.pid)
            os.kill(worker, signal.SIGSTOP)
            try:  # stopped inside a write to the instance, its lock can refuse even this read: resume, again
                held = {} if _instance_write_locked(Path(env["DAGSTER_HOME"])) else _held_by(instance)
            except sqlalchemy.exc.OperationalError:
                held = {}
            if held:
                return proc, next(iter(held))
            os.kill(worker, signal.SIGCONT)  # stopped between two steps, or inside a write to the instance: again
        time.sleep(0.05)
    _kill(proc)
    raise AssertionError("the data run never held the pool:\n" + log.read_text()[-2000:])


def _instance_write_locked(dagster_home: Path) -> bool:
    """True while a process holds the write lock of the instance's shared SQLite files (a process stopped
    there would block every other run's event log, which is not the fault under test)."""
    for db in (dagster_home / "history" / "runs.db", dagster_home / "history" / "runs" / "index.db"):
        conn = sqlite3.connect(db, timeout=0.05)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
        except sqlite3.OperationalError:
            return True
        finally:
            conn.close()
    return False


def _worker_pid(timeout_pid: int) -> int:
    """The meridian process under `timeout`."""
    children = Path(f"/proc/{timeout_pid}/task/{timeout_pid}/children").read_text().split()
    return int(children[0])


def _kill(proc: subprocess.Popen) -> None:
    os.kill(_worker_pid(proc.pid), signal.SIGKILL)
    proc.wait(timeout=30)


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_next_command_frees_the_slot_of_a_run_killed_mid_write(home, tmp_path):
    instance = dg.DagsterInstance.get()
    proc, killed = _start_writer_and_freeze(home, instance, tmp_path / "first.log")
    _kill(proc)
    assert _status(instance, killed) == dg.DagsterRunStatus.STARTED and killed in _held_by(instance)

    # Before: the next run queued behind the dead run's slot for ever, saying nothing.
    nxt = subprocess.run(["timeout", "-s", "KILL", "240", MERIDIAN, "data", "--no-filings", "--start", "2024-03-25",
                          "--end", "2024-03-28"], env=home, capture_output=True, text=True, timeout=300)
    assert nxt.returncode == 0, nxt.stdout[-2000:] + nxt.stderr[-2000:]
    assert f"Released run {killed} (ingest_job): process pid" in nxt.stderr
    assert "Meridian data refresh complete" in nxt.stdout
    instance = dg.DagsterInstance.get()
    assert _status(instance, killed) == dg.DagsterRunStatus.FAILURE
    assert _held_by(instance) == {}
    assert instance.event_log_storage.get_concurrency_info(POOL).pending_steps == []


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_waiting_command_names_the_holder_and_proceeds_once_it_dies(home, tmp_path):
    instance = dg.DagsterInstance.get()
    holder, holder_run = _start_writer_and_freeze(home, instance, tmp_path / "holder.log")
    holder_pid = _worker_pid(holder.pid)
    log = tmp_path / "waiter.log"
    waiter = subprocess.Popen(["timeout", "-s", "KILL", "240", MERIDIAN, "data", "--no-filings", "--start",
                               "2024-03-25", "--end", "2024-03-28"], env=home, stdout=log.open("w"),
                              stderr=subprocess.STDOUT, text=True)
    try:
        # The holder is alive (stopped, like a hung writer): the waiter must say so within 30 s of queueing.
        deadline = None
        while "Held by run" not in log.read_text():
            assert waiter.poll() is None, log.read_text()[-2000:]
            queued = instance.event_log_storage.get_concurrency_info(POOL).pending_steps
            if deadline is None and any(p.run_id != holder_run for p in queued):
                deadline = time.monotonic() + 30
            assert deadline is None or time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        time.sleep(0.5)
        text = log.read_text()
        assert "for the duckdb pool" in text
        assert f"Held by run {holder_run} (ingest_job, STARTED, pid {holder_pid} on" in text
        assert "it is running" in text and f"kill {holder_pid}" in text
    except BaseException:
        if waiter.poll() is None:
            _kill(waiter)
        raise
    finally:
        _kill(holder)
    assert waiter.wait(timeout=240) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert f"Released run {holder_run}" in text and "Meridian data refresh complete" in text
    instance = dg.DagsterInstance.get()
    assert _status(instance, holder_run) == dg.DagsterRunStatus.FAILURE
    assert _held_by(instance) == {}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_cli_run_canceled_from_outside_stops_and_frees_its_slot(home, tmp_path):
    """Terminate in the UI, or run monitoring's maximum runtime, reaches a CLI run too (it used to run on, its
    run marked failed, while its slot was handed to the next writer)."""
    instance = dg.DagsterInstance.get()
    log = tmp_path / "run.log"
    proc = subprocess.Popen(["timeout", "-s", "KILL", "240", MERIDIAN, "data", "--no-filings", *WINDOW], env=home,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        while "wrote" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.1)
        run = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))[0]
        instance.report_run_canceling(run, "Canceling due to exceeding maximum runtime of 1 seconds.")
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            _kill(proc)
    assert "was canceled from outside" in log.read_text()
    assert _status(instance, run.run_id) == dg.DagsterRunStatus.CANCELED
    assert _held_by(instance) == {}


def _dead_pid() -> tuple[int, dict[str, str]]:
    """A pid whose process has exited, with the worker tags it had while alive."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    tags = worker_tags(p.pid)
    p.kill()
    p.wait()
    return p.pid, tags


def _holding_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    run = create_run_for_test(instance, job_name="ingest_job", status=dg.DagsterRunStatus.STARTED, tags=tags)
    status = instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, "daily_prices")
    assert status.is_claimed
    return run.run_id


def test_sensor_frees_the_slot_of_a_dead_run_and_leaves_live_ones(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 2)
        _, dead_tags = _dead_pid()
        dead = _holding_run(instance, dead_tags)
        live = _holding_run(instance, worker_tags())  # this test process: alive

        result = dead_run_sensor(dg.build_sensor_context(instance=instance))

        assert isinstance(result, dg.SkipReason) and f"run {dead}" in result.skip_message
        assert _status(instance, dead) == dg.DagsterRunStatus.FAILURE
        assert _status(instance, live) == dg.DagsterRunStatus.STARTED
        assert _held_by(instance) == {live: "daily_prices"}
        failure = instance.all_logs(dead, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
        assert "is gone" in failure.dagster_event.message


def test_a_reused_pid_does_not_keep_a_dead_run_alive(tmp_path):
    """The pid is alive again (here: this process) but started at another time: the run's worker is gone."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
        tags = {**worker_tags(), WORKER_STARTED_TAG: f"{float(worker_tags()[WORKER_STARTED_TAG]) - 3600:.2f}"}
        run_id = _holding_run(instance, tags)
        dead_run_sensor(dg.build_sensor_context(instance=instance))
        assert _status(instance, run_id) == dg.DagsterRunStatus.FAILURE
        assert _held_by(instance) == {}


def test_runs_of_another_host_or_without_tags_are_left_for_the_reset_command(tmp_path, monkeypatch):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 2)
        _, dead_tags = _dead_pid()
        remote = _holding_run(instance, {**dead_tags, WORKER_HOST_TAG: "another-host"})
        untagged = _holding_run(instance, {})
        result = dead_run_sensor(dg.build_sensor_context(instance=instance))
        assert "no run of this host" in result.skip_message
        assert set(_held_by(instance)) == {remote, untagged}

        from meridian_assets.cli import main

        monkeypatch.setattr("meridian_assets.cli.runner.prepare_instance", lambda: instance)
        assert main(["reset", "--stale-runs", "--run", remote]) == 0
        assert _status(instance, remote) == dg.DagsterRunStatus.FAILURE
        assert set(_held_by(instance)) == {untagged}


def test_reset_refuses_to_fail_a_run_whose_process_is_alive(tmp_path, monkeypatch, capsys):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
        run_id = _holding_run(instance, worker_tags())
        monkeypatch.setattr("meridian_assets.cli.runner.prepare_instance", lambda: instance)
        from meridian_assets.cli import main

        assert main(["reset", "--stale-runs", "--run", run_id]) == 1
        assert f"kill {os.getpid()}" in capsys.readouterr().err
        assert _status(instance, run_id) == dg.DagsterRunStatus.STARTED
        assert WORKER_PID_TAG in instance.get_run_by_id(run_id).tags


def test_a_launched_run_records_its_worker_from_inside_it(tmp_path):
    """Runs launched by the daemon or the UI: Dagster logs the worker's pid; the worker (or one of its step
    processes) turns it into the worker tags. A pid that is not this process or an ancestor is not trusted."""
    from dagster._core.events import EngineEventData

    from meridian_assets.runs import record_worker

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        for pid, expected in ((os.getppid(), True), (_dead_pid()[0], False)):
            run = create_run_for_test(instance, job_name="ingest_job", status=dg.DagsterRunStatus.STARTED)
            instance.report_engine_event(f"Started process for run (pid: {pid}).", run,
                                         EngineEventData.in_process(pid))
            record_worker(instance, run.run_id)
            tags = instance.get_run_by_id(run.run_id).tags
            if expected:
                assert tags[WORKER_PID_TAG] == str(pid) and tags == {**tags, **worker_tags(pid)}
            else:
                assert WORKER_PID_TAG not in tags
