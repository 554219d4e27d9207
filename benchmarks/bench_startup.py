"""Start-up: what a user waits for before Meridian does any work.

- ``help``: `meridian --help` (median of 3); baseline: a bare `python -c pass`.
- ``definitions_import``: `import meridian_assets.definitions` in a fresh interpreter (what every command, run
  worker and code server pays; median of 3); baseline: `import dagster` alone, the floor under it.
- ``command_overhead``: `meridian data --start D --end D --no-filings` for one session on a scratch home, from
  launching the command to its first step starting (from the run's event log); measured on the second of two
  runs (the first creates the database and the instance's storage). Baseline: the same command's whole run.
- ``ui_run``: `ingest_daily_job` for one partition launched as the UI launches it — queued on a scratch
  instance (the committed dagster.yaml) and started by `dagster-daemon run` — executed with the code location's
  executor (in process), against the same job on Dagster's multiprocess executor (a fresh interpreter per
  step, the previous behaviour; `benchmarks/multiprocess_location.py`). From the event log: queued to started
  (the run worker's start-up), started to the first step, and the per-step overhead (run time minus the time
  inside steps, per step). CPU: the daemon's whole process tree (daemon, code server, run worker, step
  processes) from launch to the end of the run.

Wall seconds move with the machine's load; CPU seconds are the stable figure. Targets: help <= 1 s, overhead
before the first step <= 2 s, per-step overhead of a UI-launched run <= 2 s (wall).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ROOT, Daemon, Result, scratch_env, timed_command, wait_for

BIN = Path(sys.executable).parent
TARGETS = {"help_wall_seconds": 1.0, "command_overhead_wall_seconds": 2.0, "ui_per_step_overhead_wall_seconds": 2.0}


def _median(args: list[str], env: dict, n: int = 3) -> dict:
    runs = [timed_command(args, env) for _ in range(n)]
    return {k: statistics.median(r[k] for r in runs) for k in ("wall_seconds", "cpu_seconds")}


def _events(instance, run_id: str) -> dict:
    """Run-level timings from the event log (seconds)."""
    import dagster as dg

    logs = instance.all_logs(run_id)
    by = lambda t: [e.timestamp for e in logs if e.dagster_event and e.dagster_event.event_type == t]  # noqa: E731
    starts = {e.step_key: e.timestamp for e in logs if e.dagster_event
              and e.dagster_event.event_type == dg.DagsterEventType.STEP_START}
    ends = {e.step_key: e.timestamp for e in logs if e.dagster_event and e.dagster_event.event_type in (
        dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)}
    run_start = min(by(dg.DagsterEventType.RUN_START))
    run_end = max(by(dg.DagsterEventType.RUN_SUCCESS) + by(dg.DagsterEventType.RUN_FAILURE))
    inside = sum(ends[k] - starts[k] for k in starts if k in ends)
    return {"run_start": run_start, "run_end": run_end, "first_step_start": min(starts.values()),
            "steps": len(starts), "inside_steps_seconds": round(inside, 3),
            "per_step_overhead_seconds": round((run_end - run_start - inside) / max(len(starts), 1), 3),
            "status": "SUCCESS" if by(dg.DagsterEventType.RUN_SUCCESS) else "FAILURE"}


def _command_overhead(home: Path, day: str) -> dict:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    env = scratch_env(home)
    cmd = [str(BIN / "meridian"), "data", "--start", day, "--end", day, "--no-filings"]
    first = timed_command(cmd, env)  # creates the database and the instance's storage
    second = timed_command(cmd, env)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"])) as instance:
        run = instance.get_runs(limit=1)[0]
        ev = _events(instance, run.run_id)
    return {"wall_seconds": round(ev["first_step_start"] - second["started_at"], 3),
            "command_wall_seconds": second["wall_seconds"], "command_cpu_seconds": second["cpu_seconds"],
            "first_run_wall_seconds": first["wall_seconds"], "steps": ev["steps"], "status": ev["status"],
            "returncode": second["returncode"]}


def _ui_run(daemon: Daemon, workspace: Path, job: str, day: str) -> dict:
    import dagster as dg

    instance = daemon.instance
    cpu0, t0 = daemon.cpu(), time.time()
    launch = timed_command([str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-j", job, "--tags",
                            json.dumps({"dagster/partition": day, "meridian/source": "bench_startup"})], daemon.env)
    if launch["returncode"]:
        raise RuntimeError(f"bench_startup: could not launch {job}")
    run = instance.get_runs(dg.RunsFilter(job_name=job), limit=1)[0]
    wait_for(lambda: instance.get_run_by_id(run.run_id).is_finished, 1800, f"the end of {job}", poll=0.5)
    cpu = daemon.cpu() - cpu0
    ev = _events(instance, run.run_id)
    queued = instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp()
    return {"queued_to_started_seconds": round(ev["run_start"] - queued, 3),
            "started_to_first_step_seconds": round(ev["first_step_start"] - ev["run_start"], 3),
            "run_wall_seconds": round(ev["run_end"] - ev["run_start"], 3),
            "launch_to_end_wall_seconds": round(ev["run_end"] - t0, 3), "cpu_seconds": round(cpu, 3),
            **{k: ev[k] for k in ("steps", "inside_steps_seconds", "per_step_overhead_seconds", "status")}}


def run() -> Result:
    import os

    from benchmarks.multiprocess_location import MULTIPROCESS_JOB

    env = {**os.environ}
    py = str(BIN / "python")
    help_ = _median([str(BIN / "meridian"), "--help"], env)
    bare = _median([py, "-c", "pass"], env)
    defs = _median([py, "-c", "import meridian_assets.definitions"], env)
    dagster = _median([py, "-c", "import dagster"], env)

    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        tmp = Path(tmp)
        env = scratch_env(tmp / "cli")
        os.environ.update(MERIDIAN_HOME=env["MERIDIAN_HOME"])
        from meridian_assets.config import load_config
        from meridian_assets.ingest.partitions import history_window

        day = history_window(load_config(str(ROOT / "meridian.yaml")))[1].isoformat()
        overhead = _command_overhead(tmp / "cli", day)

        workspace = tmp / "workspace.yaml"
        workspace.write_text("load_from:\n  - python_module:\n      module_name: benchmarks.multiprocess_location\n"
                             f"      working_directory: {ROOT}\n      location_name: meridian\n")
        ui_env = scratch_env(tmp / "ui")
        with Daemon(ui_env, workspace, tmp / "daemon.log") as daemon:
            in_process = _ui_run(daemon, workspace, "ingest_daily_job", day)
            multiprocess = _ui_run(daemon, workspace, MULTIPROCESS_JOB, day)

    per_step = in_process["per_step_overhead_seconds"]
    return Result(
        name="startup",
        description="meridian --help; importing the code location; a command's wait before its first step; "
                    "per-step overhead of a ingest_daily_job run launched through the queue and the daemon "
                    "(in-process executor)",
        baseline="help: a bare python start; import: `import dagster` alone; command: the same command's whole "
                 "run; UI run: the same job on Dagster's multiprocess executor (a fresh interpreter per step)",
        measurements={"help": help_, "python_bare": bare, "definitions_import": defs, "dagster_import": dagster,
                      "command_overhead": overhead, "ui_run_in_process": in_process,
                      "ui_run_multiprocess": multiprocess, "load_average_at_end": os.getloadavg()[0]},
        targets=TARGETS,
        passed={"help_wall_seconds": help_["wall_seconds"] <= TARGETS["help_wall_seconds"],
                "command_overhead_wall_seconds":
                    overhead["wall_seconds"] <= TARGETS["command_overhead_wall_seconds"],
                "ui_per_step_overhead_wall_seconds": per_step <= TARGETS["ui_per_step_overhead_wall_seconds"]
                and in_process["status"] == "SUCCESS"},
        ratios={"definitions_import_cpu_over_dagster_import_cpu":
                    round(defs["cpu_seconds"] / dagster["cpu_seconds"], 2),
                "multiprocess_over_in_process_per_step_overhead":
                    round(multiprocess["per_step_overhead_seconds"] / max(per_step, 1e-3), 1),
                "multiprocess_over_in_process_run_cpu":
                    round(multiprocess["cpu_seconds"] / in_process["cpu_seconds"], 2)},
    )
