"""`meridian execute` as an operator calls it: dry run, the live-trading confirmation, the scored CSV."""

from __future__ import annotations

import argparse

import polars as pl
import pytest

from meridian_assets.cli import execute as cli
from meridian_assets.execution import assets as execution_assets
from meridian_assets.execution.clock import ManualClock
from tests.conftest import fake_credential, write_config
from tests.execution_world import AS_OF, RID, flat_prices, write_rebalance
from tests.stubs.alpaca_trading_server import AlpacaTradingStub

PRICES = {"AAA": 40.0, "BBB": 25.0}
TARGETS = {"AAA": 300, "BBB": -200}


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="meridian")
    sub = p.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    return p.parse_args(["execute", *argv])


@pytest.fixture
def home(meridian_home, monkeypatch):
    from meridian_assets.config import get_config

    write_rebalance(get_config().database_path(), TARGETS, prices=flat_prices(PRICES))
    return meridian_home


def test_flags():
    a = parse("--dry-run", "--rebalance-id", RID, "--scored-csv", "s.csv")
    assert (a.dry_run, a.execute, a.rebalance_id, a.scored_csv) == (True, False, RID, "s.csv")
    with pytest.raises(SystemExit):
        parse("--dry-run", "--execute")
    with pytest.raises(SystemExit):
        parse()


def test_dry_run_prints_the_plan_and_sends_nothing(home, capsys):
    assert cli.run(parse("--dry-run")) == 0
    out = capsys.readouterr().out
    assert f"Dry run of {RID}" in out and "nothing sent" in out and "40.04" in out and "24.98" in out
    assert not (home / "broker").exists()


def test_scored_csv_selects_the_rebalance_built_on_its_date(home, tmp_path, capsys):
    csv = tmp_path / "scored.csv"
    pl.DataFrame({"date": [AS_OF, AS_OF], "ticker": ["AAA", "BBB"], "composite": [90.0, 10.0]}).write_csv(csv)
    assert cli.run(parse("--dry-run", "--scored-csv", str(csv))) == 0
    assert f"Dry run of {RID}" in capsys.readouterr().out
    pl.DataFrame({"date": ["2023-01-03"], "ticker": ["AAA"]}).write_csv(csv)
    assert cli.run(parse("--execute", "--scored-csv", str(csv))) == 1
    assert "no approved rebalance built on the scored CSV's date 2023-01-03" in capsys.readouterr().err


def test_execute_on_the_simulated_venue(home, capsys):
    assert cli.run(parse("--execute")) == 0
    out = capsys.readouterr().out
    assert "FILLED" in out and "Positions reconciled with the broker: 2" in out


def test_live_execution_asks_for_the_phrase(home, monkeypatch, capsys):
    key, secret = fake_credential("PK"), fake_credential("live")
    clock = ManualClock()  # Alpaca runs on wall time: a manual one here, so polls do not sleep
    monkeypatch.setattr(execution_assets, "SystemClock", lambda: clock)
    write_config(home, execution={"broker": "alpaca", "mode": "live"})
    with AlpacaTradingStub(api_key=key, secret_key=secret) as stub:
        for k, v in (("ALPACA_API_KEY", key), ("ALPACA_SECRET_KEY", secret), ("ALPACA_TRADING_URL", stub.url),
                     ("ALPACA_DATA_URL", stub.url)):
            monkeypatch.setenv(k, v)
        assert cli.run(parse("--execute"), prompt=lambda _: "yes") == 1
        assert "Not confirmed: nothing traded" in capsys.readouterr().err and stub.requests == []
        assert cli.run(parse("--execute"), prompt=lambda _: "YES I UNDERSTAND THE RISKS") == 0
        assert {o["symbol"]: o["status"] for o in stub.venue.orders.values()} == {"AAA": "filled", "BBB": "filled"}
        assert stub.venue.positions == {"AAA": (300, 40.04), "BBB": (-200, 24.98)}
