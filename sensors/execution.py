"""`approved_rebalance_sensor`: an approval launches the execution of that rebalance, once.

It reads Dagster's event log — the `position_approvals` materializations that `portfolio_approve_job`
(`meridian approve <rebalance-id>`) records with metadata ``rebalance_id``, ``status`` and ``approved_by`` —
and never opens DuckDB. Each APPROVED rebalance gets one `RunRequest` of `execution_job` with run key = the
rebalance id (Dagster launches a run key once per sensor) and the id in the run config. The cursor is the
last event's storage id, so an approval is looked at once. A run it launches can never trade live: the
second gate is the operator's typed confirmation at `meridian execute`, bound to that command's own run id
(`execution.live_gate`), so on a live account this run reads, reconciles and refuses to submit.
"""

import dagster as dg

from meridian_assets.execution.jobs import EXECUTION_JOB
from sensors.events import new_materializations, value

APPROVALS_ASSET = dg.AssetKey("position_approvals")
REBALANCE_TAG = "meridian/rebalance_id"
BATCH = 200


def execution_run_config(rebalance_id: str) -> dict:
    cfg = {"config": {"rebalance_id": rebalance_id}}
    return {"ops": {"execution_plan": cfg, "execute_rebalance": cfg}}


@dg.sensor(name="approved_rebalance_sensor", job_name=EXECUTION_JOB, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches execution_job once per rebalance approved (position_approvals materialized "
                       "with status APPROVED).")
def approved_rebalance_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    seen, cursor = new_materializations(context, APPROVALS_ASSET, BATCH)
    requests: dict[str, dg.RunRequest] = {}
    for _, meta in seen:
        rid, status = str(value(meta, "rebalance_id", "")), str(value(meta, "status", "")).upper()
        if status != "APPROVED" or not rid or rid in requests:
            continue
        by = str(value(meta, "approved_by", "") or "unknown")
        context.log.info(f"rebalance {rid} approved by {by}: requesting execution")
        requests[rid] = dg.RunRequest(run_key=rid, run_config=execution_run_config(rid),
                                      tags={REBALANCE_TAG: rid, "meridian/approved_by": by})
    return dg.SensorResult(run_requests=list(requests.values()), cursor=cursor)
