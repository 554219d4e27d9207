"""Measuring a benchmark: wall and CPU seconds and peak memory of child processes, and the JSON result file.

The machine is shared, so wall seconds vary with the load; CPU seconds (user + system, of the process and of
every child it waited for) are the stable figure, and every result carries both: ``wall_s`` / ``cpu_s`` for the
whole benchmark (filled in by `benchmarks.run`) beside the per-stage figures in ``measurements``, and
``baseline`` saying what the ratios are measured against.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_seconds() -> float:
    """User + system CPU of this process and of all its children that have been waited for."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def children_cpu_seconds() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


@dataclass
class Measurement:
    wall_seconds: float
    peak_rss_mb: float
    returncode: int
    cpu_seconds: float = float("nan")  # the child's and its own children's user + system CPU


def measure(code: str, env: dict[str, str] | None = None) -> Measurement:
    """Run ``code`` in a fresh Python process: its wall time (from the first line of ``code``, so without the
    interpreter's start-up), its CPU seconds (with everything it spawned and waited for, start-up included)
    and its peak resident memory (Linux)."""
    wrapper = (
        "import resource, time, sys\n"
        "t0 = time.perf_counter()\n"
        f"exec({code!r})\n"
        "wall = time.perf_counter() - t0\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(f'__BENCH__ {wall} {peak}')\n"
    )
    cpu0 = children_cpu_seconds()
    proc = subprocess.run([sys.executable, "-c", wrapper], env={**os.environ, **(env or {})},
                          capture_output=True, text=True)
    cpu = children_cpu_seconds() - cpu0
    line = next((l for l in proc.stdout.splitlines() if l.startswith("__BENCH__")), None)
    if proc.returncode != 0 or line is None:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        return Measurement(float("nan"), float("nan"), proc.returncode or 1, cpu)
    _, wall, peak = line.split()
    return Measurement(float(wall), float(peak), 0, round(cpu, 3))


def measure_stages(code: str, env: dict[str, str] | None = None) -> tuple[Measurement, dict]:
    """`measure` a child that also writes its own stage timings as JSON to the path in ``BENCH_OUT``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "stages.json")
        whole = measure(code, {**(env or {}), "BENCH_OUT": out})
        if whole.returncode != 0 or not os.path.exists(out):
            return whole, {}
        with open(out) as fh:
            return whole, json.load(fh)


@dataclass
class Result:
    name: str
    description: str
    measurements: dict[str, dict]
    targets: dict[str, float]
    passed: dict[str, bool]
    ratios: dict[str, float] = field(default_factory=dict)
    baseline: str = ""  # what the ratios compare against, measured in the same run
    wall_s: float | None = None  # the whole benchmark (`benchmarks.run` fills these in when left None)
    cpu_s: float | None = None
    machine: dict[str, object] = field(default_factory=lambda: {
        "python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()})
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        return path


# ------------------------------------------------------------------------------------ a real instance with its daemon
ROOT = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def session_processes(sid: int):
    """(pid, /proc/<pid>/stat fields after "(comm)") of every live process in session ``sid``."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # state ppid pgrp session ... utime(11) stime cutime cstime
            yield pid, fields


def session_cpu(sid: int) -> float:
    """CPU seconds (user + system, with reaped children) of every live process in session ``sid``."""
    return sum(sum(int(f) for f in fields[11:15]) / _TICK for _, fields in session_processes(sid))


def session_rss(sid: int) -> int:
    """Resident bytes of every live process in session ``sid``."""
    total = 0
    for pid, _ in session_processes(sid):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def wait_for(predicate, timeout: float, what: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"{what} not seen within {timeout:.0f} s")


def scratch_env(home: Path) -> dict[str, str]:
    """A fresh Meridian home and Dagster instance (the committed dagster.yaml) under ``home``, the committed
    meridian.yaml (500 names, three years)."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "MERIDIAN_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("MERIDIAN_CONFIG", None)
    return env


class Daemon:
    """`dagster-daemon run` on ``workspace`` as a subprocess in its own session (so the CPU of the daemon, its
    code server and the run workers it launches can be summed), with the instance it serves."""

    def __init__(self, env: dict[str, str], workspace: Path, log: Path):
        self.env, self.workspace, self.log_path = env, workspace, log

    def __enter__(self) -> "Daemon":
        import dagster as dg
        from dagster._core.instance.ref import InstanceRef

        self.log = open(self.log_path, "w")
        bindir = Path(sys.executable).parent
        self.proc = subprocess.Popen([str(bindir / "dagster-daemon"), "run", "-w", str(self.workspace)],
                                     cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(self.env["DAGSTER_HOME"]))
        wait_for(lambda: {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= set(self.instance.get_daemon_heartbeats()),
                 300, "the daemon's heartbeats")
        return self

    def cpu(self) -> float:
        return session_cpu(self.proc.pid)

    def __exit__(self, *exc) -> None:
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        self.instance.dispose()


def timed_command(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> dict:
    """Run a command to completion: its wall and CPU seconds (with its children), return code and start time."""
    cpu0, t0, started = children_cpu_seconds(), time.perf_counter(), time.time()
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    out = {"wall_seconds": round(time.perf_counter() - t0, 3),
           "cpu_seconds": round(children_cpu_seconds() - cpu0, 3), "returncode": proc.returncode,
           "started_at": started}
    if proc.returncode:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
    return out
