"""Pre-trade veto at its edges: the exact denial text an operator reads, defaults for missing data (beta 1.0,
no ADV = illiquid), the boundaries (earnings day N, exactly the ADV cap), the short side of a sector, and the
REDUCING state letting a position close completely."""

from __future__ import annotations

import math

import pytest

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.pre_trade import BookState, MarketInfo, Trade, TradingState, VetoReason, check_trade

NAV = 10_000_000.0
CFG = RiskConfig()


def mkt(**over) -> MarketInfo:
    names = ["A", "B", "C", "D", "E"]
    base = dict(sector={t: "Energy" for t in names}, beta={t: 1.0 for t in names},
                adv_usd={t: 1e9 for t in names}, days_to_earnings={})
    for k, v in over.items():
        base[k] = {**base[k], **v}
    return MarketInfo(**base)


def test_every_denial_reads_reason_ticker_figure_and_limit():
    book = BookState(NAV, {"A": 100_000.0}, TradingState.REDUCING)
    m = mkt(adv_usd={"A": 1_000_000.0}, days_to_earnings={"A": 2}, beta={"A": 3.0})
    d = check_trade(Trade("A", 900_000), book, m, CFG, halted=True)
    assert [x.message for x in d.denials] == [
        "TRADING_HALTED: A trading halted 1 vs limit 0",
        "EARNINGS_BLACKOUT: A earnings in 2d, position/NAV 0.1 vs limit 0.025",
        "LIQUIDITY: A trade/ADV20 0.9 vs limit 0.05",
        "POSITION_SIZE: A position/NAV 0.1 vs limit 0.05",
        "BETA: A net beta 0.3 vs limit 0.15",
        "TRADING_REDUCING: A reduce-only, |position| $ 1e+06 vs limit 100000",
    ]
    assert str(d) == "REJECT A " + "; ".join(x.message for x in d.denials)


def test_gross_net_and_short_sector_denials_name_what_broke():
    longs = {f"L{i}": 500_000.0 for i in range(17)}
    shorts = {f"S{i}": -500_000.0 for i in range(16)}
    m = MarketInfo(sector={**{t: "Tech" for t in longs}, **{t: f"X{i}" for i, t in enumerate(shorts)}, "N": "Y"},
                   beta={}, adv_usd={"N": 1e9, "L0": 1e9})
    gross = check_trade(Trade("N", -200_000), BookState(NAV, {**longs, **shorts}), m, CFG, False)
    assert [x.message for x in gross.denials] == ["GROSS_NET: N gross/NAV 1.67 vs limit 1.65"]
    net = check_trade(Trade("L0", 100_000), BookState(NAV, {"L0": 400_000.0, "L1": 1_100_000.0}),
                      MarketInfo(beta={"L0": 0.0, "L1": 0.0}, adv_usd={"L0": 1e9}), CFG, False)
    assert [x.message for x in net.denials] == ["GROSS_NET: L0 net/NAV 0.16 vs limit 0.15"]
    sec = {f"Z{i}": -480_000.0 for i in range(5)}
    other = {f"Q{i}": 450_000.0 for i in range(6)}  # longs elsewhere keep the net inside its band
    short = check_trade(Trade("N", -300_000), BookState(NAV, {**sec, **other}),
                        MarketInfo(sector={**{t: "Energy" for t in sec}, "N": "Energy"},
                                   beta={t: 0.0 for t in [*sec, *other, "N"]}, adv_usd={"N": 1e9}), CFG, False)
    den = short.denials[0]
    assert short.reasons == (VetoReason.SECTOR_CONCENTRATION,)
    assert (den.value, den.limit) == (pytest.approx(0.27), pytest.approx(0.25))
    assert den.message == "SECTOR_CONCENTRATION: N Energy short book/NAV 0.27 vs limit 0.25"


def test_a_trade_on_one_side_of_a_sector_ignores_the_other_sides_breach():
    # the Energy short book is already over its cap; buying an Energy name does not touch it
    book = BookState(NAV, {f"Z{i}": -540_000.0 for i in range(5)} | {"A": 100_000.0})
    z = [f"Z{i}" for i in range(5)]
    m = mkt(sector={t: "Energy" for t in z}, beta={t: 0.0 for t in z} | {"A": 0.0}, adv_usd={t: 1e9 for t in z})
    assert check_trade(Trade("A", 100_000), book, m, CFG, False).accepted
    # and covering part of that short is allowed
    assert check_trade(Trade("Z0", 100_000), book, m, CFG, False).accepted


def test_a_missing_beta_counts_as_one():
    # P1-P3 have no beta (1.0 each): net beta 0.135; B's beta is 0
    book = BookState(NAV, {"P1": 450_000.0, "P2": 450_000.0, "P3": 450_000.0, "B": -1_200_000.0})
    m = MarketInfo(beta={"B": 0.0}, adv_usd={"A": 1e9})
    assert check_trade(Trade("A", 100_000), book, m, CFG, False).accepted  # 0.145
    over = check_trade(Trade("A", 200_000), book, m, CFG, False)
    assert over.reasons == (VetoReason.BETA,) and over.denials[0].value == pytest.approx(0.155)


def test_a_missing_or_zero_adv_is_illiquid_and_a_tiny_adv_is_still_a_number():
    for m in (MarketInfo(), MarketInfo(adv_usd={"A": 0.0})):
        d = check_trade(Trade("A", 10_000), BookState(NAV), m, CFG, False)
        assert d.reasons == (VetoReason.LIQUIDITY,) and math.isinf(d.denials[0].value)
        assert d.denials[0].message == "LIQUIDITY: A trade/ADV20 inf vs limit 0.05"
    assert check_trade(Trade("A", 0.04), BookState(NAV), MarketInfo(adv_usd={"A": 0.8}), CFG, False).accepted


def test_exactly_the_adv_cap_and_the_last_blackout_day():
    m = mkt(adv_usd={"A": 2_000_000.0})
    assert check_trade(Trade("A", 100_000), BookState(NAV), m, CFG, False).accepted  # 5.0% of ADV
    assert check_trade(Trade("A", 100_001), BookState(NAV), m, CFG, False).reasons == (VetoReason.LIQUIDITY,)
    on_day_n = mkt(days_to_earnings={"A": CFG.earnings_blackout_days})
    assert check_trade(Trade("A", 300_000), BookState(NAV), on_day_n, CFG, False).reasons == (
        VetoReason.EARNINGS_BLACKOUT,)
    after = mkt(days_to_earnings={"A": -1})  # earnings already reported
    assert check_trade(Trade("A", 300_000), BookState(NAV), after, CFG, False).accepted


def test_a_negative_beta_breach_reports_the_lower_limit():
    m = mkt(beta={"A": 4.0})
    d = check_trade(Trade("A", -400_000), BookState(NAV), m, CFG, False)
    assert d.reasons == (VetoReason.BETA,)
    assert (d.denials[0].value, d.denials[0].limit) == (pytest.approx(-0.16), -0.15)
    low = check_trade(Trade("A", -50_000), BookState(NAV, {"B": -1_000_000.0}), mkt(beta={"A": 0.0, "B": 0.0}), CFG, False)
    assert low.reasons == (VetoReason.GROSS_NET,) and low.denials[0].limit == -0.10


def test_reducing_lets_a_position_close_completely_and_an_empty_order_through():
    book = BookState(NAV, {"A": 300_000.0, "B": -200_000.0}, TradingState.REDUCING)
    assert check_trade(Trade("A", -300_000), book, mkt(), CFG, False).accepted
    assert check_trade(Trade("B", 200_000), book, mkt(), CFG, False).accepted
    assert check_trade(Trade("A", 0.0), book, mkt(), CFG, False).accepted
    assert check_trade(Trade("C", 1.0), book, mkt(), CFG, False).reasons == (VetoReason.TRADING_REDUCING,)


def test_a_cancel_is_decided_about_the_cancel_itself():
    cancel = Trade("A", 0.0, is_cancel=True)
    d = check_trade(cancel, BookState(NAV, {}, TradingState.HALTED), MarketInfo(), CFG, halted=True)
    assert d.accepted and d.trade is cancel and str(d) == "ACCEPT A +0"


def test_sub_dollar_positions_count_on_their_side_of_the_sector():
    # a tiny NAV makes each dollar a percent: a $0.5 long / short belongs to its side
    lim = RiskConfig(max_sector_side_pct=0.25, max_position_pct=1.0, max_gross=10, net_min=-1, net_max=1, max_beta=5)
    m = mkt()
    long_edge = BookState(100.0, {"A": 24.6, "B": 0.5})  # Energy long 25.1% with B, 24.6% without
    assert check_trade(Trade("C", 0.1), long_edge, m, lim, False).reasons == (VetoReason.SECTOR_CONCENTRATION,)
    short_edge = BookState(100.0, {"A": -24.6, "B": -0.5})
    assert check_trade(Trade("C", -0.1), short_edge, m, lim, False).reasons == (VetoReason.SECTOR_CONCENTRATION,)
