"""The kill-switch sensor: Dagster's event log → `halt_job`. Never opens DuckDB.

It reads the latest `risk_state` materialization's metadata (`actions`, `as_of`, the loss figures). When the
actions include KILL_SWITCH or CLOSE_ALL_TODAY it requests one `halt_job` run, keyed by session and action, so
re-evaluating the same risk state (or a restarted daemon) never halts twice. The cursor is the storage id of
the last risk state it looked at.
"""

import json

import dagster as dg

from meridian_assets.risk.kill_switch import halt_job
from sensors.events import value

HALT_ACTIONS = ("KILL_SWITCH", "CLOSE_ALL_TODAY")  # in order of precedence


@dg.sensor(job=halt_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launch halt_job when the latest risk_state reports KILL_SWITCH or CLOSE_ALL_TODAY.")
def kill_switch_sensor(context: dg.SensorEvaluationContext):
    # only the latest risk state counts (an older breach already superseded is not acted on)
    records = context.instance.fetch_materializations(dg.AssetKey("risk_state"), limit=1).records
    if not records:
        return dg.SkipReason("no risk_state materialization yet")
    record = records[0]
    if context.cursor and record.storage_id <= int(context.cursor):
        return dg.SkipReason(f"risk_state {record.storage_id} already evaluated")
    context.update_cursor(str(record.storage_id))
    md = record.asset_materialization.metadata
    actions = [a for a in str(value(md, "actions", "")).split(",") if a]
    action = next((a for a in HALT_ACTIONS if a in actions), None)
    as_of = str(value(md, "as_of", ""))
    if action is None:
        return dg.SkipReason(f"risk_state {as_of}: {value(md, 'trading_state', '?')}, no halt action")
    triggers = {k: float(value(md, k)) for k in ("drawdown", "daily_return", "weekly_return", "nav")
                if value(md, k) is not None}
    reason = f"{action} on {as_of}: " + ", ".join(f"{k} {v:.4g}" for k, v in triggers.items())
    config = {"action": action, "as_of": as_of, "reason": reason, "triggers_json": json.dumps(triggers)}
    return dg.RunRequest(run_key=f"halt:{as_of}:{action}",
                         run_config={"ops": {"halt_lock": {"config": config}}},
                         tags={"meridian/halt": action})
