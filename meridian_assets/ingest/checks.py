"""Data-quality checks on the Layer-1 tables: audit the staged rows, then publish.

Each checked table's blocking `valid` check runs inside the table's own asset, on the rows *staged* for
the load window (plus the published rows the swap would keep that share a key with them), before anything
is written. Only when it passes are the rows swapped in (`storage.publish`, one transaction); when it fails
nothing is written, the failed evaluation (table, ticker, date, field=value) is recorded in Dagster's event
log and the step fails, so no materialization claims rows that were not written and nothing downstream runs.
Warning checks (what is suspicious but can be real: gaps, zero volume, unexplained >50% moves) run after the
publish on the rows written and pass with the findings listed in their metadata. The rules themselves are
plain functions in `meridian_assets.ingest.quality`.
"""


import datetime as dt
from collections.abc import Callable

import dagster as dg
import polars as pl

from meridian_assets.ingest import quality
from meridian_assets.ingest import schemas as S
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.ingest.partitions import tagged_window
from meridian_assets.storage import read_window, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

# Check names (pinned by the definitions snapshot test).
VALID = "valid"
PRICES_SUSPICIOUS = "suspicious_moves_gaps_zero_volume"

Rules = Callable[[pl.DataFrame], quality.Violations]


def valid_spec(table: str, what: str = "keys unique, required fields present and values in range") -> dg.AssetCheckSpec:
    """The blocking `valid` check of a table, evaluated by the table's own asset before it publishes."""
    return dg.AssetCheckSpec(
        VALID, asset=table, blocking=True,
        description=f"Blocking: {what} in the rows staged for {table}; they are published only if this passes, "
        "otherwise the previous rows stay as they were.",
    )


def table_rules(table: str) -> Rules:
    """The blocking rules of a Layer-1 table (`quality.violations_for`)."""
    return lambda df: quality.violations_for(table, df, blocking=True)


def _keys_already_published(table: str, key: tuple[str, ...], staged: pl.DataFrame, kept: pl.DataFrame,
                            column: str | None) -> quality.Violations:
    """A staged row whose key a published row outside the window already has: publishing would duplicate it."""
    if not key or kept.height == 0:
        return quality.Violations()
    other = f"__published_{column}" if column else None
    right = kept.select(*key, *([pl.col(column).alias(other)] if column else [])).unique(list(key))
    clash = staged.join(right, on=list(key), how="inner").with_columns(__clash=pl.lit(True))
    where = (lambda row: f" with {column}={quality.show_value(row[other])}") if column else (lambda row: "")
    return quality.evaluate(table, clash, [quality.Rule(
        "duplicate_key", pl.col("__clash"),
        lambda row: f"duplicate key ({', '.join(key)}): already published{where(row)} outside the window")])


def audit(schema: S.TableSchema, staged: pl.DataFrame, kept: pl.DataFrame | None = None,
          rules: Rules | None = None) -> quality.Violations:
    """Blocking violations of the rows staged for ``schema``: the table's rules on the staged rows, plus keys
    that ``kept`` (published rows the swap keeps, see `storage.kept_rows_sharing_keys`) already holds."""
    violations = (rules or table_rules(schema.name))(staged)
    if kept is not None:
        violations = violations.merged(
            _keys_already_published(schema.name, schema.key, staged, kept, schema.partition_column))
    return violations


def check_result(violations: quality.Violations, n_rows: int, *, warn: bool = False,
                 **metadata) -> dg.AssetCheckResult:
    # A warning check fails with WARN severity when it finds something (yellow in the UI) but is not
    # blocking, so downstream assets still run.
    passed = not violations
    text = quality.format_violations(violations, limit=20)
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN if warn else dg.AssetCheckSeverity.ERROR,
        description=(text if violations else f"{n_rows} rows checked, no violations")[:4000],
        metadata={
            "rows_checked": dg.MetadataValue.int(n_rows),
            "violations": dg.MetadataValue.int(violations.total),
            "by_rule": dg.MetadataValue.json(dict(violations.counts)),
            "first_violations": dg.MetadataValue.md(
                preview_markdown(quality.violations_frame(violations[:20]), n=20, max_chars=80)
            ),
            **metadata,
        },
    )


def staged_result(context: dg.AssetExecutionContext, table: str, violations: quality.Violations,
                  n_rows: int) -> dg.AssetCheckResult:
    """The `valid` evaluation of a staged load; logs the violations when it fails."""
    if violations:
        context.log.error(f"{table}: not published; previous rows kept:\n"
                          + quality.format_violations(violations, limit=20))
    return check_result(violations, n_rows, published=dg.MetadataValue.bool(not violations))


def not_published(table: str, violations: quality.Violations) -> dg.Failure:
    """The step failure after a failed audit: nothing was written, the previous rows are unchanged."""
    return dg.Failure(
        description=f"{table}: not published, its blocking check {VALID} failed (the previous rows are "
        "unchanged):\n" + quality.format_violations(violations, limit=5),
        allow_retries=False,
    )


def written_window(context: dg.AssetCheckExecutionContext, asset: str) -> tuple[dt.date, dt.date] | None:
    """The window the asset's latest materialization wrote (from Dagster's event log), else the run's."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    window = event.asset_materialization.metadata.get("window") if event and event.asset_materialization else None
    if window is not None:
        first, last = str(window.value).split("..")
        return dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return tagged_window(context.run.tags)


@dg.asset_check(
    asset="daily_prices",
    name=PRICES_SUSPICIOUS,
    blocking=False,
    pool=DUCKDB_POOL,
    description="Warning: gaps, zero-volume stock days and >50% moves not explained by a split "
    "(can be real; listed for review, never blocking).",
)
def daily_prices_suspicious(
    context: dg.AssetCheckExecutionContext, db: DuckDBStore, settings: MeridianSettings
) -> dg.AssetCheckResult:
    window = written_window(context, "daily_prices")
    if window is None:
        return dg.AssetCheckResult(passed=True, description="daily_prices has not been materialized yet")
    start, end = window
    q = settings.get().quality
    with db.connect() as conn:
        # The previous bar of each ticker is needed to see the first day's move.
        prices = read_window(conn, S.DAILY_PRICES, start - dt.timedelta(days=10), end)
        actions = read_window(conn, S.CORPORATE_ACTIONS, start - dt.timedelta(days=10), end) if table_exists(
            conn, "corporate_actions") else S.CORPORATE_ACTIONS.empty()
    # Judge only the window's bars; the earlier ones are there to give the first day its previous close.
    violations = quality.price_violations(prices, blocking=False, corporate_actions=actions, quality=q)
    in_window = quality.Violations(v for v in violations if v.date is None or v.date >= start)
    return check_result(in_window, prices.filter(pl.col("date") >= start).height, warn=True)


# The blocking `valid` checks are specs of the table assets themselves (`valid_spec`).
INGEST_CHECKS = [daily_prices_suspicious]
