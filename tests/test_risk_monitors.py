"""Factor z-scores, book correlation / effective bets, and VIX / credit tail risk."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.monitors import (
    correlation_monitor,
    effective_number_of_bets,
    factor_exposure_z,
    tail_risk,
)

CFG = RiskConfig()


def test_effective_bets_identity_and_all_ones():
    for n in (1, 3, 10):
        assert effective_number_of_bets(np.eye(n)) == pytest.approx(n)
        assert effective_number_of_bets(np.ones((n, n))) == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 8), st.integers(0, 10_000))
def test_effective_bets_between_one_and_n(n, seed):
    r = np.random.default_rng(seed).normal(size=(60, n))
    corr = np.corrcoef(r, rowvar=False)
    assert 1.0 - 1e-9 <= effective_number_of_bets(corr) <= n + 1e-9


def test_correlation_monitor_alerts_on_crowded_book_only():
    rng = np.random.default_rng(0)
    common = rng.normal(size=(200, 1))
    crowded = common + 0.1 * rng.normal(size=(200, 5))
    independent = pl.DataFrame(rng.normal(size=(200, 5)), schema=[f"S{i}" for i in range(5)]).with_columns(
        pl.lit("x").alias("date")
    )
    out = correlation_monitor(crowded, independent, CFG)
    assert out["long"].alert and out["long"].avg_pairwise > 0.9 and out["long"].effective_bets < 1.5
    assert not out["short"].alert and abs(out["short"].avg_pairwise) < 0.3 and out["short"].n_names == 5
    # only the last 60 rows count: a crowded tail after independent history still alerts
    mixed = np.vstack([rng.normal(size=(500, 4)), common[:60] + 0.05 * rng.normal(size=(60, 4))])
    assert correlation_monitor(mixed, mixed, CFG)["long"].alert


def test_factor_exposure_z_hand_example():
    universe = pl.DataFrame(
        {"ticker": list("ABCDEFGH"), "momentum": [2.0, 1.0, -1.0, -2.0, 0.0, 0.0, 0.0, 0.0], "size": [0.0] * 8}
    )
    weights = {"A": 0.03, "B": 0.01, "C": -0.02, "D": -0.02}
    sigma = np.std([2.0, 1.0, -1.0, -2.0, 0.0, 0.0, 0.0, 0.0], ddof=1)  # sqrt(10/7)
    mom, size = factor_exposure_z(universe, weights, ["momentum", "size"], CFG)
    assert mom.long == pytest.approx(1.75) and mom.short == pytest.approx(-1.5)
    assert mom.z == pytest.approx(3.25 / sigma) and mom.alert
    assert size.z == 0.0 and not size.alert
    strict = factor_exposure_z(universe, weights, ["momentum"], RiskConfig(factor_z_alert=3.0))[0]
    assert not strict.alert


@pytest.mark.parametrize(
    ("vix", "mult"), [(None, 1.0), (24.99, 1.0), (25.0, 0.8), (34.99, 0.8), (35.0, 0.5), (80.0, 0.5)]
)
def test_vix_thresholds(vix, mult):
    out = tail_risk(vix, None, CFG)
    assert out.gross_multiplier == pytest.approx(mult)
    assert len(out.reasons) == (mult < 1.0)


def test_credit_spread_widening_and_combination():
    hist = np.tile([3.0, 4.0], 126)  # 252 days: mean 3.5
    sd = hist.std(ddof=1)
    calm = tail_risk(20.0, [*hist, 3.5 + 0.99 * sd], CFG)
    assert calm.gross_multiplier == 1.0 and calm.credit_z == pytest.approx(0.99)
    wide = tail_risk(20.0, [*hist, 3.5 + 1.01 * sd], CFG)
    assert wide.gross_multiplier == pytest.approx(0.8) and "HY OAS" in wide.reasons[0]
    both = tail_risk(40.0, [9.0] * 100 + [*hist, 3.5 + 2 * sd], CFG)  # older than 252 days is ignored
    assert both.gross_multiplier == pytest.approx(0.4) and len(both.reasons) == 2
    assert both.credit_z == pytest.approx(2.0)
