"""The kill-switch sensor: Dagster's event log → `risk_halt_job`. Never opens DuckDB.

It reads the latest `portfolio_history` materialization — written by the book step as soon as the book is
marked to market — and evaluates the book-level circuit breakers (`risk.breakers.evaluate_inputs`) on the
inputs in its metadata (NAV, peak, daily and 5-day return, drawdown, session). So a breach reaches the halt
without waiting for `risk_state`, which shares the DuckDB pool with every writer and could sit behind a
backfill for minutes. When the breakers call for KILL_SWITCH or CLOSE_ALL_TODAY it requests one `risk_halt_job`
run keyed by session and action, so re-evaluating the same book (or a restarted daemon) never halts twice.
The cursor is the storage id of the last book it looked at. Thresholds come from the `risk` config block
(the `settings` resource: a file, never the database).
"""

import json

import dagster as dg

from meridian_assets.risk.breakers import evaluate_inputs
from meridian_assets.risk.jobs import risk_halt_job
from resources import MeridianSettings
from sensors.events import value

BOOK = dg.AssetKey("portfolio_history")
HALT_ACTIONS = ("KILL_SWITCH", "CLOSE_ALL_TODAY")  # in order of precedence
BREAKER_INPUTS = ("nav", "peak_nav", "daily_return", "weekly_return", "drawdown")
INTERVAL_SECONDS = 5  # the daemon's own loop period: a breach is seen within ~5 s (one event-log query a tick)


@dg.sensor(job=risk_halt_job, minimum_interval_seconds=INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launch risk_halt_job when the breakers on the latest portfolio_history call for KILL_SWITCH "
                       "or CLOSE_ALL_TODAY.")
def kill_switch_sensor(context: dg.SensorEvaluationContext, settings: MeridianSettings):
    # only the latest book counts (an older breach already superseded is not acted on)
    records = context.instance.fetch_materializations(BOOK, limit=1).records
    if not records:
        return dg.SkipReason("no portfolio_history materialization yet")
    record = records[0]
    if context.cursor and record.storage_id <= int(context.cursor):
        return dg.SkipReason(f"portfolio_history {record.storage_id} already evaluated")
    context.update_cursor(str(record.storage_id))
    md = record.asset_materialization.metadata
    as_of = str(value(md, "as_of", ""))
    inputs = {k: value(md, k) for k in BREAKER_INPUTS}
    if any(v is None for v in inputs.values()):
        return dg.SkipReason(f"portfolio_history {as_of or record.storage_id}: no breaker inputs (empty book)")
    report = evaluate_inputs(inputs, settings.get().risk)
    actions = [a.value for a in report.actions]
    action = next((a for a in HALT_ACTIONS if a in actions), None)
    if action is None:
        return dg.SkipReason(f"portfolio_history {as_of}: {report.state.value}, no halt action")
    triggers = {k: float(inputs[k]) for k in ("drawdown", "daily_return", "weekly_return", "nav")}
    reason = f"{action} on {as_of}: " + ", ".join(f"{k} {v:.4g}" for k, v in triggers.items())
    config = {"action": action, "as_of": as_of, "reason": reason, "triggers_json": json.dumps(triggers)}
    return dg.RunRequest(run_key=f"halt:{as_of}:{action}",
                         run_config={"ops": {"halt_lock": {"config": config}}},
                         tags={"meridian/halt": action, "dagster/priority": "100"})  # first out of the run queue
