"""Scoring on the real S&P 500 bars of ../shared/realdata (prices and volumes only, no fundamentals): the
composite is the price-and-volume parents re-weighted, the other parents are absent on every date, and the
momentum factor's returns show the drawdowns of the public record (the 2016 junk rally, 9 November 2020)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from meridian_assets.factors.inputs import inputs_from_provider
from meridian_assets.factors.returns import factor_returns
from meridian_assets.factors.schemas import PARENTS, PRICE_PARENTS, SUB_FACTORS
from meridian_assets.factors.scoring import score_history
from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.ingest.providers.files import FilesProvider
from tests.conftest import REALDATA

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.slow,
    pytest.mark.skipif(not (REALDATA / "prices").exists(), reason=f"real data not found at {REALDATA}"),
]

CFG = ScoringConfig()
START, END = dt.date(2015, 6, 1), dt.date(2021, 3, 31)
ABSENT = [p for p in PARENTS if p not in PRICE_PARENTS]


@pytest.fixture(scope="module")
def real():
    inputs = inputs_from_provider(FilesProvider(root=REALDATA), START, END)
    scores = score_history(inputs, None, CFG).frame
    prices = inputs.prices.select("date", "ticker", "adj_close")
    returns = factor_returns(scores, prices, quintile=CFG.quintile, factors=("momentum", "composite"))
    return scores, returns


@pytest.mark.timeout(1800)
def test_real_composite_never_includes_a_parent_without_source_data(real):
    scores, _ = real
    assert scores["date"].n_unique() > 1400 and scores["ticker"].n_unique() > 400  # members with bars
    for p in ABSENT:
        assert scores[f"{p}_score"].null_count() == scores.height, p
        assert all(scores[s].null_count() == scores.height for s in SUB_FACTORS[p]), p
    for p in PRICE_PARENTS:
        assert scores[f"{p}_score"].null_count() < 0.05 * scores.height, p
    w = CFG.composite_weights
    num = pl.sum_horizontal([pl.col(f"{p}_score").fill_null(0) * w[p] for p in PRICE_PARENTS])
    den = pl.sum_horizontal([pl.when(pl.col(f"{p}_score").is_not_null()).then(w[p]).otherwise(0.0)
                             for p in PRICE_PARENTS])
    assert np.allclose(scores["composite_raw"].to_numpy(), scores.select(num / den).to_series().to_numpy())


@pytest.mark.timeout(1800)
def test_momentum_drawdowns_of_the_public_record(real):
    _, returns = real
    mom = returns.filter(pl.col("factor") == "momentum").sort("date")
    r = dict(zip(mom["date"], mom["long_short_return"]))

    def cumulative(a: dt.date, b: dt.date) -> float:
        return float(np.prod([1 + v for d, v in r.items() if a <= d <= b]) - 1)

    # 2016: losers rallied from the February low (oil, junk); momentum lost from then into spring
    assert cumulative(dt.date(2016, 2, 11), dt.date(2016, 4, 30)) < 0
    # 9 November 2020, the vaccine news: one of momentum's worst days; the month as a whole lost too
    worst = np.quantile(mom["long_short_return"].to_numpy(), 0.01)
    assert r[dt.date(2020, 11, 9)] <= worst
    assert cumulative(dt.date(2020, 11, 1), dt.date(2020, 11, 30)) < 0
