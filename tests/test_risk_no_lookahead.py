"""The factor risk model has no look-ahead: day t's return is explained by exposures known at t-1, so nothing
dated after t changes the model's view of day t (Barra's convention)."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from meridian_assets.risk.descriptors import lagged_exposures, model_as_of

N, T = 40, 200
SECTORS = ("Energy", "Financials", "Utilities")
STYLES = ("beta", "momentum", "size", "value", "volatility", "quality")


def _sessions(n: int) -> list[dt.date]:
    out, d = [], dt.date(2023, 1, 2)
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def _world(seed: int = 7):
    rng = np.random.default_rng(seed)
    days = _sessions(T)
    tickers = [f"S{i:02d}" for i in range(N)] + ["SPY"]
    r = 0.01 * rng.standard_normal((T, N + 1))
    px = 50 * np.exp(np.cumsum(r, axis=0))
    prices = pl.DataFrame({
        "date": np.repeat(np.array(days, dtype="datetime64[D]"), N + 1), "ticker": tickers * T,
        "close": px.ravel(), "adj_close": px.ravel(),
    }).with_columns(pl.col("date").cast(pl.Date))
    # scores that move every day (as momentum does) so exposures differ from one day to the next
    sc = 50 + 20 * rng.standard_normal((T, N, 3))
    scores = pl.DataFrame({
        "date": np.repeat(np.array(days, dtype="datetime64[D]"), N), "ticker": tickers[:N] * T,
        "sector": [SECTORS[i % 3] for i in range(N)] * T,
        "momentum_score": sc[:, :, 0].ravel(), "value_score": sc[:, :, 1].ravel(),
        "quality_score": sc[:, :, 2].ravel(),
    }).with_columns(pl.col("date").cast(pl.Date))
    fundamentals = pl.DataFrame({
        "ticker": tickers[:N], "period_end": [dt.date(2022, 9, 30)] * N, "known_at": [dt.date(2022, 11, 1)] * N,
        "shares_outstanding": rng.uniform(1e7, 1e9, N),
    })
    return days, prices, scores, fundamentals


def _model(prices, scores, fundamentals, as_of):
    return model_as_of(prices, scores, fundamentals, as_of, lookback=60, styles=STYLES, beta_days=30)[:3]


def test_returns_after_t_never_change_the_model_as_of_t():
    days, prices, scores, fundamentals = _world()
    t = days[150]
    base, dates, tickers = _model(prices, scores, fundamentals, t)
    # scramble every bar and score dated after t: the model as of t is exactly the same
    rng = np.random.default_rng(1)
    later = pl.col("date") > t
    shaken = prices.with_columns(
        pl.when(later).then(pl.col("adj_close") * pl.Series(rng.uniform(0.5, 2.0, prices.height)))
        .otherwise(pl.col("adj_close")).alias("adj_close"))
    shaken_scores = scores.with_columns(pl.when(later).then(100 - pl.col("momentum_score"))
                                        .otherwise(pl.col("momentum_score")).alias("momentum_score"))
    again, dates2, tickers2 = _model(shaken, shaken_scores, fundamentals, t)
    assert (dates2, tickers2) == (dates, tickers)
    # (to rounding: polars may sum in another order)
    np.testing.assert_allclose(again.factor_returns, base.factor_returns, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(again.F, base.F, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(again.X, base.X, rtol=1e-10, atol=1e-12)


def test_a_days_factor_return_is_the_same_in_every_later_model():
    """Day t's factor return, estimated as of t, is the one every later model shows for day t: its regression
    uses exposures known at t-1, never the later exposures built from the returns being explained."""
    days, prices, scores, fundamentals = _world()
    t, later = days[140], days[180]
    at_t, dates_t, _ = _model(prices, scores, fundamentals, t)
    at_later, dates_later, _ = _model(prices, scores, fundamentals, later)
    assert dates_t[-1] == t and t in dates_later
    k = dates_later.index(t)
    np.testing.assert_allclose(at_later.factor_returns[k], at_t.factor_returns[-1], rtol=1e-9, atol=1e-12)


def test_exposures_of_a_day_ignore_that_days_return():
    days, prices, scores, fundamentals = _world()
    tickers = [f"S{i:02d}" for i in range(N)]
    day = days[120]
    args = dict(styles=STYLES, industries=SECTORS, beta_days=30)
    (before,), _ = lagged_exposures(prices, scores, fundamentals, tickers, [day], **args)
    bumped = prices.with_columns(pl.when(pl.col("date") > day).then(pl.col("adj_close") * 3)
                                 .otherwise(pl.col("adj_close")).alias("adj_close"))
    (after,), _ = lagged_exposures(bumped, scores, fundamentals, tickers, [day], **args)
    np.testing.assert_allclose(before.X, after.X, rtol=1e-10, atol=1e-12)
    # and the exposures do move from day to day (the test would pass trivially otherwise)
    (next_day,), _ = lagged_exposures(prices, scores, fundamentals, tickers, [days[121]], **args)
    assert not np.allclose(before.X, next_day.X)


def test_the_forecast_uses_the_exposures_known_today():
    days, prices, scores, fundamentals = _world()
    model, _, tickers = _model(prices, scores, fundamentals, days[150])
    (today,), known = lagged_exposures(prices, scores, fundamentals, tickers, [days[150]],
                                       styles=STYLES, industries=SECTORS, beta_days=30)
    assert known.all()
    np.testing.assert_allclose(model.X, today.X)


@pytest.mark.parametrize("shift", [1, 5])
def test_a_stock_without_descriptors_that_day_sits_out_its_regression(shift):
    days, prices, scores, fundamentals = _world()
    t = days[150]
    # S00 has no scores for the first sessions of the window: those days it is left out, not given today's
    gap = scores.filter(~((pl.col("ticker") == "S00") & (pl.col("date") <= days[150 - 60 + shift])))
    model, dates, tickers = _model(prices, gap, fundamentals, t)
    i = tickers.index("S00")
    assert np.isnan(model.residuals[0, i]) and np.isfinite(model.residuals[-1, i])
