"""Runs whose process died: found, reported failed and their pool slots freed, so a crash never holds the
DuckDB pool.

Every run records the process that executes it as run tags: pid, host and the process's start time (a pid
the system handed to a new process after the worker died is told apart by its start time). CLI runs tag
themselves when they are created; runs launched by the daemon or the UI are tagged by their worker when it
first opens the database (`DuckDBStore`), from the pid Dagster logs as "Started process for run (pid: N)".

`reap_dead_runs` is called at the start of every CLI run, while a CLI run waits for the pool, by
`dead_run_sensor` in the daemon, and by `meridian reset --stale-runs`. It only judges runs whose worker ran
on this host; a run from another host, or with no worker tags, is named with the command that clears it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

import dagster as dg
from dagster._core.events import DagsterEventType

WORKER_PID_TAG = "meridian/worker_pid"
WORKER_HOST_TAG = "meridian/worker_host"
WORKER_STARTED_TAG = "meridian/worker_started"  # the process's start time, epoch seconds
ACTIVE_STATUSES = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# /proc start times are in clock ticks since boot: two reads of the same process agree to well under this.
START_TIME_TOLERANCE_SECONDS = 2.0
CLEAR_COMMAND = "meridian reset --stale-runs"


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), from /proc; None where /proc is not available."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime"))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    # fields[0] is the state (field 3 of stat); the start time is field 22.
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _ancestors(pid: int) -> list[int]:
    out = []
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        out.append(pid)
    return out


@dataclass(frozen=True)
class Worker:
    """The process that executes a run."""

    pid: int
    host: str
    started: float | None  # process start time, epoch seconds (None: unknown)

    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """True while the process exists and is the same process (not a reused pid). Local workers only."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by another user
        if _is_zombie(self.pid):
            return False
        now_started = process_start_time(self.pid)
        if self.started is None or now_started is None:
            return True
        return abs(now_started - self.started) <= START_TIME_TOLERANCE_SECONDS

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def worker_tags(pid: int | None = None) -> dict[str, str]:
    """The run tags naming process ``pid`` (default: this one) as a run's worker."""
    pid = pid or os.getpid()
    started = process_start_time(pid)
    tags = {WORKER_PID_TAG: str(pid), WORKER_HOST_TAG: socket.gethostname()}
    if started is not None:
        tags[WORKER_STARTED_TAG] = f"{started:.2f}"
    return tags


def run_worker(run: dg.DagsterRun) -> Worker | None:
    """The worker a run's tags name, or None when it has none."""
    tags = run.tags
    if WORKER_PID_TAG not in tags or WORKER_HOST_TAG not in tags:
        return None
    try:
        started = float(tags[WORKER_STARTED_TAG]) if WORKER_STARTED_TAG in tags else None
        return Worker(int(tags[WORKER_PID_TAG]), tags[WORKER_HOST_TAG], started)
    except ValueError:
        return None


def record_worker(instance: dg.DagsterInstance, run_id: str) -> None:
    """Tag a launched run with its worker, from inside that worker (or one of its step processes).

    The worker's pid is the one Dagster logged at the start of the run; it is recorded only if it is this
    process or one of its ancestors, so the host recorded is the worker's host. Runs that already carry the
    tags (CLI runs) and runs with no such event (in-process test runs) are left alone."""
    run = instance.get_run_by_id(run_id)
    if run is None or WORKER_PID_TAG in run.tags:
        return
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
        if "pid" in metadata and (event.message or "").startswith("Started process for run"):
            pid = int(metadata["pid"].value)
            if pid == os.getpid() or pid in _ancestors(os.getpid()):
                instance.add_run_tags(run_id, worker_tags(pid))
            return


@dataclass(frozen=True)
class ReapedRun:
    run_id: str
    job_name: str
    worker: Worker
    slots_freed: int

    def describe(self) -> str:
        return (f"run {self.run_id} ({self.job_name}): process {self.worker.describe()} is gone; marked failed, "
                f"{self.slots_freed} pool slot(s) freed")


def _held(instance: dg.DagsterInstance) -> dict[str, int]:
    """run id -> number of pool slots it holds or has been assigned, over every pool."""
    storage = instance.event_log_storage
    held: dict[str, int] = {}
    for info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).values():
        for slot in info.claimed_slots:
            held[slot.run_id] = held.get(slot.run_id, 0) + 1
        for step in info.pending_steps:
            held.setdefault(step.run_id, 0)
            if step.assigned_timestamp is not None and not any(
                    s.run_id == step.run_id and s.step_key == step.step_key for s in info.claimed_slots):
                held[step.run_id] += 1
    return held


def dead_runs(instance: dg.DagsterInstance) -> list[tuple[dg.DagsterRun, Worker]]:
    """Active runs whose worker ran on this host and is gone."""
    out = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE_STATUSES)):
        worker = run_worker(run)
        if worker is not None and worker.is_local() and not worker.alive():
            out.append((run, worker))
    return out


def fail_run(instance: dg.DagsterInstance, run: dg.DagsterRun, reason: str) -> int:
    """Report ``run`` failed (if it is still active) and free its pool slots and queued steps; slots freed."""
    held = _held(instance).get(run.run_id, 0)
    current = instance.get_run_by_id(run.run_id)
    if current is not None and current.status in ACTIVE_STATUSES:
        instance.report_run_failed(current, reason)
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return held


def reap_dead_runs(instance: dg.DagsterInstance) -> list[ReapedRun]:
    """Every active run on this host whose process is gone is reported failed and its pool slots freed; so
    are the slots still held by runs that already finished. Returns the runs reaped."""
    reaped = []
    for run, worker in dead_runs(instance):
        reason = (f"The process executing this run ({worker.describe()}) is gone (killed or crashed): marked "
                  "failed and its pool slots freed.")
        reaped.append(ReapedRun(run.run_id, run.job_name, worker, fail_run(instance, run, reason)))
    # A finished run holds no slot; one that still does (its process died between reporting the end and freeing
    # the slot, or it was failed by hand) is released too.
    for run_id in _held(instance):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return reaped


@dataclass(frozen=True)
class Holder:
    """A run that holds (or has been assigned) a pool slot."""

    run_id: str
    job_name: str
    status: str
    worker: Worker | None
    since: dt.datetime | None

    def describe(self) -> str:
        where = self.worker.describe() if self.worker else "process unknown (no worker tags)"
        since = f", started {self.since:%Y-%m-%d %H:%M:%S %Z}" if self.since else ""
        return f"run {self.run_id} ({self.job_name}, {self.status}, {where}{since})"

    def advice(self) -> str:
        if self.worker is not None and self.worker.is_local() and self.worker.alive():
            return (f"it is running; this command continues when it finishes (stop it with `kill {self.worker.pid}`"
                    " or Terminate in the UI)")
        if self.worker is not None and self.worker.is_local():
            return f"its process is gone; it is being released (or run `{CLEAR_COMMAND}`)"
        return (f"its process cannot be checked from this host; if it is gone, run "
                f"`{CLEAR_COMMAND} --run {self.run_id}`")


def pool_holders(instance: dg.DagsterInstance, exclude_run_id: str | None = None) -> list[Holder]:
    """The runs (other than ``exclude_run_id``) holding a pool slot, oldest first."""
    out = []
    for run_id, n in _held(instance).items():
        if n == 0 or run_id == exclude_run_id:
            continue
        record = instance.get_run_record_by_id(run_id)
        if record is None:
            continue
        run = record.dagster_run
        since = dt.datetime.fromtimestamp(record.start_time, dt.timezone.utc).astimezone() if record.start_time \
            else None
        out.append(Holder(run_id, run.job_name, run.status.value, run_worker(run), since))
    return sorted(out, key=lambda h: h.since or dt.datetime.max.replace(tzinfo=dt.timezone.utc))


def waiting_steps(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(pool, step) of each step of ``run_id`` queued for a pool slot it does not hold yet."""
    storage = instance.event_log_storage
    out = []
    for key, info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).items():
        claimed = {s.step_key for s in info.claimed_slots if s.run_id == run_id}
        out += [(key, p.step_key) for p in info.pending_steps if p.run_id == run_id and p.step_key not in claimed]
    return out
