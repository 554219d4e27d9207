"""A proposal's less travelled paths, each against independent arithmetic: one-share positions closed with the
right action, the rebalance id as the hash of the target and held books, the order trades are tried in, the
covariance the MVO uses and what it says when it cannot have one, the optimizer's and the tilt's figures, a
REDUCING book trading only toward flat against the book it holds, the ADV veto on a sleeve target, the declared
column types of an empty target and trade list, and the cost of names without range, volatility or ADV."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.portfolio.conviction import conviction_tilt
from meridian_assets.portfolio.costs import TransactionCost
from meridian_assets.portfolio.rebalance import propose_rebalance, rebalance_id
from meridian_assets.portfolio.selection import select_books
from meridian_assets.portfolio.turnover import balanced_order
from meridian_assets.risk.factor_model import FactorModel
from meridian_assets.risk.states import TradingState
from tests.test_portfolio_rebalance import AS_OF, inputs, universe

NAV = 10_000_000.0
ROOMY = MeridianConfig.model_validate({"portfolio": {"turnover_budget": 2.0}})  # the budget never binds


def neutral(c: pl.DataFrame, n: int = 2) -> list[str]:
    """Names outside both books (scores near 50)."""
    return c.filter(pl.col("score").is_between(40, 60)).head(n)["ticker"].to_list()


def test_one_share_positions_are_closed_with_a_sale_and_a_cover():
    c = universe()
    long1, short1 = neutral(c)
    p = propose_rebalance(inputs(c, pl.DataFrame({"ticker": [long1, short1], "shares": [1, -1]})), ROOMY,
                          "conviction")
    rows = {r["ticker"]: r for r in p.trades.iter_rows(named=True)}
    assert (rows[long1]["action"], rows[long1]["delta_shares"], rows[long1]["status"]) == ("SELL", -1, "PROPOSED")
    assert (rows[short1]["action"], rows[short1]["delta_shares"], rows[short1]["status"]) == ("COVER", 1, "PROPOSED")
    assert rows[long1]["side"] == rows[short1]["side"] == "FLAT"  # closed: no side in the target
    assert (rows[long1]["target_shares"], rows[short1]["target_shares"]) == (0, 0)
    assert {long1, short1}.isdisjoint(p.target["ticker"].to_list())


def test_the_rebalance_id_hashes_the_target_and_the_held_book():
    c = universe()
    held = {neutral(c)[0]: 300}
    p = propose_rebalance(inputs(c, pl.DataFrame({"ticker": list(held), "shares": list(held.values())})),
                          MeridianConfig(), "conviction")
    target = dict(zip(p.target["ticker"], p.target["target_shares"]))
    assert p.rebalance_id == rebalance_id(AS_OF, "conviction", target, held)
    assert re.fullmatch(r"rb-20240301-conviction-[0-9a-f]{8}", p.rebalance_id)
    assert (p.as_of, p.method, p.requested_method) == (AS_OF, "conviction", "conviction")


def test_trades_are_tried_in_the_balanced_order_of_the_whole_share_target():
    c = universe()
    long1 = neutral(c)[0]
    pos = pl.DataFrame({"ticker": [long1], "shares": [2_000]})
    p = propose_rebalance(inputs(c, pos), MeridianConfig(), "conviction")
    names = list(p.cost_names)
    price = dict(zip(c["ticker"], c["price"]))
    change = dict(zip(c["ticker"], c["score"] - c["prior_score"]))
    target = dict(zip(p.target["ticker"], p.target["target_shares"]))
    cur = np.array([2_000 * price[long1] / NAV if t == long1 else 0.0 for t in names])
    step = np.array([target.get(t, 0) * price[t] / NAV for t in names])
    order = [names[i] for i in balanced_order(cur, step, [change[t] for t in names])]
    tried = p.trades.sort("sequence")["ticker"].to_list()
    assert tried == [t for t in order if t in tried] and len(tried) == len(order)
    assert p.trades["sequence"].to_list() == list(range(p.trades.height))


def factor_model(names: tuple[str, ...]) -> FactorModel:
    rng = np.random.default_rng(3)
    n = len(names)
    return FactorModel(X=rng.normal(0, 1, (n, 3)), F=np.diag([0.02, 0.01, 0.005]), D=np.full(n, 0.04),
                       factor_names=("f1", "f2", "f3"), tickers=names)


def test_a_risk_model_missing_names_is_named_and_the_sample_covariance_used():
    c = universe()
    books = select_books(c, 20, 20)
    missing = list(books.longs[:7])
    p = propose_rebalance(inputs(c, risk_model=factor_model(tuple(t for t in c["ticker"] if t not in missing))),
                          MeridianConfig(), "mvo")
    assert p.method == "mvo" and p.figures["covariance"] == "sample_covariance"
    assert p.warnings == [f"risk model lacks 7 names ({', '.join(missing[:5])}); sample covariance used"]


def test_a_book_name_without_return_history_still_gets_a_sample_covariance():
    c = universe()
    inp = inputs(c)
    gone = select_books(c, 20, 20).longs[0]
    names, R = inp.returns
    keep = [i for i, t in enumerate(names) if t != gone]
    p = propose_rebalance(inputs(c).__class__(**{**inp.__dict__, "returns": (tuple(names[i] for i in keep),
                                                                               R[:, keep])}), MeridianConfig(), "mvo")
    assert (p.method, p.figures["covariance"], p.warnings) == ("mvo", "sample_covariance", [])
    assert p.target.height > 0


def test_without_any_covariance_the_mvo_falls_back_and_says_why():
    c = universe()
    inp = inputs(c)
    p = propose_rebalance(inp.__class__(**{**inp.__dict__, "returns": None}), MeridianConfig(), "mvo")
    assert (p.method, p.requested_method) == ("conviction", "mvo")
    assert p.warnings == ["MVO failed (ProgramInfeasible: no covariance: neither a risk model nor return history for "
                          "the book); fell back to conviction-tilt"]


def test_the_optimizers_figures_are_its_book():
    c = universe()
    model = factor_model(tuple(c["ticker"]))
    cfg = MeridianConfig.model_validate({"portfolio": {"expected_return_range": 0.25, "commission_bps": 4.0}})
    p = propose_rebalance(inputs(c, risk_model=model), cfg, "mvo")
    f, t = p.figures, p.target
    score = dict(zip(c["ticker"], c["score"]))
    assert t["expected_return"].to_list() == pytest.approx([0.25 * (score[x] - 50) / 50 for x in t["ticker"]])
    assert f["covariance"] == "factor_model" and isinstance(f["solver"], str) and f["solver"]
    assert isinstance(f["solve_ms"], float) and f["solve_ms"] > 0 and f["solve_ms"] == round(f["solve_ms"], 2)
    w = t["weight"].to_numpy()
    assert f["expected_return"] == pytest.approx(float(t["expected_return"].to_numpy() @ w), rel=1e-6)
    idx = [list(model.tickers).index(x) for x in t["ticker"]]
    X, D = model.X[idx], model.D[idx]
    vol = float(np.sqrt(w @ (X @ model.F @ X.T) @ w + (w * w) @ D))
    assert f["ex_ante_vol"] == pytest.approx(vol, rel=1e-3)
    costs = TransactionCost.from_market(*(t[k].to_numpy() for k in ()), *[
        c.join(t.select("ticker"), on="ticker", how="semi").sort(pl.col("ticker").replace_strict(
            dict(zip(t["ticker"], range(t.height)))))[k].to_numpy() for k in ("avg_range_pct", "daily_vol")],
        np.maximum(t["adv_dollars"].to_numpy(), 1.0), NAV, cfg.portfolio)
    est = costs.estimate(w)
    assert f["est_cost_bps_nav"] == pytest.approx(1e4 * float(est.dollars.sum()) / NAV, rel=1e-6)


def test_the_tilts_figures_are_the_tilt_of_the_book():
    c = universe()
    books = select_books(c, 20, 20)
    soon, thin = books.longs[0], books.shorts[0]
    c = c.with_columns(days_to_earnings=pl.when(pl.col("ticker") == soon).then(2).otherwise(None).cast(pl.Int64),
                       adv_dollars=pl.when(pl.col("ticker") == thin).then(2e6).otherwise(pl.col("adv_dollars")))
    cfg = MeridianConfig.model_validate({"risk": {"max_position_pct": 0.04}, "portfolio": {"turnover_budget": 2.0}})
    p = propose_rebalance(inputs(c), cfg, "conviction")
    names = list(books.longs) + list(books.shorts)
    u = pl.DataFrame({"ticker": names}).join(c, on="ticker", how="left")
    days = np.array([np.nan if d is None else float(d) for d in u["days_to_earnings"]])
    res = conviction_tilt(u["score"].to_numpy(), list(range(20)), list(range(20, 40)), u["sector"].to_numpy(),
                          u["beta"].to_numpy(), u["adv_dollars"].to_numpy(), cfg.portfolio, nav=NAV,
                          days_to_earnings=days, limits=cfg.risk)
    whole = {t: w for t, w, px in zip(names, res.weights, u["price"]) if int(w * NAV / px) != 0}
    assert dict(zip(p.target["ticker"], p.target["weight"])) == pytest.approx(whole)
    f = p.figures
    assert f["earnings_halved"] == int(res.earnings_halved.sum()) == 1
    assert f["capped"] == int(res.capped.sum()) >= 1
    assert (f["beta_before_neutralisation"], f["short_scale"]) == (pytest.approx(res.beta_before),
                                                                  pytest.approx(res.short_scale))


def test_a_reducing_book_only_trades_toward_flat_against_the_positions_it_holds():
    c = universe()
    long1, short1 = neutral(c)
    pos = pl.DataFrame({"ticker": [long1, short1], "shares": [1_000, -800]})
    p = propose_rebalance(inputs(c, pos, trading_state=TradingState.REDUCING), ROOMY, "conviction")
    rows = {r["ticker"]: r for r in p.trades.iter_rows(named=True)}
    assert (rows[long1]["status"], rows[long1]["delta_shares"]) == ("PROPOSED", -1_000)
    assert (rows[short1]["status"], rows[short1]["delta_shares"]) == ("PROPOSED", 800)
    opening = p.trades.filter(~pl.col("ticker").is_in([long1, short1]))
    assert opening.height > 0 and (opening["status"] == "VETOED").all()
    assert opening["reason"].str.contains("TRADING_REDUCING").all()


def test_a_sleeve_target_beyond_a_names_adv_is_vetoed_and_its_held_names_closed():
    c = universe()
    thin, other = c["ticker"][1], c["ticker"][2]
    held = neutral(c)[0]
    c = c.with_columns(adv_dollars=pl.when(pl.col("ticker") == thin).then(2e6).otherwise(pl.col("adv_dollars")))
    p = propose_rebalance(inputs(c, pl.DataFrame({"ticker": [held], "shares": [500]}),
                                 fixed_target={thin: 0.03, other: 0.02}), ROOMY, "sleeves")
    rows = {r["ticker"]: r for r in p.trades.iter_rows(named=True)}
    assert rows[thin]["status"] == "VETOED" and "ADV" in rows[thin]["reason"].upper()
    assert rows[thin]["delta_shares"] == int(0.03 * NAV / c.filter(pl.col("ticker") == thin)["price"][0])
    assert rows[other]["status"] == "PROPOSED"
    assert (rows[held]["action"], rows[held]["delta_shares"], rows[held]["status"]) == ("SELL", -500, "PROPOSED")
    assert p.figures["vetoed"] == 1


TARGET_TYPES = {"ticker": pl.Utf8, "sector": pl.Utf8, "score": pl.Float64, "beta": pl.Float64,
                "adv_dollars": pl.Float64, "price": pl.Float64, "rebalance_id": pl.Utf8, "as_of": pl.Date,
                "side": pl.Utf8, "expected_return": pl.Float64, "weight": pl.Float64, "target_shares": pl.Int64,
                "method": pl.Utf8}


def test_an_empty_target_and_trade_list_keep_their_column_types():
    p = propose_rebalance(inputs(universe(), fixed_target={"T001": 0.0}), MeridianConfig(), "sleeves")
    assert p.target.height == 0 and dict(p.target.schema) == TARGET_TYPES
    assert p.trades.height == 0
    for name, dtype in {"rebalance_id": pl.Utf8, "as_of": pl.Date, "ticker": pl.Utf8, "action": pl.Utf8,
                        "side": pl.Utf8, "current_shares": pl.Int64, "target_shares": pl.Int64,
                        "delta_shares": pl.Int64, "status": pl.Utf8, "reason": pl.Utf8,
                        "sequence": pl.Int64}.items():
        assert p.trades.schema[name] == dtype, name


def test_names_without_range_volatility_or_adv_are_costed_with_the_defaults():
    c = universe()
    long1, short1 = neutral(c)
    c = c.with_columns(**{k: pl.when(pl.col("ticker").is_in([long1, short1])).then(None).otherwise(pl.col(k))
                          for k in ("avg_range_pct", "daily_vol", "adv_dollars", "beta", "sector")})
    pos = pl.DataFrame({"ticker": [long1, short1], "shares": [2_000, -1_500]})
    cfg = MeridianConfig.model_validate({"portfolio": {"turnover_budget": 2.0, "commission_bps": 3.0}})
    p = propose_rebalance(inputs(c, pos), cfg, "conviction")
    price = dict(zip(c["ticker"], c["price"]))
    rows = {r["ticker"]: r for r in p.trades.iter_rows(named=True)}
    for t, sh in ((long1, -2_000), (short1, 1_500)):
        expected = TransactionCost.from_market(np.array([0.02]), np.array([0.02]), np.array([1.0]), NAV,
                                               cfg.portfolio).estimate(np.array([sh * price[t] / NAV]))
        assert rows[t]["delta_shares"] == sh and rows[t]["sector"] is None
        assert rows[t]["cost_dollars"] == pytest.approx(float(expected.dollars[0]))
        assert rows[t]["cost_bps"] == pytest.approx(float(expected.bps[0]))
        assert p.costs_of(t) is not None
        assert float(p.costs_of(t).estimate(np.array([sh * price[t] / NAV])).dollars[0]) == pytest.approx(
            float(expected.dollars[0]))
    assert p.costs_of("NOT-IN-IT") is None
    deferred_or_vetoed = p.trades.filter(pl.col("delta_shares") == 0)
    assert (deferred_or_vetoed["cost_bps"] == 0.0).all() and (deferred_or_vetoed["commission_bps"] == 0.0).all()
    w = dict(zip(p.target["ticker"], p.target["weight"]))
    beta = dict(zip(c["ticker"], c["beta"]))
    assert p.figures["target_beta"] == pytest.approx(sum(beta[t] * x for t, x in w.items()))


def test_a_trade_below_the_minimum_waits_and_says_so():
    big = MeridianConfig.model_validate({"portfolio": {"min_trade_pct": 0.049, "turnover_budget": 2.0}})
    p = propose_rebalance(inputs(universe()), big, "conviction")
    waiting = p.trades.filter(pl.col("status") == "DEFERRED")
    assert waiting.height > 0 and (waiting["delta_shares"] == 0).all()
    assert set(waiting["reason"]) == {"below the minimum trade (4.90% of NAV): waits for a later rebalance"}
    assert p.figures["beta_swaps"] == 0  # the tilt's books are the flagged names as ranked


def test_a_veto_names_every_limit_the_trade_breaks():
    c = universe()
    thin = c["ticker"][1]
    c = c.with_columns(adv_dollars=pl.when(pl.col("ticker") == thin).then(2e6).otherwise(pl.col("adv_dollars")))
    p = propose_rebalance(inputs(c, fixed_target={thin: 0.08}), ROOMY, "sleeves")
    [row] = p.trades.filter(pl.col("ticker") == thin).iter_rows(named=True)
    parts = row["reason"].split("; ")
    assert row["status"] == "VETOED" and len(parts) == 2 and all(parts)


def test_every_held_name_without_a_price_is_named():
    c = universe()
    gone = c["ticker"][5:7].to_list()
    c = c.with_columns(price=pl.when(pl.col("ticker").is_in(gone)).then(None).otherwise(pl.col("price")))
    with pytest.raises(Exception, match=f"held names have no price on {AS_OF}: {gone[0]}, {gone[1]}$"):
        propose_rebalance(inputs(c, pl.DataFrame({"ticker": gone, "shares": [10, -10]})), MeridianConfig(),
                          "conviction")


def test_a_book_name_without_a_beta_counts_as_beta_one():
    c = universe()
    books = select_books(c, 20, 20)
    null_b, nan_b = books.longs[0], books.shorts[0]
    c = c.with_columns(beta=pl.when(pl.col("ticker") == null_b).then(None)
                       .when(pl.col("ticker") == nan_b).then(float("nan")).otherwise(pl.col("beta")))
    p = propose_rebalance(inputs(c), MeridianConfig(), "conviction")
    w = dict(zip(p.target["ticker"], p.target["weight"]))
    assert null_b in w and nan_b in w
    beta = {t: (1.0 if t in (null_b, nan_b) else b) for t, b in zip(c["ticker"], c["beta"])}
    assert p.figures["target_beta"] == pytest.approx(sum(beta[t] * x for t, x in w.items()))
