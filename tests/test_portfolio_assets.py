"""Wiring: rebalance proposals, commits, the simulated book, the risk state and its halt on the
40-name embedded market (ingested once per module) in tmp_path."""

import datetime as dt
import json

import dagster as dg
import polars as pl
import pytest

from meridian_assets.definitions import build_definitions, build_resources
from meridian_assets.factors.assets import FACTOR_ASSETS
from meridian_assets.portfolio.schemas import PORTFOLIO_HISTORY, PORTFOLIO_POSITIONS
from meridian_assets.risk.assets import risk_model
from meridian_assets.risk.halt_lock import HaltLock
from meridian_assets.storage import replace_all
from resources import DuckDBStore
from tests.conftest import materialize_ingest, module_home, query, range_tags

INGEST = (dt.date(2023, 1, 3), dt.date(2024, 3, 28))
SCORE = (dt.date(2024, 2, 26), dt.date(2024, 3, 28))
PROPOSAL = ["target_book", "rebalance_trades", "portfolio_factor_exposures"]


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    with module_home(tmp_path_factory, "book") as (home, cfg, res):
        assert materialize_ingest(res, *INGEST).success
        assert dg.materialize([*FACTOR_ASSETS, risk_model], resources=res, tags=range_tags(*SCORE),
                              instance=dg.DagsterInstance.ephemeral()).success
        yield home, build_definitions(str(cfg), str(home / "meridian.duckdb"))


def run(defs, job, instance, **ops):
    return defs.resolve_job_def(job).execute_in_process(
        run_config={"ops": {k: {"config": v} for k, v in ops.items()}}, instance=instance)


def metadata(result, key):
    event = next(e for e in result.get_asset_materialization_events()
                 if e.event_specific_data.materialization.asset_key == dg.AssetKey(key))
    return {k: getattr(v, "value", v) for k, v in event.event_specific_data.materialization.metadata.items()}


def test_whatif_commits_nothing_and_rebalances_build_the_book(market):
    home, defs = market
    db = home / "meridian.duckdb"
    inst = dg.DagsterInstance.ephemeral()
    whatif = run(defs, "portfolio_rebalance_job", inst, rebalance_proposal={"as_of": "2024-02-26"})
    rid = metadata(whatif, "target_book")["rebalance_id"]
    assert rid.startswith("rb-20240226-")
    assert "position_approvals" not in {r["table_name"] for r in query(
        db, "SELECT table_name FROM information_schema.tables").iter_rows(named=True)}
    for day in ("2024-02-26", "2024-03-04", "2024-03-11", "2024-03-18"):
        res = run(defs, "portfolio_commit_job", inst, rebalance_proposal={"as_of": day, "optimize_method": "conviction"},
                  position_approvals={"decision": "commit", "decided_by": "simulated"})
        md = metadata(res, "position_approvals")
        assert md["status"] == "EXECUTED" and md["as_of"] == day
    ledger = query(db, "SELECT * FROM position_approvals")
    trades = query(db, "SELECT * FROM rebalance_trades").filter(pl.col("rebalance_id").is_in(ledger["rebalance_id"]))
    assert trades["rebalance_id"].n_unique() == 4 and rid not in ledger["rebalance_id"].to_list()
    proposed = trades.filter(pl.col("status") == "PROPOSED")
    assert ledger.filter(pl.col("status") == "EXECUTED").height >= proposed.height > 0
    assert (trades.group_by("rebalance_id").agg(t=(pl.col("notional") * (pl.col("status") == "PROPOSED")).sum())
            ["t"] <= 0.30 * 10_000_000 * 1.06).all()  # within the budget (NAV moves a little)
    hist = query(db, "SELECT * FROM portfolio_history ORDER BY date")
    assert hist["date"][0] == dt.date(2024, 2, 26) and hist["date"][-1] == dt.date(2024, 3, 28)
    assert hist["gross"][-1] > hist["gross"][0] > 0  # the book ramps in over the rebalances
    pos = query(db, "SELECT * FROM portfolio_positions")
    net_shares = (ledger.filter(pl.col("status") == "EXECUTED")
                  .with_columns(q=pl.when(pl.col("action").is_in(["BUY", "COVER"])).then(pl.col("shares"))
                                .otherwise(-pl.col("shares"))).group_by("ticker").agg(pl.col("q").sum())
                  .filter(pl.col("q") != 0))
    splits = query(db, "SELECT count(*) n FROM corporate_actions WHERE date > '2024-02-26' AND action <> 'dividend'")
    if splits["n"][0] == 0:  # without corporate actions the book is exactly the ledger's net shares
        assert dict(pos.select("ticker", "shares").iter_rows()) == dict(net_shares.iter_rows())
    state = json.loads((home / "risk_state.json").read_text())
    assert state["as_of"] == "2024-03-28" and state["exposures"]["positions"] == pos.height
    assert {"breakers", "decomposition", "top_mctr", "stress", "tail_risk", "correlation"} <= set(state)
    rs = query(db, "SELECT * FROM risk_state")
    assert rs["trading_state"][0] == state["trading_state"] and rs["halted"][0] is False
    # re-committing the oldest proposal after later trades is refused (the book is never rewritten out of order)
    first = trades.sort("as_of")["rebalance_id"][0]
    late = defs.resolve_job_def("portfolio_approve_job").execute_in_process(
        run_config={"ops": {"position_approvals": {"config": {"rebalance_id": first, "decision": "commit"}}}},
        instance=inst, raise_on_error=False)
    assert not late.success


def seed_drawdown(home, drop: float):
    """A book whose NAV fell `drop` from its peak, written straight into the state tables."""
    days = [dt.date(2024, 3, d) for d in (18, 19, 20, 21, 22, 25, 26, 27, 28)]
    nav = [10_000_000.0 * (1 - drop * i / (len(days) - 1)) for i in range(len(days))]
    hist = pl.DataFrame({"date": days, "nav": nav, "beta": [0.05] * len(days), "gross": [1.5] * len(days)})
    pos = pl.DataFrame({"ticker": ["AAA"], "sector": ["Energy"], "side": ["LONG"], "shares": [100],
                        "avg_cost": [100.0], "entry_date": [days[0]], "last_price": [100.0],
                        "market_value": [10_000.0], "weight": [0.001]})
    with DuckDBStore(database=str(home / "meridian.duckdb")).connect() as conn:
        replace_all(conn, PORTFOLIO_HISTORY, hist)
        replace_all(conn, PORTFOLIO_POSITIONS, pos)


def test_risk_state_reports_the_breach_and_the_halt_lock(market):
    home, _ = market
    seed_drawdown(home, 0.10)
    inst = dg.DagsterInstance.ephemeral()
    lock = HaltLock(home / "risk_halt.lock")
    lock.clear()
    from meridian_assets.risk.assets import risk_state

    md = metadata(dg.materialize([risk_state], resources=build_resources(), instance=inst), "risk_state")
    assert md["kill_switch"] is True and "KILL_SWITCH" in md["actions"] and md["drawdown"] > 0.08
    lock.write("KILL_SWITCH on 2024-03-28")  # what risk_halt_job writes (tests/test_kill_switch.py)
    res2 = dg.materialize([risk_state], resources=build_resources(), instance=inst)
    assert metadata(res2, "risk_state")["trading_state"] == "HALTED"
    lock.clear()


def test_cli_portfolio_approve_and_risk(market, capsys):
    from meridian_assets.cli import main

    home, _ = market
    assert main(["portfolio", "--whatif", "--as-of", "2024-03-25", "--optimize-method", "mvo"]) == 0
    out = capsys.readouterr().out
    assert "Proposal rb-20240325-mvo-" in out and "meridian approve" in out
    rid = out.split("Proposal ", 1)[1].split(" ", 1)[0]
    assert main(["approve", rid, "--by", "pm"]) == 0
    ledger = query(home / "meridian.duckdb", f"SELECT * FROM position_approvals WHERE rebalance_id = '{rid}'")
    assert set(ledger["status"]) <= {"APPROVED", "VETOED"} and "APPROVED" in set(ledger["status"])
    assert set(ledger["decided_by"]) == {"pm"}
    assert main(["portfolio", "--current"]) == 0
    assert "Book on 2024-03-28" in capsys.readouterr().out
    assert main(["risk", "--stress"]) == 0
    out = capsys.readouterr().out
    assert "=== Risk 2024-03-28" in out and "2008 Crisis" in out and "Short Squeeze" in out
    assert main(["risk", "--tail-only"]) == 0
    assert "Tail risk 2024-03-28: VIX" in capsys.readouterr().out
    HaltLock(home / "risk_halt.lock").write("KILL_SWITCH test")
    assert main(["risk", "--clear-halt"]) == 0
    assert "Halt lock cleared (KILL_SWITCH test" in capsys.readouterr().out
    assert not HaltLock(home / "risk_halt.lock").is_halted()


def test_proposal_refuses_inputs_whose_latest_blocking_check_failed(market):
    home, defs = market
    inst = dg.DagsterInstance.ephemeral()
    bad = dg.AssetCheckEvaluation(asset_key=dg.AssetKey("daily_prices"), check_name="valid", passed=False,
                                  severity=dg.AssetCheckSeverity.ERROR,
                                  description="daily_prices 2024-03-27 AAA close=-1.0 (must be > 0)")
    inst.report_runless_asset_event(bad)
    res = defs.resolve_job_def("portfolio_rebalance_job").execute_in_process(
        run_config={"ops": {"rebalance_proposal": {"config": {"as_of": "2024-03-27"}}}}, instance=inst,
        raise_on_error=False)
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
    assert "daily_prices:valid failed" in failure.event_specific_data.error.message
    assert "AAA close=-1.0" in failure.event_specific_data.error.message
    good = dg.AssetCheckEvaluation(asset_key=dg.AssetKey("daily_prices"), check_name="valid", passed=True)
    inst.report_runless_asset_event(good)
    assert defs.resolve_job_def("portfolio_rebalance_job").execute_in_process(
        run_config={"ops": {"rebalance_proposal": {"config": {"as_of": "2024-03-27"}}}}, instance=inst).success
