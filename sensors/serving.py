"""`serving_snapshot_sensor`: after a run that wrote DuckDB succeeds, publish the desk's read-only copy.

It reads only Dagster's run storage (never DuckDB): the latest successful run of any job other than the
snapshot job itself and `risk_halt_job` (which writes no table). When that run is newer than the one the cursor
names, it requests one `serving_snapshot_job` run (run key `serving:<run id>`), unless a snapshot run is
still waiting in the queue — that one copies the file after this run's writes anyway. CLI runs are seen too
(they are recorded on the same instance).
"""

import dagster as dg

from meridian_assets.serving.jobs import SERVING_SNAPSHOT_JOB

INTERVAL_SECONDS = 20
NOT_WRITING = {SERVING_SNAPSHOT_JOB, "risk_halt_job"}
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]


def latest_writing_success(instance: dg.DagsterInstance, lookback: int = 50) -> dg.RunRecord | None:
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]),
                                       limit=lookback)
    done = [r for r in records if r.dagster_run.job_name not in NOT_WRITING and not
            r.dagster_run.job_name.startswith("__")]
    return max(done, key=lambda r: r.end_time or 0.0, default=None)


@dg.sensor(name="serving_snapshot_sensor", job_name=SERVING_SNAPSHOT_JOB, minimum_interval_seconds=INTERVAL_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Publish the desk's read-only database copy after each successful run that wrote DuckDB.")
def serving_snapshot_sensor(context: dg.SensorEvaluationContext):
    latest = latest_writing_success(context.instance)
    if latest is None or latest.dagster_run.run_id == context.cursor:
        return dg.SkipReason("no successful writing run since the last snapshot")
    run_id = latest.dagster_run.run_id
    waiting = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=SERVING_SNAPSHOT_JOB, statuses=WAITING), limit=1)
    if waiting:
        return dg.SensorResult(skip_reason=f"a snapshot run is queued ({waiting[0].dagster_run.run_id})",
                               cursor=run_id)
    context.log.info(f"{latest.dagster_run.job_name} run {run_id} succeeded: publishing the snapshot")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"serving:{run_id}",
                                                       tags={"meridian/after_run": run_id})], cursor=run_id)
