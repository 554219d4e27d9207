"""`make bench`: run every benchmark and write benchmarks/results/<name>.json.

    python -m benchmarks.run            # all
    python -m benchmarks.run ingest     # the ones whose module name contains 'ingest'
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    failed = False
    for name in wanted:
        result = importlib.import_module(f"benchmarks.{name}").run()
        path = result.write()
        print(json.dumps({"name": result.name, "measurements": result.measurements, "ratios": result.ratios,
                          "targets": result.targets, "passed": result.passed}, indent=2))
        print(f"-> {path}")
        failed |= not all(result.passed.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
