"""`make bench`: run every benchmark and write benchmarks/results/<name>.json.

Each result carries the whole benchmark's wall and CPU seconds (``wall_s``, ``cpu_s``: this process and every
child process it waited for, measured around the benchmark's `run()` unless it reports its own) and the
baseline its ratios are against.

    python -m benchmarks.run            # all
    python -m benchmarks.run ingest     # the ones whose module name contains 'ingest'
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from benchmarks.harness import cpu_seconds


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    failed = False
    for name in wanted:
        module = importlib.import_module(f"benchmarks.{name}")
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        result = module.run()
        if result.wall_s is None:
            result.wall_s = round(time.perf_counter() - wall0, 3)
        if result.cpu_s is None:
            result.cpu_s = round(cpu_seconds() - cpu0, 3)
        path = result.write()
        print(json.dumps({"name": result.name, "wall_s": result.wall_s, "cpu_s": result.cpu_s,
                          "baseline": result.baseline, "measurements": result.measurements,
                          "ratios": result.ratios, "targets": result.targets, "passed": result.passed}, indent=2))
        if not result.baseline:
            print(f"note: {result.name} does not say what its ratios are measured against", file=sys.stderr)
        print(f"-> {path}")
        failed |= not all(result.passed.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
