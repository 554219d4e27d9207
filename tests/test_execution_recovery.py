"""Every order is accounted for after a crash or an early stop: a run killed with SIGKILL mid-execution, and orders
whose outcome was unknown when a run stopped (the real alpaca-py client on the loopback trading stub)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.execution.clock import ManualClock
from meridian_assets.execution.journal import read_events
from meridian_assets.execution.session import execute_rebalance
from resources.execution import BrokerResource
from resources.settings import MeridianSettings
from tests.conftest import fake_credential, write_config
from tests.execution_world import RID, flat_prices, venue, write_rebalance
from tests.stubs.alpaca_trading_server import AlpacaTradingStub

ROOT = Path(__file__).resolve().parents[1]
NEXT = "rb-20240328-mvo-99999999"  # the rebalance approved after the stopped run
CFG = MeridianConfig()


def connector(db: Path):
    @contextmanager
    def connect():
        conn = duckdb.connect(str(db))
        try:
            yield conn
        finally:
            conn.close()
    return connect


def rows(db: Path) -> dict[str, dict]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return {r["client_order_id"]: r for r in conn.sql("SELECT * FROM execution_fills").pl().iter_rows(named=True)}
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path / "home"))  # journals; a subprocess inherits it
    return tmp_path / "home"


# --------------------------------------------------------------------------------------------- kill -9
KILLED_RUN = textwrap.dedent('''
    import sys, time
    from contextlib import contextmanager
    from pathlib import Path
    import duckdb
    from meridian_assets.config import MeridianConfig
    from meridian_assets.execution.clock import ManualClock
    from meridian_assets.execution.session import execute_rebalance
    from tests.execution_world import RID, venue

    db, broker_dir, marker = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    raw, safe, clock = venue(broker_dir, {"AAA": 50.0, "BBB": 20.0, "CCC": 80.0, "DDD": 10.0},
                             clock=ManualClock(1_711_722_600.0))

    class HangsInThirdSubmit:
        """The venue accepts the 3rd order, then the process hangs until it is killed."""
        def __init__(self, inner):
            self.inner, self.name, self.n = inner, inner.name, 0
        def __getattr__(self, name):
            return getattr(self.inner, name)
        def submit_order(self, request):
            order = self.inner.submit_order(request)
            self.n += 1
            if self.n == 3:
                marker.write_text(request.client_order_id)
                time.sleep(600)
            return order

    @contextmanager
    def connect():
        c = duckdb.connect(db)
        try:
            yield c
        finally:
            c.close()

    execute_rebalance(connect, HangsInThirdSubmit(safe), MeridianConfig(), RID, clock=clock, run_id="killed",
                      halted=lambda: False)
''')


def test_sigkill_mid_execution_loses_no_fill_and_sends_nothing_twice(tmp_path, home):
    prices = {"AAA": 50.0, "BBB": 20.0, "CCC": 80.0, "DDD": 10.0}
    targets = {"AAA": 600, "BBB": -900, "CCC": 300, "DDD": -1500}
    db = tmp_path / "meridian.duckdb"
    write_rebalance(db, targets, prices=flat_prices(prices, volume=2e6))
    marker = tmp_path / "third-submit-accepted"
    err = tmp_path / "stderr.txt"
    with open(err, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(db), str(tmp_path / "broker"), str(marker)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), err.read_text()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    third = marker.read_text()

    # the next rebalance is approved and executed; the killed run's orders are not its own
    write_rebalance(db, targets, rid=NEXT, prices=flat_prices(prices, volume=2e6))
    raw, broker, clock = venue(tmp_path / "broker", prices, clock=ManualClock(1_711_722_600.0 + 60))
    res = execute_rebalance(connector(db), broker, CFG, NEXT, clock=clock, run_id="next", halted=lambda: False)

    orders = raw.list_orders()
    assert raw.positions() == targets
    assert sorted(o.ticker for o in orders) == sorted(targets)  # one order per ticker: nothing sent twice
    recorded = rows(db)
    for o in orders:  # every order at the venue has its row, with every share it filled
        assert recorded[o.client_order_id]["shares"] == o.filled_qty > 0, o.client_order_id
    assert recorded[third]["status"] == "FILLED" and recorded[third]["rebalance_id"] == RID
    journal = home / "execution" / "journal" / "killed.jsonl.done"
    events = list(read_events(journal))
    assert [e["kind"] for e in events].count("fill") >= 2
    assert [e["by"] for e in events if e["kind"] == "closed"] == ["replay"]  # the killed run never closed it
    assert {e["kind"] for e in events if e.get("cid") == third} == {"intent"}  # sent; the answer never written
    journaled_fills = {e["fill_id"] for e in events if e["kind"] == "fill"}
    booked = {f for r in recorded.values() if r["fill_ids"] for f in r["fill_ids"].split(",")}
    assert journaled_fills <= booked  # every fill event of the killed run is in execution_fills
    killed = {cid for cid, r in recorded.items() if r["run_id"] == "killed"}
    assert {e["cid"] for e in events if e["kind"] == "outcome"} <= killed
    assert res.report.submitted == 1 and {r.client_order_id for r in res.recovered} >= {third}
    again = execute_rebalance(connector(db), broker, CFG, NEXT, clock=clock, run_id="again", halted=lambda: False)
    assert again.recovered == [] and again.report.submitted == 0
    outcome = lambda rs: {k: (v["status"], v["shares"]) for k, v in rs.items()}  # noqa: E731
    assert outcome(rows(db)) == outcome(recorded)  # a re-run changes no outcome


# --------------------------------------------------------------------------------------------- alpaca
KEY, SECRET = fake_credential("PK"), fake_credential("stop")
PRICES = {"AAA": 40.0, "BBB": 25.0}
TARGETS = {"AAA": 300, "BBB": -200}


@pytest.fixture(scope="module")
def server():
    with AlpacaTradingStub(api_key=KEY, secret_key=SECRET) as stub:
        yield stub


@pytest.fixture
def stub(server, monkeypatch, tmp_path):
    server.clear()
    server.venue.reset()
    server.venue.price.update(PRICES)
    for k, v in (("ALPACA_API_KEY", KEY), ("ALPACA_SECRET_KEY", SECRET), ("ALPACA_TRADING_URL", server.url),
                 ("ALPACA_DATA_URL", server.url)):
        monkeypatch.setenv(k, v)
    return server


def alpaca(tmp_path, clock):
    cfg = write_config(tmp_path, execution={"broker": "alpaca", "mode": "paper"})
    return BrokerResource(settings=MeridianSettings(config_path=str(cfg))).client(clock=clock)


class OutageAtSubmit:
    """The broker (the real client) as a run sees it; ``then`` runs right before (``when`` = "before-answer") or
    right after ("after-answer") the first submit is answered."""

    def __init__(self, inner, then, when: str):
        self.inner, self.name, self.then, self.when = inner, inner.name, then, when

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def submit_order(self, request):
        if self.when == "before-answer":
            self.then()
            return self.inner.submit_order(request)
        order = self.inner.submit_order(request)
        self.then()
        return order


def aaa_order(stub) -> dict:
    (o,) = stub.venue.orders_for("AAA")
    return o


def test_an_order_open_when_the_run_stops_is_cancelled_and_recorded(stub, tmp_path):
    db = tmp_path / "meridian.duckdb"
    write_rebalance(db, TARGETS, prices=flat_prices(PRICES))
    stub.venue.hold.add("AAA")
    stub.venue.accept_then(504)  # AAA's submit lands, the run gets a 504 ...
    stub.fail("GET", "/v2/orders:by_client_order_id", 503, times=5)  # ... and every lookup of it fails
    clock = ManualClock()
    res = execute_rebalance(connector(db), alpaca(tmp_path, clock), CFG, RID, clock=clock, run_id="r1",
                            halted=lambda: False)
    assert res.report.aborted and "outcome unknown" in res.report.aborted
    order = aaa_order(stub)
    assert order["status"] == "canceled"  # not left working at the broker
    row = rows(db)[order["client_order_id"]]
    assert (row["status"], row["shares"], row["alpaca_order_id"]) == ("CANCELLED", 0, order["id"])
    assert "stopped" in row["notes"]
    assert [o for o in stub.venue.orders.values() if o["status"] in ("new", "accepted", "partially_filled")] == []


@pytest.mark.parametrize("after_stop", ["filled", "still-open"])
@pytest.mark.parametrize("when", ["before-answer", "after-answer"])
def test_an_unknown_outcome_is_adopted_and_recorded_by_the_next_run(stub, tmp_path, after_stop, when):
    """The broker goes away as AAA's order is sent (before its answer: the run cannot tell whether it exists; after:
    the run knows it but cannot follow it) and stays away until the run has stopped."""
    db = tmp_path / "meridian.duckdb"
    write_rebalance(db, TARGETS, prices=flat_prices(PRICES))
    stub.venue.hold.add("AAA")
    stub.venue.accept_then(504)
    clock = ManualClock()
    broker = OutageAtSubmit(alpaca(tmp_path, clock), then=stub.outage, when=when)
    first = execute_rebalance(connector(db), broker, CFG, RID, clock=clock, run_id="r1", halted=lambda: False)
    assert first.report.aborted
    order = aaa_order(stub)
    assert order["status"] == "accepted"  # the stop could not reach the broker
    row = rows(db)[order["client_order_id"]]
    assert (row["status"], row["shares"]) == ("UNKNOWN" if when == "before-answer" else "OPEN", 0)

    stub.clear()  # the broker is back
    stub.venue.hold.discard("AAA")
    if after_stop == "filled":
        with stub.venue.lock:
            stub.venue.advance(order)  # it fills after the run has stopped
        assert order["status"] == "filled"
    write_rebalance(db, TARGETS, rid=NEXT, prices=flat_prices(PRICES))
    clock.advance(3600)
    second = execute_rebalance(connector(db), alpaca(tmp_path, clock), CFG, NEXT, clock=clock, run_id="r2",
                               halted=lambda: False)
    assert second.report.aborted is None
    row = rows(db)[order["client_order_id"]]
    if after_stop == "filled":
        assert (row["status"], row["shares"], row["rebalance_id"]) == ("FILLED", 300, RID)
        assert len(stub.venue.orders_for("AAA")) == 1  # the next run did not buy it again
    else:
        assert order["status"] == "canceled" and (row["status"], row["shares"]) == ("CANCELLED", 0)
        assert [o["client_order_id"].split(":")[0] for o in stub.venue.orders_for("AAA")] == [RID, NEXT]
    assert stub.venue.positions.keys() == TARGETS.keys()
    assert {s: q for s, (q, _) in stub.venue.positions.items()} == TARGETS
    recorded = rows(db)
    for o in stub.venue.orders.values():  # every order at the broker is recorded with what it filled
        assert recorded[o["client_order_id"]]["shares"] == int(o["filled_qty"])
        assert recorded[o["client_order_id"]]["status"] not in ("UNKNOWN", "OPEN")


def test_a_torn_last_line_is_skipped_and_a_replay_is_idempotent(tmp_path):
    from meridian_assets.execution.journal import OrderJournal, mark_replayed, replay, unfinished

    j = OrderJournal(tmp_path, "dead", RID)
    cid = f"{RID}:AAA:0:0"
    j.append("intent", cid=cid, rebalance_id=RID, ticker="AAA", side="buy", qty=100, limit=10.01, action="BUY",
             book_side="LONG", signal=10.0, chunk=0, attempt=0)
    j.append("ack", cid=cid, order_id="o-1", status="accepted", filled_qty=0)
    j.append("fill", cid=cid, order_id="o-1", fill_id="o-1:40", qty=40, price=9.99)
    j.release()
    with open(j.path, "a") as f:
        f.write('{"kind": "fill", "cid": "' + cid + '", "fill_id": "o-1:1')  # killed mid-write
    assert unfinished(tmp_path) == [j.path]
    (r,) = replay(j.path, "alpaca")
    assert (r.status, r.shares, r.fill_price, r.alpaca_order_id, r.run_id) == ("OPEN", 40, 9.99, "o-1", "dead")
    assert r.slippage_bps == pytest.approx(-10.0) and replay(j.path, "alpaca") == [r]
    mark_replayed(j.path, "next")
    assert unfinished(tmp_path) == [] and (tmp_path / "dead.jsonl.done").exists()
