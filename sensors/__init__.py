"""Every sensor of the Meridian code location (sensors read Dagster's event log and files, never DuckDB)."""

from sensors.risk import kill_switch_sensor

SENSORS: list = [kill_switch_sensor]

__all__ = ["SENSORS", "kill_switch_sensor"]
