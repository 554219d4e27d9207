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
