"""The Alpaca venue through the real alpaca-py `TradingClient`, built by `BrokerResource`, against a loopback stub
of Alpaca's trading API (tier 3). Time is a manual clock: no real sleeps, not even alpaca-py's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import ConfigError
from meridian_assets.execution.broker import LiveTradingNotConfirmed, OrderRequest, Side
from meridian_assets.execution.clock import ManualClock, utc
from meridian_assets.execution.executor import ExecutionContext, Executor
from meridian_assets.execution.planning import TradeIntent
from meridian_assets.execution.short_availability import ShortAvailabilityCache
from meridian_assets.execution.schemas import SHORT_AVAILABILITY
from meridian_assets.risk.pre_trade import MarketInfo
from resources.execution import BrokerResource
from resources.settings import MeridianSettings
from tests.conftest import fake_credential, write_config
from tests.stubs.alpaca_trading_server import AlpacaTradingStub, _position

KEY, SECRET = fake_credential("PK"), fake_credential("trade")
RID = "rb-20240328-mvo-0a1b2c3d"
RECORDED = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "alpaca"
CFG = MeridianConfig()


@pytest.fixture(scope="module")
def server():
    with AlpacaTradingStub(api_key=KEY, secret_key=SECRET) as stub:
        yield stub


@pytest.fixture
def stub(server, monkeypatch, tmp_path):
    server.clear()
    server.venue.reset()
    monkeypatch.setenv("ALPACA_API_KEY", KEY)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    monkeypatch.setenv("ALPACA_TRADING_URL", server.url)
    monkeypatch.setenv("ALPACA_DATA_URL", server.url)
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))  # where live confirmations are kept
    return server


def resource(tmp_path, mode: str = "paper") -> BrokerResource:
    cfg = write_config(tmp_path, execution={"broker": "alpaca", "mode": mode})
    return BrokerResource(settings=MeridianSettings(config_path=str(cfg)))


def client(tmp_path, clock=None, confirmed: bool = False, **kw):
    """A client as a run builds it; ``confirmed``: the operator typed the phrase for this run at the CLI."""
    clock = clock or ManualClock()
    res = resource(tmp_path, kw.pop("mode", "paper"))
    if confirmed:
        run_id = f"run{len(list(tmp_path.glob('execution/live_confirmations/*')))}"
        res.confirmations().issue(run_id, RID)
        kw.update(run_id=run_id, rebalance_id=RID)
    return res.client(clock=clock, **kw), clock


def execute(broker, clock, intents, **kw):
    prices = {i.ticker: i.price for i in intents}
    market = MarketInfo(sector={t: "Industrials" for t in prices}, adv_usd={t: 5e8 for t in prices})
    ctx = ExecutionContext(RID, 1e7, {}, market, CFG.risk, **kw)
    return Executor(broker, CFG.execution, clock=clock).run(intents, ctx)


@pytest.mark.skipif(not RECORDED.is_dir(), reason="recorded Alpaca responses not available")
def test_stub_speaks_alpacas_shapes(stub, tmp_path):
    broker, _ = client(tmp_path)
    stub.venue.price["AAA"] = 10.0
    broker.submit_order(OrderRequest(f"{RID}:AAA:0:0", "AAA", Side.BUY, 5, 10.5))
    order = stub.venue.orders_for("AAA")[0]
    rec = lambda name: json.loads((RECORDED / name).read_text())  # noqa: E731
    assert set(order) == set(rec("test_order_routes__test_limit_order__0.json"))
    assert set(_position("AAA", 5, 10.0, 10.0)) == set(rec("test_position_routes__test_get_all_positions__0.json")[0])
    assert set(broker.inner.client.get_account().model_dump()) >= {"cash", "equity", "status"}
    for name, payload in (("test_account_routes__test_get_account__0.json", broker.inner.client.get("/account")),
                          ("test_asset_routes__test_get_asset__0.json", broker.inner.client.get("/assets/AAA"))):
        assert set(payload) == set(rec(name))


def test_submit_poll_fill_through_the_real_client(stub, tmp_path):
    broker, clock = client(tmp_path)
    stub.venue.price.update({"AAA": 99.5, "BBB": 20.0})
    rep = execute(broker, clock, [TradeIntent("AAA", 0, 300, 100.0, 5e8), TradeIntent("BBB", 0, -200, 20.0, 5e8)])
    assert [r.status for r in rep.records] == ["FILLED", "FILLED"] and broker.positions() == {"AAA": 300, "BBB": -200}
    posts = [r.json() for r in stub.submits()]
    assert [(p["client_order_id"], p["type"], p["time_in_force"], p["limit_price"], p["position_intent"]) for p in posts] \
        == [(f"{RID}:AAA:0:0", "limit", "day", 100.1, "buy_to_open"), (f"{RID}:BBB:0:0", "limit", "day", 19.98, "sell_to_open")]
    aaa = rep.records[0]
    assert aaa.fill_price == 99.5 and aaa.slippage_bps == pytest.approx(-50.0)  # bought below the signal
    assert aaa.fill_ids == f"{aaa.alpaca_order_id}:300"
    assert stub.requests[0].header("APCA-API-KEY-ID") == KEY
    assert broker.inner.client._retry == 0 and broker.inner.client._retry_codes == []


def test_alpaca_py_alone_resends_a_post_after_a_504(stub):
    """Why the adapter turns alpaca-py's own retries off: a 504 on an accepted submit is sent again blind."""
    raw = TradingClient(KEY, SECRET, url_override=stub.url)
    raw._retry_wait = 0  # its default is a real 3-second sleep
    stub.venue.accept_then(504)
    with pytest.raises(APIError, match="client_order_id must be unique"):
        raw.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                                           limit_price=10.0, client_order_id="rb-x:AAA:0:0"))
    assert len(stub.submits()) == 2 and len(stub.venue.orders) == 1


def test_504_on_an_accepted_submit_is_settled_by_client_id_lookup(stub, tmp_path):
    broker, clock = client(tmp_path)
    stub.venue.accept_then(504)
    rep = execute(broker, clock, [TradeIntent("AAA", 0, 100, 10.0, 5e8)])
    assert len(stub.submits()) == 1 and len(stub.venue.orders) == 1  # never re-sent
    assert len(stub.requests_to("/v2/orders:by_client_order_id", "GET")) == 1
    assert rep.records[0].status == "FILLED" and broker.positions() == {"AAA": 100}


def test_dropped_connection_after_accept_is_settled_by_lookup(stub, tmp_path):
    broker, clock = client(tmp_path)
    stub.venue.accept_then_disconnect()
    rep = execute(broker, clock, [TradeIntent("AAA", 0, 100, 10.0, 5e8)])
    assert len(stub.submits()) == 1 and rep.records[0].status == "FILLED" and broker.settled == 1


def test_429_storm_backs_off_with_jitter_and_sends_once(stub, tmp_path):
    broker, clock = client(tmp_path)
    stub.fail("POST", "/v2/orders", 429, times=6)
    stub.fail("GET", "/v2/orders/{order_id}", 429, times=3)
    rep = execute(broker, clock, [TradeIntent("AAA", 0, 100, 10.0, 5e8)])
    assert rep.records[0].status == "FILLED" and len(stub.venue.orders) == 1
    assert [r.status for r in stub.submits()] == [429] * 6 + [200]
    assert broker.retries == 9 and broker.backoff.slept > 0 and clock.slept >= broker.backoff.slept


def test_never_more_than_200_requests_a_minute(stub, tmp_path):
    broker, clock = client(tmp_path)
    start = clock.time()
    for _ in range(450):
        broker.positions()
    assert broker.inner.limiter.acquired == 450 and clock.time() - start >= 120.0  # 3 windows' worth


def test_partial_fills_are_kept_and_the_residual_cancelled(stub, tmp_path):
    broker, clock = client(tmp_path)
    stub.venue.fill_plan["AAA"] = [0.3, 0.0, 0.3]  # 30% on the first poll, 30% more two polls later, then nothing
    rep = execute(broker, clock, [TradeIntent("AAA", 0, 1000, 10.0, 5e8)])
    r = rep.records[0]
    assert (r.status, r.shares) == ("PARTIAL", 600) and broker.positions() == {"AAA": 600}
    oid = r.alpaca_order_id
    assert r.fill_ids == f"{oid}:300,{oid}:600"  # one fill per increase, not per poll
    assert len(stub.requests_to(f"/v2/orders/{oid}", "DELETE")) == 1 and len(stub.submits()) == 1


def test_short_refused_although_shortable(stub, tmp_path):
    broker, clock = client(tmp_path)
    stub.venue.refuse_short("CCC")
    cache = ShortAvailabilityCache(SHORT_AVAILABILITY.empty(), broker.asset, now=utc(clock), max_age_days=7,
                                   broker="alpaca")
    rep = execute(broker, clock, [TradeIntent("CCC", 0, -100, 30.0, 5e8)], short_check=cache.check)
    assert cache.check("CCC").ok  # flagged shortable and easy to borrow ...
    r = rep.records[0]
    assert r.status == "REJECTED" and r.notes.startswith("SHORT_REFUSED")  # ... and refused all the same
    assert len(stub.submits()) == 1 and broker.positions() == {}


def test_live_needs_confirmation_to_submit_but_always_cancels(stub, tmp_path):
    broker, clock = client(tmp_path, mode="live")
    with pytest.raises(LiveTradingNotConfirmed, match="YES I UNDERSTAND THE RISKS"):
        broker.submit_order(OrderRequest(f"{RID}:AAA:0:0", "AAA", Side.BUY, 1, 10.0))
    assert stub.submits() == []
    stub.venue.hold.add("AAA")
    confirmed, _ = client(tmp_path, mode="live", confirmed=True)
    confirmed.submit_order(OrderRequest(f"{RID}:AAA:0:0", "AAA", Side.BUY, 1, 10.0))
    assert broker.cancel_all_open_orders() == [o["id"] for o in stub.venue.orders.values()]  # the kill switch's path
    assert broker.open_orders() == []


def test_paper_by_default_and_keys_only_from_the_environment(stub, tmp_path, monkeypatch):
    monkeypatch.delenv("ALPACA_TRADING_URL")
    paper, _ = client(tmp_path)
    assert paper.inner.client._base_url.endswith("paper-api.alpaca.markets") and paper.allow_submit
    live, _ = client(tmp_path, mode="live", confirmed=True)
    assert live.inner.client._base_url == "https://api.alpaca.markets"
    monkeypatch.delenv("ALPACA_SECRET_KEY")
    with pytest.raises(ConfigError, match="ALPACA_API_KEY / ALPACA_SECRET_KEY"):
        client(tmp_path)


def test_bad_keys_stop_the_run_and_cancelling_a_done_order_is_harmless(stub, tmp_path, monkeypatch):
    broker, clock = client(tmp_path)
    o = broker.submit_order(OrderRequest(f"{RID}:AAA:0:0", "AAA", Side.BUY, 5, 10.5))
    broker.get_order(o.order_id)  # polled: filled
    broker.cancel_order(o.order_id)  # Alpaca answers 422 "not cancelable": nothing to do
    monkeypatch.setenv("ALPACA_SECRET_KEY", "wrong")
    bad, clock = client(tmp_path)
    rep = execute(bad, clock, [TradeIntent("BBB", 0, 100, 10.0, 5e8)])
    assert rep.aborted and "check ALPACA_API_KEY" in rep.aborted and "wrong" not in rep.aborted
    assert [r.status for r in stub.submits()] == [200, 401]


def test_retry_after_is_honoured_on_a_429(stub, tmp_path):
    broker, clock = client(tmp_path)
    stub.fail("POST", "/v2/orders", 429, times=1, headers={"Retry-After": "17"})
    start = clock.time()
    order = broker.submit_order(OrderRequest(f"{RID}:AAA:0:0", "AAA", Side.BUY, 5, 10.5))
    assert order.client_order_id == f"{RID}:AAA:0:0" and len(stub.venue.orders) == 1
    assert broker.backoff.slept >= 17.0 and clock.time() - start >= 17.0  # at least what the broker asked for


@pytest.mark.parametrize("status, message, expected", [
    (401, "unauthorized.", "check ALPACA_API_KEY"),
    (403, "request is not authorized", "check ALPACA_API_KEY"),
    (403, "insufficient buying power", "OrderRejected"),
])
def test_401_and_403_stop_or_reject_without_a_resend(stub, tmp_path, status, message, expected):
    broker, clock = client(tmp_path)
    stub.fail("POST", "/v2/orders", status, body={"code": 40010000 + status, "message": message}, times=5)
    rep = execute(broker, clock, [TradeIntent("AAA", 0, 100, 10.0, 5e8)])
    assert len(stub.submits()) == 1 and stub.venue.orders == {}  # never sent twice
    if expected == "OrderRejected":
        assert rep.aborted is None and rep.records[0].status == "REJECTED" and message in rep.records[0].notes
    else:
        assert expected in rep.aborted and SECRET not in rep.aborted and KEY not in rep.aborted


def test_a_duplicate_client_order_id_returns_the_order_that_landed(stub, tmp_path):
    broker, _ = client(tmp_path)
    first = broker.submit_order(OrderRequest(f"{RID}:AAA:0:0", "AAA", Side.BUY, 5, 10.5))
    again = broker.submit_order(OrderRequest(f"{RID}:AAA:0:0", "AAA", Side.BUY, 5, 10.5))
    assert again.order_id == first.order_id and len(stub.venue.orders) == 1
    assert [r.status for r in stub.submits()] == [200, 422]
    assert len(stub.requests_to("/v2/orders:by_client_order_id", "GET")) == 1


def test_retry_exhaustion_on_submit_stops_the_run_and_the_order_is_accounted_for(stub, tmp_path):
    broker, clock = client(tmp_path)
    stub.fail("POST", "/v2/orders", 503, times=CFG.execution.retries.max_attempts)  # never stored
    rep = execute(broker, clock, [TradeIntent("AAA", 0, 100, 10.0, 5e8), TradeIntent("BBB", 0, 100, 10.0, 5e8)])
    assert rep.aborted and "not placed after 3 attempts" in rep.aborted
    assert len(stub.submits()) == 3 and stub.venue.orders == {}  # one client id, looked up between sends
    assert len(stub.requests_to("/v2/orders:by_client_order_id", "GET")) == 3
    assert [(r.ticker, r.status) for r in rep.records] == [("AAA", "UNKNOWN")]  # recorded; BBB never tried
