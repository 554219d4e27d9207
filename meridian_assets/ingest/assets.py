"""Layer-1 assets: every ingestion table of the specification, loaded into DuckDB.

Thin wiring only: providers fetch (`providers/`), plain functions derive (`ratios`, `insiders`,
`institutional`), `storage` stages the load window, `checks.audit` runs the table's blocking rules on the
staged rows and only then `storage.publish` swaps them in (delete-then-insert, one transaction); a failed
audit writes nothing and fails the step with the check's message. Every asset that opens DuckDB is in the
`duckdb` pool. `daily_prices` is partitioned by trading day with a single-run backfill policy; the
other tables are windowed (see `partitions.py`): they load the same range in the same run.
"""

import datetime as dt
import time
from collections.abc import Callable
from typing import Optional

import dagster as dg
import polars as pl
from pydantic import Field

from meridian_assets import calendar
from meridian_assets.config import MeridianConfig
from meridian_assets.errors import ProviderError, ProviderUnsupported
from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest import schemas as S
from meridian_assets.ingest.checks import audit, not_published, staged_result, valid_spec
from meridian_assets.ingest.insiders import insider_cluster_flags as compute_cluster_flags
from meridian_assets.ingest.institutional import institutional_summary as compute_institutional_summary
from meridian_assets.ingest.loading import active_tickers, errors_payload, preview_markdown
from meridian_assets.ingest.partitions import load_window, trading_days
from meridian_assets.ingest.providers.base import FetchResult, Provider
from meridian_assets.ingest.ratios import compute_ratios
from meridian_assets.storage import (
    kept_rows_sharing_keys, publish, read, replace_all, replace_where, stage_window, table_exists,
)
from resources import DUCKDB_POOL, DuckDBStore, MarketDataResource, MeridianSettings

GROUP = "ingest"
SINGLE_RUN = dg.BackfillPolicy.single_run()
UNIVERSE_REFRESH_DAYS = 7


class IngestConfig(dg.Config):
    """Run options of the ingestion assets (the `meridian data` flags)."""

    limit: Optional[int] = Field(default=None, gt=0)  # cap the per-ticker loops to the first N stocks (quick test runs)
    forms: Optional[list[str]] = None  # SEC forms to pull (default: sec.forms in meridian.yaml)
    force: bool = False  # refresh the universe even if it was refreshed in the last 7 days
    start: Optional[str] = None  # first date to load (YYYY-MM-DD); default: the run's partitions, else incremental
    end: Optional[str] = None  # last date to load


def _metadata(df: pl.DataFrame, start: dt.date, end: dt.date, provider: str, fetch: FetchResult | None,
              seconds: float, **extra) -> dict:
    errors = fetch.errors if fetch else []
    md = {
        "rows": dg.MetadataValue.int(df.height),
        "window": dg.MetadataValue.text(f"{start}..{end}"),
        "provider": dg.MetadataValue.text(provider),
        "errors": dg.MetadataValue.int(len(errors)),
        "seconds": dg.MetadataValue.float(round(seconds, 3)),
        "preview": dg.MetadataValue.md(preview_markdown(df)),
    }
    if "ticker" in df.columns:
        md["tickers"] = dg.MetadataValue.int(df["ticker"].n_unique())
    if errors:
        md["error_list"] = dg.MetadataValue.json(errors_payload(errors))
    md.update(extra)
    return md


def _fetched_asset(
    schema: S.TableSchema,
    kind: str,
    fetch: Callable[[Provider, list[str], dt.date, dt.date, MeridianConfig, IngestConfig], FetchResult],
    *,
    benchmarks: bool = False,
    partitioned: bool = False,
    doc: str = "",
) -> dg.AssetsDefinition:
    """An asset that asks the configured provider for the rows known in its load window."""

    @dg.asset(
        name=schema.name,
        group_name=GROUP,
        deps=["universe"],
        partitions_def=trading_days if partitioned else None,
        backfill_policy=SINGLE_RUN if partitioned else None,
        pool=DUCKDB_POOL,
        kinds={"duckdb", "polars"},
        description=f"{schema.description} {doc}".strip(),
        metadata={"known_date_column": schema.partition_column, "key": ", ".join(schema.key)},
        check_specs=[valid_spec(schema.name)],
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: IngestConfig,
        db: DuckDBStore,
        market: MarketDataResource,
        settings: MeridianSettings,
    ):
        t0 = time.perf_counter()
        cfg = settings.get()
        provider = market.provider(kind)
        with db.connect() as conn:
            start, end = load_window(context, config, conn, schema, cfg)
            tickers = active_tickers(conn, start, end, benchmarks=benchmarks, limit=config.limit)
        context.log.info(f"{schema.name}: {len(tickers)} tickers, {start}..{end} from '{provider.name}'")
        try:
            result = fetch(provider, tickers, start, end, cfg, config)
        except ProviderUnsupported as err:
            # This provider has no such data (e.g. alpaca has no 13-F): leave the table as it is, say so.
            context.log.warning(f"{schema.name}: skipped: {err}")
            yield dg.AssetCheckResult(passed=True, description=f"nothing loaded ({err}); published rows unchanged")
            yield dg.MaterializeResult(metadata={
                **_metadata(schema.empty(), start, end, provider.name, None, time.perf_counter() - t0),
                "skipped": dg.MetadataValue.text(str(err)),
            })
            return
        except ProviderError as err:
            # A missing key or an unreachable service: a plain message, no stack trace, nothing written.
            raise dg.Failure(description=f"{schema.name}: {err}", allow_retries=False) from None
        for err in result.errors[:20]:
            context.log.warning(f"{schema.name}: {err.ticker or '-'}: {err.message}")
        with db.connect() as conn:
            staged = stage_window(schema, result.frame, start, end, tickers=tickers if config.limit else None)
            violations = audit(schema, staged.frame, kept_rows_sharing_keys(conn, staged))
            n = 0 if violations else publish(conn, staged)
        yield staged_result(context, schema.name, violations, staged.frame.height)
        if violations:
            raise not_published(schema.name, violations)
        context.log.info(f"{schema.name}: wrote {n} rows ({len(result.errors)} per-ticker errors)")
        yield dg.MaterializeResult(
            metadata=_metadata(staged.frame, start, end, provider.name, result, time.perf_counter() - t0)
        )

    return _asset


# ------------------------------------------------------------------------------------------ universe
UNIVERSE_RULES = "one row per (ticker, start_date), sectors present, benchmarks present"


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, kinds={"duckdb", "polars"},
          check_specs=[valid_spec("universe", UNIVERSE_RULES)])
def universe(context: dg.AssetExecutionContext, config: IngestConfig, db: DuckDBStore, market: MarketDataResource):
    """S&P 500 membership intervals (point in time: who was in the index on each date) plus the benchmark
    tickers (SPY, the 11 sector ETFs, VIX) with `is_benchmark`. Refreshed at most weekly unless forced."""
    t0 = time.perf_counter()
    provider = market.provider("universe")
    with db.connect() as conn:
        if not config.force and table_exists(conn, "universe") and table_exists(conn, "run_log"):
            last = conn.execute("SELECT max(finished_at) FROM run_log").fetchall()[0][0]
            fresh = last is not None and (dt.datetime.now() - last).days < UNIVERSE_REFRESH_DAYS
            current = read(conn, "SELECT * FROM universe")
            if fresh and current.height:
                context.log.info("universe: refreshed less than 7 days ago, kept (use --force to refresh)")
                # The kept rows are what the check judges: evaluated again, as when they were published.
                current = S.UNIVERSE.conform(current)
                violations = audit(S.UNIVERSE, current)
                yield staged_result(context, "universe", violations, current.height)
                if violations:
                    raise dg.Failure("universe: the published rows fail their blocking check; refresh them with "
                                     "--force:\n" + "\n".join(v.message for v in violations[:5]), allow_retries=False)
                yield dg.MaterializeResult(metadata={
                    **_metadata(current, current["start_date"].min(), dt.date.today(), provider.name, None,
                                time.perf_counter() - t0),
                    "refreshed": dg.MetadataValue.bool(False),
                })
                return
    try:
        frame = S.UNIVERSE.conform(provider.universe(dt.date.today()))
    except ProviderError as err:
        raise dg.Failure(description=f"universe: {err}", allow_retries=False) from None
    violations = audit(S.UNIVERSE, frame)
    yield staged_result(context, "universe", violations, frame.height)
    if violations:
        raise not_published("universe", violations)
    with db.connect() as conn:
        replace_all(conn, S.UNIVERSE, frame)
    members = frame.filter(~pl.col("is_benchmark") & pl.col("end_date").is_null())
    by_sector = members.group_by("sector").len().sort("len", descending=True)
    yield dg.MaterializeResult(
        metadata={
            **_metadata(frame, frame["start_date"].min(), dt.date.today(), provider.name, None,
                        time.perf_counter() - t0),
            "refreshed": dg.MetadataValue.bool(True),
            "current_members": dg.MetadataValue.int(members.height),
            "benchmarks": dg.MetadataValue.int(int(frame["is_benchmark"].sum())),
            "sectors": dg.MetadataValue.md(preview_markdown(by_sector, n=11)),
        }
    )


# ------------------------------------------------------------------------------------------ fetched tables
daily_prices = _fetched_asset(
    S.DAILY_PRICES, "prices",
    lambda p, t, s, e, cfg, rc: p.daily_prices(t, s, e),
    benchmarks=True,
    partitioned=True,
    doc="Daily partitions; a backfill of any range is one run.",
)
corporate_actions = _fetched_asset(
    S.CORPORATE_ACTIONS, "prices", lambda p, t, s, e, cfg, rc: p.corporate_actions(t, s, e)
)
fundamentals_raw = _fetched_asset(
    S.FUNDAMENTALS_RAW, "fundamentals", lambda p, t, s, e, cfg, rc: p.fundamentals(t, s, e),
    doc="Loaded by the session each filing became known.",
)
sec_filings = _fetched_asset(
    S.SEC_FILINGS, "filings",
    lambda p, t, s, e, cfg, rc: p.sec_filings(t, s, e, rc.forms or list(cfg.sec.forms)),
)
insider_transactions = _fetched_asset(
    S.INSIDER_TRANSACTIONS, "filings",
    lambda p, t, s, e, cfg, rc: (
        p.insider_transactions(t, s, e)
        if "4" in (rc.forms or cfg.sec.forms)
        else FetchResult(S.INSIDER_TRANSACTIONS.empty())
    ),
)
institutional_holdings = _fetched_asset(
    S.INSTITUTIONAL_HOLDINGS, "filings",
    lambda p, t, s, e, cfg, rc: p.institutional_holdings([(f.name, f.cik) for f in cfg.sec.tracked_funds], t, s, e),
)
short_interest = _fetched_asset(
    S.SHORT_INTEREST, "estimates", lambda p, t, s, e, cfg, rc: p.short_interest(t, s, e)
)
analyst_estimates = _fetched_asset(
    S.ANALYST_ESTIMATES, "estimates", lambda p, t, s, e, cfg, rc: p.analyst_estimates(t, s, e)
)
earnings_calendar = _fetched_asset(
    S.EARNINGS_CALENDAR, "estimates", lambda p, t, s, e, cfg, rc: p.earnings_calendar(t, s, e)
)
earnings_transcripts = _fetched_asset(
    S.EARNINGS_TRANSCRIPTS, "transcripts", lambda p, t, s, e, cfg, rc: p.earnings_transcripts(t, s, e)
)
macro_series = _fetched_asset(
    S.MACRO_SERIES, "macro", lambda p, t, s, e, cfg, rc: p.macro_series(list(cfg.macro_series), s, e)
)


# ------------------------------------------------------------------------------------------ derived tables
def _derived_asset(
    schema: S.TableSchema,
    upstream: list[str],
    derive: Callable[..., pl.DataFrame],
    doc: str,
) -> dg.AssetsDefinition:
    """An asset computed from other Layer-1 tables as known at the end of its load window."""

    @dg.asset(
        name=schema.name,
        group_name=GROUP,
        deps=upstream,
        pool=DUCKDB_POOL,
        kinds={"duckdb", "polars"},
        description=f"{schema.description} {doc}".strip(),
        metadata={"known_date_column": schema.partition_column, "key": ", ".join(schema.key)},
        check_specs=[valid_spec(schema.name)],
    )
    def _asset(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
        t0 = time.perf_counter()
        require_clean_inputs(context)
        with db.connect() as conn:
            start, end = load_window(context, None, conn, schema, settings.get())
            frame = schema.conform(derive(conn, start, end))
            frame = frame.filter(pl.col(schema.partition_column).is_between(start, end))
            staged = stage_window(schema, frame, start, end)
            violations = audit(schema, staged.frame, kept_rows_sharing_keys(conn, staged))
            n = 0 if violations else publish(conn, staged)
        yield staged_result(context, schema.name, violations, staged.frame.height)
        if violations:
            raise not_published(schema.name, violations)
        context.log.info(f"{schema.name}: wrote {n} rows for {start}..{end}")
        yield dg.MaterializeResult(metadata=_metadata(frame, start, end, "derived", None, time.perf_counter() - t0))

    return _asset


def _ratios_inputs(conn, start: dt.date, end: dt.date) -> pl.DataFrame:
    if not table_exists(conn, "fundamentals_raw"):
        return S.FUNDAMENTAL_RATIOS.empty()
    # Rows learned in the window, plus every earlier row of the same tickers (for YoY growth and averages).
    fund = read(conn, """SELECT * FROM fundamentals_raw WHERE known_at <= ? AND ticker IN
                         (SELECT DISTINCT ticker FROM fundamentals_raw WHERE known_at BETWEEN ? AND ?)""",
                [end, start, end])
    if fund.height == 0:
        return S.FUNDAMENTAL_RATIOS.empty()
    prices = (
        read(conn, """SELECT date, ticker, close FROM daily_prices WHERE date BETWEEN ? AND ? AND ticker IN
                      (SELECT DISTINCT ticker FROM fundamentals_raw WHERE known_at BETWEEN ? AND ?)""",
             [start - dt.timedelta(days=10), end, start, end])
        if table_exists(conn, "daily_prices") else None
    )
    return compute_ratios(S.FUNDAMENTALS_RAW.conform(fund), prices)


def _cluster_inputs(conn, start: dt.date, end: dt.date) -> pl.DataFrame:
    if not table_exists(conn, "insider_transactions"):
        return S.INSIDER_CLUSTER_FLAGS.empty()
    tx = read(conn, "SELECT * FROM insider_transactions WHERE known_at <= ? AND transaction_date >= ?",
              [end, start - dt.timedelta(days=60)])
    return compute_cluster_flags(S.INSIDER_TRANSACTIONS.conform(tx))


def _institutional_inputs(conn, start: dt.date, end: dt.date) -> pl.DataFrame:
    if not table_exists(conn, "institutional_holdings"):
        return S.INSTITUTIONAL_SUMMARY.empty()
    h = read(conn, """SELECT * FROM institutional_holdings WHERE known_at <= ? AND report_period >=
                      (SELECT coalesce(min(report_period), ?) FROM institutional_holdings
                       WHERE known_at BETWEEN ? AND ?) - INTERVAL 100 DAY""",
             [end, start, start, end])
    return compute_institutional_summary(S.INSTITUTIONAL_HOLDINGS.conform(h))


def _coverage_inputs(conn, start: dt.date, end: dt.date) -> pl.DataFrame:
    from meridian_assets.ingest.identity import members_with_prices

    if not (table_exists(conn, "universe") and table_exists(conn, "daily_prices")):
        return S.INDEX_COVERAGE.empty()
    sid = ", security_id" if "security_id" in read(conn, "SELECT * FROM daily_prices LIMIT 0").columns else ""
    prices = read(conn, f"SELECT date, ticker{sid} FROM daily_prices WHERE date BETWEEN ? AND ?", [start, end])
    universe = read(conn, "SELECT * FROM universe WHERE asset_type = 'stock'")
    return members_with_prices(universe, prices, calendar.sessions(start, end))


index_coverage = _derived_asset(
    S.INDEX_COVERAGE, ["universe", "daily_prices"], _coverage_inputs,
    "Printed in the load summary and the backtest tear sheet.",
)
fundamental_ratios = _derived_asset(
    S.FUNDAMENTAL_RATIOS, ["fundamentals_raw", "daily_prices"], _ratios_inputs,
    "Computed from fundamentals known at each filing's session; yields use the close on that session.",
)
insider_cluster_flags = _derived_asset(
    S.INSIDER_CLUSTER_FLAGS, ["insider_transactions"], _cluster_inputs,
    "3+ distinct insiders with open-market buys (code P) inside 30 days, using only Form 4s already filed.",
)
institutional_summary = _derived_asset(
    S.INSTITUTIONAL_SUMMARY, ["institutional_holdings"], _institutional_inputs,
    "Cumulative over the tracked funds' 13-Fs for the quarter as each one is filed.",
)


# ------------------------------------------------------------------------------------------ run log
FETCHED_TABLES = (
    "daily_prices", "corporate_actions", "fundamentals_raw", "sec_filings", "insider_transactions",
    "institutional_holdings", "short_interest", "analyst_estimates", "earnings_calendar",
    "earnings_transcripts", "macro_series",
)


def _run_materializations(context: dg.AssetExecutionContext) -> dict[str, dict]:
    """The metadata of each asset materialized so far in this run, read from Dagster's event log."""
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=100_000
    ).records
    out: dict[str, dict] = {}
    for rec in records:
        mat = rec.event_log_entry.asset_materialization
        if mat is not None:
            # A range run records one event per partition with the same metadata: keep one per asset.
            out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


@dg.multi_asset(
    specs=[
        dg.AssetSpec("run_log", group_name=GROUP, kinds={"duckdb"}, deps=list(FETCHED_TABLES) + [
            "universe", "fundamental_ratios", "insider_cluster_flags", "institutional_summary"],
            description=S.RUN_LOG.description),
        dg.AssetSpec("ingest_errors", group_name=GROUP, kinds={"duckdb"}, deps=list(FETCHED_TABLES),
                     description=S.INGEST_ERRORS.description),
    ],
    pool=DUCKDB_POOL,
    can_subset=True,
)
def run_log(context: dg.AssetExecutionContext, db: DuckDBStore):
    """One row per ingestion run with its summary counts, and every per-ticker error it caught."""
    mats = _run_materializations(context)
    run_id = context.run.run_id
    errors = [
        {"run_id": run_id, "table_name": table, "ticker": e.get("ticker"),
         "date": dt.date.fromisoformat(e["date"]) if e.get("date") else None, "message": e.get("message")}
        for table, md in mats.items() for e in (md.get("error_list") or [])
    ]
    windows = [md["window"].split("..") for key, md in mats.items() if key != "universe" and md.get("window")]
    starts = [dt.date.fromisoformat(w[0]) for w in windows]
    ends = [dt.date.fromisoformat(w[1]) for w in windows]
    row = {
        "run_id": run_id,
        "finished_at": dt.datetime.now(),
        "start_date": min(starts) if starts else None,
        "end_date": calendar.session_on_or_before(max(ends)) if ends else None,
        "tickers_updated": mats.get("daily_prices", {}).get("tickers", 0),
        "price_bars_added": mats.get("daily_prices", {}).get("rows", 0),
        "filings_cached": mats.get("sec_filings", {}).get("rows", 0),
        "insider_txns_parsed": mats.get("insider_transactions", {}).get("rows", 0),
        "errors": sum(int(md.get("errors") or 0) for md in mats.values()),
    }
    with db.connect() as conn:
        replace_where(conn, S.RUN_LOG, pl.DataFrame([row]), "run_id", run_id)
        replace_where(conn, S.INGEST_ERRORS, pl.DataFrame(errors, schema=S.INGEST_ERRORS.columns), "run_id", run_id)
    summary = "\n".join(f"- {k}: {v}" for k, v in row.items() if k not in ("run_id", "finished_at"))
    if "run_log" in context.selected_output_names:
        yield dg.MaterializeResult(asset_key="run_log", metadata={
            **{k: dg.MetadataValue.int(int(v)) for k, v in row.items() if isinstance(v, int)},
            "summary": dg.MetadataValue.md(summary),
        })
    if "ingest_errors" in context.selected_output_names:
        yield dg.MaterializeResult(asset_key="ingest_errors", metadata={
            "errors": dg.MetadataValue.int(len(errors)),
            "preview": dg.MetadataValue.md(preview_markdown(pl.DataFrame(errors, schema=S.INGEST_ERRORS.columns))),
        })


TABLE_ASSETS = [
    daily_prices, index_coverage, corporate_actions, fundamentals_raw, fundamental_ratios, sec_filings,
    insider_transactions, insider_cluster_flags, institutional_holdings, institutional_summary, short_interest, analyst_estimates,
    earnings_calendar, earnings_transcripts, macro_series,
]
INGEST_ASSETS = [universe, *TABLE_ASSETS, run_log]
