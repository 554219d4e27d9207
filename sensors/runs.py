"""The dead-run sensor: frees the DuckDB pool slot of a run whose process died. Never opens DuckDB.

A run killed mid-write (`kill -9`, an out-of-memory kill, a closed laptop) stays STARTED in Dagster's run
storage and keeps its pool slot, so every later writer would queue behind it for ever. Each tick this sensor
runs `reap_dead_runs`: active runs whose worker (recorded as run tags: pid, host, process start time) ran on
this host and is gone are reported failed and their slots freed. It reads only Dagster's run storage and
/proc. Runs from another host are left to `meridian reset --stale-runs --run ID`.
"""

import dagster as dg

from meridian_assets.runs import reap_dead_runs

INTERVAL_SECONDS = 30  # a dead run's slot is free within about this (plus the daemon's loop)


@dg.sensor(minimum_interval_seconds=INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Mark runs whose process died failed and free their DuckDB pool slots.")
def dead_run_sensor(context: dg.SensorEvaluationContext):
    reaped = reap_dead_runs(context.instance)
    for r in reaped:
        context.log.warning(f"Released {r.describe()}")
    if not reaped:
        return dg.SkipReason("no run of this host has lost its process")
    return dg.SkipReason("released " + "; ".join(r.describe() for r in reaped))
