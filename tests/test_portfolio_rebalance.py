"""The rebalance proposal, book selection, the balanced turnover ramp and the decision ledger (no Dagster)."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.config import MeridianConfig
from meridian_assets.portfolio.assets import decide
from meridian_assets.portfolio.exposure import exposure_spreads, rebalance_advisories, third_friday
from meridian_assets.portfolio.rebalance import RebalanceInputs, propose_rebalance
from meridian_assets.portfolio.selection import select_books
from meridian_assets.portfolio.turnover import apply_turnover_budget, balanced_order
from meridian_assets.risk.pre_trade import BookState, MarketInfo, Trade, TradingState, VetoReason, check_trade

AS_OF = dt.date(2024, 3, 1)
SECTORS = ["Energy", "Financials", "Health Care", "Industrials", "Information Technology", "Utilities"]


def universe(n: int = 120, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 100, n)
    return pl.DataFrame({
        "ticker": [f"T{i:03d}" for i in range(n)], "sector": [SECTORS[i % len(SECTORS)] for i in range(n)],
        "score": score, "prior_score": np.clip(score + rng.normal(0, 10, n), 0, 100),
        "long_flag": score >= 80, "short_flag": score <= 20,
        "price": rng.uniform(20, 400, n), "adv_dollars": rng.uniform(5e7, 5e8, n),
        "avg_range_pct": rng.uniform(0.01, 0.03, n), "daily_vol": rng.uniform(0.01, 0.03, n),
        "beta": rng.uniform(0.7, 1.3, n), "days_to_earnings": pl.Series([None] * n, dtype=pl.Int64),
    })


def inputs(cands: pl.DataFrame, positions: pl.DataFrame | None = None, seed: int = 0, **kw) -> RebalanceInputs:
    rng = np.random.default_rng(seed + 1)
    names = tuple(cands["ticker"])
    returns = rng.normal(0, 0.015, (130, len(names))) + rng.normal(0, 0.01, (130, 1))
    pos = positions if positions is not None else pl.DataFrame(schema={"ticker": pl.Utf8, "shares": pl.Int64})
    return RebalanceInputs(as_of=AS_OF, nav=10_000_000.0, candidates=cands, positions=pos,
                           returns=(names, returns), **kw)


def test_books_take_flags_best_first_and_top_up():
    c = universe()
    books = select_books(c, 20, 20)
    assert len(books.longs) == 20 and len(books.shorts) == 20 and not set(books.longs) & set(books.shorts)
    flagged = c.filter("long_flag").sort("score", descending=True)["ticker"].to_list()
    assert list(books.longs[: min(20, len(flagged))]) == flagged[:20]
    few = c.with_columns(long_flag=pl.col("score") >= 97, short_flag=pl.col("score") <= 2)
    b = select_books(few, 20, 20)
    assert b.topped_up_long == 20 - few["long_flag"].sum() and b.topped_up_short == 20 - few["short_flag"].sum()
    ranked = few.sort("score", descending=True)["ticker"].to_list()
    assert list(b.longs) == ranked[:20]  # topped up from the highest remaining
    no_price = c.with_columns(price=pl.when(pl.col("ticker") == books.longs[0]).then(None).otherwise("price"))
    assert books.longs[0] not in select_books(no_price, 20, 20).longs


def test_balanced_order_keeps_the_ramp_near_the_target_net():
    cur = np.zeros(40)
    tgt = np.r_[np.full(20, 0.04), np.full(20, -0.035)]
    sc = np.r_[np.full(20, 50.0), np.full(20, -50.0)]
    plain = apply_turnover_budget(cur, tgt, sc, 0.30)
    assert plain.weights.sum() == pytest.approx(0.30)  # the plain sort spends it all on longs
    bal = apply_turnover_budget(cur, tgt, sc, 0.30, order=balanced_order(cur, tgt, sc))
    assert np.abs(bal.weights).sum() == pytest.approx(0.30)
    assert abs(bal.weights.sum()) <= 0.04 and (bal.weights < 0).any()


def test_rejected_trades_use_no_budget():
    cur, tgt, sc = np.zeros(4), np.array([0.1, 0.1, 0.1, 0.1]), np.array([4.0, 3.0, 2.0, 1.0])
    res = apply_turnover_budget(cur, tgt, sc, 0.25, accept=lambda i, d: i != 0)
    assert res.trades[0].rejected and res.weights[0] == 0
    assert res.weights[1] == pytest.approx(0.1) and res.weights[2] == pytest.approx(0.1)
    assert res.weights[3] == pytest.approx(0.05)  # the crossing trade lands on the budget


@pytest.mark.parametrize("method", ["mvo", "conviction"])
def test_proposal_from_cash_respects_budget_and_every_accepted_trade_passes_the_veto(method):
    cfg = MeridianConfig()
    p = propose_rebalance(inputs(universe()), cfg, method)
    assert p.method == method and not p.warnings
    t = p.target
    assert (t["weight"] > 0).sum() == 20 and (t["weight"] < 0).sum() == 20
    if method == "mvo":
        assert t.filter(pl.col("weight") > 0)["weight"].sum() == pytest.approx(0.80, abs=1e-6)
        assert t.filter(pl.col("weight") < 0)["weight"].sum() == pytest.approx(-0.70, abs=1e-6)
    assert (t["target_shares"].abs() * t["price"] <= 0.05 * 10_000_000 + 1e-6).all()  # whole shares toward zero
    trades = p.trades
    accepted = trades.filter(pl.col("status") == "PROPOSED").sort("sequence")
    assert (accepted["notional"].sum() / 10_000_000) <= cfg.portfolio.turnover_budget + 1e-9
    assert p.figures["turnover"] == pytest.approx(accepted["notional"].sum() / 10_000_000)
    assert (trades.filter(pl.col("status") == "DEFERRED")["delta_shares"] == 0).all()
    # replaying the accepted trades through the pre-trade checks in their sequence: each one passes
    market = MarketInfo(sector=dict(zip(trades["ticker"], trades["sector"])),
                        beta=dict(zip(universe()["ticker"], universe()["beta"])),
                        adv_usd=dict(zip(universe()["ticker"], universe()["adv_dollars"])))
    book: dict[str, float] = {}
    net = 0.0
    for r in accepted.iter_rows(named=True):
        assert r["cost_bps"] == pytest.approx(r["commission_bps"] + r["spread_bps"] + r["impact_bps"])
        notional = r["delta_shares"] * r["price"]
        assert check_trade(Trade(r["ticker"], notional), BookState(10_000_000.0, dict(book)), market,
                           cfg.risk, False).accepted
        book[r["ticker"]] = book.get(r["ticker"], 0.0) + notional
        net += notional
    assert abs(net) / 10_000_000 <= cfg.risk.net_max
    assert {"BUY", "SHORT"} <= set(accepted["action"])


def test_halted_book_vetoes_every_trade_with_trading_halted():
    p = propose_rebalance(inputs(universe(), halted=True), MeridianConfig(), "mvo")
    tried = p.trades.filter(pl.col("status") != "DEFERRED")
    assert tried.height > 0 and (tried["status"] == "VETOED").all()
    assert tried["reason"].str.contains("TRADING_HALTED").all()
    assert p.figures["trades"] == 0


def test_infeasible_mvo_falls_back_to_conviction_with_a_warning():
    cfg = MeridianConfig.model_validate({"risk": {"max_position_pct": 0.02}})  # 20 x 2% < 80% long
    p = propose_rebalance(inputs(universe()), cfg, "mvo")
    assert p.method == "conviction" and p.requested_method == "mvo"
    assert any("ProgramInfeasible" in w and "conviction" in w for w in p.warnings)


def test_rebalance_id_is_deterministic_and_positions_are_diffed():
    c = universe()
    a = propose_rebalance(inputs(c), MeridianConfig(), "conviction")
    b = propose_rebalance(inputs(c), MeridianConfig(), "conviction")
    assert a.rebalance_id == b.rebalance_id and a.rebalance_id.startswith("rb-20240301-conviction-")
    held_short = a.target.filter(pl.col("weight") > 0)["ticker"][0]
    pos = pl.DataFrame({"ticker": [held_short, "T119"], "shares": [-500, 300]})
    c2 = c.with_columns(score=pl.when(pl.col("ticker") == "T119").then(50.0).otherwise("score"),
                        long_flag=pl.when(pl.col("ticker") == "T119").then(False).otherwise("long_flag"),
                        short_flag=pl.when(pl.col("ticker") == "T119").then(False).otherwise("short_flag"))
    p = propose_rebalance(inputs(c2, pos), MeridianConfig(), "conviction")
    assert p.rebalance_id != a.rebalance_id
    row = p.trades.filter(pl.col("ticker") == "T119").row(0, named=True)
    assert row["current_shares"] == 300 and row["action"] == "SELL"  # a held name outside the books is sold
    flip = p.trades.filter(pl.col("ticker") == held_short).row(0, named=True)
    assert flip["current_shares"] == -500 and flip["action"] == "COVER"


def test_decide_commit_splits_a_crossing_trade_and_prices_in_the_cost():
    trades = pl.DataFrame({"rebalance_id": ["rb"] * 3, "as_of": [AS_OF] * 3, "ticker": ["A", "B", "C"],
                           "sector": ["Energy"] * 3, "action": ["SELL", "BUY", "SHORT"],
                           "current_shares": [100, 0, 0], "delta_shares": [-150, 10, -5], "price": [10.0, 20.0, 5.0],
                           "score": [10.0, 90.0, 5.0], "cost_bps": [10.0, 10.0, 10.0],
                           "status": ["PROPOSED", "PROPOSED", "VETOED"], "reason": [None, None, "BETA: ..."]})
    rows = decide(trades, "commit", "simulated")
    a = rows.filter(pl.col("ticker") == "A").sort("action")
    assert a["action"].to_list() == ["SELL", "SHORT"] and a["shares"].to_list() == [100, 50]
    assert a["price"].to_list() == pytest.approx([10 * (1 - 0.001)] * 2)
    assert rows.filter(pl.col("ticker") == "B")["price"][0] == pytest.approx(20 * 1.001)
    assert rows.filter(pl.col("ticker") == "C")["status"][0] == "VETOED"
    assert set(decide(trades, "approve", "ann")["status"]) == {"APPROVED", "VETOED"}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), budget=st.floats(0.05, 0.6))
def test_budget_ramp_never_exceeds_budget_and_keeps_net_in_limits(seed, budget):
    cfg = MeridianConfig.model_validate({"portfolio": {"turnover_budget": budget}})
    p = propose_rebalance(inputs(universe(seed=seed), seed=seed), cfg, "conviction")
    acc = p.trades.filter(pl.col("status") == "PROPOSED")
    signed = (acc["delta_shares"] * acc["price"]).sum() / 10_000_000
    assert acc["notional"].sum() / 10_000_000 <= budget + 1e-9
    assert cfg.risk.net_min - 1e-9 <= signed <= cfg.risk.net_max + 1e-9


def test_exposure_spreads_flag_only_with_history():
    book = pl.DataFrame({"ticker": ["A", "B", "C"], "weight": [0.5, 0.5, -1.0], "momentum": [90.0, 70.0, 20.0]})
    first = exposure_spreads(book, ["momentum"])
    assert first["long_exposure"][0] == pytest.approx(80) and first["spread"][0] == pytest.approx(60)
    assert not first["flagged"][0]
    hist = pl.DataFrame({"factor": ["momentum"] * 3, "spread": [20.0, 22.0, 24.0]})
    flagged = exposure_spreads(book, ["momentum"], hist)
    assert flagged["flagged"][0] and flagged["z"][0] == pytest.approx((60 - 22) / 2)
    assert not exposure_spreads(book, ["momentum"], hist.head(2))["flagged"][0]


def test_advisories_earnings_fomc_and_opex():
    cfg = MeridianConfig().portfolio
    assert third_friday(2026, 3) == dt.date(2026, 3, 20)
    notes = rebalance_advisories(dt.date(2026, 3, 17), {"AAA": dt.date(2026, 3, 18), "BBB": dt.date(2026, 3, 30)},
                                 cfg)
    assert any("AAA" in n for n in notes) and not any("BBB" in n for n in notes)
    assert any("FOMC" in n and "2026-03-18" in n for n in notes)
    assert any("opex" in n and "2026-03-20" in n for n in notes)
    assert rebalance_advisories(dt.date(2026, 3, 2), {}, cfg) == []


def test_reduce_only_state_vetoes_increases_but_not_reductions():
    market = MarketInfo(sector={"A": "Energy"}, beta={"A": 1.0}, adv_usd={"A": 1e9})
    book = BookState(1e7, {"A": 2e5}, TradingState.REDUCING)
    assert VetoReason.TRADING_REDUCING in check_trade(Trade("A", 1e5), book, market, MeridianConfig().risk,
                                                      False).reasons
    assert check_trade(Trade("A", -1e5), book, market, MeridianConfig().risk, False).accepted


def test_sleeves_method_trades_toward_the_meta_layers_combined_target():
    c = universe()
    target = {"T001": 0.04, "T002": 0.03, "T003": -0.05, "T004": -0.02}
    p = propose_rebalance(inputs(c, fixed_target=target), MeridianConfig(), "sleeves")
    assert p.method == "sleeves"
    got = dict(zip(p.target["ticker"], p.target["weight"]))
    assert got == pytest.approx(target)
    assert set(p.trades.filter(pl.col("status") == "PROPOSED")["ticker"]) == set(target)  # 14% < the budget
    with pytest.raises(Exception, match="meta_target_book"):
        propose_rebalance(inputs(c), MeridianConfig(), "sleeves")


def test_slivers_wait_but_closing_trades_do_not():
    c = universe()
    held = c.filter(pl.col("score").is_between(40, 60)).head(2)["ticker"].to_list()  # outside both books
    pos = pl.DataFrame({"ticker": held, "shares": [1, -2]})
    roomy = MeridianConfig.model_validate({"portfolio": {"turnover_budget": 2.0}})  # the budget never binds
    p = propose_rebalance(inputs(c, pos), roomy, "conviction")
    closing = p.trades.filter(pl.col("ticker").is_in(held))
    assert (closing["status"] == "PROPOSED").all() and (closing["current_shares"] + closing["delta_shares"] == 0).all()
    accepted = p.trades.filter(pl.col("status") == "PROPOSED", ~pl.col("ticker").is_in(held))
    assert (accepted["notional"] >= 0.001 * 10_000_000).all()
    big = MeridianConfig.model_validate({"portfolio": {"min_trade_pct": 0.049, "turnover_budget": 2.0}})
    q = propose_rebalance(inputs(c), big, "conviction")
    assert (q.trades.filter(pl.col("status") == "PROPOSED")["notional"] >= 0.049 * 10_000_000).all()
    assert q.trades.filter(pl.col("status") == "PROPOSED").height < p.trades.filter(pl.col("status") == "PROPOSED").height


def _spec_optimum(inp: RebalanceInputs, names: list[str], n_long: int, n_short: int, cur_w: np.ndarray):
    """The spec's MVO book for these names (no turnover term), by the one-shot formulation."""
    from meridian_assets.portfolio.costs import TransactionCost
    from meridian_assets.portfolio.market import sample_covariance
    from meridian_assets.portfolio.mvo import expected_returns, optimize_mvo

    pc = MeridianConfig().portfolio
    u = pl.DataFrame({"ticker": names}).join(inp.candidates, on="ticker", how="left")
    tickers, R = inp.returns
    cols = [tickers.index(t) for t in names]
    costs = TransactionCost.from_market(u["avg_range_pct"].to_numpy(), u["daily_vol"].to_numpy(),
                                        u["adv_dollars"].to_numpy(), inp.nav, pc)
    return optimize_mvo(expected_returns(u["score"].to_numpy()), sample_covariance(R[-120:, cols]),
                        u["beta"].to_numpy(), u["sector"].to_numpy(), cur_w, costs, pc, list(range(n_long)),
                        list(range(n_long, n_long + n_short)), turnover_mode="off")


def test_mvo_target_is_the_spec_optimum_and_the_budget_ramps_to_it():
    """A held book far from today's scores: the target is the spec's optimum (not the book with the least turnover)
    and the 30% budget executes the largest score changes toward it; the soft turnover term would have moved the
    target itself toward the held book."""
    start = universe(seed=3)
    first = propose_rebalance(inputs(start), MeridianConfig(), "mvo")
    held = first.target.select("ticker", shares="target_shares")  # as if the whole book had been built
    noise = np.random.default_rng(4).normal(0, 20, start.height)
    moved = start.with_columns(score=(pl.col("score") + noise).clip(0, 100))  # same books, new convictions
    inp = inputs(moved, held)
    p = propose_rebalance(inp, MeridianConfig(), "mvo")
    assert p.method == "mvo" and not p.warnings
    books = select_books(moved, 20, 20)
    names = list(books.longs) + list(books.shorts) + sorted(set(held["ticker"]) - set(books.longs) - set(books.shorts))
    prices = dict(zip(moved["ticker"], moved["price"]))
    shares = dict(zip(held["ticker"], held["shares"]))
    cur_w = np.array([shares.get(t, 0) * prices[t] / inp.nav for t in names])
    spec = dict(zip(names, _spec_optimum(inp, names, 20, 20, cur_w).weights))
    got = dict(zip(p.target["ticker"], p.target["weight"]))
    assert max(abs(got.get(t, 0.0) - spec[t]) for t in names) < 1e-5
    accepted = p.trades.filter(pl.col("status") == "PROPOSED")
    assert accepted["notional"].sum() / inp.nav <= 0.30 + 1e-9 and p.figures["deferred"] > 0
    for side in (["BUY", "COVER"], ["SELL", "SHORT"]):  # largest score change first within each direction
        ramp = p.trades.filter(pl.col("action").is_in(side)).sort("sequence")["score_change"].abs().to_list()
        assert ramp == sorted(ramp, reverse=True)
    soft = MeridianConfig.model_validate({"portfolio": {"mvo_turnover_mode": "soft"}})
    q = propose_rebalance(inp, soft, "mvo")
    soft_w = dict(zip(q.target["ticker"], q.target["weight"]))
    to_spec = sum(abs(got.get(t, 0.0) - cur_w[i]) for i, t in enumerate(names))
    to_soft = sum(abs(soft_w.get(t, 0.0) - cur_w[i]) for i, t in enumerate(names))
    assert to_soft < to_spec - 0.1  # the soft term's target is the nearer, lower-turnover book


def test_a_meta_allocation_of_no_capital_closes_the_book_instead_of_failing():
    """Every sleeve killed or retired: the meta layer's target is cash ({}), and the proposal closes each held
    name (reductions, never vetoed), where it used to refuse as if the meta layer had not run."""
    c = universe()
    held = c.head(3)["ticker"].to_list()
    pos = pl.DataFrame({"ticker": held, "shares": [1000, -500, 200]})
    roomy = MeridianConfig.model_validate({"portfolio": {"turnover_budget": 2.0}})
    p = propose_rebalance(inputs(c, pos, fixed_target={}), roomy, "sleeves")
    assert p.method == "sleeves"
    assert "the meta layer allocates no capital to any sleeve: the target is cash" in p.warnings
    closing = p.trades.filter(pl.col("ticker").is_in(held))
    assert (closing["status"] == "PROPOSED").all()
    assert (closing["current_shares"] + closing["delta_shares"] == 0).all()
    assert p.trades.filter(~pl.col("ticker").is_in(held)).height == 0


def test_the_sleeve_target_is_the_latest_allocations_and_never_an_older_one(tmp_path):
    import duckdb

    from meridian_assets.portfolio.inputs import sleeve_target

    d1, d2, d3 = dt.date(2024, 1, 5), dt.date(2024, 4, 5), dt.date(2024, 7, 5)
    conn = duckdb.connect(str(tmp_path / "m.duckdb"))
    conn.execute("CREATE TABLE sleeve_allocation (as_of DATE, sleeve VARCHAR, weight DOUBLE)")
    conn.execute("CREATE TABLE meta_target_book (as_of DATE, ticker VARCHAR, weight DOUBLE)")
    conn.execute("INSERT INTO sleeve_allocation VALUES (?, 'core', 0.6), (?, 'momentum', 0.4)", [d1, d1])
    conn.execute("INSERT INTO meta_target_book VALUES (?, 'AAA', 0.05), (?, 'BBB', -0.04)", [d1, d1])
    assert sleeve_target(conn, d1) == {"AAA": 0.05, "BBB": -0.04}
    assert sleeve_target(conn, d1 - dt.timedelta(days=1)) is None  # before any allocation
    # the next allocation kills every sleeve: it writes no target rows, and the January target must not stand
    conn.execute("INSERT INTO sleeve_allocation VALUES (?, 'core', 0.0), (?, 'momentum', 0.0)", [d2, d2])
    assert sleeve_target(conn, d2) == {} and sleeve_target(conn, d2 + dt.timedelta(days=3)) == {}
    assert sleeve_target(conn, d1) == {"AAA": 0.05, "BBB": -0.04}  # as of January, January's
    # an allocation with capital whose target book was not written: no target (refused), not January's
    conn.execute("INSERT INTO sleeve_allocation VALUES (?, 'core', 1.0)", [d3])
    assert sleeve_target(conn, d3) is None
    conn.execute("INSERT INTO meta_target_book VALUES (?, 'CCC', 0.02)", [d3])
    assert sleeve_target(conn, d3) == {"CCC": 0.02}


@pytest.mark.parametrize("method", ["mvo", "conviction"])
def test_the_book_targets_follow_the_configured_exposures(method):
    """The proposal passes the portfolio settings to the optimizer and to the tilt: other exposures than the
    defaults (0.80 / 0.70) give other books."""
    c = universe()
    cfg = MeridianConfig.model_validate({"portfolio": {"long_exposure": 0.50, "short_exposure": 0.40,
                                                       "turnover_budget": 4.0}})
    p = propose_rebalance(inputs(c), cfg, method)
    assert p.method == method
    w = p.target["weight"]
    assert float(w.filter(w > 0).sum()) == pytest.approx(0.50, abs=0.02)
    assert float(-w.filter(w < 0).sum()) == pytest.approx(0.40, abs=0.02)
