"""Pre-trade veto: every proposed trade passes 8 checks; any failure rejects it, with no override.

The checks run in this fixed order and *all* of them run, so a rejection lists every reason at once
(nautilus_trader-style: the risk engine denies with reason codes). Each denial carries the value that
failed and the limit it broke. Fractions are of NAV (`BookState.nav`).

    1 TRADING_HALTED        halt lock present (kill switch / close-all-today) -> every new order denied.
    2 EARNINGS_BLACKOUT     earnings within `earnings_blackout_days` -> |post position| <= fraction x max_position_pct.
    3 LIQUIDITY             |trade notional| <= max_adv_pct x 20-day ADV ($).
    4 POSITION_SIZE         |post position| <= max_position_pct.
    5 SECTOR_CONCENTRATION  post long (short) book in the trade's sector <= max_sector_side_pct, per side.
    6 GROSS_NET             post gross <= max_gross AND net_min <= post net <= net_max.
    7 BETA                  |post net beta| <= max_beta, net beta = sum(w_i * beta_i).
    8 TRADING_REDUCING      breakers/tail-risk put the book in REDUCING -> only trades that shrink |position|.

The spec text of check 8 is cut off after "(7)" in the design document; the eighth check here is the
nautilus_trader REDUCING trading state (reduce-only), which is what the circuit breakers' SIZE_DOWN maps to.

Trades that *reduce* a breach are not vetoed: checks 2 and 4-7 deny only when the post-trade value is outside
its limit AND further from the limit than before the trade. Otherwise a book that drifted out of bounds could
never trade back in. Cancels are always accepted, also when halted (cancelling never adds risk).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk.states import TradingState, VetoReason

__all__ = ["CHECK_ORDER", "BookState", "Decision", "Denial", "MarketInfo", "Trade", "TradingState", "VetoReason",
           "check_trade"]

# Limits are fractions of NAV; a figure within one billionth of NAV of its limit or of its value before the trade
# ($0.01 on a $10M book) is the same figure up to floating-point rounding, not a breach or a worsening.
_EPS = 1e-9


CHECK_ORDER: tuple[VetoReason, ...] = tuple(VetoReason)


@dataclass(frozen=True)
class Trade:
    """A proposed order: `notional` is the signed $ change of the position (+ buy / cover, - sell / short)."""

    ticker: str
    notional: float
    is_cancel: bool = False


@dataclass(frozen=True)
class BookState:
    """Current book: signed $ positions (short < 0), NAV, and the trading state from breakers / tail risk."""

    nav: float
    positions: dict[str, float] = field(default_factory=dict)
    state: TradingState = TradingState.ACTIVE


@dataclass(frozen=True)
class MarketInfo:
    """Per-ticker data the checks need. Missing beta counts as 1.0; missing ADV fails the liquidity check."""

    sector: dict[str, str] = field(default_factory=dict)
    beta: dict[str, float] = field(default_factory=dict)
    adv_usd: dict[str, float] = field(default_factory=dict)  # 20-day average daily $ volume
    days_to_earnings: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Denial:
    reason: VetoReason
    value: float
    limit: float
    message: str


@dataclass(frozen=True)
class Decision:
    trade: Trade
    denials: tuple[Denial, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.denials

    @property
    def reasons(self) -> tuple[VetoReason, ...]:
        return tuple(d.reason for d in self.denials)

    def __str__(self) -> str:
        if self.accepted:
            return f"ACCEPT {self.trade.ticker} {self.trade.notional:+,.0f}"
        return f"REJECT {self.trade.ticker} " + "; ".join(d.message for d in self.denials)


def _worse(pre: float, post: float, lo: float, hi: float) -> bool:
    """Post is outside [lo, hi] and strictly further out than pre (so reducing trades pass)."""

    def excess(x: float) -> float:
        return max(lo - x, x - hi, 0.0)

    return excess(post) > _EPS and excess(post) > excess(pre) + _EPS


def _book_figures(positions: dict[str, float], nav: float, market: MarketInfo) -> tuple[float, float, float]:
    gross = sum(abs(v) for v in positions.values()) / nav
    net = sum(positions.values()) / nav
    beta = sum(v * market.beta.get(t, 1.0) for t, v in positions.items()) / nav
    return gross, net, beta


def _sector_sides(positions: dict[str, float], nav: float, market: MarketInfo, sector: str) -> tuple[float, float]:
    names = [t for t in positions if market.sector.get(t) == sector]
    long_ = sum(positions[t] for t in names if positions[t] > 0) / nav
    short = -sum(positions[t] for t in names if positions[t] < 0) / nav
    return long_, short


def check_trade(
    trade: Trade, book: BookState, market: MarketInfo, limits: RiskConfig, halted: bool
) -> Decision:
    """Run the 8 checks in `CHECK_ORDER`; return a Decision listing every denial (empty = accepted)."""
    if trade.is_cancel:
        return Decision(trade)
    nav, t = book.nav, trade.ticker
    denials: list[Denial] = []

    def deny(reason: VetoReason, value: float, limit: float, what: str) -> None:
        denials.append(Denial(reason, value, limit, f"{reason.value}: {t} {what} {value:.6g} vs limit {limit:.6g}"))

    pre_pos = book.positions.get(t, 0.0)
    post_pos = pre_pos + trade.notional
    post_positions = {**book.positions, t: post_pos}
    pre_w, post_w = abs(pre_pos) / nav, abs(post_pos) / nav

    # 1 halt lock
    if halted or book.state is TradingState.HALTED:
        deny(VetoReason.TRADING_HALTED, 1.0, 0.0, "trading halted")
    # 2 earnings blackout: half-size cap near earnings
    days = market.days_to_earnings.get(t)
    if days is not None and 0 <= days <= limits.earnings_blackout_days:
        cap = limits.earnings_blackout_size_fraction * limits.max_position_pct
        if _worse(pre_w, post_w, 0.0, cap):
            deny(VetoReason.EARNINGS_BLACKOUT, post_w, cap, f"earnings in {days}d, position/NAV")
    # 3 liquidity: the trade itself vs 20-day $ADV
    adv = market.adv_usd.get(t, 0.0)
    adv_frac = abs(trade.notional) / adv if adv > 0 else float("inf")
    if adv_frac > limits.max_adv_pct + _EPS:
        deny(VetoReason.LIQUIDITY, adv_frac, limits.max_adv_pct, "trade/ADV20")
    # 4 position size
    if _worse(pre_w, post_w, 0.0, limits.max_position_pct):
        deny(VetoReason.POSITION_SIZE, post_w, limits.max_position_pct, "position/NAV")
    # 5 single-side sector concentration
    sector = market.sector.get(t)
    if sector is not None:
        pre_l, pre_s = _sector_sides(book.positions, nav, market, sector)
        post_l, post_s = _sector_sides(post_positions, nav, market, sector)
        cap = limits.max_sector_side_pct
        if _worse(pre_l, post_l, 0.0, cap):
            deny(VetoReason.SECTOR_CONCENTRATION, post_l, cap, f"{sector} long book/NAV")
        if _worse(pre_s, post_s, 0.0, cap):
            deny(VetoReason.SECTOR_CONCENTRATION, post_s, cap, f"{sector} short book/NAV")
    # 6 gross and net
    pre_g, pre_n, pre_b = _book_figures(book.positions, nav, market)
    post_g, post_n, post_b = _book_figures(post_positions, nav, market)
    if _worse(pre_g, post_g, 0.0, limits.max_gross):
        deny(VetoReason.GROSS_NET, post_g, limits.max_gross, "gross/NAV")
    if _worse(pre_n, post_n, limits.net_min, limits.net_max):
        bound = limits.net_max if post_n > limits.net_max else limits.net_min
        deny(VetoReason.GROSS_NET, post_n, bound, "net/NAV")
    # 7 net beta
    if _worse(pre_b, post_b, -limits.max_beta, limits.max_beta):
        deny(VetoReason.BETA, post_b, limits.max_beta if post_b > 0 else -limits.max_beta, "net beta")
    # 8 reduce-only while REDUCING
    if book.state is TradingState.REDUCING and (abs(post_pos) > abs(pre_pos) + _EPS or pre_pos * post_pos < 0):
        deny(VetoReason.TRADING_REDUCING, abs(post_pos), abs(pre_pos), "reduce-only, |position| $")
    return Decision(trade, tuple(denials))
