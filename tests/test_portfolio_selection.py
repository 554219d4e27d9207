"""Book selection through the rebalance: held names keep their slot while flagged; the MVO's books can be
beta-neutral (no Dagster)."""

import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.portfolio.rebalance import propose_rebalance
from meridian_assets.portfolio.selection import BetaRoom, beta_miss, net_beta_range, select_books
from tests.test_portfolio_rebalance import SECTORS, inputs, universe

ROOM = BetaRoom(0.80, 0.70, 0.005, 0.05, 0.15, 0.05, 0.25)


def test_net_beta_range_by_hand():
    room = BetaRoom(0.1, 0.1, 0.005, 0.05, 0.15)
    # long side: 0.05 on β=2, 0.045 on β=1, 0.005 on β=0.5 at most; the reverse at least
    lo, hi = net_beta_range([0.5, 1.0, 2.0], [1.0, 1.0, 1.0], room)
    assert np.isclose(hi, 0.1475 - 0.1) and np.isclose(lo, 0.08 - 0.1)
    assert net_beta_range([1.0], [1.0], room) is None  # one name cannot hold 10% under a 5% cap


def test_beta_miss_says_which_way_the_books_must_move():
    low, high = [0.4] * 20, [1.8] * 20
    secs = list("ABCDE") * 4
    assert beta_miss(low, high, secs, secs, ROOM) < -0.15  # longs too defensive, shorts too aggressive
    assert beta_miss(high, low, secs, secs, ROOM) > 0.15
    assert beta_miss([1.0] * 20, [1.0] * 20, secs, secs, ROOM) == 0.0


def spread_universe(seed: int) -> pl.DataFrame:
    """`universe` with the sectors dealt round-robin down the score ranking, so every book spans them evenly."""
    c = universe(200, seed=seed).sort("score")
    return c.with_columns(sector=pl.Series([SECTORS[i % len(SECTORS)] for i in range(c.height)]))


def low_risk_universe() -> pl.DataFrame:
    """Flags as usual, but the best-scored longs are all low-beta and the worst-scored shorts all high-beta (what a
    low-volatility parent does to a composite): the score's 20/20 cannot be beta-neutral at 80/70 with 0.5-5%
    positions; the other flagged names can make up the difference."""
    c = spread_universe(3)
    longs = c.filter("long_flag").sort("score", descending=True)["ticker"].to_list()
    shorts = c.filter("short_flag").sort("score")["ticker"].to_list()
    assert len(longs) > 30 and len(shorts) > 30
    beta = {**{t: 0.4 for t in longs[:20]}, **{t: 1.4 for t in longs[20:]},
            **{t: 1.8 for t in shorts[:20]}, **{t: 0.6 for t in shorts[20:]}}
    return c.with_columns(beta=pl.col("ticker").replace_strict(beta, default=1.0, return_dtype=pl.Float64))


def test_mvo_books_can_be_beta_neutral():
    c = low_risk_universe()
    plain = select_books(c, 20, 20)
    b = c.filter(pl.col("ticker").is_in(plain.longs))["beta"], c.filter(pl.col("ticker").is_in(plain.shorts))["beta"]
    assert net_beta_range(*b, ROOM)[1] < -0.15  # the score's books alone: infeasible
    p = propose_rebalance(inputs(c), MeridianConfig(), "mvo")
    assert p.method == "mvo", p.warnings
    assert not any("MVO failed" in w for w in p.warnings)
    assert abs(p.figures["target_beta"]) <= 0.15 + 1e-6
    assert 0 < p.figures["beta_swaps"] <= 20
    target = p.target.filter(pl.col("weight") != 0)
    flagged = c.filter(pl.col("long_flag") | pl.col("short_flag"))["ticker"].to_list()
    assert set(target["ticker"]) <= set(flagged)  # swaps stay within the flags
    assert target.height == 40


def test_held_names_keep_their_slot_while_flagged():
    c = spread_universe(5)
    longs = c.filter("long_flag").sort("score", descending=True)["ticker"].to_list()
    shorts = c.filter("short_flag").sort("score")["ticker"].to_list()
    px = dict(zip(c["ticker"], c["price"]))
    held = {**{t: int(0.04 * 1e7 / px[t]) for t in longs[:20]}, **{t: -int(0.035 * 1e7 / px[t]) for t in shorts[:20]}}
    # next session: five flagged names outside the book now score above five held ones (all still flagged)
    bump = {t: 99.9 for t in longs[20:25]} | {t: 0.05 for t in shorts[20:25]}
    moved = c.with_columns(score=pl.col("ticker").replace_strict(bump, default=pl.col("score"), return_dtype=pl.Float64))
    positions = pl.DataFrame({"ticker": list(held), "shares": list(held.values())})
    p = propose_rebalance(inputs(moved, positions), MeridianConfig(), "mvo")
    assert p.method == "mvo", p.warnings
    assert set(p.target["ticker"]) == set(held)  # nobody rotated out for a name one rank better
    assert not p.trades.filter(pl.col("action").is_in(["BUY", "SHORT"]) & ~pl.col("ticker").is_in(list(held))).height
    # a held name that loses its flag does leave the book
    dropped = moved.with_columns(long_flag=pl.when(pl.col("ticker") == longs[0]).then(False).otherwise("long_flag"))
    q = propose_rebalance(inputs(dropped, positions), MeridianConfig(), "mvo")
    assert longs[0] not in set(q.target["ticker"]) and len(set(q.target["ticker"]) - set(held)) == 1
