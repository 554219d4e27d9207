"""Write, audit, then publish: a load whose blocking check fails leaves the published rows exactly as they
were, records the failed evaluation (table, ticker, date, field) and claims no materialization."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import polars as pl
import pytest

from meridian_assets.definitions import build_resources
from meridian_assets.ingest import schemas as S
from meridian_assets.ingest.checks import audit
from meridian_assets.ingest.providers.base import FetchResult
from meridian_assets.storage import kept_rows_sharing_keys, publish, replace_window, stage_window
from resources import MarketDataResource
from tests.conftest import materialize_ingest, query

WINDOW = (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
SATURDAY = dt.date(2024, 2, 10)


def _victim(frame: pl.DataFrame) -> tuple[str, dt.date]:
    """The alphabetically first stock on the window's last date: where the bad bar goes."""
    stocks = frame.filter(~pl.col("ticker").str.starts_with("^") & ~pl.col("ticker").str.starts_with("X")
                          & (pl.col("ticker") != "SPY"))
    return stocks["ticker"].min(), frame["date"].max()


def _set(column: str, value: float):
    def mutate(df: pl.DataFrame) -> pl.DataFrame:
        ticker, day = _victim(df)
        hit = (pl.col("ticker") == ticker) & (pl.col("date") == day)
        return df.with_columns(pl.when(hit).then(pl.lit(value)).otherwise(pl.col(column)).alias(column))
    return mutate


def _victim_row(df: pl.DataFrame) -> pl.DataFrame:
    ticker, day = _victim(df)
    return df.filter((pl.col("ticker") == ticker) & (pl.col("date") == day))


BAD_BARS = {
    "nan_close": _set("close", float("nan")),
    "negative_price": _set("low", -1.0),
    "high_below_low": _set("high", 0.5),
    "duplicate_bar": lambda df: pl.concat([df, _victim_row(df)]),
    "weekend_bar": lambda df: pl.concat([df, _victim_row(df).with_columns(date=pl.lit(SATURDAY))]),
}


class BadBarsMarket(MarketDataResource):
    """The configured provider, with one kind of impossible bar in what `daily_prices` returns."""

    mutation: str = ""

    def provider(self, kind: str):
        inner, mutate = super().provider(kind), BAD_BARS[self.mutation]

        class Bad:
            name = "bad-bars"

            def __getattr__(self, item):
                return getattr(inner, item)

            def daily_prices(self, *args, **kwargs):
                r = inner.daily_prices(*args, **kwargs)
                return FetchResult(mutate(r.frame), r.errors)

        return Bad()


def dump(db) -> str:
    """Every published price row, in key order, as CSV text (floats written in full)."""
    return query(db, "SELECT * FROM daily_prices ORDER BY date, ticker").write_csv(float_precision=17)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A good load of the window (universe + daily_prices) on a shared home and instance."""
    from tests.conftest import module_home

    with module_home(tmp_path_factory, "publish") as (home, cfg, res):
        instance = dg.DagsterInstance.ephemeral()
        good = materialize_ingest(res, *WINDOW, selection=["universe", "daily_prices"], instance=instance)
        assert good.success
        db = home / "meridian.duckdb"
        frame = query(db, "SELECT * FROM daily_prices")
        yield res, instance, db, dump(db), _victim(frame)


@pytest.mark.parametrize("mutation,expected", [
    ("nan_close", "close=nan (must be > 0)"),
    ("negative_price", "low=-1.0 (must be > 0)"),
    ("high_below_low", "high=0.5 (must be >= low="),
    ("duplicate_bar", "(duplicate key (date, ticker): 2 rows)"),
    ("weekend_bar", "date=2024-02-10 (not an NYSE session)"),
])
def test_a_failed_load_leaves_the_published_rows_byte_identical(published, mutation, expected):
    res, instance, db, before, (ticker, day) = published
    bad = materialize_ingest({**res, "market": BadBarsMarket(settings=res["settings"], mutation=mutation)},
                             *WINDOW, selection=["daily_prices"], instance=instance)
    assert not bad.success
    assert dump(db) == before, "rows of a load whose blocking check failed were published"

    evals = [e.event_specific_data for e in bad.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    valid = [e for e in evals if e.asset_key == dg.AssetKey("daily_prices") and e.check_name == "valid"]
    assert len(valid) == 1 and not valid[0].passed and valid[0].severity == dg.AssetCheckSeverity.ERROR
    where = f"daily_prices {SATURDAY if mutation == 'weekend_bar' else day} {ticker} "
    assert where + expected in valid[0].description, valid[0].description
    assert valid[0].metadata["published"].value is False
    # No materialization claims rows that were not written, and the failure says why.
    assert not [e for e in bad.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    failure = next(e for e in bad.all_events if e.event_type_value == "STEP_FAILURE")
    assert "daily_prices: not published" in failure.event_specific_data.error.message
    assert where in failure.event_specific_data.error.message
    # The failed evaluation is what the event log now holds for the check (the gates read it).
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("daily_prices"), "valid")])
    assert next(iter(latest.values())).evaluation.passed is False


def test_a_good_load_after_a_failed_one_publishes_and_passes(published):
    res, instance, db, before, _ = published
    assert not materialize_ingest({**res, "market": BadBarsMarket(settings=res["settings"], mutation="nan_close")},
                                  *WINDOW, selection=["daily_prices"], instance=instance).success
    good = materialize_ingest(res, *WINDOW, selection=["daily_prices"], instance=instance)
    assert good.success and dump(db) == before
    evals = {e.event_specific_data.check_name: e.event_specific_data for e in good.all_events
             if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert evals["valid"].passed and evals["valid"].metadata["published"].value is True


def test_every_table_is_audited_in_its_own_step_before_it_materializes(meridian_home):
    res = build_resources(str(meridian_home / "meridian.yaml"), str(meridian_home / "m.duckdb"))
    result = materialize_ingest(res, dt.date(2024, 3, 4), dt.date(2024, 3, 8))
    assert result.success
    order: dict[str, list[str]] = {}
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "valid":
            order.setdefault(e.event_specific_data.asset_key.to_user_string(), []).append(e.step_key)
        elif e.event_type_value == "ASSET_MATERIALIZATION":
            key = e.event_specific_data.materialization.asset_key.to_user_string()
            if key in order:
                order[key].append(e.step_key)
    checked = {*S.TABLES} - {"run_log", "ingest_errors"}
    assert set(order) == checked
    for table, steps in order.items():
        # one evaluation, in the table's own step, then that step's materialization(s)
        assert steps[0] == table and set(steps) == {table} and len(steps) >= 2, (table, steps)


def _calendar(rows) -> pl.DataFrame:
    return pl.DataFrame([{"ticker": t, "earnings_date": e, "session": "AMC", "fiscal_period": "Q4",
                          "eps_estimate": 1.0, "known_at": k} for t, e, k in rows])


def test_a_key_already_published_outside_the_window_is_a_duplicate(tmp_path):
    conn = duckdb.connect(str(tmp_path / "t.duckdb"))
    d = dt.date
    replace_window(conn, S.EARNINGS_CALENDAR, _calendar([("AAA", d(2024, 2, 20), d(2024, 1, 5))]),
                   d(2024, 1, 1), d(2024, 1, 31))
    staged = stage_window(S.EARNINGS_CALENDAR, _calendar([("AAA", d(2024, 2, 20), d(2024, 2, 2)),
                                                           ("BBB", d(2024, 2, 21), d(2024, 2, 2))]),
                          d(2024, 2, 1), d(2024, 2, 29))
    violations = audit(S.EARNINGS_CALENDAR, staged.frame, kept_rows_sharing_keys(conn, staged))
    assert [v.message for v in violations] == [
        "earnings_calendar 2024-02-20 AAA (duplicate key (ticker, earnings_date): already published with "
        "known_at=2024-01-05 outside the window)"]
    # Re-staging the window that holds the published row replaces it instead: no duplicate.
    same = stage_window(S.EARNINGS_CALENDAR, _calendar([("AAA", d(2024, 2, 20), d(2024, 1, 9))]),
                        d(2024, 1, 1), d(2024, 1, 31))
    assert not audit(S.EARNINGS_CALENDAR, same.frame, kept_rows_sharing_keys(conn, same))
    assert publish(conn, same) == 1
    conn.close()
