"""Pre-trade veto, as properties over random books and trades:

* a pure reduction (|position| shrinks, no flip) is never vetoed for size, earnings, sector, gross or the
  REDUCING state — only the halt, liquidity, or (closing one side moves the net) the net / beta bounds
  when it pushes those further out, which an independent computation confirms;
* any sequence of accepted trades from a book within every limit keeps the book within every limit;
* the halt lock denies every new order and never a cancel.
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.pre_trade import (
    BookState,
    MarketInfo,
    Trade,
    TradingState,
    VetoReason,
    check_trade,
)

NAV = 10_000_000.0
CFG = RiskConfig()
TICKERS = [f"T{i}" for i in range(8)]
SECTORS = ["Energy", "Financials", "Utilities"]
TOL = 1e-9

markets = st.builds(
    lambda sectors, betas, advs, earnings: MarketInfo(
        sector=dict(zip(TICKERS, sectors)), beta=dict(zip(TICKERS, betas)),
        adv_usd=dict(zip(TICKERS, advs)),
        days_to_earnings={t: d for t, d in zip(TICKERS, earnings) if d is not None}),
    st.lists(st.sampled_from(SECTORS), min_size=8, max_size=8),
    st.lists(st.floats(-1.0, 3.0), min_size=8, max_size=8),
    st.lists(st.sampled_from([0.0, 5e5, 4e6, 1e8, 1e10]), min_size=8, max_size=8),
    st.lists(st.one_of(st.none(), st.integers(-2, 10)), min_size=8, max_size=8),
)
# positions up to ±15% of NAV: books well outside the limits are included on purpose
positions = st.dictionaries(st.sampled_from(TICKERS), st.floats(-1.5e6, 1.5e6).filter(lambda v: abs(v) > 1.0),
                            max_size=8)
states = st.sampled_from([TradingState.ACTIVE, TradingState.REDUCING])


def figures(pos: dict[str, float], market: MarketInfo) -> dict[str, float]:
    """Gross, net and beta of a book as fractions of NAV, computed here from their definitions."""
    gross = net = beta = 0.0
    for t, v in pos.items():
        gross += abs(v)
        net += v
        beta += v * market.beta.get(t, 1.0)
    return {"gross": gross / NAV, "net": net / NAV, "beta": beta / NAV}


def out_of(x: float, lo: float, hi: float) -> float:
    return max(lo - x, x - hi, 0.0)


@settings(max_examples=150, deadline=None)
@given(positions, markets, states, st.sampled_from(TICKERS), st.floats(0.0, 1.0), st.booleans())
def test_a_pure_reduction_is_vetoed_only_by_halt_liquidity_or_pushing_net_or_beta_further_out(
        pos, market, state, ticker, fraction, halted):
    pre = pos.get(ticker, 0.0)
    assume(pre != 0.0)
    trade = Trade(ticker, -pre * fraction)  # shrinks |position| by `fraction`, never flips it
    decision = check_trade(trade, BookState(NAV, pos, state), market, CFG, halted=halted)
    allowed = {VetoReason.TRADING_HALTED, VetoReason.LIQUIDITY, VetoReason.GROSS_NET, VetoReason.BETA}
    assert set(decision.reasons) <= allowed, str(decision)
    for d in decision.denials:
        assert "gross" not in d.message, str(decision)  # a reduction never adds gross
    post_pos = {**pos, ticker: pre - pre * fraction}
    before, after = figures(pos, market), figures(post_pos, market)
    net_worse = out_of(after["net"], CFG.net_min, CFG.net_max) > out_of(before["net"], CFG.net_min, CFG.net_max) + TOL
    beta_worse = (out_of(after["beta"], -CFG.max_beta, CFG.max_beta)
                  > out_of(before["beta"], -CFG.max_beta, CFG.max_beta) + TOL)
    adv = market.adv_usd.get(ticker, 0.0)
    illiquid = adv <= 0 or abs(trade.notional) / adv > CFG.max_adv_pct + TOL
    if not (halted or illiquid or net_worse or beta_worse):
        assert decision.accepted, str(decision)
    assert (VetoReason.TRADING_HALTED in decision.reasons) == halted
    if VetoReason.BETA in decision.reasons:
        assert beta_worse, str(decision)


def within_every_limit(pos: dict[str, float], market: MarketInfo, lim: RiskConfig, slack: float = 1e-9) -> list[str]:
    """Every broken limit of a book, computed from the limits' definitions (empty: within all)."""
    broken = []
    f = figures(pos, market)
    if f["gross"] > lim.max_gross + slack:
        broken.append(f"gross {f['gross']}")
    if not lim.net_min - slack <= f["net"] <= lim.net_max + slack:
        broken.append(f"net {f['net']}")
    if abs(f["beta"]) > lim.max_beta + slack:
        broken.append(f"beta {f['beta']}")
    earnings_cap = lim.earnings_blackout_size_fraction * lim.max_position_pct
    for t, v in pos.items():
        if abs(v) / NAV > lim.max_position_pct + slack:
            broken.append(f"position {t}")
        days = market.days_to_earnings.get(t)
        if days is not None and 0 <= days <= lim.earnings_blackout_days and abs(v) / NAV > earnings_cap + slack:
            broken.append(f"earnings {t}")
    for s in SECTORS:
        longs = sum(v for t, v in pos.items() if market.sector.get(t) == s and v > 0) / NAV
        shorts = -sum(v for t, v in pos.items() if market.sector.get(t) == s and v < 0) / NAV
        if longs > lim.max_sector_side_pct + slack or shorts > lim.max_sector_side_pct + slack:
            broken.append(f"sector {s}")
    return broken


# many small to mid trades in a few names, so the limits are reached often
trades = st.lists(st.tuples(st.sampled_from(TICKERS), st.floats(-8e5, 8e5)), min_size=1, max_size=60)
tight = RiskConfig(max_gross=0.2, net_min=-0.03, net_max=0.04, max_beta=0.03, max_sector_side_pct=0.08)


@settings(max_examples=100, deadline=None)
@given(trades, markets, st.sampled_from([CFG, tight]), st.booleans())
def test_accepted_trades_keep_a_compliant_book_within_every_limit(seq, market, limits, reducing):
    pos: dict[str, float] = {}
    state = TradingState.ACTIVE
    for i, (ticker, notional) in enumerate(seq):
        if reducing and i == len(seq) // 2:
            state = TradingState.REDUCING
        decision = check_trade(Trade(ticker, notional), BookState(NAV, dict(pos), state), market, limits, False)
        if not decision.accepted:
            continue
        pre = pos.get(ticker, 0.0)
        post = pre + notional
        if state is TradingState.REDUCING:
            assert abs(post) <= abs(pre) + 1e-6 and pre * post >= 0, (pre, post)
        adv = market.adv_usd.get(ticker, 0.0)
        assert adv > 0 and abs(notional) / adv <= limits.max_adv_pct + 1e-9
        pos[ticker] = post
        assert within_every_limit(pos, market, limits) == [], (ticker, notional, pos)


@settings(max_examples=60, deadline=None)
@given(positions, markets, states, st.sampled_from(TICKERS), st.floats(-2e6, 2e6))
def test_the_halt_denies_every_new_order_and_never_a_cancel(pos, market, state, ticker, notional):
    book = BookState(NAV, pos, state)
    halted = check_trade(Trade(ticker, notional), book, market, CFG, halted=True)
    assert halted.reasons[:1] == (VetoReason.TRADING_HALTED,)
    assert check_trade(Trade(ticker, notional), BookState(NAV, pos, TradingState.HALTED), market, CFG,
                       halted=False).reasons[:1] == (VetoReason.TRADING_HALTED,)
    assert check_trade(Trade(ticker, notional, is_cancel=True), book, market, CFG, halted=True).accepted
    free = check_trade(Trade(ticker, notional), book, market, CFG, halted=False)
    assert VetoReason.TRADING_HALTED not in free.reasons
