"""The price-and-volume family (reversal, low risk, liquidity) against hand-computed values on a small frame;
zero-volume bars are not trades; nothing dated after the session reaches its score."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from meridian_assets.factors.characteristics import characteristics_wide
from meridian_assets.factors.characteristics_price import price_volume_features
from meridian_assets.factors.inputs import inputs_from_provider
from meridian_assets.factors.schemas import PRICE_PARENTS, SUB_FACTORS
from meridian_assets.factors.scoring import score_history
from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.ingest.providers.synthetic import SyntheticProvider

N = 300
DAYS = [dt.date(2023, 1, 2) + dt.timedelta(days=i) for i in range(N)]  # calendar days stand in for sessions
PRICE_SUBS = [s for p in PRICE_PARENTS if p != "momentum" for s in SUB_FACTORS[p]]


def small_frame(seed: int = 1) -> pl.DataFrame:
    """Two stocks and SPY with random-walk prices and volumes; A has 10 zero-volume bars before it trades."""
    rng = np.random.default_rng(seed)
    rows = []
    m = np.cumsum(rng.normal(0, 0.01, N))
    for t, beta in (("A", 1.5), ("B", 0.5), ("SPY", 1.0)):
        lr = beta * np.diff(m, prepend=0.0) + (0 if t == "SPY" else rng.normal(0, 0.015, N))
        adj = 50 * np.exp(np.cumsum(lr))
        vol = rng.uniform(1e5, 1e6, N)
        if t == "A":
            vol[:10] = 0.0
        for d, a, v in zip(DAYS, adj, vol):
            rows.append((d, t, a * 0.98, a, v))  # close differs from adj_close (dividends)
    return pl.DataFrame(rows, schema={"date": pl.Date, "ticker": pl.Utf8, "close": pl.Float64,
                                      "adj_close": pl.Float64, "volume": pl.Float64}, orient="row")


def by_hand(frame: pl.DataFrame, ticker: str, day: dt.date) -> dict[str, float]:
    """The docstring formulas in plain numpy over the ticker's traded bars up to ``day``."""
    own = frame.filter((pl.col("ticker") == ticker) & (pl.col("volume") > 0) & (pl.col("date") <= day))
    spy = frame.filter(pl.col("ticker") == "SPY").sort("date")
    adj, close, vol = (own[c].to_numpy() for c in ("adj_close", "close", "volume"))
    dates = own["date"].to_list()
    r = np.diff(np.log(adj))
    spy_r = dict(zip(spy["date"].to_list()[1:], np.diff(np.log(spy["adj_close"].to_numpy()))))
    m = np.array([spy_r[d] for d in dates[1:]])
    x, y = m[-252:], r[-252:]
    return {
        "rev_1m": -(adj[-1] / adj[-22] - 1),
        "rev_1w": -(adj[-1] / adj[-6] - 1),
        "lowvol_63d": -np.std(r[-63:], ddof=1) * np.sqrt(252),
        "lowvol_252d": -np.std(r[-252:], ddof=1) * np.sqrt(252),
        "low_beta_252d": -np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1),
        "liq_amihud_63d": np.mean(np.abs(r[-63:]) / (close[-63:] * vol[-63:])) * 1e9,
        "liq_low_dollar_volume_63d": -np.log(np.mean(close[-63:] * vol[-63:])),
    }


@pytest.mark.parametrize("ticker", ["A", "B"])
def test_features_match_the_formulas_by_hand(ticker):
    frame = small_frame()
    feats = price_volume_features(frame, ["SPY"], {})
    for day in (DAYS[-1], DAYS[280]):
        got = feats.filter((pl.col("entity") == ticker) & (pl.col("date") == day)).row(0, named=True)
        want = by_hand(frame, ticker, day)
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=1e-9), (ticker, day, k)
    # the low-beta name ranks above the high-beta one (higher is better)
    last = feats.filter(pl.col("date") == DAYS[-1]).sort("entity")
    assert last["low_beta_252d"][1] > last["low_beta_252d"][0]


def test_windows_need_every_session_and_zero_volume_bars_are_not_trades():
    frame = small_frame()
    feats = price_volume_features(frame, ["SPY"], {})
    a = feats.filter(pl.col("entity") == "A").sort("date")
    assert a["date"][0] == DAYS[10]  # the ten zero-volume bars are dropped before any window
    # 63 returns need 64 traded bars: A's first 63-day volatility is on its 64th traded bar
    first = a.filter(pl.col("lowvol_63d").is_not_null())["date"][0]
    assert first == DAYS[10 + 63]
    assert a.filter(pl.col("date") < DAYS[10 + 252])["lowvol_252d"].null_count() == 252
    b = feats.filter(pl.col("entity") == "B").sort("date")
    assert b.filter(pl.col("lowvol_63d").is_not_null())["date"][0] == DAYS[63]


def test_a_later_price_never_changes_an_earlier_value():
    frame = small_frame()
    cut = DAYS[270]
    shocked = frame.with_columns(
        pl.when(pl.col("date") > cut).then(pl.col(c) * 3.7).otherwise(pl.col(c)).alias(c)
        for c in ("close", "adj_close", "volume"))
    base = price_volume_features(frame, ["SPY"], {}).filter(pl.col("date") <= cut)
    after = price_volume_features(shocked, ["SPY"], {}).filter(pl.col("date") <= cut)
    assert base.equals(after)
    assert not price_volume_features(shocked, ["SPY"], {}).equals(price_volume_features(frame, ["SPY"], {}))


@pytest.fixture(scope="module")
def prices_only():
    """A 40-name embedded market with every table but the universe and prices emptied (like the real-data
    folder, which has no fundamentals, estimates, short interest, insider or 13-F data)."""
    inputs = inputs_from_provider(SyntheticProvider(n_tickers=40), dt.date(2024, 1, 2), dt.date(2024, 3, 28))
    empty = {n: f.clear() for n, f in inputs.frames().items() if n not in ("universe", "prices")}
    return replace(inputs, **empty)


def test_no_score_uses_prices_after_its_session(prices_only):
    """Perturbation: every bar after t scaled at random; every score at t (sub-factors, parents, composite,
    flags) is unchanged, and the same perturbation before t does change them."""
    cfg = ScoringConfig()
    days = prices_only.sessions()
    t = days[-15]
    rng = np.random.default_rng(3)
    px = prices_only.prices
    noise = pl.Series(rng.uniform(0.3, 3.0, px.height))

    def perturbed(after: dt.date):
        later = pl.col("date") > after
        return replace(prices_only, prices=px.with_columns(
            pl.when(later).then(pl.col(c) * noise).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close", "adj_close", "volume")))

    base = score_history(prices_only, [t], cfg).frame
    assert base.height > 30
    assert base.equals(score_history(perturbed(t), [t], cfg).frame)
    assert not base.equals(score_history(perturbed(days[-16]), [t], cfg).frame)


def test_price_family_is_live_on_prices_alone(prices_only):
    wide = characteristics_wide(prices_only, prices_only.sessions()[-3:])
    cov = wide.select(pl.col(PRICE_SUBS).is_not_null().mean()).row(0, named=True)
    assert all(v > 0.9 for v in cov.values()), cov
