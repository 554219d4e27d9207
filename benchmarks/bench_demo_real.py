"""`make demo-real` end to end: `meridian demo --real` on a scratch home, from a fresh database and instance to
the reports (load, scores, risk model, sleeve backtests since 2015, the book's year, risk state, reports).

Figures: wall and CPU seconds of the whole command (with every child process: the sweep's workers), the peak
resident memory of the command's whole process tree (sampled every 0.5 s, summed over its processes), the load
average before and after, and the wall time of each stage read from the command's own output. Targets: wall
<= 15 min and peak memory <= 4 GB on 2 cores; the ratio is the wall time against that 15-minute budget.
Skipped (no figures, nothing failed) when ../shared/realdata is absent.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.harness import ROOT, Result, children_cpu_seconds, scratch_env, session_rss

BUDGET_SECONDS, MEMORY_BYTES = 900.0, 4 * 1024**3
REALDATA = ROOT.parent / "shared" / "realdata"
# each stage from the line that starts it to the next one's (the risk model prints only when done: it is in the
# scoring stage's time)
STAGES = (("load", r"^Loading "), ("score_and_risk_model", r"^Scoring "), ("book", r"^Book: "),
          ("reports", r"^Reporting "))


def run() -> Result:
    if not (REALDATA / "prices").is_dir():
        return Result(name="demo_real", description=__doc__.strip().splitlines()[0], measurements={
            "skipped": {"reason": f"real data not found at {REALDATA}"}}, targets={}, passed={})
    with tempfile.TemporaryDirectory(prefix="meridian-demo-real-") as tmp:
        env = scratch_env(Path(tmp))
        load0 = os.getloadavg()[0]
        cpu0, t0 = children_cpu_seconds(), time.perf_counter()
        proc = subprocess.Popen([str(Path(sys.executable).parent / "meridian"), "demo", "--real"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        peak, lines, marks = [0], [], {}

        def sample():
            while proc.poll() is None:
                peak[0] = max(peak[0], session_rss(proc.pid))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for line in proc.stdout:
            lines.append(line)
            for stage, pattern in STAGES:
                if stage not in marks and re.search(pattern, line):
                    marks[stage] = time.perf_counter() - t0
        proc.wait()
        sampler.join()
        wall, cpu = time.perf_counter() - t0, children_cpu_seconds() - cpu0
    if proc.returncode:
        sys.stderr.write("".join(lines[-40:]))
    order = [s for s, _ in STAGES if s in marks]
    stages = {s: round((marks[order[i + 1]] if i + 1 < len(order) else wall) - marks[s], 1)
              for i, s in enumerate(order)}
    m = {"demo_real": {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                       "peak_rss_gb": round(peak[0] / 1024**3, 2), "returncode": proc.returncode,
                       "stage_wall_seconds": stages, "load_average_before": round(load0, 2),
                       "load_average_after": round(os.getloadavg()[0], 2)}}
    return Result(
        name="demo_real", description=__doc__.strip().splitlines()[0], measurements=m,
        targets={"wall_seconds": BUDGET_SECONDS, "peak_rss_gb": MEMORY_BYTES / 1024**3},
        passed={"completed": proc.returncode == 0, "wall_seconds": wall <= BUDGET_SECONDS,
                "peak_rss_gb": peak[0] <= MEMORY_BYTES},
        ratios={"wall_vs_budget": round(wall / BUDGET_SECONDS, 3)}, baseline="the 15-minute budget of make demo-real",
        wall_s=round(wall, 1), cpu_s=round(cpu, 1))
