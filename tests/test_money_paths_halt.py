"""The halt lock through every entry point of the book: the rebalance proposal materialized as an asset, the
propose-and-commit job, `meridian portfolio --rebalance`, `meridian portfolio --whatif`, `meridian approve` and a scheduled run (no
session given: the last scored session of the run's window).
While the lock is present no trade of a new proposal is PROPOSED (each is VETOED with TRADING_HALTED), so
nothing is committed to the book and nothing is released to the broker. (The execution side — the job and
the sensor-launched run under the lock — is in tests/test_money_paths_execution.py.)"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from meridian_assets.definitions import build_definitions
from meridian_assets.factors.assets import FACTOR_ASSETS
from meridian_assets.risk.assets import risk_model
from meridian_assets.risk.halt_lock import HaltLock
from tests.conftest import materialize_ingest, module_home, query, range_tags

INGEST = (dt.date(2023, 1, 3), dt.date(2024, 3, 28))
SCORE = (dt.date(2024, 2, 26), dt.date(2024, 3, 28))


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    with module_home(tmp_path_factory, "halt") as (home, cfg, res):
        assert materialize_ingest(res, *INGEST).success
        assert dg.materialize([*FACTOR_ASSETS, risk_model], resources=res, tags=range_tags(*SCORE),
                              instance=dg.DagsterInstance.ephemeral()).success
        yield home, build_definitions(str(cfg), str(home / "meridian.duckdb"))


@pytest.fixture
def lock(market):
    home, _ = market
    lock = HaltLock(home / "risk_halt.lock")
    lock.write("KILL_SWITCH on 2024-03-28", {"drawdown": 0.09})
    yield lock
    lock.clear()


def run(defs, job, tags=None, **ops):
    return defs.resolve_job_def(job).execute_in_process(
        run_config={"ops": {k: {"config": v} for k, v in ops.items()}}, instance=dg.DagsterInstance.ephemeral(),
        tags=tags)


def as_of(result) -> str:
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization
        if m.asset_key == dg.AssetKey("target_book"):
            return m.metadata["as_of"].value
    raise AssertionError("no proposal")


def proposed_id(result) -> str:
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization
        if m.asset_key == dg.AssetKey("target_book"):
            return m.metadata["rebalance_id"].value
    raise AssertionError("no proposal")


def trades_of(home, rid: str) -> pl.DataFrame:
    return query(home / "meridian.duckdb", f"SELECT * FROM rebalance_trades WHERE rebalance_id = '{rid}'")


def ledger_of(home, rid: str) -> pl.DataFrame:
    return query(home / "meridian.duckdb", f"SELECT * FROM position_approvals WHERE rebalance_id = '{rid}'")


def assert_all_halted(trades: pl.DataFrame) -> None:
    live = trades.filter(pl.col("status").is_in(["PROPOSED", "VETOED"]))
    assert live.height > 0
    assert set(live["status"]) == {"VETOED"}, live.group_by("status").len()
    assert all("TRADING_HALTED" in r for r in live["reason"])


def test_a_proposal_materialized_under_the_lock_vetoes_every_trade(market, lock):
    home, defs = market
    result = run(defs, "portfolio_rebalance_job", rebalance_proposal={"as_of": "2024-03-04"})
    rid = proposed_id(result)
    assert_all_halted(trades_of(home, rid))
    lock.clear()  # the same proposal without the lock trades
    free = trades_of(home, proposed_id(run(defs, "portfolio_rebalance_job", rebalance_proposal={"as_of": "2024-03-04"})))
    assert "PROPOSED" in set(free["status"])


def test_propose_and_commit_under_the_lock_commits_nothing(market, lock):
    home, defs = market
    result = run(defs, "portfolio_commit_job", rebalance_proposal={"as_of": "2024-03-11"},
                 position_approvals={"decision": "commit", "decided_by": "simulated"})
    rid = proposed_id(result)
    assert_all_halted(trades_of(home, rid))
    ledger = ledger_of(home, rid)
    assert ledger.height > 0 and set(ledger["status"]) == {"VETOED"}


def test_cli_rebalance_under_the_lock_warns_and_commits_nothing(market, lock, capsys):
    from meridian_assets.cli import main

    home, _ = market
    assert main(["portfolio", "--rebalance", "--as-of", "2024-03-18"]) == 0
    captured = capsys.readouterr()
    assert "trading is halted; every trade will be vetoed (TRADING_HALTED)" in captured.err
    rid = captured.out.split("Proposal ", 1)[1].split(" ", 1)[0]
    assert_all_halted(trades_of(home, rid))
    assert set(ledger_of(home, rid)["status"]) == {"VETOED"}


def test_cli_whatif_then_approve_under_the_lock_releases_nothing(market, lock, capsys):
    from meridian_assets.cli import main

    home, _ = market
    assert main(["portfolio", "--whatif", "--as-of", "2024-03-25"]) == 0
    rid = capsys.readouterr().out.split("Proposal ", 1)[1].split(" ", 1)[0]
    assert_all_halted(trades_of(home, rid))
    assert main(["approve", rid, "--by", "pm"]) == 0
    ledger = ledger_of(home, rid)
    assert ledger.height > 0 and "APPROVED" not in set(ledger["status"])


def test_a_scheduled_run_proposes_on_the_last_scored_session_of_its_window_and_obeys_the_lock(market, lock):
    home, defs = market
    # no as_of: what main_job's scheduled runs do; the session comes from the run's partition-range tags
    ranged = run(defs, "portfolio_rebalance_job", tags=range_tags(dt.date(2024, 3, 11), dt.date(2024, 3, 16)))
    assert as_of(ranged) == "2024-03-15"  # the 16th is a Saturday
    assert_all_halted(trades_of(home, proposed_id(ranged)))
    single = run(defs, "portfolio_rebalance_job", tags={"dagster/partition": "2024-03-20"})
    assert as_of(single) == "2024-03-20"
    assert as_of(run(defs, "portfolio_rebalance_job")) == SCORE[1].isoformat()  # no window: the latest scored session


@pytest.mark.parametrize("decision", ["commit", "approve"])
def test_a_proposal_made_before_the_lock_is_not_released_by_a_decision_under_it(market, decision):
    home, defs = market
    rid = proposed_id(run(defs, "portfolio_rebalance_job", rebalance_proposal={"as_of": "2024-03-27"}))
    assert "PROPOSED" in set(trades_of(home, rid)["status"])
    lock = HaltLock(home / "risk_halt.lock")
    lock.write("KILL_SWITCH on 2024-03-27")
    try:
        run(defs, "portfolio_approve_job",
            position_approvals={"rebalance_id": rid, "decision": decision, "decided_by": "simulated"})
        ledger = ledger_of(home, rid)
        assert ledger.height > 0 and set(ledger["status"]) == {"VETOED"}
        proposed = trades_of(home, rid).filter(pl.col("status") == "PROPOSED")["ticker"].to_list()
        halted = ledger.filter(pl.col("reason") == "TRADING_HALTED")["ticker"].to_list()
        assert proposed and set(proposed) <= set(halted)
    finally:
        lock.clear()
