"""A whole execution run over DuckDB (`session.execute_rebalance`): reconciliation first, crash and re-run."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.execution.settings import SimulatedVenueConfig
from meridian_assets.execution.broker import OrderRequest, ReconciliationError, Side, parse_client_order_id
from meridian_assets.execution.faults import FaultKind, FaultPlan
from meridian_assets.execution.session import NotApproved, execute_rebalance
from meridian_assets.portfolio.schemas import PORTFOLIO_POSITIONS
from meridian_assets.storage import replace_all
from tests.execution_world import RID, flat_prices, venue, write_rebalance

PRICES = {"AAA": 50.0, "BBB": 20.0, "CCC": 80.0, "DDD": 10.0}
TARGETS = {"AAA": 600, "BBB": -900, "CCC": 300, "DDD": -1500}
CFG = MeridianConfig()
SLOW = SimulatedVenueConfig(fill_delay_seconds=10, fill_duration_seconds=10, fill_slices=2)


def connector(db: Path):
    @contextmanager
    def connect():
        conn = duckdb.connect(str(db))
        try:
            yield conn
        finally:
            conn.close()
    return connect


def q(db: Path, sql: str) -> pl.DataFrame:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.sql(sql).pl()
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Order journals go under $MERIDIAN_HOME (a subprocess inherits it)."""
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def world(tmp_path):
    db = tmp_path / "meridian.duckdb"
    # $40M ADV: 2% = $800k, so every trade here is one chunk
    write_rebalance(db, TARGETS, prices=flat_prices(PRICES, volume=2e6))
    return db


def test_reconciliation_mismatch_broker_is_truth(world, tmp_path):
    raw, broker, clock = venue(tmp_path / "broker", {**PRICES, "EEE": 60.0})
    # the broker already holds AAA 100 and EEE 50 (bought by hand); locally we believe AAA 250 and ZZZ 10
    for t, n in (("AAA", 100), ("EEE", 50)):
        raw.submit_order(OrderRequest(f"manual-{t}", t, Side.BUY, n, 61.0))
    conn = duckdb.connect(str(world))
    day = dt.date(2024, 1, 2)
    replace_all(conn, PORTFOLIO_POSITIONS, pl.DataFrame([
        {"ticker": "AAA", "side": "LONG", "shares": 250, "avg_cost": 40.0, "entry_date": day, "source": "simulated"},
        {"ticker": "ZZZ", "side": "LONG", "shares": 10, "avg_cost": 5.0, "entry_date": day, "source": "simulated"}]))
    conn.close()
    res = execute_rebalance(connector(world), broker, CFG, RID, clock=clock, run_id="r1", halted=lambda: False)
    start = {(e.ticker, e.action) for e in res.start.events}
    assert start == {("AAA", "overwritten"), ("EEE", "inserted"), ("ZZZ", "removed")}
    # the trade list is taken against the broker: AAA buys 500 more, not 350; EEE is left alone
    aaa = [r for r in res.report.records if r.ticker == "AAA"]
    assert [(r.status, r.shares) for r in aaa] == [("FILLED", 500)]
    pos = q(world, "SELECT ticker, shares, source FROM portfolio_positions ORDER BY ticker")
    assert dict(zip(pos["ticker"], pos["shares"])) == {**TARGETS, "EEE": 50} == raw.positions()
    assert set(pos["source"]) == {"broker"}
    log = q(world, "SELECT phase, ticker, action FROM execution_reconciliation WHERE phase = 'start' ORDER BY ticker")
    assert log["action"].to_list() == ["overwritten", "inserted", "removed"]


def test_reconciliation_failure_trades_nothing_and_says_why(world, tmp_path):
    plan = FaultPlan()
    plan.add(FaultKind.OUTAGE, op="list", calls=10)
    raw, broker, clock = venue(tmp_path / "broker", PRICES, faults=plan)
    with pytest.raises(ReconciliationError, match="could not read the broker's book"):
        execute_rebalance(connector(world), broker, CFG, RID, clock=clock, run_id="r1", halted=lambda: False)
    assert "submit_order" not in raw.calls.counts


def test_a_rebalance_must_be_approved(tmp_path):
    db = tmp_path / "m.duckdb"
    write_rebalance(db, TARGETS, prices=flat_prices(PRICES), decisions={t: "REJECTED" for t in TARGETS})
    conn = duckdb.connect(str(db))
    conn.execute("DELETE FROM position_approvals")
    conn.close()
    raw, broker, clock = venue(tmp_path / "broker", PRICES)
    with pytest.raises(NotApproved, match="meridian approve"):
        execute_rebalance(connector(db), broker, CFG, RID, clock=clock, run_id="r1", halted=lambda: False)
    assert raw.calls.total == 0


CRASHING_RUN = textwrap.dedent('''
    import json, os, sys
    from contextlib import contextmanager
    from pathlib import Path
    import duckdb
    from meridian_assets.config import MeridianConfig
    from meridian_assets.execution.settings import SimulatedVenueConfig
    from meridian_assets.execution.clock import ManualClock
    from meridian_assets.execution.session import execute_rebalance
    from tests.execution_world import RID, venue

    db, broker_dir, prices, venue_cfg, start = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3]), \\
        json.loads(sys.argv[4]), float(sys.argv[5])
    raw, safe, clock = venue(broker_dir, prices, cfg=SimulatedVenueConfig(**venue_cfg), clock=ManualClock(start))

    class DiesAfterSecondSubmit:
        """The process dies the moment the venue has accepted its 2nd order: nothing after it runs."""
        def __init__(self, inner):
            self.inner, self.name, self.n = inner, inner.name, 0
        def __getattr__(self, name):
            return getattr(self.inner, name)
        def submit_order(self, request):
            order = self.inner.submit_order(request)
            self.n += 1
            if self.n == 2:
                os._exit(137)
            return order

    @contextmanager
    def connect():
        c = duckdb.connect(db)
        try:
            yield c
        finally:
            c.close()

    execute_rebalance(connect, DiesAfterSecondSubmit(safe), MeridianConfig(), RID, clock=clock, run_id="crashed",
                      halted=lambda: False)
''')


@pytest.mark.parametrize("venue_cfg", [
    {"fill_delay_seconds": 0, "fill_duration_seconds": 0, "fill_slices": 1},  # the order had filled at the crash
    {"fill_delay_seconds": 10, "fill_duration_seconds": 10, "fill_slices": 2},  # it was still working: adopted
], ids=["filled-before-rerun", "working-at-rerun"])
def test_crash_after_an_accepted_submit_then_rerun(world, tmp_path, venue_cfg):
    root = Path(__file__).resolve().parents[1]
    start = 1_711_722_600.0  # the session after the rebalance
    proc = subprocess.run([sys.executable, "-c", CRASHING_RUN, str(world), str(tmp_path / "broker"), json.dumps(PRICES),
                           json.dumps(venue_cfg), str(start)], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr[-2000:]
    assert not _has(world, "execution_fills")  # died before recording anything
    from meridian_assets.execution.clock import ManualClock

    raw, broker, clock = venue(tmp_path / "broker", PRICES, cfg=SimulatedVenueConfig(**venue_cfg),
                               clock=ManualClock(start + 5))
    crashed = raw.list_orders()
    assert len(crashed) == 2  # both accepted before the process died, neither recorded
    res = execute_rebalance(connector(world), broker, CFG, RID, clock=clock, run_id="rerun", halted=lambda: False)
    assert raw.positions() == TARGETS
    orders = raw.list_orders()
    keys = [(parse_client_order_id(o.client_order_id).ticker, parse_client_order_id(o.client_order_id).chunk)
            for o in orders]
    assert len(keys) == len(set(keys)) == len(TARGETS)  # one order per trade: nothing sent twice
    assert {o.client_order_id for o in crashed} <= {o.client_order_id for o in orders}
    rows = q(world, "SELECT client_order_id, status, shares, notes, run_id FROM execution_fills WHERE shares > 0")
    assert set(rows["client_order_id"]) == {o.client_order_id for o in orders}  # every order recorded once
    by_cid = {r["client_order_id"]: r for r in rows.iter_rows(named=True)}
    first, second = sorted(o.client_order_id for o in crashed)
    assert by_cid[first]["run_id"] == "crashed"  # its outcome was journaled before the process died
    assert res.recovered and {r.client_order_id: r.status for r in res.recovered}[second] == "UNKNOWN"
    # the second was accepted but never answered: its intent was on disk, the broker settles it
    note = by_cid[second]["notes"]
    assert ("reconciled: local 0 UNKNOWN" in note) if venue_cfg["fill_slices"] == 1 else ("adopted" in note)
    assert res.report.submitted == len(TARGETS) - 2


def _has(db: Path, table: str) -> bool:
    return bool(q(db, f"SELECT count(*) AS n FROM information_schema.tables WHERE table_name = '{table}'")["n"][0])
