"""The whole demo, as a user runs it: `meridian demo` on the 40-name market, a short book (6 weekly rebalances,
the meta layer allocating every 3 weeks), in a scratch home.

It proves every layer ran and the pieces agree: the venue's fills are the book, at least four sleeves were
backtested, each allocation across sleeves sums to 1, the book followed the meta target, a proposal waits with
its evidence, and the simulated line of live versus simulated is the backtest engine's replay of the book's targets.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from meridian_assets import dbread
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]
WEEKS, META_EVERY = 4, 3
pytestmark = pytest.mark.timeout(900)  # the module's demo run is ~90 s on an idle 2-core machine
SIGN = {"BUY": 1, "COVER": 1, "SELL": -1, "SHORT": -1}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    (home / "dagster").mkdir()
    # one worker process (40 names: no pool to start); no sleeve killed or retired on so short a record, so the
    # allocation spreads the whole capital (a killed sleeve gets 0 and the others stop at max_sleeve_weight)
    # short meta windows keep the sleeve backtests small (the demo's own are a year)
    cfg = write_config(home, history={"years": 1, "end_date": "2024-12-31", "warmup_days": 120},
                       meta={"workers": 1, "kill_drawdown": 0.5, "kill_sharpe_gap": 50.0, "retire_sharpe": -50.0,
                             "retire_correlation": 1.0, "allocation_lookback_sessions": 30, "backtest_sessions": 60,
                             "live_sessions": 20, "min_live_sessions": 10, "evidence_sessions": 30,
                             "min_evidence_sessions": 20, "mi_permutations": 0})
    env = {**os.environ, "MERIDIAN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
           "MERIDIAN_CONFIG": str(cfg)}
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        env.pop(key, None)
    done = subprocess.run([str(Path(sys.executable).parent / "meridian"), "demo", "--weeks", str(WEEKS),
                           "--meta-every", str(META_EVERY)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return home, cfg, env, done.stdout


def query(home: Path, sql: str) -> pl.DataFrame:
    with dbread.read_only(home / "meridian.duckdb") as conn:
        return conn.sql(sql).pl()


def test_the_venue_filled_the_book_and_its_positions_are_the_books(demo):
    home, _, _, out = demo
    fills = query(home, "SELECT * FROM execution_fills")
    filled = fills.filter(pl.col("shares") > 0)
    assert filled.height > 20 and filled["slippage_bps"].drop_nulls().len() == filled.height
    approved = query(home, "SELECT DISTINCT rebalance_id FROM position_approvals WHERE status = 'APPROVED'")
    assert approved.height == WEEKS  # every week approved for the broker (Mode A), none committed as filled
    assert query(home, "SELECT count(*) AS n FROM position_approvals WHERE status = 'EXECUTED'")["n"][0] == 0
    assert set(filled["rebalance_id"]) <= set(approved["rebalance_id"]) and filled["rebalance_id"].n_unique() >= 2
    # each fill is dated on the session after its rebalance, where the venue's bar is
    days = query(home, "SELECT DISTINCT CAST(f.finished_at AS DATE) AS d, t.as_of FROM execution_fills f JOIN "
                       "(SELECT DISTINCT rebalance_id, as_of FROM target_book) t USING (rebalance_id) WHERE f.shares > 0")
    assert (days["d"] > days["as_of"]).all() and ((days["d"] - days["as_of"]).dt.total_days() <= 4).all()
    venue = sqlite3.connect(home / "broker" / "simulated.sqlite")
    try:
        at_venue = dict(venue.execute("SELECT ticker, qty FROM positions WHERE qty <> 0").fetchall())
        venue_fills = venue.execute("SELECT count(*) FROM fills").fetchone()[0]
    finally:
        venue.close()
    net = (filled.with_columns(q=pl.col("shares") * pl.col("action").replace_strict(SIGN, return_dtype=pl.Int64))
           .group_by("ticker").agg(pl.col("q").sum()).filter(pl.col("q") != 0))
    assert dict(net.iter_rows()) == at_venue  # every share the venue holds is a recorded fill, and nothing else
    book = query(home, "SELECT ticker, shares, source FROM portfolio_positions")
    assert dict(zip(book["ticker"], book["shares"])) == at_venue and set(book["source"]) == {"broker"}
    assert venue_fills >= filled.height
    assert "Execution fills on the simulated venue:" in out


def test_every_sleeve_was_backtested_and_each_allocation_sums_to_one(demo):
    home = demo[0]
    runs = query(home, "SELECT sleeve, count(*) AS n FROM backtest_runs GROUP BY sleeve")
    assert runs.height >= 4
    alloc = query(home, "SELECT as_of, sum(weight) AS total, count(*) AS sleeves FROM sleeve_allocation "
                        "GROUP BY as_of ORDER BY as_of")
    assert alloc.height == (WEEKS - 1) // META_EVERY + 1 + (1 if (WEEKS - 1) % META_EVERY else 0)
    assert (alloc["total"] - 1).abs().max() < 1e-9 and (alloc["sleeves"] >= 4).all()
    # the book followed the meta target: every rebalance is method 'sleeves' and its snapshot carries the sleeves
    methods = query(home, "SELECT DISTINCT method FROM target_book")["method"].to_list()
    assert methods == ["sleeves"]
    snaps = query(home, "SELECT run_id, sum(weight) AS w, count(*) AS n FROM allocation_snapshots "
                        "WHERE level = 'sleeve' GROUP BY run_id")
    assert snaps.height >= WEEKS and (snaps["n"] >= 4).all() and ((snaps["w"] - 1).abs() < 1e-6).all()


def test_a_proposal_waits_with_its_evidence(demo):
    home = demo[0]
    pending = query(home, "SELECT * FROM meta_controller_config_proposals WHERE status = 'PENDING'")
    assert pending.height >= 1
    evidence = [json.loads(e) for e in pending["evidence_json"].to_list() if e]
    assert evidence and all(isinstance(e, dict) and e for e in evidence)


def test_live_vs_sims_simulated_line_is_the_backtest_engines_replay(demo):
    home, cfg_path, env, _ = demo
    from meridian_assets.config import load_config
    from meridian_assets.meta.history import load_history
    from meridian_assets.meta.replay import replay_targets
    from meridian_assets.reporting.analytics import SIMULATOR_LABEL

    os.environ.update({k: env[k] for k in ("MERIDIAN_HOME", "DAGSTER_HOME", "MERIDIAN_CONFIG")})
    instance = dg.DagsterInstance.get()
    event = instance.get_latest_materialization_event(dg.AssetKey("live_vs_sim"))
    assert event.asset_materialization.metadata["label"].value == SIMULATOR_LABEL
    lvs = query(home, "SELECT * FROM live_vs_sim WHERE window_end = (SELECT max(window_end) FROM live_vs_sim) "
                      "ORDER BY date")
    cfg = load_config(cfg_path)
    traded = query(home, "SELECT t.* FROM target_book t WHERE rebalance_id IN (SELECT rebalance_id FROM "
                         "position_approvals WHERE status = 'APPROVED')")
    start, end = traded["as_of"].min(), lvs["date"].max()
    with dbread.read_only(home / "meridian.duckdb") as conn:
        replay = replay_targets(load_history(conn, start, end, cfg), traded, cfg, start, end)
    want = replay.daily.select("date", "sim_return").filter(pl.col("date") >= lvs["date"].min())
    got = lvs.select("date", "sim_return").join(want, on="date", how="left", suffix="_engine")
    # the last fills are dated on the session after the market's last bar: the book has that day, the engine not
    beyond = got.filter(pl.col("sim_return_engine").is_null())
    assert beyond.height <= 1 and (beyond["date"] > replay.daily["date"].max()).all()
    assert (beyond["sim_return"] == 0).all()
    got = got.drop_nulls()
    assert got.height >= 3 * 5 and (got["sim_return"] - got["sim_return_engine"]).abs().max() < 1e-12
    assert sum(replay.costs.values()) > 0  # the simulator charged the cost model's costs
    assert (lvs["sim_return"] != 0).sum() > 10
