"""Forward returns, sector-neutral factor returns (no look-ahead) and crowding correlations."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.factors.crowding import baseline_for, crowding_correlations
from meridian_assets.factors.returns import (
    factor_returns,
    forward_returns,
    score_column,
    sector_neutral_sides,
)
from meridian_assets.factors.schemas import CROWDING_CORRELATIONS, FACTOR_RETURNS, FACTOR_SCORES, PARENTS

D0 = dt.date(2024, 1, 1)


def days(n: int) -> list[dt.date]:
    return [D0 + dt.timedelta(days=i) for i in range(n)]


def make_scores(rows: list[dict]) -> pl.DataFrame:
    """A FACTOR_SCORES frame from dicts of date, ticker, sector and some `<factor>` scores."""
    data = [
        {"date": r["date"], "ticker": r["ticker"], "sector": r["sector"],
         **{score_column(f): float(v) for f, v in r.items() if f not in ("date", "ticker", "sector")},
         "long_flag": False, "short_flag": False}
        for r in rows
    ]
    return FACTOR_SCORES.conform(pl.DataFrame(data, infer_schema_length=None))


def random_market(n_names=60, n_days=40, seed=1):
    """Random prices and random scores for every parent and the composite, in 3 sectors."""
    rng = np.random.default_rng(seed)
    dates = days(n_days)
    tickers = [f"T{i:02d}" for i in range(n_names)]
    px = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_days, n_names)), axis=0))
    prices = pl.DataFrame({
        "date": pl.Series([d for d in dates for _ in tickers], dtype=pl.Date),
        "ticker": tickers * n_days,
        "adj_close": px.ravel(),
    })
    cols = {
        "date": pl.Series([d for d in dates for _ in tickers], dtype=pl.Date),
        "ticker": tickers * n_days,
        "sector": [f"S{i % 3}" for i in range(n_names)] * n_days,
        **{score_column(f): rng.uniform(0, 100, n_days * n_names) for f in (*PARENTS, "composite")},
    }
    return FACTOR_SCORES.conform(pl.DataFrame(cols)), prices


# --------------------------------------------------------------------------------------- forward returns
def test_forward_returns_on_a_five_day_toy_series():
    d = days(5)
    prices = pl.DataFrame({
        "date": d + [d[0], d[1], d[3], d[4]],
        "ticker": ["A"] * 5 + ["B"] * 4,  # B has no price on d[2]
        "adj_close": [100.0, 110.0, 99.0, 99.0, 108.9] + [50.0, 55.0, 44.0, 66.0],
    })
    fwd = forward_returns(prices, (1, 2))
    a = fwd.filter(pl.col("ticker") == "A")
    expected_1 = [0.10, -0.10, 0.0, 0.10]
    assert a["fwd_1"][:4].to_list() == pytest.approx(expected_1)
    assert a["fwd_1"][4] is None
    assert a["fwd_2"][:3].to_list() == pytest.approx([-0.01, -0.10, 0.10])
    assert a["fwd_2"][3:].to_list() == [None, None]
    b = fwd.filter(pl.col("ticker") == "B")
    assert b["date"].to_list() == [d[0], d[1], d[3], d[4]]
    # d1 -> d2 would need a price on d2: null, never a 2-session return passed off as 1-session
    assert b["fwd_1"].to_list()[:2] == [pytest.approx(0.10), None]
    assert b["fwd_1"][2] == pytest.approx(0.5)
    assert b["fwd_2"].to_list() == [None, pytest.approx(-0.20), None, None]


def test_forward_returns_rejects_non_positive_horizons():
    with pytest.raises(ValueError, match="horizons"):
        forward_returns(pl.DataFrame({"date": days(2), "ticker": ["A", "A"], "adj_close": [1.0, 2.0]}), (0,))


# --------------------------------------------------------------------------------------- factor returns
def _toy_one_sector():
    """5 names, one sector; momentum ranks E > D > C > B > A on d0 and A > B > C > D > E on d1."""
    d = days(3)
    names = "ABCDE"
    rows = [{"date": d[0], "ticker": t, "sector": "Tech", "momentum": 10.0 * i} for i, t in enumerate(names)]
    rows += [{"date": d[1], "ticker": t, "sector": "Tech", "momentum": 50.0 - 10 * i}
             for i, t in enumerate(names)]
    closes = {  # d0, d1, d2
        "A": (100, 101, 103), "B": (100, 100, 100), "C": (100, 100, 100), "D": (100, 100, 100),
        "E": (100, 105, 104),
    }
    prices = pl.DataFrame(
        [{"date": d[k], "ticker": t, "adj_close": float(c[k])} for t, c in closes.items() for k in range(3)]
    )
    return make_scores(rows), prices, d


def test_factor_returns_hand_checked_sign_and_timing():
    scores, prices, d = _toy_one_sector()
    fr = factor_returns(scores, prices, quintile=0.2, factors=("momentum",))
    assert fr["date"].to_list() == [d[1], d[2]]  # d0's scores earn d0 -> d1, booked on d1
    day1, day2 = fr.row(0, named=True), fr.row(1, named=True)
    # d1: long E (score 40) +5%, short A (score 0) +1%
    assert (day1["n_long"], day1["n_short"]) == (1, 1)
    assert day1["long_return"] == pytest.approx(0.05)
    assert day1["short_return"] == pytest.approx(0.01)
    assert day1["long_short_return"] == pytest.approx(0.04)
    # d2: the ranking flipped on d1, so long A (+103/101-1), short E (104/105-1)
    assert day2["long_short_return"] == pytest.approx(103 / 101 - 104 / 105)


def test_factor_returns_conform_exactly_to_the_schema():
    scores, prices = random_market(n_days=10)
    fr = factor_returns(scores, prices)
    assert fr.schema == FACTOR_RETURNS.polars_schema
    assert fr.select("date", "factor").is_duplicated().sum() == 0
    assert set(fr["factor"].unique()) == {*PARENTS, "composite"}
    # 60 names in 3 sectors of 20: floor(0.2 * 20) = 4 longs and 4 shorts per sector
    assert fr["n_long"].unique().to_list() == [12] and fr["n_short"].unique().to_list() == [12]
    assert fr.height == 9 * 12  # 10 sessions of scores (the last has no next session) x 11 parents + composite


def test_a_score_change_at_t_only_affects_returns_after_t():
    scores, prices = random_market()
    base = factor_returns(scores, prices)
    t = days(40)[20]
    # future scores and prices scrambled: returns up to t must not move
    rng = np.random.default_rng(7)
    scrambled_scores = scores.with_columns(
        pl.when(pl.col("date") >= t).then(pl.lit(rng.uniform(0, 100, scores.height)))
        .otherwise(pl.col(c)).alias(c)
        for c in ("momentum_score", "composite")
    )
    scrambled_prices = prices.with_columns(
        pl.when(pl.col("date") > t).then(pl.col("adj_close") * rng.uniform(0.5, 1.5, prices.height))
        .otherwise(pl.col("adj_close")).alias("adj_close")
    )
    after = factor_returns(scrambled_scores, scrambled_prices)
    up_to_t = pl.col("date") <= t
    assert after.filter(up_to_t).equals(base.filter(up_to_t))
    # ...and the change does show from the next session on (the test can fail)
    nxt = days(40)[21]
    on_next = (pl.col("date") == nxt) & (pl.col("factor") == "momentum")
    assert after.filter(on_next)["long_short_return"][0] != base.filter(on_next)["long_short_return"][0]


def test_returns_after_a_planted_score_are_positive():
    """Scores at t-1 equal to the next session's return: every long-short return is positive."""
    scores, prices = random_market(n_days=15)
    fwd = forward_returns(prices, (1,))
    planted = scores.join(fwd, on=["date", "ticker"]).with_columns(
        pl.col("fwd_1").fill_null(0.0).alias("value_score")
    )
    fr = factor_returns(planted, prices, factors=("value",))
    assert fr.height == 14
    assert (fr["long_short_return"] > 0).all()


def test_longs_and_shorts_are_drawn_within_each_sector():
    """Sector Hi scores 80-100, sector Lo 0-20: a universe-wide quintile would be all Hi / all Lo."""
    d = days(2)
    rows = []
    for i in range(10):
        rows.append({"date": d[0], "ticker": f"H{i}", "sector": "Hi", "value": 80.0 + 2 * i})
        rows.append({"date": d[0], "ticker": f"L{i}", "sector": "Lo", "value": 2.0 * i})
    sides = sector_neutral_sides(make_scores(rows), 0.2, ("value",))
    per_sector = sides.group_by("sector").agg(
        (pl.col("side_value") == 1).sum().alias("longs"), (pl.col("side_value") == -1).sum().alias("shorts")
    ).sort("sector")
    assert per_sector["longs"].to_list() == [2, 2] and per_sector["shorts"].to_list() == [2, 2]
    longs = set(sides.filter(pl.col("side_value") == 1)["ticker"])
    assert longs == {"H8", "H9", "L8", "L9"}
    assert set(sides.filter(pl.col("side_value") == -1)["ticker"]) == {"H0", "H1", "L0", "L1"}


def test_tied_scores_form_no_book():
    d = days(3)
    rows = [{"date": d[0], "ticker": t, "sector": "X", "quality": 50.0} for t in "ABCDEF"]
    sides = sector_neutral_sides(make_scores(rows), 0.2, ("quality",))
    assert sides["side_quality"].to_list() == [0] * 6


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.floats(0, 100)), min_size=1, max_size=40,
                unique_by=lambda x: x[1]))
def test_each_sector_holds_k_longs_and_k_shorts(names):
    rows = [{"date": D0, "ticker": f"N{i}", "sector": s, "growth": v} for i, (s, v) in enumerate(names)]
    scores = make_scores(rows)
    sides = sector_neutral_sides(scores, 0.2, ("growth",)).join(
        scores.select("ticker", pl.col("growth_score").alias("growth")), on="ticker")
    for _, grp in sides.group_by("sector"):
        n = grp.height
        k = max(1, math.floor(0.2 * n + 1e-9)) if n >= 2 else 0
        assert (grp["side_growth"] == 1).sum() == k
        assert (grp["side_growth"] == -1).sum() == k
        if k:  # every long outscores every short
            assert grp.filter(pl.col("side_growth") == 1)["growth"].min() > grp.filter(
                pl.col("side_growth") == -1)["growth"].max()


# --------------------------------------------------------------------------------------- crowding
def _returns_frame(series: dict[str, list[float]], start: dt.date = D0) -> pl.DataFrame:
    n = len(next(iter(series.values())))
    d = days(n)
    return FACTOR_RETURNS.conform(pl.DataFrame([
        {"date": d[i], "factor": f, "long_short_return": v[i]} for f, v in series.items() for i in range(n)
    ]))


def test_identical_series_correlate_one_and_are_flagged_against_minus_0_4():
    x = list(np.random.default_rng(3).normal(0, 0.01, 80))
    fr = _returns_frame({"momentum": x, "value": x})
    out = crowding_correlations(fr, days(80)[-1], window_days=60, baselines={"momentum|value": -0.4})
    assert out.schema == CROWDING_CORRELATIONS.polars_schema
    row = out.row(0, named=True)
    assert (row["factor_a"], row["factor_b"]) == ("momentum", "value")
    assert row["correlation"] == pytest.approx(1.0)
    assert row["baseline"] == pytest.approx(-0.4)
    assert row["deviation"] == pytest.approx(1.4)
    assert row["flagged"] is True
    assert row["window_days"] == 60


def test_baseline_key_order_and_missing_baselines():
    assert baseline_for("momentum", "value", {"value|momentum": -0.4}) == -0.4
    assert baseline_for("value", "momentum", {"momentum|value": -0.4}) == -0.4
    x = np.random.default_rng(4).normal(0, 0.01, 60)
    fr = _returns_frame({"value": list(x), "momentum": list(-x), "growth": list(x)})
    out = crowding_correlations(fr, days(60)[-1], baselines={"value|momentum": -0.8}, deviation=0.3)
    pairs = {(r["factor_a"], r["factor_b"]): r for r in out.iter_rows(named=True)}
    assert set(pairs) == {("momentum", "value"), ("momentum", "growth"), ("value", "growth")}  # PARENTS order
    mv = pairs[("momentum", "value")]
    assert mv["correlation"] == pytest.approx(-1.0)
    assert mv["baseline"] == -0.8 and mv["deviation"] == pytest.approx(-0.2) and mv["flagged"] is False
    vg = pairs[("value", "growth")]
    assert vg["correlation"] == pytest.approx(1.0)
    assert vg["baseline"] is None and vg["deviation"] is None and vg["flagged"] is False


def test_crowding_uses_only_the_last_window_up_to_as_of():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.01, 200)
    # sessions 0-99: opposite; 100-159: identical; 160-199 (after as_of): opposite again
    y = np.concatenate([-x[:100], x[100:160], -x[160:]])
    fr = _returns_frame({"momentum": list(x), "value": list(y)})
    as_of = days(200)[159]
    assert crowding_correlations(fr, as_of, window_days=60)["correlation"][0] == pytest.approx(1.0)
    assert crowding_correlations(fr, as_of, window_days=120)["correlation"][0] < 0.1
    # defaults come from ScoringConfig: momentum|value = -0.40, threshold 0.30
    row = crowding_correlations(fr, as_of).row(0, named=True)
    assert row["baseline"] == pytest.approx(-0.40) and row["flagged"] is True


def test_crowding_ignores_the_composite_and_handles_too_little_data():
    x = list(np.random.default_rng(6).normal(0, 0.01, 2))
    fr = _returns_frame({"momentum": x, "composite": x})
    assert crowding_correlations(fr, days(2)[-1]).height == 0
    fr = _returns_frame({"momentum": x, "value": x})
    row = crowding_correlations(fr, days(2)[-1], baselines={"momentum|value": -0.4}).row(0, named=True)
    assert row["correlation"] is None and row["flagged"] is False


def test_crowding_skips_a_factor_that_has_no_returns_before_as_of():
    x = list(np.random.default_rng(7).normal(0, 0.01, 10))
    fr = _returns_frame({"momentum": x, "value": x})
    late = _returns_frame({"growth": x}).filter(pl.col("date") > days(10)[4])  # growth starts later
    out = crowding_correlations(pl.concat([fr, late]), days(10)[3])
    assert out.select("factor_a", "factor_b").rows() == [("momentum", "value")]
