"""Conviction-tilt on small hand-checked books: multipliers, sector neutrality, caps, earnings, beta."""

from __future__ import annotations

import numpy as np
import pytest

from meridian_assets.portfolio.settings import PortfolioConfig
from meridian_assets.risk.settings import RiskConfig
from meridian_assets.portfolio.conviction import conviction_tilt

WIDE = RiskConfig(max_position_pct=1.0)  # no NAV cap, to see the other steps alone


def book(n=20):
    scores = np.arange(n, dtype=float)  # distinct: index i has score i
    return scores, [19, 18, 17, 16], [0, 1, 2, 3]


def test_tilt_multipliers_and_renormalisation():
    scores, L, S = book()
    res = conviction_tilt(scores, L, S, np.zeros(20), np.ones(20), limits=WIDE)
    # n=20: top 5% = the single best name (1.5x), top 10% = the next one (1.25x); shorts from the bottom
    assert res.multipliers[L] == pytest.approx([1.5, 1.25, 1.0, 1.0])
    assert res.multipliers[S] == pytest.approx([1.5, 1.25, 1.0, 1.0])
    assert res.weights[L] == pytest.approx(0.80 * np.array([1.5, 1.25, 1, 1]) / 4.75)
    assert res.weights[S] == pytest.approx(-0.70 * np.array([1.5, 1.25, 1, 1]) / 4.75)
    assert res.long_gross == pytest.approx(0.80) and res.short_gross == pytest.approx(0.70)
    assert res.short_scale == 1.0  # net beta 0.10 is inside 0.15: shorts untouched


def test_sector_neutralisation_gives_each_side_the_same_share():
    scores, L, S = book()
    sectors = np.zeros(20, dtype=int)
    sectors[[17, 16]] = 1  # longs: 2 in A, 2 in B
    sectors[3] = 1  # shorts: 3 in A, 1 in B
    cfg = PortfolioConfig(tilt_top5_multiplier=1.0, tilt_top10_multiplier=1.0)
    res = conviction_tilt(scores, L, S, sectors, np.ones(20), cfg=cfg, limits=WIDE)
    # f_A = (0.4/0.8 + 0.525/0.7)/2 = 0.625, f_B = 0.375
    assert res.weights[[19, 18]] == pytest.approx([0.25, 0.25])
    assert res.weights[[17, 16]] == pytest.approx([0.15, 0.15])
    assert res.weights[[0, 1, 2]] == pytest.approx([-0.4375 / 3] * 3)
    assert res.weights[3] == pytest.approx(-0.2625)
    assert res.weights[sectors == 0].sum() == pytest.approx(0.0625)  # 0.10 * f_A
    assert res.weights[sectors == 1].sum() == pytest.approx(0.0375)


def test_nav_and_adv_caps_redistribute_within_the_book():
    scores, L, S = book()
    adv = np.full(20, 1e9)
    adv[17] = 2e7  # 5% of $20M ADV = $1M = 10% of a $10M NAV
    res = conviction_tilt(scores, L, S, np.zeros(20), np.ones(20), adv, nav=1e7,
                          limits=RiskConfig(max_position_pct=0.25))
    assert res.caps[17] == pytest.approx(0.10)
    assert res.weights[19] == pytest.approx(0.25) and res.weights[17] == pytest.approx(0.10)
    assert res.capped[19] and res.capped[17] and not res.capped[18]
    assert res.long_gross == pytest.approx(0.80)  # the excess went to the uncapped names
    assert np.all(res.weights[L] <= res.caps[L] + 1e-12)
    assert res.weights[16] == pytest.approx(0.80 - 0.25 - 0.10 - res.weights[18])
    assert res.weights[18] / res.weights[16] == pytest.approx(1.25)  # pro rata keeps the tilt


def test_earnings_half_size_is_not_redistributed():
    scores, L, S = book()
    days = np.full(20, np.nan)
    days[18] = 3  # inside 5 days
    days[17] = 9  # outside
    plain = conviction_tilt(scores, L, S, np.zeros(20), np.ones(20), limits=WIDE)
    res = conviction_tilt(scores, L, S, np.zeros(20), np.ones(20), limits=WIDE, days_to_earnings=days)
    assert res.earnings_halved[18] and not res.earnings_halved[17]
    assert res.weights[18] == pytest.approx(plain.weights[18] / 2)
    assert res.weights[17] == pytest.approx(plain.weights[17])
    assert res.long_gross == pytest.approx(0.80 - plain.weights[18] / 2)


def test_short_book_scaled_to_neutralise_beta_only_beyond_the_limit():
    scores, L, S = book()
    beta = np.ones(20)
    beta[L] = 2.0  # long beta 1.6 vs short beta 0.7: net 0.9
    res = conviction_tilt(scores, L, S, np.zeros(20), beta, limits=WIDE)
    assert res.beta_before == pytest.approx(0.9)
    assert res.short_scale == pytest.approx(1.6 / 0.7)
    assert res.beta_after == pytest.approx(0.0, abs=1e-12)
    assert res.short_gross == pytest.approx(1.6)
    # 0.14 net beta is inside the limit: nothing changes
    beta[L] = 1.0
    beta[S] = 0.94 / 0.70
    inside = conviction_tilt(scores, L, S, np.zeros(20), beta, limits=WIDE)
    assert inside.beta_before == pytest.approx(0.80 - 0.94) and inside.short_scale == 1.0
    assert inside.short_gross == pytest.approx(0.70)


def test_default_config_on_a_20_20_book_respects_caps():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 100, 100)
    order = np.argsort(-scores)
    L, S = order[:20], order[-20:]
    sectors = rng.integers(0, 5, 100)
    res = conviction_tilt(scores, L, S, sectors, rng.uniform(0.8, 1.2, 100), np.full(100, 1e9))
    assert np.all(np.abs(res.weights) <= 0.05 + 1e-12)
    assert np.all(res.weights[L] > 0) and np.all(res.weights[S] < 0)
    assert res.weights[np.setdiff1d(np.arange(100), np.concatenate([L, S]))].sum() == 0
