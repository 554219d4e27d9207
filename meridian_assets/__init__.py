"""Meridian: an S&P 500 long/short research-to-execution platform as a Dagster asset graph on DuckDB."""

import warnings

# Single-run backfill policies and partitioned asset checks are marked beta/preview by Dagster; Meridian
# relies on both deliberately, so their warnings would only be noise on every command.
try:
    # dagster_shared defines the classes dagster re-exports; importing all of dagster here would cost every
    # command ~2 s before it parses its arguments.
    from dagster_shared.utils.warnings import BetaWarning, PreviewWarning

    warnings.filterwarnings("ignore", category=BetaWarning)
    warnings.filterwarnings("ignore", category=PreviewWarning)
except ImportError:  # pragma: no cover - dagster always ships them in the supported versions
    pass
