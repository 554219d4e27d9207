"""Circuit breakers beyond their thresholds: the NAV figures on short and bad series, the report's events named
as the kill switch and the risk state read them, per-position losses against the latest NAV, and the breaker
inputs the book publishes for the kill switch (including a wiped-out NAV, which fires everything)."""

from __future__ import annotations

import pytest

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.breakers import (
    BreakerAction, BreakerEvent, breaker_inputs, evaluate_breakers, evaluate_inputs, evaluate_values, fires,
    nav_figures, unrealized_pnl,
)
from meridian_assets.risk.pre_trade import TradingState

CFG = RiskConfig()


def test_nav_figures_on_short_and_long_series():
    assert nav_figures([100.0]) == (0.0, 0.0, 0.0)
    assert nav_figures([100.0, 98.0]) == pytest.approx((0.02, 0.02, 0.02))
    # fewer than 6 points: the "5-day" loss is from the first NAV
    assert nav_figures([100.0, 110.0, 99.0]) == pytest.approx((0.1, 0.01, 0.1))
    six = [100.0, 120.0, 119.0, 118.0, 117.0, 96.0]  # exactly 6: from 5 sessions back (the first)
    assert nav_figures(six)[1] == pytest.approx(0.04)
    seven = [50.0, *six]  # 7: still 5 sessions back, not the first
    daily, weekly, dd = nav_figures(seven)
    assert weekly == pytest.approx(1 - 96 / 100) and dd == pytest.approx(1 - 96 / 120)
    assert daily == pytest.approx(1 - 96 / 117)
    assert all(isinstance(v, float) for v in nav_figures([1, 2, 3]))  # integer NAVs are fine
    assert nav_figures([0.5, 0.4])[0] == pytest.approx(0.2)  # so are positive NAVs below 1


@pytest.mark.parametrize("nav", [[], [100.0, 0.0], [100.0, -5.0], [100.0, float("nan")], [float("inf"), 1.0]])
def test_a_nav_series_that_cannot_be_read_is_refused(nav):
    with pytest.raises(ValueError, match="^circuit breakers need a non-empty, positive, finite NAV series$"):
        nav_figures(nav)


def test_events_name_their_trigger_in_a_fixed_order():
    r = evaluate_values(0.03, 0.05, 0.09, {"ZZZ": 0.04, "AAA": 0.05, "MMM": 0.01}, CFG)
    assert r.events == (
        BreakerEvent("daily_loss_size_down", BreakerAction.SIZE_DOWN, 0.03, CFG.daily_loss_size_down),
        BreakerEvent("daily_loss_close_all", BreakerAction.CLOSE_ALL_TODAY, 0.03, CFG.daily_loss_close_all),
        BreakerEvent("weekly_loss", BreakerAction.SIZE_DOWN, 0.05, CFG.weekly_loss_size_down),
        BreakerEvent("drawdown", BreakerAction.KILL_SWITCH, 0.09, CFG.drawdown_kill),
        BreakerEvent("single_position", BreakerAction.FORCE_CLOSE, 0.05, CFG.single_position_force_close, "AAA"),
        BreakerEvent("single_position", BreakerAction.FORCE_CLOSE, 0.04, CFG.single_position_force_close, "ZZZ"),
    )
    assert r.force_close == ("AAA", "ZZZ") and r.persistent_halt and r.state is TradingState.HALTED
    assert (r.daily_loss, r.weekly_loss, r.drawdown) == (0.03, 0.05, 0.09)
    assert r.values == {"daily_loss": 0.03, "weekly_loss": 0.05, "drawdown": 0.09}
    assert r.size_multiplier == pytest.approx(1 - CFG.size_down_fraction)


def test_the_most_severe_state_wins_whatever_the_order():
    # a force-close (ACTIVE) after a size-down (REDUCING) does not lower the state
    r = evaluate_values(0.0, 0.05, 0.0, {"AAA": 0.05}, CFG)
    assert r.state is TradingState.REDUCING and r.actions == (BreakerAction.SIZE_DOWN, BreakerAction.FORCE_CLOSE)
    assert not r.persistent_halt
    only_force = evaluate_values(0.0, 0.0, 0.0, {"AAA": 0.05}, CFG)
    assert only_force.state is TradingState.ACTIVE and only_force.size_multiplier == 1.0


def test_a_value_exactly_one_tolerance_above_the_threshold_is_still_at_it():
    t = CFG.drawdown_kill
    assert not fires(t + 1e-12, t) and fires(t + 2e-12, t) and not fires(t, t)


def test_position_losses_are_against_the_latest_nav():
    # NAV 100 -> 200: a $7 loss is 3.5% of the latest NAV (fires), though 7% of the first
    r = evaluate_breakers([100.0, 200.0], {"AAA": -7.0, "BBB": -5.0, "CCC": 50.0}, CFG)
    assert r.force_close == ("AAA",)
    assert r.events[-1].value == pytest.approx(0.035)
    # NAV 200 -> 100 (a 50% daily loss): the $5 loss is 5% of the latest NAV
    r2 = evaluate_breakers([200.0, 100.0], {"BBB": -5.0}, CFG)
    assert r2.force_close == ("BBB",) and r2.daily_loss == pytest.approx(0.5)
    r3 = evaluate_breakers([100.0, 200.0, 100.0], {"CCC": -4.0}, CFG)  # the last NAV, not the second
    assert r3.force_close == ("CCC",) and r3.events[-1].value == pytest.approx(0.04)


def test_unrealized_pnl_per_position():
    frame = {"ticker": ["AAA", "BBB", "CCC"], "shares": [100, -50, 0], "last_price": [12.0, 30.0, 9.0],
             "avg_cost": [10.0, 28.0, 5.0]}
    assert unrealized_pnl(frame) == {"AAA": 200.0, "BBB": -100.0, "CCC": 0.0}


def test_breaker_inputs_published_by_the_book():
    nav = [100.0, 120.0, 119.0, 118.0, 117.0, 116.0, 110.0]
    i = breaker_inputs(nav)
    assert set(i) == {"nav", "peak_nav", "daily_return", "weekly_return", "drawdown"}
    assert i["nav"] == 110.0 and i["peak_nav"] == 120.0
    assert i["daily_return"] == pytest.approx(110 / 116 - 1)  # signed: a loss is negative
    assert i["weekly_return"] == pytest.approx(110 / 120 - 1)
    assert i["drawdown"] == pytest.approx(1 - 110 / 120)
    r = evaluate_inputs(i, CFG)
    direct = evaluate_breakers(nav, {}, CFG)
    assert r.events == direct.events and r.state is direct.state
    assert (r.daily_loss, r.weekly_loss, r.drawdown) == pytest.approx((direct.daily_loss, direct.weekly_loss,
                                                                       direct.drawdown))
    calm = evaluate_inputs(breaker_inputs([100.0, 100.5]), CFG)
    assert calm.state is TradingState.ACTIVE and calm.events == ()
    small = breaker_inputs([0.5, 0.5])  # a NAV below 1 (any unit) is still a NAV
    assert small == {"nav": 0.5, "peak_nav": 0.5, "daily_return": 0.0, "weekly_return": 0.0, "drawdown": 0.0}


@pytest.mark.parametrize(("nav", "last", "peak"), [([100.0, 0.0], 0.0, 100.0), ([100.0, 50.0, -3.0], -3.0, 100.0),
                                                   ([100.0, float("nan")], float("nan"), 100.0), ([], 0.0, 0.0)])
def test_a_wiped_out_or_unreadable_nav_fires_every_book_breaker(nav, last, peak):
    i = breaker_inputs(nav)
    assert (i["daily_return"], i["weekly_return"], i["drawdown"]) == (-1.0, -1.0, 1.0)
    assert i["peak_nav"] == peak
    assert i["nav"] == last or (last != last and i["nav"] != i["nav"])
    r = evaluate_inputs(i, CFG)
    assert r.persistent_halt and r.state is TradingState.HALTED
    assert set(r.actions) == {BreakerAction.SIZE_DOWN, BreakerAction.CLOSE_ALL_TODAY, BreakerAction.KILL_SWITCH}
    assert (r.daily_loss, r.weekly_loss, r.drawdown) == (1.0, 1.0, 1.0)
