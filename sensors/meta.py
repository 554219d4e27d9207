"""`proposal_sensor`: a new batch of proposals → one `meta_apply_job` run applying its eligible ones.

It reads Dagster's event log only — the `meta_controller_config_proposals` materializations, whose metadata carry
``batch_id`` and ``proposals_json`` (per proposal: id, target type, confidence, data sufficiency and
``auto_eligible``, decided by the auto-apply policy when the proposal was made) — never DuckDB. For each new batch
with eligible proposals it requests one run with run key = the batch id (Dagster launches a run key once), config
``applied_by: AUTO``; the apply step checks the policy again against the config in force. Everything else stays
PENDING for a person (`meridian meta approve ID`). The cursor is the last materialization's storage id.
"""

import dagster as dg

from meridian_assets.meta.jobs import meta_apply_job
from sensors.events import new_materializations, value

PROPOSALS_ASSET = dg.AssetKey("meta_controller_config_proposals")
BATCH_TAG = "meridian/proposal_batch"
LIMIT = 100


def apply_run_config(proposal_ids: list[str]) -> dict:
    return {"ops": {"config_change_log": {"config": {"proposal_ids": proposal_ids, "action": "approve",
                                                     "decided_by": "proposal_sensor", "applied_by": "AUTO"}}}}


@dg.sensor(name="proposal_sensor", job=meta_apply_job, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Auto-applies the eligible proposals of each new batch (one meta_apply_job run per batch); "
                       "the others stay PENDING for a person.")
def proposal_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    seen, cursor = new_materializations(context, PROPOSALS_ASSET, LIMIT)
    requests, notes = [], []
    for _, md in seen:
        batch = str(value(md, "batch_id", "") or "")
        listed = value(md, "proposals_json", []) or []
        eligible = sorted(p["proposal_id"] for p in listed if p.get("auto_eligible"))
        if not batch or not eligible:
            notes.append(f"{batch or 'a batch'}: {len(listed)} proposals, none eligible for auto-apply")
            continue
        context.log.info(f"{batch}: auto-applying {', '.join(eligible)}")
        requests.append(dg.RunRequest(run_key=batch, run_config=apply_run_config(eligible), tags={BATCH_TAG: batch}))
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(notes) or "no new proposal batch", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
