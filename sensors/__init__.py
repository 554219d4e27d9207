"""Every sensor of the Meridian code location (sensors read Dagster's event log and files, never DuckDB)."""

SENSORS: list = []
