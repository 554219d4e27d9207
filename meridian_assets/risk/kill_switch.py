"""The kill switch's action: `halt_lock` (an asset: the lock file), materialized by `risk_halt_job` (`risk/jobs.py`),
which the `kill_switch_sensor` launches when the breakers on the book's latest NAV (from `portfolio_history`'s materialization
metadata) call for KILL_SWITCH or CLOSE_ALL_TODAY.

The job never opens DuckDB (it is outside the DuckDB pool, so it runs even while a backfill holds the
database) and runs its one step in the run's own process (no second process to start): it writes the halt lock
file, then cancels every open order through the broker resource. Cancels are always allowed while halted. The
materialization records the event: reason, triggers and cancelled orders.
"""

import datetime as dt
import json

import dagster as dg

from meridian_assets.calendar import last_completed_session
from meridian_assets.risk.halt_lock import HaltLock, halt_session
from resources import MeridianSettings
from resources.execution import BrokerResource

GROUP = "risk"


class HaltConfig(dg.Config):
    """What the sensor saw: the breaker action, the session and the triggering values."""

    action: str = "KILL_SWITCH"  # KILL_SWITCH (persistent) | CLOSE_ALL_TODAY (day-scoped) | MANUAL
    as_of: str = ""  # the session whose close breached (the book's latest session)
    reason: str = ""
    triggers_json: str = "{}"


@dg.asset(group_name=GROUP, deps=["portfolio_history"], kinds={"file"})
def halt_lock(context: dg.AssetExecutionContext, config: HaltConfig, settings: MeridianSettings,
              broker: BrokerResource):
    """The halt lock file (present = no new orders; cancels still go through). KILL_SWITCH writes a persistent
    lock that only `meridian risk --clear-halt` / `meridian reset --halt` removes; CLOSE_ALL_TODAY writes one
    that halts the next session (New York time) and expires after it. Then every open order at the broker is
    cancelled."""
    cfg = settings.get()
    triggers = {k: float(v) for k, v in json.loads(config.triggers_json or "{}").items()}
    day = dt.date.fromisoformat(config.as_of) if config.as_of else last_completed_session()
    expires = halt_session(day) if config.action == "CLOSE_ALL_TODAY" else None
    reason = config.reason or f"{config.action} on {day}"
    lock = HaltLock(cfg.halt_lock_path())
    record = lock.write(reason, triggers, expires_on=expires)
    context.log.warning(f"HALT: {reason}; lock at {lock.path}")
    cancelled: list[str] = []
    cancel_error = ""
    try:
        cancelled = broker.client().cancel_all_open_orders()
    except Exception as err:  # the lock is written whatever the broker says; the failure is recorded
        cancel_error = f"{type(err).__name__}: {err}"
        context.log.error(f"halt: cancelling open orders failed: {cancel_error}")
    return dg.MaterializeResult(metadata={
        "action": dg.MetadataValue.text(config.action), "reason": dg.MetadataValue.text(reason),
        "as_of": dg.MetadataValue.text(str(day)), "lock": dg.MetadataValue.path(str(lock.path)),
        "created_at": dg.MetadataValue.text(record.created_at),
        "expires_on": dg.MetadataValue.text(record.expires_on or "never (clear with meridian risk --clear-halt)"),
        "triggers": dg.MetadataValue.json(triggers),
        "cancelled_orders": dg.MetadataValue.int(len(cancelled)),
        "cancelled_ids": dg.MetadataValue.text(", ".join(cancelled) or "none"),
        "cancel_error": dg.MetadataValue.text(cancel_error or "none"),
    })
