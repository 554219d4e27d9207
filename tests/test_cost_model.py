"""One transaction-cost model: the optimizer plans with it, the simulated venue fills with it, the backtest
charges it — the same half-spread and impact for the same name on the same day."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
import yaml

from meridian_assets.config import load_config
from meridian_assets.execution.broker import OrderRequest, Side
from meridian_assets.execution.clock import ManualClock
from meridian_assets.execution.market import FrameBars
from meridian_assets.portfolio.costs import CostModel, TransactionCost
from meridian_assets.portfolio.market import market_stats
from resources.execution import BrokerResource
from resources.settings import MeridianSettings

DAYS = [dt.date(2024, 1, 2) + dt.timedelta(days=i) for i in range(40)]
INSTANT = {"fill_delay_seconds": 0, "fill_duration_seconds": 0, "fill_slices": 1, "max_participation": 1.0}


def _prices(volume: float) -> pl.DataFrame:
    """AAA trades every day at open 100, high 102, low 98, close 101: a (high - low) / close of 4/101."""
    rows = []
    for i, d in enumerate(DAYS):
        for t, drift in (("AAA", 0.001), ("SPY", 0.0005)):
            c = 101.0 * (1 + drift * (-1) ** i)
            rows.append({"date": d, "ticker": t, "open": 100.0, "high": 102.0, "low": 98.0, "close": 101.0,
                         "adj_close": c, "volume": volume})
    return pl.DataFrame(rows)


@pytest.mark.parametrize("spread_fraction", [0.05, 0.08])
def test_optimizer_and_venue_charge_the_same_half_spread_for_the_same_name_and_day(tmp_path, monkeypatch,
                                                                                 spread_fraction):
    """One key in meridian.yaml, read by the rebalance's cost model and by the venue the execution run gets from
    `BrokerResource`: the same half-spread for the same name on the same day."""
    path = tmp_path / "meridian.yaml"
    path.write_text(yaml.safe_dump({"portfolio": {"spread_fraction_of_range": spread_fraction},
                                    "execution": {"simulated": INSTANT}}))
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path / "home"))
    cfg = load_config(path)
    prices = _prices(volume=1e13)  # so deep that one share's impact is ~1e-8 of the price
    day = DAYS[-1]
    # the optimizer: the rebalance's cost model from the market statistics of the day
    stats = market_stats(prices, ["AAA"], day)
    planned = TransactionCost.from_market(stats["avg_range_pct"].to_numpy(), stats["daily_vol"].to_numpy(),
                                          stats["adv_dollars"].to_numpy(), 1e7, cfg.portfolio)
    # the venue: a marketable one-share buy and sell against the same day's bar
    venue = BrokerResource(settings=MeridianSettings(config_path=str(path))).client(
        bars=FrameBars(prices.filter(pl.col("date") == day)), clock=ManualClock())
    buy = venue.submit_order(OrderRequest("rb-x:AAA:b:0", "AAA", Side.BUY, 1, 110.0))
    sell = venue.submit_order(OrderRequest("rb-x:AAA:s:0", "AAA", Side.SELL, 1, 90.0))
    expected = spread_fraction * 4.0 / 101.0  # the spec: the half-spread is this share of the day's range
    assert planned.half_spread[0] == pytest.approx(expected, rel=1e-12)
    # the venue books prices to 1/100 of a cent: 1e-6 of this price
    assert (buy.filled_avg_price - 100.0) / 100.0 == pytest.approx(planned.half_spread[0], abs=1e-6)
    assert (100.0 - sell.filled_avg_price) / 100.0 == pytest.approx(planned.half_spread[0], abs=1e-6)


def test_a_fill_is_charged_what_the_plan_estimates_for_the_same_trade():
    model = CostModel(commission=2e-4, spread_fraction_of_range=0.05, impact_coefficient=0.1)
    costs = model.for_names([0.03, 0.01], [0.02, 0.025], [5e6, 8e7], nav=1e7)
    shares, price = np.array([3_000, -12_000]), np.array([50.0, 20.0])
    est = costs.estimate(shares * price / 1e7)
    for i in range(2):
        f = costs.price_fill(i, shares[i], price[i])
        assert f.commission == pytest.approx(est.commission_frac[i] * 1e7)
        assert f.spread == pytest.approx(est.spread_frac[i] * 1e7)
        assert f.impact == pytest.approx(est.impact_frac[i] * 1e7)
        # the price carries spread and impact (buys pay up, sells receive less); commission is billed apart
        assert (f.price - price[i]) * shares[i] == pytest.approx(f.spread + f.impact)


def test_impact_of_a_fill_grows_with_the_square_root_of_its_share_of_volume():
    costs = CostModel().for_bar(100.0, 102.0, 98.0, 101.0, 1e6)
    small, big = costs.price_fill(0, 1_000, 100.0), costs.price_fill(0, 4_000, 100.0)
    assert big.impact / 4_000 == pytest.approx(2 * small.impact / 1_000)  # per share: sqrt(4) = 2x
    assert big.spread / 4_000 == pytest.approx(small.spread / 1_000)  # the spread is linear
    assert small.impact == pytest.approx(0.10 * (4 / 101) * np.sqrt(1_000 / 1e6) * 1_000 * 100.0)
