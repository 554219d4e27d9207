"""The kill switch's asset on its own (`halt_lock` materialized with a scripted broker): a KILL_SWITCH writes a
persistent lock, a CLOSE_ALL_TODAY one scoped to the session after the breach; the lock is written even when
cancelling at the broker fails; the materialization records what happened."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest

from meridian_assets.calendar import last_completed_session
from meridian_assets.risk.halt_lock import HaltLock, halt_session
from meridian_assets.risk.kill_switch import halt_lock
from resources import MeridianSettings
from resources.execution import BrokerResource


class Venue:
    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def cancel_all_open_orders(self):
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


@pytest.fixture
def world(meridian_home, monkeypatch):
    venue = Venue(["ord-1", "ord-2"])
    monkeypatch.setattr(BrokerResource, "client", lambda self, **kw: venue)
    settings = MeridianSettings()
    return {"venue": venue, "lock": HaltLock(settings.get().halt_lock_path()),
            "resources": {"settings": settings, "broker": BrokerResource(settings=settings)}}


def halt(world, **config) -> dict:
    result = dg.materialize([halt_lock], resources=world["resources"], instance=dg.DagsterInstance.ephemeral(),
                            run_config={"ops": {"halt_lock": {"config": config}}})
    assert result.success
    (event,) = result.asset_materializations_for_node("halt_lock")
    return {k: v.value for k, v in event.metadata.items()}


def test_a_kill_switch_writes_a_persistent_lock_and_cancels_every_open_order(world):
    md = halt(world, action="KILL_SWITCH", as_of="2024-03-28", triggers_json='{"drawdown": 0.091}')
    record = world["lock"].read()
    assert record.reason == "KILL_SWITCH on 2024-03-28" and record.expires_on is None
    assert record.triggers == {"drawdown": 0.091} and world["lock"].is_halted(dt.date(2999, 1, 1))
    assert world["venue"].calls == 1
    assert md["action"] == "KILL_SWITCH" and md["reason"] == "KILL_SWITCH on 2024-03-28"
    assert md["as_of"] == "2024-03-28" and md["lock"] == str(world["lock"].path)
    assert md["created_at"] == record.created_at and md["triggers"] == {"drawdown": 0.091}
    assert md["expires_on"] == "never (clear with meridian risk --clear-halt)"
    assert md["cancelled_orders"] == 2 and md["cancelled_ids"] == "ord-1, ord-2" and md["cancel_error"] == "none"


def test_close_all_today_halts_the_session_after_the_breach_only(world):
    md = halt(world, action="CLOSE_ALL_TODAY", as_of="2024-03-28", reason="daily loss 2.7%")
    session = halt_session(dt.date(2024, 3, 28))
    record = world["lock"].read()
    assert record.reason == "daily loss 2.7%" and record.expires_on == session.isoformat()
    assert md["expires_on"] == session.isoformat() and md["reason"] == "daily loss 2.7%"
    assert world["lock"].is_halted(session) and not world["lock"].is_halted(session + dt.timedelta(days=1))


def test_the_lock_is_written_when_the_broker_cannot_cancel(world):
    world["venue"].answer = ConnectionError("broker down")
    md = halt(world, action="MANUAL")
    assert world["lock"].is_halted()
    assert md["cancel_error"] == "ConnectionError: broker down" and md["cancelled_orders"] == 0
    assert md["cancelled_ids"] == "none"
    day = last_completed_session()  # no session given: the last completed one
    assert md["as_of"] == str(day) and world["lock"].read().reason == f"MANUAL on {day}"
    assert world["lock"].read().expires_on is None  # only CLOSE_ALL_TODAY is day-scoped
    assert json.loads(world["lock"].path.read_text())["triggers"] == {}


def test_a_halt_launched_by_hand_with_no_triggers_records_none(world):
    md = halt(world, action="MANUAL", as_of="2024-03-28", triggers_json="")  # the launchpad's empty field
    assert md["triggers"] == {} and world["lock"].read().triggers == {}
    assert md["reason"] == "MANUAL on 2024-03-28" and world["lock"].is_halted()
