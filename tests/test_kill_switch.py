"""The kill switch end to end on a one-name book in tmp_path: the book step publishes the breaker inputs, the
kill_switch_sensor (evaluated on an ephemeral instance, never opening DuckDB) requests risk_halt_job, risk_halt_job
writes the lock, and the pre-trade checks deny with TRADING_HALTED — for the whole next New York session when the
halt is day-scoped, and not after it."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from meridian_assets.calendar import NEW_YORK, last_completed_session, next_session, sessions
from meridian_assets.definitions import build_definitions, build_resources
from meridian_assets.ingest.schemas import DAILY_PRICES, UNIVERSE
from meridian_assets.portfolio.assets import portfolio_book
from meridian_assets.portfolio.schemas import POSITION_APPROVALS
from meridian_assets.risk.halt_lock import HaltLock
from meridian_assets.risk.pre_trade import BookState, MarketInfo, Trade, VetoReason, check_trade
from meridian_assets.storage import replace_all
from resources import DuckDBStore, MeridianSettings
from sensors.risk import kill_switch_sensor
from tests.conftest import module_home

SHARES = 90_000  # $9M of the $10M book in one name, bought at $100


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with module_home(tmp_path_factory, "kill_switch") as (home, cfg, _):
        yield home, cfg


def book_world(home, closes: list[float]) -> dt.date:
    """One name bought at $100 ten sessions ago, then closing at ``closes`` up to the last completed session
    (New York time). Returns that session."""
    last = last_completed_session()
    days = sessions(last - dt.timedelta(days=30), last)[-len(closes):]
    with DuckDBStore(database=str(home / "meridian.duckdb")).connect() as conn:
        replace_all(conn, UNIVERSE, UNIVERSE.conform(pl.DataFrame({
            "ticker": ["AAA"], "sector": ["Energy"], "is_benchmark": [False], "asset_type": ["stock"],
            "start_date": [days[0]]})))
        replace_all(conn, DAILY_PRICES, DAILY_PRICES.conform(pl.DataFrame({
            "date": days, "ticker": ["AAA"] * len(days), "close": closes, "adj_close": closes})))
        replace_all(conn, POSITION_APPROVALS, POSITION_APPROVALS.conform(pl.DataFrame({
            "rebalance_id": ["rb-1"], "date": [days[0]], "ticker": ["AAA"], "sector": ["Energy"], "action": ["BUY"],
            "shares": [SHARES], "price": [100.0], "status": ["EXECUTED"], "decided_by": ["pm"]})))
    return days[-1]


def halt_from_book(home, cfg, closes):
    """Materialize the book, evaluate the sensor, run what it requests; (session, run request, halt result)."""
    session = book_world(home, closes)
    HaltLock(home / "risk_halt.lock").clear()
    defs = build_definitions(str(cfg), str(home / "meridian.duckdb"))
    inst = dg.DagsterInstance.ephemeral()
    assert dg.materialize([portfolio_book], resources=build_resources(str(cfg), str(home / "meridian.duckdb")),
                          instance=inst).success
    request = kill_switch_sensor(sensor_context(inst, cfg))
    if not isinstance(request, dg.RunRequest):
        return session, request, None
    result = defs.resolve_job_def("risk_halt_job").execute_in_process(run_config=request.run_config, instance=inst,
                                                                 tags=request.tags)
    return session, request, result


def sensor_context(instance, cfg, cursor=None):
    return dg.build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"settings": MeridianSettings(config_path=str(cfg))})


def ny(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NEW_YORK)


def denied(lock: HaltLock, at: dt.datetime) -> bool:
    """Whether a small buy is denied TRADING_HALTED by the pre-trade checks at ``at``."""
    market = MarketInfo(sector={"AAA": "Energy"}, beta={"AAA": 1.0}, adv_usd={"AAA": 1e12})
    from meridian_assets.risk.settings import RiskConfig

    d = check_trade(Trade("AAA", 1_000.0), BookState(1e7, {"AAA": 1e4}), market, RiskConfig(), lock.is_halted(at))
    return VetoReason.TRADING_HALTED in d.reasons


def test_a_daily_loss_halts_the_whole_next_new_york_session_and_then_expires(home):
    h, cfg = home
    # -3.6% on the last session: CLOSE_ALL_TODAY (> 2.5%), drawdown 3.6% (no kill switch)
    session, request, result = halt_from_book(h, cfg, [100.0] * 9 + [96.0])
    assert isinstance(request, dg.RunRequest) and request.run_key == f"halt:{session}:CLOSE_ALL_TODAY"
    assert result.success
    lock = HaltLock(h / "risk_halt.lock")
    record = lock.read()
    expires = dt.date.fromisoformat(record.expires_on)
    halted_session = next_session(session)
    assert expires >= halted_session  # the session after the breach (later only if that one is already over)
    # the next New York session is halted from its open to its close, and in the evening after it, when the
    # machine's UTC date has already moved on
    for at in (ny(halted_session, 9, 30), ny(halted_session, 15, 59), ny(halted_session, 21, 30)):
        assert denied(lock, at), at
    assert ny(halted_session, 21, 30).astimezone(dt.timezone.utc).date() > halted_session
    # and the session after the halted one trades again
    after = next_session(expires)
    assert not denied(lock, ny(after, 9, 30))
    assert not lock.is_halted(ny(after, 9, 30).astimezone(dt.timezone.utc).replace(tzinfo=None))  # naive = UTC
    # cancels are allowed throughout
    assert check_trade(Trade("AAA", -1.0, is_cancel=True), BookState(1e7, {"AAA": 1e4}), MarketInfo(),
                       __import__("meridian_assets.config", fromlist=["RiskConfig"]).RiskConfig(), True).accepted
    lock.clear()


def test_halt_job_scopes_close_all_today_to_the_session_after_the_breach(home):
    h, cfg = home
    session = last_completed_session()
    defs = build_definitions(str(cfg), str(h / "meridian.duckdb"))
    lock = HaltLock(h / "risk_halt.lock")
    lock.clear()
    config = {"action": "CLOSE_ALL_TODAY", "as_of": session.isoformat(), "reason": "daily loss 3%"}
    assert defs.resolve_job_def("risk_halt_job").execute_in_process(
        run_config={"ops": {"halt_lock": {"config": config}}}, instance=dg.DagsterInstance.ephemeral()).success
    halted = next_session(session)
    assert lock.is_halted(halted)  # a New York date: the whole next session
    assert not lock.is_halted(next_session(dt.date.fromisoformat(lock.read().expires_on)))
    lock.clear()


def test_a_drawdown_past_the_kill_level_cancels_orders_and_writes_a_lock_that_never_expires(home):
    from meridian_assets.execution.broker import OrderRequest, Side

    h, cfg = home
    # an order resting at the simulated venue, to be cancelled by the halt
    client = build_resources(str(cfg), str(h / "meridian.duckdb"))["broker"].client()
    client.submit_order(OrderRequest(client_order_id="rb-test-AAA-0-0", ticker="AAA", side=Side.BUY, qty=10,
                                     limit_price=1.0))
    assert len(client.open_orders()) == 1
    session, request, result = halt_from_book(h, cfg, [100.0, 101.0, 99.0, 98.0, 97.0, 96.0, 95.0, 94.0, 92.0, 90.5])
    assert isinstance(request, dg.RunRequest) and request.run_key == f"halt:{session}:KILL_SWITCH"
    md = result.asset_materializations_for_node("halt_lock")[-1].metadata
    assert md["action"].value == "KILL_SWITCH" and md["triggers"].value["drawdown"] > 0.08
    assert md["cancelled_orders"].value == 1 and client.open_orders() == []
    # the lock survives a restart: a fresh reader sees it, with no expiry
    lock = HaltLock(h / "risk_halt.lock")
    assert lock.read().expires_on is None and "KILL_SWITCH" in lock.read().reason
    assert denied(lock, ny(next_session(session), 10)) and denied(lock, ny(session + dt.timedelta(days=400), 10))
    lock.clear()


def test_the_same_book_is_acted_on_once(home):
    h, cfg = home
    book_world(h, [100.0] * 9 + [96.0])
    inst = dg.DagsterInstance.ephemeral()
    res = build_resources(str(cfg), str(h / "meridian.duckdb"))
    assert dg.materialize([portfolio_book], resources=res, instance=inst).success
    ctx = sensor_context(inst, cfg)
    first = kill_switch_sensor(ctx)
    assert isinstance(first, dg.RunRequest)
    assert isinstance(kill_switch_sensor(sensor_context(inst, cfg, ctx.cursor)), dg.SkipReason)
    # a re-materialized book of the same session asks again under the same key, which the daemon dedupes
    assert dg.materialize([portfolio_book], resources=res, instance=inst).success
    again = kill_switch_sensor(sensor_context(inst, cfg, ctx.cursor))
    assert isinstance(again, dg.RunRequest) and again.run_key == first.run_key


def test_a_calm_book_requests_nothing_and_the_sensor_reads_only_new_books(home):
    h, cfg = home
    session, request, result = halt_from_book(h, cfg, [100.0] * 9 + [99.5])
    assert isinstance(request, dg.SkipReason) and result is None
    assert not HaltLock(h / "risk_halt.lock").is_halted()
