"""Return statistics against hand-computed values on small series, and their invariants (hypothesis)."""

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meridian_assets.reporting import stats

R = [0.01, -0.02, 0.03, -0.01, 0.02]  # mean 0.006; deviations .004 -.026 .024 -.016 .014; Σd² = 0.00172


def test_sharpe_is_mean_over_sample_std_times_root_252():
    # std(ddof=1) = sqrt(0.00172 / 4) = 0.0207364; 0.006 / 0.0207364 * sqrt(252) = 4.59322
    assert stats.sharpe_ratio(R) == pytest.approx(0.006 / math.sqrt(0.00172 / 4) * math.sqrt(252))
    assert stats.sharpe_ratio(R) == pytest.approx(4.59322, abs=1e-5)


def test_sharpe_subtracts_the_daily_risk_free_rate():
    # rf 2.52% a year = 0.0001 a day: excess mean 0.0059, same dispersion
    assert stats.sharpe_ratio(R, risk_free=0.0252) == pytest.approx(0.0059 / math.sqrt(0.00172 / 4) * math.sqrt(252))


def test_sortino_uses_downside_deviation_over_all_sessions():
    # downside: sqrt((0.02² + 0.01²) / 5) = sqrt(0.0001) = 0.01; 0.006 / 0.01 * sqrt(252) = 9.5247
    assert stats.sortino_ratio(R) == pytest.approx(0.6 * math.sqrt(252))


def test_max_drawdown_is_peak_to_trough_with_dates_and_recovery():
    # wealth 1.01, 0.9898, 1.019494, 1.009299, 1.029485: deepest fall 1.01 -> 0.9898 = -2%, recovered at index 2
    dd = stats.max_drawdown(R)
    assert dd.depth == pytest.approx(-0.02)
    assert (dd.peak, dd.trough, dd.recovery) == (0, 1, 2)
    assert stats.drawdown_series(R)[3] == pytest.approx(1.009299 / 1.019494 - 1, abs=1e-6)


def test_a_loss_on_the_first_day_is_a_drawdown_from_the_starting_wealth():
    dd = stats.max_drawdown([-0.10, 0.05])
    assert dd.depth == pytest.approx(-0.10) and dd.peak == -1 and dd.recovery is None
    assert stats.max_drawdown([0.01, 0.02]).depth == 0.0


def test_cvar95_is_the_mean_of_the_worst_five_percent():
    twenty = [-0.05] + [0.01] * 19  # 5% of 20 = 1 session
    assert stats.cvar(twenty) == pytest.approx(-0.05) and stats.value_at_risk(twenty) == pytest.approx(-0.05)
    forty = [-0.06, -0.04] + [0.002] * 38  # 5% of 40 = 2 sessions
    assert stats.cvar(forty) == pytest.approx(-0.05) and stats.value_at_risk(forty) == pytest.approx(-0.04)
    hundred = list(np.linspace(-0.05, 0.05, 100))  # worst five: -0.05 .. -0.05 + 4 step
    step = 0.1 / 99
    assert stats.cvar(hundred) == pytest.approx(np.mean([-0.05 + i * step for i in range(5)]))


def test_annualised_return_is_geometric_over_252_sessions():
    assert stats.annualised_return([0.001] * 252) == pytest.approx(1.001 ** 252 - 1)
    assert stats.annualised_return([0.001] * 126) == pytest.approx((1.001 ** 126) ** 2 - 1)
    assert stats.annualised_volatility(R) == pytest.approx(math.sqrt(0.00172 / 4) * math.sqrt(252))


def test_rolling_sharpe_fills_only_full_windows():
    roll = stats.rolling_sharpe(R, window=3)
    assert np.isnan(roll[:2]).all()
    assert roll[2] == pytest.approx(stats.sharpe_ratio(R[:3]))
    assert roll[4] == pytest.approx(stats.sharpe_ratio(R[2:]))
    assert np.isnan(stats.rolling_sharpe(R, window=252)).all()


def test_monthly_grid_compounds_within_months():
    dates = [dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1)]
    grid = stats.monthly_grid(dates, [0.01, 0.02, -0.01])
    row = grid.row(0, named=True)
    assert row["year"] == 2024 and row["Jan"] == pytest.approx(0.0302) and row["Feb"] == pytest.approx(-0.01)
    assert row["Mar"] is None and row["Year"] == pytest.approx(1.0302 * 0.99 - 1)


def test_beta_to_the_benchmark_is_the_ols_slope():
    b = np.array([0.01, -0.02, 0.015, 0.0, -0.005])
    assert stats.beta(0.5 * b + 0.001, b) == pytest.approx(0.5)


def test_undefined_statistics_are_nan_not_errors():
    assert math.isnan(stats.sharpe_ratio([0.01])) and math.isnan(stats.sharpe_ratio([0.01, 0.01]))
    assert math.isnan(stats.sortino_ratio([0.01, 0.02])) and math.isnan(stats.cvar([]))
    assert stats.summary([])["sessions"] == 0


returns = st.lists(st.floats(-0.2, 0.2, allow_nan=False, allow_subnormal=False), min_size=2, max_size=300)


@settings(max_examples=60, deadline=None)
@given(returns)
def test_drawdown_between_minus_one_and_zero_and_tail_ordering(r):
    dd = stats.max_drawdown(r)
    assert -1.0 <= dd.depth <= 0.0
    assert stats.cvar(r) <= stats.value_at_risk(r) + 1e-15 <= float(np.median(r)) + 1e-12


@settings(max_examples=60, deadline=None)
@given(returns, st.floats(0.1, 10.0))
def test_sharpe_does_not_depend_on_the_scale_of_returns(r, k):
    assume(np.std(r) > 1e-6)  # below that the dispersion is rounding noise and the ratio is undefined
    a, b = stats.sharpe_ratio(r), stats.sharpe_ratio([k * x for x in r])
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-6, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(returns)
def test_monthly_returns_compound_back_to_the_total(r):
    dates = [dt.date(2023, 1, 2) + dt.timedelta(days=i) for i in range(len(r))]
    monthly = stats.monthly_returns(dates, r)
    assert float(np.prod(1 + monthly["return"].to_numpy()) - 1) == pytest.approx(stats.total_return(r), abs=1e-9)
