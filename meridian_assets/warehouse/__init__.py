"""Where Meridian's tables live beyond the single DuckDB file (see docs/scaling.md and `ducklake`)."""
