"""Data-quality checks on the Layer-1 tables.

Blocking checks (what cannot be true) stop every downstream asset of the run and name table, ticker, date
and field; warning checks (what is suspicious but can be real: gaps, zero volume, unexplained >50% moves)
pass with the findings listed in their metadata. The rules themselves are plain functions in
`meridian_assets.ingest.quality`; this module only reads the rows just written and reports.
"""


import datetime as dt

import dagster as dg
import polars as pl

from meridian_assets.ingest import quality
from meridian_assets.ingest import schemas as S
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.ingest.partitions import tagged_window
from meridian_assets.storage import read, read_window, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

# Check names (pinned by the definitions snapshot test).
VALID = "valid"
PRICES_SUSPICIOUS = "suspicious_moves_gaps_zero_volume"

CHECKED_TABLES = (
    S.DAILY_PRICES, S.CORPORATE_ACTIONS, S.FUNDAMENTALS_RAW, S.FUNDAMENTAL_RATIOS, S.SEC_FILINGS,
    S.INSIDER_TRANSACTIONS, S.INSIDER_CLUSTER_FLAGS, S.INSTITUTIONAL_HOLDINGS, S.INSTITUTIONAL_SUMMARY,
    S.SHORT_INTEREST, S.ANALYST_ESTIMATES, S.EARNINGS_CALENDAR, S.EARNINGS_TRANSCRIPTS, S.MACRO_SERIES,
)


def written_window(context: dg.AssetCheckExecutionContext, asset: str) -> tuple[dt.date, dt.date] | None:
    """The window the asset's latest materialization wrote (from Dagster's event log), else the run's."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    window = event.asset_materialization.metadata.get("window") if event and event.asset_materialization else None
    if window is not None:
        first, last = str(window.value).split("..")
        return dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return tagged_window(context.run.tags)


def check_result(violations: quality.Violations, n_rows: int, *, warn: bool = False) -> dg.AssetCheckResult:
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
        },
    )


def _blocking_check(schema: S.TableSchema) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=schema.name,
        name=VALID,
        blocking=True,
        pool=DUCKDB_POOL,
        description=f"Blocking: keys unique, required fields present and values in range in the rows of "
        f"{schema.name} the latest materialization wrote.",
    )
    def _check(context: dg.AssetCheckExecutionContext, db: DuckDBStore) -> dg.AssetCheckResult:
        window = written_window(context, schema.name)
        if window is None:
            return dg.AssetCheckResult(passed=True, description=f"{schema.name} has not been materialized yet")
        start, end = window
        with db.connect() as conn:
            df = read_window(conn, schema, start, end)
        violations = quality.violations_for(schema.name, df, blocking=True)
        if violations:
            context.log.error(quality.format_violations(violations, limit=20))
        return check_result(violations, df.height)

    return _check


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


@dg.asset_check(asset="universe", name=VALID, blocking=True, pool=DUCKDB_POOL,
                description="Blocking: one row per (ticker, start_date), sectors present, benchmarks present.")
def universe_valid(context: dg.AssetCheckExecutionContext, db: DuckDBStore) -> dg.AssetCheckResult:
    with db.connect() as conn:
        df = read(conn, "SELECT * FROM universe") if table_exists(conn, "universe") else S.UNIVERSE.empty()
    violations = quality.violations_for("universe", S.UNIVERSE.conform(df) if df.height else df, blocking=True)
    return check_result(violations, df.height)


INGEST_CHECKS = [_blocking_check(s) for s in CHECKED_TABLES] + [daily_prices_suspicious, universe_valid]
