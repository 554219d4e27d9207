"""The factor tear sheet (IC, quintiles, turnover) and the Layer-2 charts."""

from __future__ import annotations

import base64
import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from meridian_assets.factors import plots
from meridian_assets.factors.crowding import crowding_correlations
from meridian_assets.factors.returns import factor_returns, forward_returns, score_column
from meridian_assets.factors.schemas import FACTOR_SCORES, FACTOR_TEARSHEET, PARENTS
from meridian_assets.factors.tearsheet import (
    factor_tearsheet,
    ic_series,
    quintile_returns,
    rank_autocorrelation,
)

D0 = dt.date(2023, 1, 2)
FACTORS = (*PARENTS, "composite")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def days(n: int) -> list[dt.date]:
    return [D0 + dt.timedelta(days=i) for i in range(n)]


def market(n_names=100, n_days=120, seed=11):
    """Random prices; every factor scored at random except momentum, which is planted: a noisy copy of
    the next session's return (so its 1-day IC is high)."""
    rng = np.random.default_rng(seed)
    dates = days(n_days)
    tickers = [f"T{i:03d}" for i in range(n_names)]
    px = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_days, n_names)), axis=0))
    date_col = pl.Series([d for d in dates for _ in tickers], dtype=pl.Date)
    prices = pl.DataFrame({"date": date_col, "ticker": tickers * n_days, "adj_close": px.ravel()})
    scores = pl.DataFrame({
        "date": date_col,
        "ticker": tickers * n_days,
        "sector": [f"S{i % 4}" for i in range(n_names)] * n_days,
        **{score_column(f): rng.uniform(0, 100, n_days * n_names) for f in FACTORS},
    })
    fwd = forward_returns(prices, (1,))
    noise = pl.Series(rng.normal(0, 0.02, scores.height))
    scores = scores.join(fwd, on=["date", "ticker"]).with_columns(
        (pl.col("fwd_1").fill_null(0.0) + noise).alias("momentum_score")
    )
    return FACTOR_SCORES.conform(scores), prices


@pytest.fixture(scope="module")
def planted():
    scores, prices = market()
    return scores, prices, factor_tearsheet(scores, prices, days(120)[-1])


def row(sheet: pl.DataFrame, factor: str, horizon: int) -> dict:
    return sheet.filter(pl.col("factor") == factor, pl.col("horizon_days") == horizon).row(0, named=True)


# --------------------------------------------------------------------------------------- IC
def test_daily_ic_equals_scipy_spearman_on_a_toy_date():
    d = days(2)
    scores_v = [10.0, 20.0, 20.0, 35.0, None, 50.0, 60.0, 5.0]  # a tie and an unscored name
    close_0 = [100.0, 50.0, 20.0, 10.0, 30.0, 80.0, 40.0, 25.0]
    close_1 = [101.0, 49.0, 21.0, 10.5, 33.0, 84.0, 40.0, None]  # the last name has no next price
    tickers = list("ABCDEFGH")
    scores = FACTOR_SCORES.conform(pl.DataFrame(
        {"date": [d[0]] * 8, "ticker": tickers, "sector": ["X"] * 8, "quality_score": scores_v}
    ))
    prices = pl.DataFrame({
        "date": [d[0]] * 8 + [d[1]] * 7, "ticker": tickers + tickers[:7],
        "adj_close": close_0 + [c for c in close_1 if c is not None],
    })
    ics = ic_series(scores, prices, horizons=(1,), factors=("quality",))
    both = [i for i in range(7) if scores_v[i] is not None]
    expected = spearmanr([scores_v[i] for i in both], [close_1[i] / close_0[i] - 1 for i in both]).statistic
    assert ics.height == 1
    assert ics["ic"][0] == pytest.approx(expected, abs=1e-12)
    assert ics.columns == ["date", "factor", "horizon", "ic"]


def test_planted_relation_has_a_high_ic_and_t_stat(planted):
    _, _, sheet = planted
    mom = row(sheet, "momentum", 1)
    assert mom["ic_mean"] > 0.3
    assert mom["ic_t_stat"] > 10
    assert mom["ic_hit_rate"] > 0.9
    assert mom["quintile_spread_annual"] > 0
    assert mom["q5_return_annual"] > mom["q1_return_annual"]


def test_random_score_has_no_significant_ic(planted):
    _, _, sheet = planted
    for f in ("value", "quality", "insider"):
        for h in (1, 5):
            assert abs(row(sheet, f, h)["ic_t_stat"]) < 3, (f, h)
            assert abs(row(sheet, f, h)["ic_mean"]) < 0.05


def test_t_stat_is_mean_over_std_times_root_n(planted):
    scores, prices, sheet = planted
    ics = ic_series(scores, prices, days(120)[-1], horizons=(5,), factors=("growth",))["ic"]
    r = row(sheet, "growth", 5)
    assert r["n_days"] == ics.len() == 120 - 5  # the last 5 dates have no realised 5-day return yet
    assert r["ic_mean"] == pytest.approx(ics.mean())
    assert r["ic_std"] == pytest.approx(ics.std(ddof=1))
    assert r["ic_t_stat_overlapping"] == pytest.approx(ics.mean() / ics.std(ddof=1) * np.sqrt(ics.len()))
    assert r["ic_hit_rate"] == pytest.approx((ics > 0).mean())


def test_t_stat_uses_non_overlapping_windows(planted):
    """The printed t-stat of a 5-session IC: every 5th date (dates 0, 5, 10...), by hand."""
    scores, prices, sheet = planted
    ics = ic_series(scores, prices, days(120)[-1], horizons=(5,), factors=("growth",))["ic"].to_numpy()
    kept = ics[::5]  # scores every session: the sessions 5 apart are every 5th IC
    r = row(sheet, "growth", 5)
    assert r["n_independent"] == len(kept) == 23
    assert r["ic_t_stat"] == pytest.approx(kept.mean() / kept.std(ddof=1) * np.sqrt(len(kept)))
    assert abs(r["ic_t_stat"]) < abs(r["ic_t_stat_overlapping"])  # the overlap inflated it
    # one-session ICs do not overlap: both figures agree
    r1 = row(sheet, "growth", 1)
    assert r1["ic_t_stat"] == pytest.approx(r1["ic_t_stat_overlapping"]) and r1["n_independent"] == r1["n_days"]
    # a sparser score calendar (every 3rd session) keeps dates >= 5 sessions apart: every 2nd scored date
    sparse = scores.filter(pl.col("date").is_in(days(120)[::3]))
    t = factor_tearsheet(sparse, prices, days(120)[-1], horizons=(5,), factors=("growth",))
    ic3 = ic_series(sparse, prices, days(120)[-1], horizons=(5,), factors=("growth",))["ic"].to_numpy()[::2]
    assert t["ic_t_stat"][0] == pytest.approx(ic3.mean() / ic3.std(ddof=1) * np.sqrt(len(ic3)))


def test_tearsheet_conforms_exactly_to_the_schema(planted):
    _, _, sheet = planted
    assert sheet.schema == FACTOR_TEARSHEET.polars_schema
    assert sheet.height == len(FACTORS) * 3
    assert sheet.select("factor", "horizon_days").is_duplicated().sum() == 0
    assert sheet["as_of"].unique().to_list() == [days(120)[-1]]
    assert sheet.select(pl.all().is_null().sum()).row(0) == (0,) * len(sheet.columns)


def test_tearsheet_uses_nothing_after_as_of():
    scores, prices = market(n_names=40, n_days=60, seed=3)
    as_of = days(60)[40]
    base = factor_tearsheet(scores, prices, as_of, factors=("momentum", "value"))
    rng = np.random.default_rng(9)
    later = pl.col("date") > as_of
    prices2 = prices.with_columns(
        pl.when(later).then(pl.col("adj_close") * rng.uniform(0.5, 2, prices.height)).otherwise("adj_close")
        .alias("adj_close"))
    scores2 = scores.with_columns(
        pl.when(later).then(pl.lit(rng.uniform(0, 100, scores.height))).otherwise("value_score")
        .alias("value_score"))
    assert factor_tearsheet(scores2, prices2, as_of, factors=("momentum", "value")).equals(base)
    assert not factor_tearsheet(scores2, prices2, days(60)[-1], factors=("momentum", "value")).equals(base)


# --------------------------------------------------------------------------------------- quintiles
def test_quintile_returns_hand_checked():
    d = days(2)
    tickers = [f"N{i}" for i in range(10)]
    fwd = [0.01 * i for i in range(10)]  # name i returns i %
    scores = FACTOR_SCORES.conform(pl.DataFrame({
        "date": [d[0]] * 10, "ticker": tickers, "sector": ["X", "Y"] * 5,
        "value_score": [float(9 - i) for i in range(10)],  # reversed: the best score has the worst return
    }))
    prices = pl.DataFrame({
        "date": [d[0]] * 10 + [d[1]] * 10, "ticker": tickers * 2,
        "adj_close": [100.0] * 10 + [100.0 * (1 + r) for r in fwd],
    })
    q = quintile_returns(scores, prices, horizons=(1,), factors=("value",))
    assert q["quintile"].to_list() == [1, 2, 3, 4, 5]
    # Q1 = the two lowest scores = names 8 and 9; Q5 = names 0 and 1
    assert q["mean_return"].to_list() == pytest.approx([0.085, 0.065, 0.045, 0.025, 0.005])
    assert q["annual_return"][0] == pytest.approx(0.085 * 252)
    sheet = factor_tearsheet(scores, prices, d[1], horizons=(1,), factors=("value",))
    assert sheet["quintile_spread_annual"][0] == pytest.approx((0.005 - 0.085) * 252)


# --------------------------------------------------------------------------------------- turnover
def test_turnover_is_one_for_unchanging_scores_and_near_zero_for_fresh_ones():
    n_names, n_days = 80, 40
    rng = np.random.default_rng(2)
    fixed = rng.uniform(0, 100, n_names)
    scores = FACTOR_SCORES.conform(pl.DataFrame({
        "date": pl.Series([d for d in days(n_days) for _ in range(n_names)], dtype=pl.Date),
        "ticker": [f"T{i}" for i in range(n_names)] * n_days,
        "sector": ["X"] * n_names * n_days,
        "quality_score": np.tile(fixed, n_days),
        "value_score": rng.uniform(0, 100, n_names * n_days),
    }))
    ac = dict(rank_autocorrelation(scores, factors=("quality", "value")).iter_rows())
    assert ac["quality"] == pytest.approx(1.0)
    assert abs(ac["value"]) < 0.05


# --------------------------------------------------------------------------------------- speed
def test_full_universe_shapes():
    """500 names x 756 sessions x 12 factors x 3 horizons (its speed is measured in `make bench`)."""
    scores, prices = market(n_names=500, n_days=756, seed=5)
    sheet = factor_tearsheet(scores, prices, days(756)[-1])
    fr = factor_returns(scores, prices)
    assert sheet.height == 12 * 3 and fr.height == 755 * 12


# --------------------------------------------------------------------------------------- plots
@pytest.fixture(scope="module")
def charts(planted):
    scores, prices, sheet = planted
    fr = factor_returns(scores, prices)
    crowd = crowding_correlations(fr, fr["date"].max(), baselines={"momentum|value": -0.4})
    return {
        "ic_decay": plots.ic_decay(sheet),
        "cumulative": plots.cumulative_factor_returns(fr),
        "quintiles": plots.quintile_returns(quintile_returns(scores, prices), horizon=5),
        "quintiles_from_sheet": plots.quintile_returns(sheet),
        "crowding": plots.crowding_heatmap(crowd),
    }


@pytest.mark.parametrize("name", ["ic_decay", "cumulative", "quintiles", "quintiles_from_sheet", "crowding"])
def test_charts_are_png(charts, name):
    png = charts[name]
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 5_000
    width = int.from_bytes(png[16:20], "big")  # IHDR
    assert 850 <= width <= 1000


def test_charts_of_empty_frames_still_render(planted):
    _, _, sheet = planted
    assert plots.ic_decay(sheet.clear()).startswith(PNG_SIGNATURE)
    assert plots.crowding_heatmap(pl.DataFrame(schema={"as_of": pl.Date})).startswith(PNG_SIGNATURE)


def test_png_markdown_embeds_the_bytes(charts):
    md = plots.png_markdown(charts["ic_decay"], "IC decay")
    assert md.startswith("![IC decay](data:image/png;base64,")
    assert base64.b64decode(md[md.index(",") + 1:-1]) == charts["ic_decay"]
