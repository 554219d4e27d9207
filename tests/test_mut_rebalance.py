"""A proposal from a held book, column by column against independent arithmetic: the target book (weights,
whole shares, sides, expected returns), every trade row (current and target shares and weights, notional,
action, score change, costs, sequence, reasons for deferred and partial trades), the figures the UI shows, and
the notes for the risk overlay, a force-closed name and names left out."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.portfolio.errors import ProgramInfeasible
from meridian_assets.portfolio.rebalance import propose_rebalance
from meridian_assets.risk.factor_model import FactorModel
from tests.test_portfolio_rebalance import AS_OF, inputs, universe

NAV = 10_000_000.0


def held_book(cands: pl.DataFrame) -> pl.DataFrame:
    """Long the three best names, short the three worst, a little of each (all within every limit)."""
    ranked = cands.sort("score")
    shorts, longs = ranked["ticker"][:3].to_list(), ranked["ticker"][-3:].to_list()
    price = dict(zip(cands["ticker"], cands["price"]))
    shares = {t: int(100_000 / price[t]) for t in longs} | {t: -int(80_000 / price[t]) for t in shorts}
    return pl.DataFrame({"ticker": list(shares), "shares": list(shares.values())})


@pytest.fixture  # per test (not per module): each test then calls the proposal itself
def case():
    cands = universe()
    pos = held_book(cands)
    # one name without a price or score: left out, and said so
    cands = pl.concat([cands, cands[:1].with_columns(ticker=pl.lit("NOPX"), price=pl.lit(None, pl.Float64),
                                                        score=pl.lit(None, pl.Float64))])
    closed = pos["ticker"][0]
    cfg = MeridianConfig()
    p = propose_rebalance(inputs(cands, pos, gross_multiplier=0.8, force_close=(closed,)), cfg, "conviction")
    return cands, pos, closed, cfg, p


def test_the_target_book_is_whole_shares_of_the_weights(case):
    cands, pos, closed, cfg, p = case
    t = p.target.join(cands.select("ticker", c_price="price", c_score="score", c_beta="beta"), on="ticker")
    assert t.height == (p.target["target_shares"] != 0).sum() > 0 and closed not in t["ticker"].to_list()
    assert (t["target_shares"] == (t["weight"] * NAV / t["price"]).cast(pl.Int64)).all()  # toward zero
    assert t["side"].to_list() == ["LONG" if w > 0 else "SHORT" for w in t["weight"]]
    assert np.allclose(t["expected_return"], cfg.portfolio.expected_return_range * (t["c_score"] - 50) / 50)
    assert (t["price"] == t["c_price"]).all() and (t["beta"] == t["c_beta"]).all()
    assert set(t["rebalance_id"]) == {p.rebalance_id} and set(t["method"]) == {"conviction"}
    assert set(t["as_of"]) == {AS_OF}
    # the overlay scales the whole book to 80% of what the strategy alone would hold
    plain = propose_rebalance(inputs(cands, pos), cfg, "conviction").target
    scaled = dict(zip(p.target["ticker"], p.target["weight"]))
    for ticker, weight in zip(plain["ticker"], plain["weight"]):
        if ticker != closed:
            assert scaled[ticker] == pytest.approx(0.8 * weight)


def test_every_trade_row_adds_up(case):
    cands, pos, closed, cfg, p = case
    held = dict(zip(pos["ticker"], pos["shares"]))
    c = cands.select("ticker", "score", "prior_score", "price").rows_by_key("ticker", named=True, unique=True)
    target = dict(zip(p.target["ticker"], p.target["target_shares"]))
    tr = p.trades
    assert {"PROPOSED", "DEFERRED"} <= set(tr["status"])
    assert tr.height > 0 and set(tr["rebalance_id"]) == {p.rebalance_id} and set(tr["as_of"]) == {AS_OF}
    for r in tr.iter_rows(named=True):
        t, px = r["ticker"], c[r["ticker"]]["price"]
        cur = held.get(t, 0)
        assert (r["current_shares"], r["price"]) == (cur, px)
        moved = r["delta_shares"] if r["status"] == "PROPOSED" else 0
        assert r["target_shares"] == cur + moved
        assert r["notional"] == pytest.approx(abs(r["delta_shares"]) * px)
        assert r["current_weight"] == pytest.approx(cur * px / NAV)
        assert r["target_weight"] == pytest.approx((cur + moved) * px / NAV)
        assert r["score"] == c[t]["score"] and r["score_change"] == pytest.approx(c[t]["score"] - c[t]["prior_score"])
        delta = r["delta_shares"] or 0
        want = delta if delta else None
        if want:
            expected = ("COVER" if cur < 0 else "BUY") if want > 0 else ("SELL" if cur > 0 else "SHORT")
            assert r["action"] == expected
        assert r["cost_bps"] == pytest.approx(r["commission_bps"] + r["spread_bps"] + r["impact_bps"])
        if r["notional"]:
            assert r["cost_dollars"] == pytest.approx(r["cost_bps"] * r["notional"] / 1e4)
        else:
            assert r["cost_dollars"] == 0
        if r["status"] == "DEFERRED":
            wanted = target.get(t, 0) - cur
            assert r["reason"] == f"turnover budget: {wanted:+d} shares wait for a later rebalance"
            assert r["delta_shares"] == 0 and wanted != 0
        if r["status"] == "PROPOSED":  # the whole wanted trade, or a part of it that says so
            wanted = target.get(t, 0) - cur
            if r["reason"].startswith("partial: "):
                assert 0 < abs(r["delta_shares"]) < abs(wanted) and r["reason"].endswith(
                    "% of the wanted trade within the turnover budget")
            else:
                assert (r["delta_shares"], r["reason"]) == (wanted, "")
    closing = tr.filter(pl.col("ticker") == closed).row(0, named=True)
    assert closing["action"] == ("SELL" if held[closed] > 0 else "COVER")
    proposed = tr.filter(pl.col("status") == "PROPOSED").sort("sequence")
    assert proposed["sequence"].to_list() == sorted(proposed["sequence"].to_list())
    assert tr["sequence"].to_list() == sorted(tr["sequence"].to_list())  # rows in the order they were tried
    assert tr.filter(pl.col("status") != "PROPOSED")["sequence"].max() <= len(p.cost_names)


def test_the_figures_are_the_rows_summed(case):
    cands, pos, closed, cfg, p = case
    f, t, tr = p.figures, p.target, p.trades
    w = t["weight"]
    assert f["target_gross"] == pytest.approx(w.abs().sum())
    assert f["target_net"] == pytest.approx(w.sum())
    beta = dict(zip(cands["ticker"], cands["beta"]))
    assert f["target_beta"] == pytest.approx(sum(beta[k] * v for k, v in zip(t["ticker"], w)))
    assert f["trades"] == (tr["status"] == "PROPOSED").sum() > 0
    assert f["vetoed"] == (tr["status"] == "VETOED").sum() and f["deferred"] == (tr["status"] == "DEFERRED").sum()
    proposed = tr.filter(pl.col("status") == "PROPOSED")
    assert f["turnover"] == pytest.approx(proposed["notional"].sum() / NAV)
    assert f["est_cost_dollars"] == pytest.approx(proposed["cost_dollars"].sum())
    assert (f["turnover_budget"], f["nav"]) == (cfg.portfolio.turnover_budget, NAV)
    assert (f["longs"], f["shorts"]) == (cfg.portfolio.num_longs, cfg.portfolio.num_shorts)


def test_the_notes_say_what_changed_the_book(case):
    cands, pos, closed, cfg, p = case
    assert p.warnings == ["1 names without a price/volume/score left out",
                          "risk overlay: target gross scaled by 0.80",
                          f"{closed}: force-closed by the single-position breaker"]


def test_a_held_name_without_a_price_stops_the_proposal():
    cands = universe()
    gone = cands["ticker"][5]
    pos = pl.DataFrame({"ticker": [gone], "shares": [100]})
    cands = cands.with_columns(price=pl.when(pl.col("ticker") == gone).then(None).otherwise(pl.col("price")))
    with pytest.raises(ProgramInfeasible, match=f"held names have no price on {AS_OF}: {gone}"):
        propose_rebalance(inputs(cands, pos), MeridianConfig(), "conviction")


def test_the_sleeves_book_takes_the_meta_targets_in_weight_order():
    c = universe()
    c = c.with_columns(price=pl.when(pl.col("ticker") == "T009").then(None).otherwise(pl.col("price")))
    target = {"T001": 0.02, "T002": 0.04, "T005": 0.0, "T003": -0.02, "T004": -0.045, "T009": 0.03, "T010": 0.0}
    c = c.with_columns(price=pl.when(pl.col("ticker") == "T010").then(None).otherwise(pl.col("price")))
    p = propose_rebalance(inputs(c, fixed_target=target), MeridianConfig(), "sleeves")
    # longs by weight (largest first), then shorts (most negative first); zero weights are no position
    assert p.target["ticker"].to_list() == ["T002", "T001", "T004", "T003"]
    assert (p.figures["longs"], p.figures["shorts"]) == (2, 2)
    assert (p.figures["topped_up_long"], p.figures["topped_up_short"]) == (0, 0)
    assert p.warnings == ["1 names without a price/volume/score left out"]  # T009; not T010, which holds nothing
    assert p.figures["sleeve_names"] == len(target)


def test_sleeves_without_the_meta_target_say_what_to_run():
    with pytest.raises(ProgramInfeasible) as err:
        propose_rebalance(inputs(universe()), MeridianConfig(), "sleeves")
    assert str(err.value).endswith("method 'sleeves' needs the meta layer's meta_target_book for this session; "
                                   "run meta_proposal_job (sleeve_allocation) first")


def factor_model(names: tuple[str, ...]) -> FactorModel:
    rng = np.random.default_rng(3)
    n, k = len(names), 3
    return FactorModel(X=rng.normal(0, 1, (n, k)), F=np.diag([0.02, 0.01, 0.005]), D=np.full(n, 0.04),
                       factor_names=("f1", "f2", "f3"), tickers=names)


def test_the_mvo_uses_the_risk_model_when_it_covers_every_name():
    c = universe()
    names = tuple(c["ticker"])
    p = propose_rebalance(inputs(c, risk_model=factor_model(names)), MeridianConfig(), "mvo")
    assert (p.method, p.figures["covariance"], p.warnings) == ("mvo", "factor_model", [])
    partial = tuple(t for t in names if t not in p.target["ticker"].to_list()[:2])
    lacking = [t for t in p.target["ticker"].to_list()[:2]]
    q = propose_rebalance(inputs(c, risk_model=factor_model(partial)), MeridianConfig(), "mvo")
    assert q.figures["covariance"] == "sample_covariance"
    assert q.warnings[0].startswith(f"risk model lacks {len(lacking)} names (")
    assert q.warnings[0].endswith("); sample covariance used")
