"""Breach to halt under load: how long from the book's materialization that carries a breach to the halt lock
file on disk, while a three-year ingest backfill holds the DuckDB pool.

A real instance on a scratch DAGSTER_HOME (the committed dagster.yaml: the `duckdb` pool of one slot, the
queued run coordinator) with `dagster-daemon run` as a subprocess. The backfill is one run of `ingest_job`
over the whole history window (`dagster job launch`, queued and launched by the daemon like any run). Once
one of its steps holds the pool, a `portfolio_history` materialization with a 9% drawdown in its breaker
inputs (`risk.breakers.breaker_inputs`, what `portfolio_book` publishes) is written to the event log; the
clock runs until the lock file exists (kill_switch_sensor tick → queued risk_halt_job → launched → written).

Baseline in the same run: the same breach with the daemon idle (no backfill). Also reported: how long the
backfill still held the database after the breach — what a halt that needs a DuckDB step would wait at least.
CPU seconds are those of the daemon's whole process tree (daemon, code server, run workers) over the
measured interval. Target: at most 60 s under load.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Result, session_cpu, wait_for

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60.0


def _breach(instance, session: str) -> float:
    """Write a book materialization whose breaker inputs carry a 9% drawdown; returns when (time.time())."""
    import dagster as dg

    from meridian_assets.risk.breakers import breaker_inputs

    nav = [10_000_000.0 * (1 - 0.01 * i) for i in range(10)]  # -9% from the peak: KILL_SWITCH
    md = {k: dg.MetadataValue.float(v) for k, v in breaker_inputs(nav).items()}
    md["as_of"] = dg.MetadataValue.text(session)
    t0 = time.time()
    instance.report_runless_asset_event(dg.AssetMaterialization("portfolio_history", metadata=md))
    return t0


def _halt(instance, lock: Path, session: str, sid: int, timeout: float = 300.0) -> dict:
    lock.unlink(missing_ok=True)
    cpu0, self0 = session_cpu(sid), time.process_time()
    t0 = _breach(instance, session)
    wait_for(lock.exists, timeout, "the halt lock", poll=0.05)
    t1 = time.time()
    reason = json.loads(lock.read_text())["reason"]
    assert session in reason, reason
    return {"wall_seconds": round(t1 - t0, 3),
            "cpu_seconds": round(session_cpu(sid) - cpu0 + time.process_time() - self0, 3), "at": t1}


def run() -> Result:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.storage.dagster_run import DagsterRunStatus

    home = Path(tempfile.mkdtemp(prefix="bench_halt_"))
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "MERIDIAN_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("MERIDIAN_CONFIG", None)  # the committed meridian.yaml: 500 names, three years
    os.environ.update({"MERIDIAN_HOME": env["MERIDIAN_HOME"], "DAGSTER_HOME": env["DAGSTER_HOME"]})
    from meridian_assets.config import get_config
    from meridian_assets.ingest.partitions import history_window

    cfg = get_config()
    lock = cfg.halt_lock_path()
    start, end = history_window(cfg)
    bindir = Path(sys.executable).parent
    log = open(home / "daemon.log", "w")
    daemon = subprocess.Popen([str(bindir / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))
        wait_for(lambda: {"SENSOR", "QUEUED_RUN_COORDINATOR"} <= set(instance.get_daemon_heartbeats()), 180,
              "the daemon's heartbeats")
        time.sleep(3)  # the code location is loaded once the sensor daemon has ticked
        idle = _halt(instance, lock, "2001-01-02", daemon.pid)

        tags = {"dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": end.isoformat(), "meridian/source": "bench_halt"}
        subprocess.run([str(bindir / "dagster"), "job", "launch", "-w", str(ROOT / "workspace.yaml"), "-j",
                        "ingest_job", "--tags", json.dumps(tags),
                        "--config-json", json.dumps({"ops": {"universe": {"config": {"force": True}}}})],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        run_ids = [r.run_id for r in instance.get_runs(dg.RunsFilter(job_name="ingest_job"))]
        run_id = run_ids[0]

        def holding_pool():  # a step has started: the op-level pool slot is taken
            return bool(instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START))

        wait_for(holding_pool, 300, "a step of the backfill holding the pool", poll=0.5)
        time.sleep(2)
        loaded = _halt(instance, lock, "2001-01-03", daemon.pid)
        during = instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED
        wait_for(lambda: instance.get_run_by_id(run_id).is_finished, 1800, "the end of the backfill", poll=1.0)
        stats = instance.get_run_stats(run_id)
        backfill = {"wall_seconds": round(stats.end_time - stats.start_time, 3),
                    "status": instance.get_run_by_id(run_id).status.value,
                    "held_after_breach_seconds": round(stats.end_time - loaded["at"] + loaded["wall_seconds"], 3),
                    "sessions": f"{start}..{end}"}
    finally:
        try:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()
    shutil.rmtree(home, ignore_errors=True)
    idle.pop("at"), loaded.pop("at")
    return Result(
        name="halt",
        description="Breach (book materialization with a 9% drawdown) to halt lock file, with a three-year "
                    "ingest backfill holding the DuckDB pool, on a real instance with dagster-daemon; baseline: "
                    "the same with the daemon idle.",
        measurements={"halt_under_backfill": {**loaded, "backfill_running_at_halt": during},
                      "halt_idle": idle, "backfill": backfill},
        targets={"halt_under_backfill_wall_seconds": TARGET_SECONDS},
        passed={"halt_under_backfill_wall_seconds": loaded["wall_seconds"] <= TARGET_SECONDS and during},
        ratios={"under_backfill_vs_idle": round(loaded["wall_seconds"] / idle["wall_seconds"], 3),
                "backfill_hold_vs_halt": round(backfill["held_after_breach_seconds"] / loaded["wall_seconds"], 3)},
    )
