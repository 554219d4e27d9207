"""The executor of runs launched from the UI, schedules, sensors and backfills, and the DuckDB pool under it.

Every job of the code location (and the implicit asset job the UI's materializations and backfills use) runs
with `RUN_EXECUTOR`. Two runs on one instance, each in its own process as the run launcher starts them, must
never hold the `duckdb` pool at the same time under that executor; the same two runs without the pool do
overlap, so the check can tell the difference.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from meridian_assets.config import PROJECT_ROOT

HOLD_SECONDS = 2.0

# One run worker: imports the executor the code location uses, waits until the other worker is ready too, then
# runs a one-step job whose step holds the pool for HOLD_SECONDS and records when it held it.
WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path

    import dagster as dg

    from meridian_assets.definitions import RUN_EXECUTOR
    from resources.duckdb import DUCKDB_POOL

    OUT = Path(os.environ["HOLD_OUT"])
    POOL = DUCKDB_POOL if os.environ["HOLD_POOL"] == "1" else None


    @dg.op(pool=POOL)
    def write_step(context):
        start = time.time()
        time.sleep(float(os.environ["HOLD_SECONDS"]))
        (OUT / f"{context.run_id}.json").write_text(json.dumps([start, time.time()]))


    @dg.job(executor_def=RUN_EXECUTOR)
    def hold_job():
        write_step()


    if __name__ == "__main__":
        (OUT / f"ready-{sys.argv[1]}").touch()
        deadline = time.time() + 120
        while len(list(OUT.glob("ready-*"))) < 2 and time.time() < deadline:
            time.sleep(0.05)
        with dg.DagsterInstance.get() as instance:
            result = dg.execute_job(dg.reconstructable(hold_job), instance=instance)
        sys.exit(0 if result.success else 1)
""")


def _two_runs(tmp_path: Path, pool: bool) -> list[tuple[float, float]]:
    home, out = tmp_path / "dagster", tmp_path / "out"
    home.mkdir()
    out.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")  # the committed pool settings
    with dg.DagsterInstance.from_config(str(home)) as instance:  # its storage exists before two workers open it
        instance.get_runs(limit=1)
    script = tmp_path / "hold_worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "DAGSTER_HOME": str(home), "HOLD_OUT": str(out), "HOLD_POOL": "1" if pool else "0",
           "HOLD_SECONDS": str(HOLD_SECONDS), "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), str(i)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    for p in procs:
        output, _ = p.communicate(timeout=300)
        assert p.returncode == 0, output[-3000:]
    held = sorted(tuple(json.loads(f.read_text())) for f in out.glob("*.json"))
    assert len(held) == 2
    return held


def test_every_job_runs_with_the_chosen_executor():
    from meridian_assets.definitions import RUN_EXECUTOR, defs
    from meridian_assets.meta.jobs import RESEARCH_EXECUTOR

    jobs = defs.resolve_all_job_defs()
    assert {j.name for j in jobs} >= {"ingest_job", "main_job", "risk_halt_job", "__ASSET_JOB"}
    # except the fanned-out research job, whose sleeve steps run side by side (meta/jobs.py RESEARCH_EXECUTOR)
    assert defs.resolve_job_def("meta_research_sleeves_job").executor_def is RESEARCH_EXECUTOR
    assert {j.name: j.executor_def.name for j in jobs if j.name != "meta_research_sleeves_job"} == {
        j.name: RUN_EXECUTOR.name for j in jobs if j.name != "meta_research_sleeves_job"}


@pytest.mark.parametrize("pool", [True, False], ids=["duckdb-pool", "no-pool"])
def test_two_runs_never_hold_the_duckdb_pool_at_once(tmp_path, pool):
    (s1, e1), (s2, e2) = _two_runs(tmp_path, pool)
    if pool:
        assert s2 >= e1, f"the second run wrote at {s2:.2f} while the first held the pool until {e1:.2f}"
    else:  # the control: without the pool both steps run side by side
        assert s2 < e1
