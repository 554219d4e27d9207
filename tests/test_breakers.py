"""Circuit breakers (strictly above threshold) and the persistent halt lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.breakers import BreakerAction, evaluate_breakers, evaluate_values, nav_figures
from meridian_assets.risk.halt_lock import HaltLock
from meridian_assets.risk.pre_trade import TradingState

CFG = RiskConfig()
D = 1e-9


@pytest.mark.parametrize(
    ("field", "threshold", "action"),
    [
        ("daily", CFG.daily_loss_size_down, BreakerAction.SIZE_DOWN),
        ("daily", CFG.daily_loss_close_all, BreakerAction.CLOSE_ALL_TODAY),
        ("weekly", CFG.weekly_loss_size_down, BreakerAction.SIZE_DOWN),
        ("drawdown", CFG.drawdown_kill, BreakerAction.KILL_SWITCH),
        ("position", CFG.single_position_force_close, BreakerAction.FORCE_CLOSE),
    ],
)
def test_each_breaker_fires_strictly_above_threshold(field, threshold, action):
    def run(v):
        vals = {"daily": 0.0, "weekly": 0.0, "drawdown": 0.0, "position": 0.0} | {field: v}
        return evaluate_values(vals["daily"], vals["weekly"], vals["drawdown"], {"AAA": vals["position"]}, CFG)

    assert action not in run(threshold).actions
    assert action not in run(threshold - D).actions
    above = run(threshold + D)
    assert action in above.actions
    event = next(e for e in above.events if e.action is action)
    assert event.value == threshold + D and event.threshold == threshold


def test_state_mapping_and_payload():
    assert evaluate_values(0.0, 0.0, 0.0, {}, CFG).state is TradingState.ACTIVE
    size_down = evaluate_values(0.02, 0.0, 0.02, {}, CFG)
    assert size_down.state is TradingState.REDUCING and size_down.size_multiplier == pytest.approx(0.70)
    force = evaluate_values(0.0, 0.0, 0.0, {"AAA": 0.031, "BBB": 0.02}, CFG)
    assert force.state is TradingState.ACTIVE and force.force_close == ("AAA",) and force.size_multiplier == 1.0
    close_all = evaluate_values(0.03, 0.03, 0.03, {}, CFG)
    assert close_all.state is TradingState.HALTED and not close_all.persistent_halt
    assert set(close_all.actions) == {BreakerAction.SIZE_DOWN, BreakerAction.CLOSE_ALL_TODAY}
    kill = evaluate_values(0.0, 0.0, 0.09, {}, CFG)
    assert kill.state is TradingState.HALTED and kill.persistent_halt


def test_nav_series_figures_and_float_round_off_at_threshold():
    # 1 - 98.5/100 is 0.015000000000000013 in floats: still "at" the threshold, so no trigger
    at = evaluate_breakers([100.0, 100.0, 98.5], {}, CFG)
    assert at.daily_loss == pytest.approx(0.015) and at.state is TradingState.ACTIVE
    above = evaluate_breakers([100.0, 100.0, 98.4999999], {}, CFG)
    assert above.actions == (BreakerAction.SIZE_DOWN,)
    daily, weekly, dd = nav_figures([100, 96, 94, 93, 92.5, 92.2, 91.9])
    assert daily == pytest.approx(1 - 91.9 / 92.2)
    assert weekly == pytest.approx(1 - 91.9 / 96)
    assert dd == pytest.approx(0.081)
    report = evaluate_breakers([100, 96, 94, 93, 92.5, 92.2, 91.9], {"AAA": -91.9 * 0.02, "BBB": -91.9 * 0.04,
                                                                     "CCC": +91.9 * 0.05}, CFG)
    assert report.state is TradingState.HALTED and report.persistent_halt
    assert BreakerAction.KILL_SWITCH in report.actions and report.force_close == ("BBB",)
    with pytest.raises(ValueError):
        evaluate_breakers([100.0, 0.0], {}, CFG)


def test_halt_lock_lifecycle_across_restart(tmp_path):
    path = tmp_path / "cache" / "risk_halt.lock"
    lock = HaltLock(path)
    assert not lock.is_halted() and lock.read() is None and lock.clear() is False
    rec = lock.write("KILL_SWITCH drawdown", {"drawdown": 0.081, "threshold": 0.08})
    doc = json.loads(path.read_text())
    assert doc == {"reason": "KILL_SWITCH drawdown", "created_at": rec.created_at, "triggers": rec.triggers}
    fresh = HaltLock(path)  # a new object: as after a restart
    assert fresh.is_halted() and fresh.read() == rec
    code = (
        "import sys; from meridian_assets.risk.halt_lock import HaltLock; "
        "r = HaltLock(sys.argv[1]).read(); print(r.reason, r.triggers['drawdown'])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "KILL_SWITCH drawdown 0.081"
    assert fresh.clear() is True
    assert not lock.is_halted() and not path.exists()


def test_halt_lock_write_is_atomic_and_corrupt_lock_still_halts(tmp_path, monkeypatch):
    path = tmp_path / "risk_halt.lock"
    lock = HaltLock(path)
    first = lock.write("first", {"x": 1.0})

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        lock.write("second")
    monkeypatch.undo()
    assert lock.read() == first  # old lock intact
    assert [p.name for p in tmp_path.iterdir()] == ["risk_halt.lock"]  # no temp file left
    path.write_text("{not json")
    assert lock.is_halted() and "unreadable" in lock.read().reason
