"""Every sensor of the Meridian code location (sensors read Dagster's event log and files, never DuckDB)."""

from sensors.execution import approved_rebalance_sensor
from sensors.meta import proposal_sensor
from sensors.risk import kill_switch_sensor
from sensors.runs import dead_run_sensor
from sensors.serving import serving_snapshot_sensor

SENSORS: list = [kill_switch_sensor, approved_rebalance_sensor, proposal_sensor, dead_run_sensor,
                 serving_snapshot_sensor]

__all__ = ["SENSORS", "approved_rebalance_sensor", "dead_run_sensor", "kill_switch_sensor", "proposal_sensor",
           "serving_snapshot_sensor"]
