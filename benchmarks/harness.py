"""Measuring a benchmark: wall time and peak memory of a child process, and the JSON result file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Measurement:
    wall_seconds: float
    peak_rss_mb: float
    returncode: int


def measure(code: str, env: dict[str, str] | None = None) -> Measurement:
    """Run ``code`` in a fresh Python process; its own wall time and peak resident memory (Linux)."""
    wrapper = (
        "import resource, time, sys\n"
        "t0 = time.perf_counter()\n"
        f"exec({code!r})\n"
        "wall = time.perf_counter() - t0\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(f'__BENCH__ {wall} {peak}')\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper], env={**os.environ, **(env or {})},
                          capture_output=True, text=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("__BENCH__")), None)
    if proc.returncode != 0 or line is None:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        return Measurement(float("nan"), float("nan"), proc.returncode or 1)
    _, wall, peak = line.split()
    return Measurement(float(wall), float(peak), 0)


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
    machine: dict[str, object] = field(default_factory=lambda: {
        "python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()})
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        return path
