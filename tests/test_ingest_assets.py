"""Wiring: the Layer-1 assets materialized on a small embedded market into a DuckDB in tmp_path."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from meridian_assets.definitions import build_resources
from meridian_assets.ingest.assets import INGEST_ASSETS
from meridian_assets.ingest.checks import INGEST_CHECKS
from meridian_assets.ingest import schemas as S
from meridian_assets.ingest.providers.base import FetchError, FetchResult
from resources import MarketDataResource
from tests.conftest import RANGE, materialize_ingest, query, table_names

SHORT = (dt.date(2024, 2, 1), dt.date(2024, 2, 29))


@pytest.fixture
def resources(meridian_home):
    return build_resources(str(meridian_home / "meridian.yaml"), str(meridian_home / "m.duckdb"))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """One full load of RANGE shared by the read-only tests of this module."""
    home = tmp_path_factory.mktemp("loaded")
    mp = pytest.MonkeyPatch()
    mp.setenv("MERIDIAN_HOME", str(home))
    from tests.conftest import write_config

    cfg = write_config(home)
    res = build_resources(str(cfg), str(home / "m.duckdb"))
    result = materialize_ingest(res, *RANGE)
    yield home / "m.duckdb", result
    mp.undo()


def test_full_load_succeeds_and_fills_every_table(loaded):
    db, result = loaded
    assert result.success
    counts = {t: query(db, f'SELECT count(*) n FROM "{t}"')["n"][0] for t in S.TABLES}
    empty = [t for t, n in counts.items() if n == 0 and t != "ingest_errors"]
    assert not empty, f"empty tables: {empty}"
    # 40 stocks + 13 benchmarks over the window's sessions
    n_sessions = query(db, "SELECT count(DISTINCT date) n FROM daily_prices")["n"][0]
    assert n_sessions == 61


def test_every_check_passed(loaded):
    _, result = loaded
    evals = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evals) >= 16
    failed = [(e.asset_key.to_user_string(), e.check_name, e.description) for e in evals
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    assert not failed


def test_known_at_rows_fall_in_the_loaded_window(loaded):
    db, _ = loaded
    for schema in S.TABLES.values():
        if schema.partition_column:
            lo, hi = query(db, f'SELECT min("{schema.partition_column}") lo, max("{schema.partition_column}") hi '
                               f'FROM "{schema.name}"').row(0)
            assert RANGE[0] <= lo and hi <= RANGE[1], schema.name


def test_no_fundamental_ratio_uses_a_later_filing(loaded):
    db, _ = loaded
    bad = query(db, """SELECT r.ticker, r.period_end FROM fundamental_ratios r JOIN fundamentals_raw f
                       USING (ticker, period_end, period_type) WHERE r.known_at < f.known_at""")
    assert bad.height == 0


def test_run_log_summarises_the_run(loaded):
    db, result = loaded
    row = query(db, f"SELECT * FROM run_log WHERE run_id = '{result.run_id}'").row(0, named=True)
    prices = query(db, "SELECT count(*) n, count(DISTINCT ticker) t FROM daily_prices").row(0, named=True)
    assert row["price_bars_added"] == prices["n"]
    assert row["tickers_updated"] == prices["t"]
    assert row["filings_cached"] == query(db, "SELECT count(*) n FROM sec_filings")["n"][0]
    assert (row["start_date"], row["end_date"]) == (RANGE[0], RANGE[1])


def test_rematerializing_a_partition_gives_the_same_rows(resources, meridian_home):
    db = meridian_home / "m.duckdb"
    assert materialize_ingest(resources, *SHORT).success
    first = {t: query(db, f'SELECT * FROM "{t}"') for t in S.TABLES if S.TABLES[t].partition_column}
    assert materialize_ingest(resources, dt.date(2024, 2, 12), dt.date(2024, 2, 12)).success
    assert materialize_ingest(resources, *SHORT).success
    for t, before in first.items():
        after = query(db, f'SELECT * FROM "{t}"')
        key = list(S.TABLES[t].key) or before.columns
        assert after.sort(key).equals(before.sort(key)), t


# ------------------------------------------------------------------------- bad input and failures
class MutatingMarket(MarketDataResource):
    """The configured provider with one method's result passed through a named mutation."""

    method: str = ""
    mutation: str = ""

    def provider(self, kind: str):
        inner = super().provider(kind)
        method, mutate = self.method, MUTATIONS[self.mutation]

        class Mutating:
            name = "mutating"

            def __getattr__(self, item):
                fn = getattr(inner, item)
                return (lambda *a, **k: mutate(fn(*a, **k))) if item == method else fn

        return Mutating()


def victim(df: pl.DataFrame) -> tuple[str, dt.date]:
    """The alphabetically first stock and the last date of a frame: where mutations strike."""
    stocks = df.filter(~pl.col("ticker").str.starts_with("^") & ~pl.col("ticker").str.starts_with("X")
                       & (pl.col("ticker") != "SPY"))
    return stocks["ticker"].min(), df["date"].max()


def _at_victim(df: pl.DataFrame) -> pl.Expr:
    ticker, day = victim(df)
    return (pl.col("ticker") == ticker) & (pl.col("date") == day)


def _set(column: str, value):
    def mutate(r: FetchResult) -> FetchResult:
        hit = _at_victim(r.frame)
        return FetchResult(r.frame.with_columns(
            pl.when(hit).then(value(pl.col(column)) if callable(value) else pl.lit(value))
            .otherwise(pl.col(column)).alias(column)), r.errors)
    return mutate


def _first_row(df: pl.DataFrame) -> pl.Expr:
    first = df.sort([c for c in ("ticker", "date", "known_at") if c in df.columns]).row(0, named=True)
    expr = pl.lit(True)
    for c in ("ticker", "date", "accession_no", "line"):
        if c in df.columns:
            expr = expr & (pl.col(c) == first[c])
    return expr


def _jump(r: FetchResult) -> FetchResult:
    hit = _at_victim(r.frame)
    cols = ("open", "high", "low", "close", "adj_close")
    return FetchResult(r.frame.with_columns(
        [pl.when(hit).then(pl.col(c) * 1.6).otherwise(pl.col(c)).alias(c) for c in cols]), r.errors)


def _drop_first_ticker(r: FetchResult) -> FetchResult:
    bad = r.frame["ticker"].min()
    return FetchResult(r.frame.filter(pl.col("ticker") != bad), [FetchError(bad, "HTTP 503 from the vendor")])


MUTATIONS = {
    "negative_close": _set("close", -1.0),
    "high_below_low": _set("high", 0.5),
    "nan_close": lambda r: FetchResult(r.frame.with_columns(
        pl.when(_first_row(r.frame)).then(float("nan")).otherwise(pl.col("close")).alias("close")), r.errors),
    "duplicate_bar": lambda r: FetchResult(pl.concat([r.frame, r.frame.filter(_first_row(r.frame))]), r.errors),
    "saturday_bar": lambda r: FetchResult(pl.concat([r.frame, r.frame.filter(_first_row(r.frame)).with_columns(
        date=pl.lit(dt.date(2024, 2, 10)))]), r.errors),
    "negative_shares": lambda r: FetchResult(r.frame.with_columns(
        pl.when(_first_row(r.frame)).then(-pl.col("shares")).otherwise(pl.col("shares")).alias("shares")), r.errors),
    "negative_short_pct": lambda r: FetchResult(r.frame.with_columns(
        pl.when(_first_row(r.frame)).then(-0.2).otherwise(pl.col("short_pct_float")).alias("short_pct_float")),
        r.errors),
    "jump_60pct": _jump,
    "vendor_error": _drop_first_ticker,
}


def _mutated(resources, method: str, mutation: str) -> dict:
    return {**resources, "market": MutatingMarket(settings=resources["settings"], method=method, mutation=mutation)}


def _check_evals(result, asset: str | None = None) -> list:
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and (asset is None or e.event_specific_data.asset_key == dg.AssetKey(asset))]


@pytest.mark.parametrize("mutation,field,reason", [
    ("negative_close", "close=-1.0", "must be > 0"),
    ("high_below_low", "high=0.5", "must be >= low"),
])
def test_bad_price_blocks_downstream_and_names_the_row(resources, meridian_home, mutation, field, reason):
    prices = resources["market"].provider("prices").daily_prices(None, *SHORT).frame
    ticker, day = victim(prices)
    result = materialize_ingest(_mutated(resources, "daily_prices", mutation), *SHORT)
    assert not result.success
    failed = [e for e in _check_evals(result, "daily_prices")
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    assert [e.check_name for e in failed] == ["valid"], "the blocking price check did not fail"
    assert f"daily_prices {day} {ticker} {field} ({reason}" in failed[0].description
    # Nothing downstream of daily_prices was written in that run.
    db = meridian_home / "m.duckdb"
    assert "fundamental_ratios" not in table_names(db)
    assert "run_log" not in table_names(db)


@pytest.mark.parametrize("method,mutation,table,field,downstream", [
    ("daily_prices", "nan_close", "daily_prices", "close", "fundamental_ratios"),
    ("daily_prices", "duplicate_bar", "daily_prices", "duplicate key", "fundamental_ratios"),
    ("daily_prices", "saturday_bar", "daily_prices", "not an NYSE session", "fundamental_ratios"),
    ("insider_transactions", "negative_shares", "insider_transactions", "shares=", "insider_cluster_flags"),
    ("short_interest", "negative_short_pct", "short_interest", "short_pct_float=", "run_log"),
])
def test_each_kind_of_bad_input_is_named_and_stops_downstream(
    resources, meridian_home, method, mutation, table, field, downstream
):
    result = materialize_ingest(_mutated(resources, method, mutation), *SHORT)
    assert not result.success
    failed = [e for e in _check_evals(result) if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    assert [f.asset_key.to_user_string() for f in failed] == [table]
    text = failed[0].description
    assert text.startswith(table) and field in text
    assert downstream not in table_names(meridian_home / "m.duckdb")
    # Nothing was published: the first load of the table wrote no row (the check names the bad one).
    assert table not in table_names(meridian_home / "m.duckdb")


def test_genuine_large_move_is_a_warning_and_does_not_block(resources, meridian_home):
    prices = resources["market"].provider("prices").daily_prices(None, *SHORT).frame
    ticker, day = victim(prices)
    result = materialize_ingest(_mutated(resources, "daily_prices", "jump_60pct"), *SHORT)
    assert result.success
    evals = {e.check_name: e for e in _check_evals(result, "daily_prices")}
    warn = evals["suspicious_moves_gaps_zero_volume"]
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert f"daily_prices {day} {ticker} close=" in warn.description
    assert "exceeds 50% and no split explains it" in warn.description
    assert evals["valid"].passed
    assert "fundamental_ratios" in table_names(meridian_home / "m.duckdb")


def test_per_ticker_failures_are_counted_and_the_run_completes(resources, meridian_home):
    result = materialize_ingest(_mutated(resources, "short_interest", "vendor_error"), *SHORT)
    assert result.success
    mat = [e.event_specific_data.materialization for e in result.all_events
           if e.event_type_value == "ASSET_MATERIALIZATION"
           and e.event_specific_data.materialization.asset_key == dg.AssetKey("short_interest")][0]
    assert mat.metadata["errors"].value == 1
    errs = query(meridian_home / "m.duckdb", "SELECT * FROM ingest_errors")
    assert errs.select("table_name", "message").row(0) == ("short_interest", "HTTP 503 from the vendor")
    assert query(meridian_home / "m.duckdb", "SELECT errors FROM run_log")["errors"][0] == 1


def _window_of(result, asset: str) -> str:
    mats = [e.event_specific_data.materialization for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
            and e.event_specific_data.materialization.asset_key == dg.AssetKey(asset)]
    return mats[-1].metadata["window"].value


def test_windowed_tables_follow_the_run_then_load_incrementally(resources, meridian_home):
    first = materialize_ingest(resources, *SHORT)
    assert first.success and _window_of(first, "short_interest") == "2024-02-01..2024-02-29"
    # No partition, no config: the next load starts the day after the latest known date and ends at the
    # configured history end (2024-03-28 in the test config).
    nxt = dg.materialize([*INGEST_ASSETS, *INGEST_CHECKS], resources=resources,
                          selection=["short_interest"], instance=dg.DagsterInstance.ephemeral())
    assert nxt.success and _window_of(nxt, "short_interest") == "2024-03-01..2024-03-28"
    days = query(meridian_home / "m.duckdb", "SELECT min(date) lo, max(date) hi FROM short_interest").row(0)
    assert days == (dt.date(2024, 2, 1), dt.date(2024, 3, 28))
    # Run config wins over everything.
    cfg = dg.materialize([*INGEST_ASSETS, *INGEST_CHECKS], resources=resources, selection=["short_interest"],
                          instance=dg.DagsterInstance.ephemeral(),
                          run_config={"ops": {"short_interest": {"config": {"start": "2024-02-05", "end": "2024-02-09"}}}})
    assert cfg.success and _window_of(cfg, "short_interest") == "2024-02-05..2024-02-09"
