"""Pre-trade veto: one failing trade per reason code, with the numbers that failed."""

from __future__ import annotations

import pytest

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.pre_trade import (
    CHECK_ORDER,
    BookState,
    MarketInfo,
    Trade,
    TradingState,
    VetoReason,
    check_trade,
)

NAV = 10_000_000.0
CFG = RiskConfig()


def market(**over) -> MarketInfo:
    tickers = [f"T{i}" for i in range(40)] + ["NEW", "E", "L", "HB"]
    base = dict(
        sector={t: f"S{i}" for i, t in enumerate(tickers)},
        beta={t: 1.0 for t in tickers},
        adv_usd={t: 1e9 for t in tickers},
        days_to_earnings={},
    )
    for k, v in over.items():
        base[k] = {**base[k], **v}
    return MarketInfo(**base)


def only(decision, reason: VetoReason):
    assert decision.reasons == (reason,), str(decision)
    return decision.denials[0]


def test_clean_trade_accepted():
    d = check_trade(Trade("NEW", 200_000), BookState(NAV), market(), CFG, halted=False)
    assert d.accepted and str(d).startswith("ACCEPT")


def test_earnings_blackout_half_size_cap():
    m = market(days_to_earnings={"E": 3})
    den = only(check_trade(Trade("E", 300_000), BookState(NAV), m, CFG, False), VetoReason.EARNINGS_BLACKOUT)
    assert den.value == pytest.approx(0.03) and den.limit == pytest.approx(0.025)
    assert check_trade(Trade("E", 250_000), BookState(NAV), m, CFG, False).accepted  # exactly at the cap
    far = market(days_to_earnings={"E": 6})
    assert check_trade(Trade("E", 300_000), BookState(NAV), far, CFG, False).accepted


def test_liquidity_vs_adv():
    m = market(adv_usd={"L": 2_000_000})
    den = only(check_trade(Trade("L", -200_000), BookState(NAV), m, CFG, False), VetoReason.LIQUIDITY)
    assert den.value == pytest.approx(0.10) and den.limit == pytest.approx(0.05)


def test_position_size():
    den = only(check_trade(Trade("NEW", 600_000), BookState(NAV), market(), CFG, False), VetoReason.POSITION_SIZE)
    assert den.value == pytest.approx(0.06) and den.limit == pytest.approx(0.05)


def test_single_side_sector_concentration():
    sector = {f"T{i}": "Energy" for i in range(5)} | {"NEW": "Energy"}
    pos = {f"T{i}": 480_000.0 for i in range(5)} | {f"T{i}": -480_000.0 for i in range(5, 10)}
    den = only(
        check_trade(Trade("NEW", 200_000), BookState(NAV, pos), market(sector=sector), CFG, False),
        VetoReason.SECTOR_CONCENTRATION,
    )
    assert den.value == pytest.approx(0.26) and den.limit == pytest.approx(0.25)
    assert "Energy long" in den.message


def test_gross_limit():
    pos = {f"T{i}": 480_000.0 for i in range(17)} | {f"T{i}": -480_000.0 for i in range(17, 34)}
    den = only(check_trade(Trade("NEW", 400_000), BookState(NAV, pos), market(), CFG, False), VetoReason.GROSS_NET)
    assert den.value == pytest.approx(1.672) and den.limit == pytest.approx(1.65)


def test_net_limit():
    m = market(beta={f"T{i}": 0.0 for i in range(40)} | {"NEW": 0.0})
    pos = {f"T{i}": 400_000.0 for i in range(10)} | {f"T{i}": -260_000.0 for i in range(10, 20)}
    den = only(check_trade(Trade("NEW", 200_000), BookState(NAV, pos), m, CFG, False), VetoReason.GROSS_NET)
    assert den.value == pytest.approx(0.16) and den.limit == pytest.approx(0.15)
    neg = {f"T{i}": -300_000.0 for i in range(3)}  # net -9%
    low = only(check_trade(Trade("NEW", -200_000), BookState(NAV, neg), m, CFG, False), VetoReason.GROSS_NET)
    assert low.value == pytest.approx(-0.11) and low.limit == pytest.approx(-0.10)


def test_beta_limit():
    m = market(beta={"NEW": 4.0})
    den = only(check_trade(Trade("NEW", 400_000), BookState(NAV), m, CFG, False), VetoReason.BETA)
    assert den.value == pytest.approx(0.16) and den.limit == pytest.approx(0.15)


def test_reducing_state_allows_only_reductions():
    book = BookState(NAV, {"NEW": 300_000.0}, TradingState.REDUCING)
    den = only(check_trade(Trade("NEW", 100_000), book, market(), CFG, False), VetoReason.TRADING_REDUCING)
    assert (den.value, den.limit) == (400_000.0, 300_000.0)
    assert check_trade(Trade("NEW", -100_000), book, market(), CFG, False).accepted
    assert check_trade(Trade("NEW", -400_000), book, market(), CFG, False).reasons == (VetoReason.TRADING_REDUCING,)


def test_halted_denies_every_new_trade_but_allows_cancel():
    book = BookState(NAV, {"NEW": 300_000.0})
    for trade in (Trade("NEW", 1_000), Trade("NEW", -300_000), Trade("T1", -50_000)):
        den = only(check_trade(trade, book, market(), CFG, halted=True), VetoReason.TRADING_HALTED)
        assert (den.value, den.limit) == (1.0, 0.0)
    halted_state = BookState(NAV, {}, TradingState.HALTED)
    assert check_trade(Trade("NEW", 1_000), halted_state, market(), CFG, False).reasons == (VetoReason.TRADING_HALTED,)
    assert check_trade(Trade("NEW", 0, is_cancel=True), book, market(), CFG, halted=True).accepted


def test_reducing_an_existing_breach_is_not_vetoed():
    book = BookState(NAV, {"NEW": 700_000.0})
    assert check_trade(Trade("NEW", -50_000), book, market(), CFG, False).accepted
    assert check_trade(Trade("NEW", 50_000), book, market(), CFG, False).reasons == (VetoReason.POSITION_SIZE,)


def test_all_denials_collected_in_documented_order():
    m = market(adv_usd={"E": 1_000_000}, days_to_earnings={"E": 0}, beta={"E": 3.0})
    d = check_trade(Trade("E", 2_000_000), BookState(NAV), m, CFG, halted=True)
    assert not d.accepted and str(d).startswith("REJECT")
    assert d.reasons == (
        VetoReason.TRADING_HALTED,
        VetoReason.EARNINGS_BLACKOUT,
        VetoReason.LIQUIDITY,
        VetoReason.POSITION_SIZE,
        VetoReason.GROSS_NET,  # net 20% > 15%
        VetoReason.BETA,
    )
    assert list(d.reasons) == sorted(d.reasons, key=CHECK_ORDER.index)
    assert len(CHECK_ORDER) == 8
