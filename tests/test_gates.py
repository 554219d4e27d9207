"""Nothing builds on a table whose latest blocking check failed: not in the run of the failed load, not in a
later run (the CLI, the factor job), until a good reload clears it. The gate reads Dagster's event log."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from meridian_assets.cli import main
from meridian_assets.cli.runner import prepare_instance
from meridian_assets.definitions import build_definitions, defs
from meridian_assets.factors.assets import FACTOR_ASSETS
from meridian_assets.gates import upstream_blocking_checks
from meridian_assets.ingest.assets import INGEST_ASSETS
from meridian_assets.ingest.checks import INGEST_CHECKS
from meridian_assets.ingest.providers.base import FetchResult
from resources import MarketDataResource
from tests.conftest import RANGE, materialize_ingest, module_home, query, range_tags, table_names

LAST_WEEK = (dt.date(2024, 3, 25), dt.date(2024, 3, 28))
READING_GROUPS = {"factors", "analysis", "portfolio", "risk", "execution", "reporting", "meta"}
# Never gated: the kill switch's lock (a halt must not wait for data) and a person's configuration decision
# (applying or reverting a proposal reads no table a check guards).
EXEMPT = {"halt_lock", "config_change_log"}


class NegativeCloseMarket(MarketDataResource):
    """The configured provider, with close = -1 on the first stock's last bar of every price request."""

    def provider(self, kind: str):
        inner = super().provider(kind)

        class Bad:
            name = "negative-close"

            def __getattr__(self, item):
                return getattr(inner, item)

            def daily_prices(self, *args, **kwargs):
                r = inner.daily_prices(*args, **kwargs)
                ticker, day = victim(r.frame)
                hit = (pl.col("ticker") == ticker) & (pl.col("date") == day)
                return FetchResult(r.frame.with_columns(pl.when(hit).then(-1.0).otherwise(pl.col("close"))
                                                        .alias("close")), r.errors)

        return Bad()


def victim(frame: pl.DataFrame) -> tuple[str, dt.date]:
    stocks = frame.filter(~pl.col("ticker").str.starts_with("^") & ~pl.col("ticker").str.starts_with("X")
                          & (pl.col("ticker") != "SPY"))
    return stocks["ticker"].min(), frame["date"].max()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Layer 1 loaded on the project instance (where the CLI's runs land), nothing scored yet."""
    with module_home(tmp_path_factory, "gates") as (home, cfg, res):
        instance = prepare_instance()
        assert materialize_ingest(res, *RANGE, instance=instance).success
        yield home, cfg, res, instance


def _failure_messages(result) -> str:
    return "\n".join(e.event_specific_data.error.message for e in result.all_events
                     if e.event_type_value == "STEP_FAILURE")


def test_a_failed_price_check_stops_scoring_until_a_good_reload(loaded, capsys):
    home, cfg, res, instance = loaded
    db = home / "meridian.duckdb"
    ticker, day = victim(query(db, f"SELECT * FROM daily_prices WHERE date <= '{LAST_WEEK[1]}'"))
    message = f"daily_prices {day} {ticker} close=-1.0 (must be > 0)"

    # The failed load, in a run that also scores: the scores do not run in that run.
    bad = dg.materialize([*INGEST_ASSETS, *INGEST_CHECKS, *FACTOR_ASSETS],
                         resources={**res, "market": NegativeCloseMarket(settings=res["settings"])},
                         selection=["daily_prices", "factor_scores"], tags=range_tags(*LAST_WEEK),
                         instance=instance, raise_on_error=False)
    assert not bad.success
    assert "factor_scores" not in {e.step_key for e in bad.all_events if e.event_type_value == "STEP_START"}

    # A later run: `meridian score` refuses with the check's message and writes no scores.
    assert main(["score"]) == 2  # refused input, not a crash
    err = capsys.readouterr().err
    assert "daily_prices:valid failed" in err and message in err, err
    assert "factor_scores" not in table_names(db)

    # The scheduled factor job refuses too.
    job = build_definitions(str(cfg), str(db)).resolve_job_def("factors_job")
    refused = job.execute_in_process(instance=instance, tags=range_tags(day, day), raise_on_error=False)
    assert not refused.success
    assert "refusing inputs whose latest blocking check failed" in _failure_messages(refused)
    assert message in _failure_messages(refused)
    assert "factor_scores" not in table_names(db)

    # A good reload of the same sessions clears it: scoring works again.
    assert materialize_ingest(res, *LAST_WEEK, selection=["daily_prices"], instance=instance).success
    assert main(["score"]) == 0, capsys.readouterr().err
    scored = query(db, "SELECT count(*) n, max(date) d FROM factor_scores").row(0)
    assert scored[0] > 0 and scored[1] == day


def test_the_checks_an_asset_waits_for_come_from_the_asset_graph():
    graph = defs.resolve_asset_graph()
    names = lambda key: {f"{c.asset_key.to_user_string()}:{c.name}"  # noqa: E731
                         for c in upstream_blocking_checks(graph, [dg.AssetKey(key)])}
    scores = names("factor_scores")
    assert {"daily_prices:valid", "universe:valid", "fundamental_ratios:valid"} <= scores
    assert "daily_prices:suspicious_moves_gaps_zero_volume" not in scores  # a warning never blocks
    assert "factor_scores:valid" not in scores  # its own check: re-running it is how it is cleared
    assert "macro_series:valid" not in scores  # not upstream of the scores
    assert {"factor_scores:valid", "daily_prices:valid"} <= names("target_book")
    assert names("sleeve_configs") == set()


def _reading_ops() -> list[dg.AssetsDefinition]:
    graph = defs.resolve_asset_graph()
    ops = {}
    for ad in graph.assets_defs:
        if (ad.is_executable and ad.keys and {graph.get(k).group_name for k in ad.keys} & READING_GROUPS
                and ad.node_def.name not in EXEMPT and upstream_blocking_checks(graph, ad.keys)):
            ops[ad.node_def.name] = ad
    return sorted(ops.values(), key=lambda ad: ad.node_def.name)


@pytest.fixture(scope="module")
def failed_prices(tmp_path_factory):
    """An empty home whose instance holds a failed daily_prices:valid evaluation."""
    with module_home(tmp_path_factory, "gated") as (home, cfg, res):
        instance = dg.DagsterInstance.ephemeral()
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("daily_prices"), check_name="valid", passed=False,
            severity=dg.AssetCheckSeverity.ERROR, description="daily_prices 2024-03-27 AAA close=-1.0 (must be > 0)"))
        yield build_definitions(str(cfg), str(home / "meridian.duckdb")), instance


@pytest.mark.parametrize("assets_def", _reading_ops(), ids=lambda ad: ad.node_def.name)
def test_every_reading_asset_refuses_after_a_failed_price_check(failed_prices, assets_def):
    location, instance = failed_prices
    pdef = assets_def.partitions_def
    if isinstance(pdef, dg.DynamicPartitionsDefinition):  # a research partition: one sleeve@version
        instance.add_dynamic_partitions(pdef.name, ["core@1"])
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        partition = pdef.get_first_partition_key() if pdef else None
    job = location.resolve_implicit_job_def_def_for_assets(list(assets_def.keys))
    result = job.execute_in_process(instance=instance, asset_selection=list(assets_def.keys),
                                    partition_key=partition, raise_on_error=False)
    assert not result.success
    text = _failure_messages(result)
    assert "refusing inputs whose latest blocking check failed" in text, text
    assert "daily_prices:valid failed: daily_prices 2024-03-27 AAA close=-1.0" in text, text
