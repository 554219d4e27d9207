"""The MVO's books on real S&P 500 prices (../shared/realdata): the price-and-volume composite puts low-beta names
in the long book and high-beta ones in the short book; the books are swapped within their flags until they can be
beta-neutral, and the optimizer solves."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.factors.inputs import inputs_from_provider
from meridian_assets.factors.scoring import score_history
from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.ingest.providers.files import FilesProvider
from meridian_assets.meta.backtest import _inputs
from meridian_assets.meta.book import SimBook
from meridian_assets.meta.history import SCORE_COLUMNS, MarketHistory
from meridian_assets.portfolio.rebalance import propose_rebalance
from meridian_assets.portfolio.selection import BetaRoom, beta_miss, select_books
from tests.conftest import REALDATA

pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not (REALDATA / "prices").exists(), reason=f"real data not found at {REALDATA}")]

DAYS = (dt.date(2023, 3, 1), dt.date(2023, 6, 1))  # two sessions the score's own books could not be solved on


@pytest.fixture(scope="module")
def real():
    cfg = MeridianConfig()
    inputs = inputs_from_provider(FilesProvider(root=REALDATA), DAYS[0], DAYS[1])
    scores = score_history(inputs, None, ScoringConfig()).frame
    prices = inputs.prices.select("date", "ticker", "open", "high", "low", "close", "adj_close", "volume")
    return cfg, MarketHistory.from_frames(prices, scores.select(SCORE_COLUMNS), cfg), scores


@pytest.mark.parametrize("day", DAYS)
def test_mvo_books_on_real_prices_can_be_beta_neutral_and_solve(real, day):
    cfg, history, scores = real
    today = scores.filter(pl.col("date") == day).select("ticker", "sector", pl.col("composite").alias("score"),
                                                         "long_flag", "short_flag")
    inputs = _inputs(history, SimBook(cash=cfg.portfolio.capital_base), history.index[day], today, {},
                     [cfg.portfolio.capital_base], cfg, "factor_scores")
    pc, lim = cfg.portfolio, cfg.risk
    room = BetaRoom(pc.long_exposure, pc.short_exposure, pc.min_position_pct, lim.max_position_pct, lim.max_beta,
                    pc.max_sector_net_pct, lim.max_sector_side_pct)
    c = inputs.candidates.with_columns(pl.col("beta").fill_null(1.0), pl.col("sector").fill_null("Unknown"))

    def miss(books) -> float:
        longs = c.filter(pl.col("ticker").is_in(books.longs))
        shorts = c.filter(pl.col("ticker").is_in(books.shorts))
        return beta_miss(longs["beta"], shorts["beta"], longs["sector"], shorts["sector"], room)

    plain = select_books(inputs.candidates, pc.num_longs, pc.num_shorts)
    longs = c.filter(pl.col("ticker").is_in(plain.longs))["beta"]
    shorts = c.filter(pl.col("ticker").is_in(plain.shorts))["beta"]
    assert longs.mean() < 0.8 < 1.1 < shorts.mean()  # the low-risk parent's signature
    assert miss(plain) < 0  # the score's own 20/20 cannot reach |net beta| <= 0.15
    fixed = select_books(inputs.candidates, pc.num_longs, pc.num_shorts, beta_room=room)
    assert miss(fixed) == 0.0 and 0 < fixed.beta_swaps < 20
    p = propose_rebalance(inputs, cfg, "mvo")
    assert p.method == "mvo", p.warnings
    assert abs(p.figures["target_beta"]) <= lim.max_beta + 1e-6
