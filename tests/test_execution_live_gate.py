"""Live trading needs both gates on every path, and a paper run refuses any live endpoint: `execution_job` as a run
config, an environment variable, a resource URL, the approval sensor and the CLI would start it, with the real
alpaca-py client on the loopback trading stub."""

from __future__ import annotations

import argparse
import uuid

import dagster as dg
import pytest

from meridian_assets.cli import execute as cli
from meridian_assets.errors import ConfigError
from meridian_assets.execution import assets as execution_assets
from meridian_assets.execution.clock import ManualClock
from meridian_assets.execution.live_gate import LIVE_CONFIRMATION, LiveConfirmations, check_paper_endpoint
from resources.execution import BrokerResource
from resources.settings import MeridianSettings
from sensors.execution import approved_rebalance_sensor
from tests.conftest import fake_credential, write_config
from tests.execution_world import RID, flat_prices, write_rebalance
from tests.stubs.alpaca_trading_server import AlpacaTradingStub

PRICES = {"AAA": 40.0, "BBB": 25.0}
TARGETS = {"AAA": 300, "BBB": -200}
KEY, SECRET = fake_credential("PK"), fake_credential("gate")
LIVE_URL = "https://api.alpaca.markets"


@pytest.fixture(scope="module")
def server():
    with AlpacaTradingStub(api_key=KEY, secret_key=SECRET) as stub:
        yield stub


@pytest.fixture
def home(meridian_home, monkeypatch, server):
    from meridian_assets.config import get_config

    server.clear()
    server.venue.reset()
    server.venue.price.update(PRICES)
    write_rebalance(get_config().database_path(), TARGETS, prices=flat_prices(PRICES))
    clock = ManualClock()  # Alpaca runs on wall time: a manual one here, so polls do not sleep
    monkeypatch.setattr(execution_assets, "SystemClock", lambda: clock)
    for k, v in (("ALPACA_API_KEY", KEY), ("ALPACA_SECRET_KEY", SECRET), ("ALPACA_TRADING_URL", server.url),
                 ("ALPACA_DATA_URL", server.url)):
        monkeypatch.setenv(k, v)
    return meridian_home


def mode(home, value: str) -> None:
    write_config(home, execution={"broker": "alpaca", "mode": value})


def run_job(run_config: dict, run_id: str | None = None):
    job = cli.build_execution_definitions().resolve_job_def("execution_job")
    return job.execute_in_process(run_config=run_config, instance=dg.DagsterInstance.get(), run_id=run_id,
                                  asset_selection=[dg.AssetKey(a) for a in cli.EXECUTE_ASSETS], raise_on_error=False)


def ops(**execute) -> dict:
    return {"ops": {"execution_plan": {"config": {"rebalance_id": RID}},
                    "execute_rebalance": {"config": {"rebalance_id": RID, **execute}}}}


def step_failure(result) -> str:
    return " ".join(e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE")


def test_a_run_config_cannot_confirm_live_trading(home, server):
    mode(home, "live")
    with pytest.raises(dg.DagsterInvalidConfigError, match="confirm_live"):
        run_job(ops(confirm_live=True))
    res = run_job(ops())
    assert not res.success and "refused" in step_failure(res) and LIVE_CONFIRMATION in step_failure(res)
    assert server.submits() == [] and server.venue.orders == {}


def test_a_confirmation_is_bound_to_its_run_and_used_once(home, server):
    mode(home, "live")
    conf = BrokerResource(settings=MeridianSettings()).confirmations()
    typed = str(uuid.uuid4())
    conf.issue(typed, RID)
    res = run_job(ops(), run_id=str(uuid.uuid4()))  # another run finds no confirmation for itself
    assert not res.success and server.submits() == []
    assert conf.consume(typed, "rb-20240329-mvo-ffffffff")[0] is False  # typed for another rebalance
    conf.issue("second", RID)
    assert conf.consume("second", RID) == (True, "")
    assert conf.consume("second", RID)[0] is False  # one time only


def test_the_sensor_launched_run_never_trades_live(home, server):
    mode(home, "live")
    defs = cli.build_execution_definitions()
    instance = dg.DagsterInstance.get()
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "position_approvals", metadata={"rebalance_id": RID, "status": "APPROVED", "approved_by": "pm"}))
    BrokerResource(settings=MeridianSettings()).confirmations().issue(str(uuid.uuid4()), RID)  # typed for another run
    req = approved_rebalance_sensor(dg.build_sensor_context(instance=instance, definitions=defs)).run_requests[0]
    res = run_job(req.run_config)
    assert not res.success and "no operator confirmation" in step_failure(res)
    assert server.submits() == [] and server.venue.orders == {}


@pytest.mark.parametrize("url", [LIVE_URL, "https://api.alpaca.markets/v2", "https://broker-proxy.example.com"])
def test_a_paper_run_refuses_a_live_url_from_the_environment(home, server, monkeypatch, url):
    mode(home, "paper")
    monkeypatch.setenv("ALPACA_TRADING_URL", url)
    res = run_job(ops())
    assert not res.success and "execution.mode is paper" in step_failure(res)
    assert KEY not in step_failure(res) and SECRET not in step_failure(res)
    with pytest.raises(ConfigError, match="only trades on paper-api.alpaca.markets"):
        BrokerResource(settings=MeridianSettings()).client(clock=ManualClock())


def test_a_paper_run_refuses_a_live_url_from_the_run_config(home, server):
    mode(home, "paper")
    res = run_job({**ops(), "resources": {"broker": {"config": {"alpaca_url": LIVE_URL}}}})
    assert not res.success and "Alpaca's LIVE endpoint" in step_failure(res)
    assert server.submits() == []


def test_paper_accepts_the_paper_host_and_loopback_only():
    for ok in (None, "https://paper-api.alpaca.markets", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"):
        check_paper_endpoint(ok)
    for bad in (LIVE_URL, "api.alpaca.markets", "https://paper-api.alpaca.markets.evil.example", "http://10.0.0.5"):
        with pytest.raises(ConfigError):
            check_paper_endpoint(bad)


def test_the_cli_confirmation_opens_the_gate_for_its_own_run_only(home, server, capsys):
    mode(home, "live")
    ns = argparse.Namespace(execute=True, dry_run=False, rebalance_id=RID, scored_csv=None)
    assert cli.run(ns, prompt=lambda _: LIVE_CONFIRMATION) == 0
    assert {o["symbol"]: o["status"] for o in server.venue.orders.values()} == {"AAA": "filled", "BBB": "filled"}
    folder = LiveConfirmations(home / "execution" / "live_confirmations").folder
    assert [p.suffix for p in folder.iterdir()] == [".used"]  # consumed by the run it was typed for
