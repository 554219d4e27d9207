"""A three-year `ingest_job` backfill launched as the UI launches it, against `meridian data` for the same range.

UI: a scratch Meridian home and Dagster instance (the committed dagster.yaml: queued run coordinator, the
`duckdb` pool of one slot) with `dagster-daemon run` on the project's workspace.yaml as a subprocess. The
backfill is what the UI's "Launch backfill" on `ingest_job` submits: a `PartitionBackfill` of the job's
partition set over every partition of the history window, status REQUESTED, added to the instance; the
daemon's backfill loop turns it into runs (one run for the range: the assets' single-run backfill policy), the
run coordinator dequeues it and the run worker executes it with the code location's executor. Timed from
submitting the backfill to the end of its last run; CPU: the daemon's whole process tree (daemon, code server,
run worker) over that interval.

Baseline in the same run: `meridian data --start S --end E` (the same assets, the same sessions) on another
scratch home, timed as a command (wall; CPU with its children). Target: UI wall <= 2x the CLI's.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ROOT, Daemon, Result, scratch_env, timed_command, wait_for

BIN = Path(sys.executable).parent
TARGET_RATIO = 2.0


def _partition_set_origin(instance, job: str):
    """The remote origin of ``job``'s partition set, as the UI holds it (loads the workspace's code location)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(ROOT / "workspace.yaml")])) as wpc:
        location = wpc.create_request_context().get_code_location("meridian")
        repo = next(iter(location.get_repositories().values()))
        return next(p for p in repo.get_partition_sets() if p.job_name == job).get_remote_origin()


def _ui_backfill(daemon: Daemon, start: str, end: str) -> dict:
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    from meridian_assets.ingest.jobs import ingest_job

    instance = daemon.instance
    origin = _partition_set_origin(instance, ingest_job.name)
    keys = ingest_job.partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(start, end))
    backfill_id = make_new_backfill_id()
    cpu0, t0 = daemon.cpu(), time.time()
    instance.add_backfill(PartitionBackfill(
        backfill_id=backfill_id, partition_set_origin=origin, status=BulkActionStatus.REQUESTED,
        partition_names=keys, from_failure=False, reexecution_steps=None, tags={"meridian/source": "ui"},
        backfill_timestamp=get_current_timestamp()))

    def done():
        bf = instance.get_backfill(backfill_id)
        runs = instance.get_runs(dg.RunsFilter.for_backfill(backfill_id))
        finished = bf.status != BulkActionStatus.REQUESTED and runs and all(r.is_finished for r in runs)
        return runs if finished or bf.status == BulkActionStatus.FAILED else None

    runs = wait_for(done, 3600, "the end of the backfill", poll=1.0)
    cpu = daemon.cpu() - cpu0
    stats = [instance.get_run_stats(r.run_id) for r in runs]
    first_start = min(s.start_time for s in stats if s.start_time)
    return {"wall_seconds": round(max(s.end_time for s in stats) - t0, 3), "cpu_seconds": round(cpu, 3),
            "submitted_to_first_run_start_seconds": round(first_start - t0, 3),
            "run_wall_seconds": round(sum(s.end_time - s.start_time for s in stats), 3),
            "runs": len(runs), "partitions": len(keys),
            "status": instance.get_backfill(backfill_id).status.value,
            "run_status": sorted({r.status.value for r in runs})}


def run() -> Result:
    import os

    from meridian_assets.config import load_config
    from meridian_assets.ingest.partitions import history_window

    start, end = (d.isoformat() for d in history_window(load_config(str(ROOT / "meridian.yaml"))))
    with tempfile.TemporaryDirectory(prefix="bench_backfill_ui_") as tmp:
        tmp = Path(tmp)
        cli = timed_command([str(BIN / "meridian"), "data", "--start", start, "--end", end],
                            scratch_env(tmp / "cli"))
        env = scratch_env(tmp / "ui")
        os.environ.update(MERIDIAN_HOME=env["MERIDIAN_HOME"], DAGSTER_HOME=env["DAGSTER_HOME"])
        with Daemon(env, ROOT / "workspace.yaml", tmp / "daemon.log") as daemon:
            ui = _ui_backfill(daemon, start, end)
    cli.pop("started_at")
    ratio = ui["wall_seconds"] / cli["wall_seconds"]
    return Result(
        name="backfill_ui",
        description=f"ingest_job backfill {start}..{end} (~500 names, every Layer-1 table) submitted as the UI "
                    "does and run by dagster-daemon on a scratch instance (in-process executor, duckdb pool)",
        baseline="`meridian data` for the same range and assets on another scratch home, in the same run",
        measurements={"ui_backfill": ui, "cli_meridian_data": cli},
        targets={"ui_over_cli_wall": TARGET_RATIO},
        passed={"ui_over_cli_wall": ratio <= TARGET_RATIO and ui["run_status"] == ["SUCCESS"]
                and cli["returncode"] == 0},
        ratios={"ui_over_cli_wall": round(ratio, 2),
                "ui_over_cli_cpu": round(ui["cpu_seconds"] / cli["cpu_seconds"], 2)},
        wall_s=ui["wall_seconds"], cpu_s=ui["cpu_seconds"],
    )
