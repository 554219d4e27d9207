"""Daily attribution: hand-computed components, the factor regression's alignment and timing, every component
against an independent computation, and the CSV upsert."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.reporting.attribution import attribute, period_contributions, upsert_csv
from meridian_assets.reporting.schemas import DAILY_ATTRIBUTION

D = [dt.date(2024, 1, 2) + dt.timedelta(days=i) for i in range(3)]
SECTORS = {"Information Technology": "XLK", "Energy": "XLE"}


def _prices(rows: dict[str, list[float]], dates) -> pl.DataFrame:
    return pl.DataFrame([{"date": d, "ticker": t, "close": p, "adj_close": p}
                         for t, ps in rows.items() for d, p in zip(dates, ps)])


def _history(dates, returns, betas, nav0=10_000_000.0) -> pl.DataFrame:
    nav = nav0 * np.cumprod(1 + np.asarray(returns))
    return pl.DataFrame({"date": dates, "nav": nav, "beta": betas, "daily_return": returns})


def test_components_by_hand():
    # day 2: net beta 0.1 (day 1's) x SPY +1% = +10 bps; Tech net weight 0.2 x (XLK +3% - SPY +1%) = +40 bps;
    # Energy -0.1 x (XLE -1% - SPY 1%) = +20 bps; no factor returns; alpha = 80 - 10 - 40 - 20 = +10 bps
    history = _history(D, [0.0, 0.008, -0.002], [0.1, 0.1, 0.05])
    navs = history["nav"].to_list()
    holdings = pl.DataFrame({"date": [D[0], D[0], D[1], D[1]], "ticker": ["A", "B", "A", "B"],
                             "sector": ["Information Technology", "Energy"] * 2, "units": [1.0] * 4,
                             "market_value": [0.2 * navs[0], -0.1 * navs[0], 0.3 * navs[1], 0.0]})
    prices = _prices({"SPY": [100, 101, 100.0], "XLK": [50, 51.5, 51.5], "XLE": [20, 19.8, 19.8]}, D)
    a = attribute(history, holdings, prices, None, SECTORS)
    first, second, third = a.rows(named=True)
    assert first["alpha_return"] == 0.0 and first["beta_return"] == 0.0  # no exposure carried into day 1
    assert second["beta_return"] == pytest.approx(0.001)
    assert second["sector_return"] == pytest.approx(0.004 + 0.002)
    assert second["factor_return"] == 0.0
    assert second["alpha_return"] == pytest.approx(0.008 - 0.001 - 0.006)
    # day 3: beta 0.1 x SPY -0.990% ; Tech 0.3 x (0% - SPY) ; Energy weight 0 adds nothing
    spy3 = 100 / 101 - 1
    assert third["beta_return"] == pytest.approx(0.1 * spy3)
    assert third["sector_return"] == pytest.approx(0.3 * (0.0 - spy3))
    assert third["net_beta"] == 0.1 and third["spy_return"] == pytest.approx(spy3)


def _factor_setup(n=40, seed=1):
    rng = np.random.default_rng(seed)
    dates = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)]
    f1, f2 = rng.normal(0, 0.01, n), rng.normal(0, 0.01, n)
    total = 2.0 * f1 - 1.0 * f2 + 0.0003  # exactly factor-driven, plus a constant alpha
    history = _history(dates, total, [0.0] * n)
    fr = pl.DataFrame({"date": dates * 3, "factor": ["value"] * n + ["momentum"] * n + ["composite"] * n,
                       "long_short_return": [*f1, *f2, *rng.normal(0, 1, n)]})
    prices = _prices({"SPY": list(100 + np.arange(n))}, dates)
    return dates, total, history, fr, prices, f1, f2


def test_factor_betas_from_the_previous_sessions_recover_the_exposures():
    dates, total, history, fr, prices, f1, f2 = _factor_setup()
    empty = pl.DataFrame(schema={"date": pl.Date, "ticker": pl.Utf8, "sector": pl.Utf8, "units": pl.Float64,
                                 "market_value": pl.Float64})
    a = attribute(history, empty, prices, fr, SECTORS, window=25, min_observations=20)
    late = a.filter(pl.col("factor_observations") > 0)
    assert late["date"].min() == dates[21]  # needs 20 sessions before it (day 1 carries no exposures)
    i = 30
    assert a["factor_return"][i] == pytest.approx(2.0 * f1[i] - f2[i], abs=1e-12)
    assert a["alpha_return"][i] == pytest.approx(0.0003, abs=1e-12)  # the intercept is alpha, not factor
    assert a["factor_r2"][i] == pytest.approx(1.0)
    assert a["factor_observations"][i] == 25
    # the composite is left out: scrambling it changes nothing
    scrambled = fr.with_columns(pl.when(pl.col("factor") == "composite").then(pl.col("long_short_return") * -7)
                                .otherwise(pl.col("long_short_return")).alias("long_short_return"))
    assert attribute(history, empty, prices, scrambled, SECTORS, window=25)["factor_return"].equals(a["factor_return"])


def test_factor_returns_align_by_date_and_never_look_ahead():
    dates, total, history, fr, prices, *_ = _factor_setup()
    empty = pl.DataFrame(schema={"date": pl.Date, "ticker": pl.Utf8, "sector": pl.Utf8, "units": pl.Float64,
                                 "market_value": pl.Float64})
    base = attribute(history, empty, prices, fr, SECTORS, window=25)
    shuffled = fr.sample(fraction=1.0, shuffle=True, seed=3)
    extra = pl.DataFrame({"date": [dt.date(2023, 12, 1)] * 2, "factor": ["value", "momentum"],
                          "long_short_return": [0.5, -0.5]})
    assert attribute(history, empty, prices, pl.concat([shuffled, extra]), SECTORS,
                     window=25)["factor_return"].to_list() == pytest.approx(base["factor_return"].to_list())
    # changing the last day's return moves its alpha, not its factor term (betas use earlier sessions only)
    bumped = history.with_columns(pl.when(pl.col("date") == dates[-1]).then(pl.col("daily_return") + 0.01)
                                  .otherwise(pl.col("daily_return")).alias("daily_return"))
    b = attribute(bumped, empty, prices, fr, SECTORS, window=25)
    assert b["factor_return"][-1] == pytest.approx(base["factor_return"][-1])
    assert b["alpha_return"][-1] == pytest.approx(base["alpha_return"][-1] + 0.01)


def _expected_components(days, spy, xle, f, window, min_obs):
    """Each component recomputed from its definition with plain loops (independent of `attribute`):
    beta_t = beta_{t-1} r_SPY,t; sector_t = w_{t-1} (r_XLE,t - r_SPY,t); factor_t = b_t . f_t with b_t the OLS
    slopes (centred normal equations) of total - beta - sector on f over the previous sessions."""
    n = len(days)
    total = np.array([d[0] for d in days])
    nav = 1e7 * np.cumprod(1 + total)
    beta, sector, factor = np.zeros(n), np.zeros(n), np.zeros(n)
    for t in range(1, n):
        r_spy, r_xle = spy[t] / spy[t - 1] - 1, xle[t] / xle[t - 1] - 1
        beta[t] = days[t - 1][1] * r_spy
        sector[t] = (days[t - 1][2] * 1e7 / nav[t - 1]) * (r_xle - r_spy)
    y = total - beta - sector
    for t in range(1, n):
        past = list(range(1, t))[-window:]
        if len(past) < max(min_obs, f.shape[1] + 2):
            continue
        X, Y = f[past], y[past]
        Xc, Yc = X - X.mean(axis=0), Y - Y.mean()
        slopes = np.linalg.solve(Xc.T @ Xc, Xc.T @ Yc)
        factor[t] = float(f[t] @ slopes)
    return total, beta, sector, factor, total - beta - sector - factor


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.05, 0.05), st.floats(-0.3, 0.3), st.floats(-0.5, 0.5)), min_size=2,
                max_size=40), st.integers(0, 1000))
def test_each_component_matches_an_independent_computation(days, seed):
    rng = np.random.default_rng(seed)
    n = len(days)
    dates = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)]
    history = _history(dates, [d[0] for d in days], [d[1] for d in days])
    holdings = pl.DataFrame({"date": dates, "ticker": ["A"] * n, "sector": ["Energy"] * n, "units": [1.0] * n,
                             "market_value": [d[2] * 1e7 for d in days]})
    spy = 100 * np.cumprod(1 + rng.normal(0, 0.01, n))
    xle = 50 * np.cumprod(1 + rng.normal(0, 0.01, n))
    prices = _prices({"SPY": list(spy), "XLE": list(xle)}, dates)
    f = rng.normal(0, 0.01, (n, 2))  # columns in the attribution's (sorted) factor order: quality, value
    fr = pl.DataFrame({"date": dates * 2, "factor": ["quality"] * n + ["value"] * n,
                       "long_short_return": [*f[:, 0], *f[:, 1]]})
    a = attribute(history, holdings, prices, fr, SECTORS, window=10, min_observations=5)
    total, beta, sector, factor, alpha = _expected_components(days, spy, xle, f, window=10, min_obs=5)
    assert a["total_return"].to_numpy() == pytest.approx(total, abs=1e-12)
    assert a["beta_return"].to_numpy() == pytest.approx(beta, abs=1e-12)
    assert a["sector_return"].to_numpy() == pytest.approx(sector, abs=1e-12)
    assert a["factor_return"].to_numpy() == pytest.approx(factor, rel=1e-6, abs=1e-9)
    assert a["alpha_return"].to_numpy() == pytest.approx(alpha, rel=1e-6, abs=1e-9)
    assert a["factor_observations"].to_list() == [min(t - 1, 10) if min(t - 1, 10) >= 5 else 0 for t in range(n)]


def test_period_contributions_sum_the_days_in_bps():
    a = DAILY_ATTRIBUTION.conform(pl.DataFrame({
        "date": D, "total_return": [0.01, -0.005, 0.002], "beta_return": [0.001, 0.002, 0.0],
        "sector_return": [0.0] * 3, "factor_return": [0.004, 0.0, 0.0], "alpha_return": [0.005, -0.007, 0.002]}))
    p = period_contributions(a, D[1], D[2])
    assert p["beta"] == pytest.approx(20.0) and p["alpha"] == pytest.approx(-50.0) and p["sessions"] == 2
    assert p["total_compounded"] == pytest.approx((0.995 * 1.002 - 1) * 1e4)


def test_csv_upsert_replaces_rows_by_date(tmp_path):
    path = tmp_path / "out" / "daily_attribution.csv"
    first = pl.DataFrame({"date": D[:2], "total_return": [0.01, 0.02]})
    assert upsert_csv(path, first) == 2
    assert upsert_csv(path, pl.DataFrame({"date": D[1:], "total_return": [0.05, 0.03]})) == 3
    back = pl.read_csv(path, try_parse_dates=True)
    assert back["date"].to_list() == D and back["total_return"].to_list() == [0.01, 0.05, 0.03]


def test_the_first_session_return_is_against_the_starting_capital():
    from meridian_assets.reporting.attribution import book_returns, starting_nav

    h = pl.DataFrame({"date": D, "nav": [9_995.0, 10_095.0, 10_000.0], "beta": [0.0] * 3,
                      "daily_return": [-0.0005, None, 10_000 / 10_095 - 1]})
    assert starting_nav(h) == pytest.approx(10_000.0)  # the opening costs are the first day's return
    r = book_returns(h, defined_only=True)
    assert r["ret"].to_list() == pytest.approx([-0.0005, 10_095 / 9_995 - 1, 10_000 / 10_095 - 1])
    first_unknown = h.with_columns(pl.Series("daily_return", [None, 0.01, 0.0]))
    assert book_returns(first_unknown, defined_only=True).height == 2
    assert book_returns(first_unknown)["ret"][0] == 0.0 and starting_nav(first_unknown) == 9_995.0
