"""The backtest's book: positions, cash and NAV, with the same accounting as the live simulated book.

Each session, in this order (`portfolio.ledger.replay` does the same from the ledger; a test replays a
backtest's fills, costs inside the price, through it and gets the same NAV):

1. **Corporate actions** effective that session and known by then, applied by the live ledger's own function
   (`portfolio.ledger.apply_corporate_action`): split (shares × ratio, the fraction paid in cash at the last
   close, cost ÷ ratio), ticker change, cash dividend (a short pays it), delisting (closed at the last close).
   Orders waiting for that session follow the holding: split-adjusted, renamed or dropped.
2. **Fills** of the orders decided at the previous close, at this session's **open**: whole shares, at most
   ``max_participation`` of the session's volume (the simulated venue's rule), none without a bar. Cash moves by
   shares × open; the fill is priced by the one transaction-cost model the proposal planned with
   (`portfolio.costs.TransactionCost.price_fill` for the filled shares at the open: commission, half-spread and
   impact in dollars, charged apart so the backtest reports each).
3. **Borrow**: every short pays ``rate / 252`` of its market value at the close (the hard-to-borrow rate for
   names on the venue's list).
4. **Mark** at the close (the last known close when a name has no bar): NAV = cash + Σ shares × price; gross,
   net, daily return, drawdown; the day's P&L of each sector (change in market value less trade cash flows,
   dividends included, before costs).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

from meridian_assets.portfolio.costs import TransactionCost
from meridian_assets.portfolio.ledger import Holding, apply_corporate_action


@dataclass
class Order:
    """A trade of a proposal waiting for the next open: signed whole shares and the name's cost model."""

    as_of: dt.date
    ticker: str
    sector: str | None
    action: str
    shares: int
    signal_price: float
    score: float | None
    costs: TransactionCost  # one name: the proposal's cost model of this ticker


@dataclass
class OrderOutcome:
    """What became of one order at the open: the shares filled (0: UNFILLED, with the reason), the price and
    each cost type in dollars. A backtest row, not a venue execution (`execution.broker.Fill` is that)."""

    order: Order
    date: dt.date
    shares: int  # signed, filled
    price: float | None
    commission: float
    spread: float
    impact: float
    status: str  # FILLED | PARTIAL | UNFILLED
    reason: str | None = None

    @property
    def cost(self) -> float:
        return self.commission + self.spread + self.impact


@dataclass
class SimBook:
    cash: float
    holdings: dict[str, Holding] = field(default_factory=dict)
    peak: float = 0.0
    prev_nav: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)  # last price each holding was marked at
    events: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.peak = self.prev_nav = self.cash

    # ------------------------------------------------------------------ 1. corporate actions
    def corporate_actions(self, day: dt.date, actions: list[tuple], last_price, orders: list[Order]) -> list[Order]:
        """Apply ``actions`` (ticker, action, ratio, new_ticker); returns the orders adjusted to them."""
        for ticker, action, ratio, new_ticker in actions:
            if action == "split" and ratio and ratio > 0:
                orders = [_split_order(o, ratio) if o.ticker == ticker else o for o in orders]
            elif action == "ticker_change" and new_ticker:
                orders = [_renamed(o, new_ticker) if o.ticker == ticker else o for o in orders]
            elif action == "delisting":
                orders = [o for o in orders if o.ticker != ticker]
            effect = apply_corporate_action(self.holdings, day, ticker, action, ratio, new_ticker,
                                            last_price(ticker), self.marks.get(ticker))
            if effect is None:
                continue
            if effect.cash:
                self.cash += effect.cash
                self._flows[effect.sector] = self._flows.get(effect.sector, 0.0) + effect.cash
            if effect.event:
                self.events.append(effect.event)
            if action == "ticker_change" and ticker in self.marks:
                self.marks[new_ticker] = self.marks.pop(ticker)
            elif action == "delisting":
                self.marks.pop(ticker, None)
        return orders

    # ------------------------------------------------------------------ 2. fills
    def fill(self, order: Order, day: dt.date, open_px: float | None, volume: float | None,
             max_participation: float) -> OrderOutcome:
        if open_px is None or not math.isfinite(open_px) or open_px <= 0 or not volume or not math.isfinite(volume):
            return OrderOutcome(order, day, 0, None, 0.0, 0.0, 0.0, "UNFILLED", "no bar at the open")
        cap = int(max_participation * volume)
        qty = int(np.sign(order.shares)) * min(abs(order.shares), cap)
        if qty == 0:
            return OrderOutcome(order, day, 0, None, 0.0, 0.0, 0.0, "UNFILLED", "no volume to trade against")
        priced = order.costs.price_fill(0, qty, open_px)
        f = OrderOutcome(order, day, qty, open_px, priced.commission, priced.spread, priced.impact,
                 "FILLED" if qty == order.shares else "PARTIAL",
                 None if qty == order.shares else f"participation cap: {abs(qty)} of {abs(order.shares)} shares")
        self.cash -= qty * open_px + f.cost
        self._flows[order.sector] = self._flows.get(order.sector, 0.0) - qty * open_px
        self._trade(order.ticker, qty, open_px, day, order.sector)
        return f

    def _trade(self, ticker: str, qty: int, price: float, day: dt.date, sector: str | None) -> None:
        h = self.holdings.get(ticker)
        if h is None or h.shares == 0:
            self.holdings[ticker] = Holding(qty, price, day, None, sector)
            return
        new = h.shares + qty
        if new == 0:
            del self.holdings[ticker]
        elif np.sign(new) != np.sign(h.shares):  # through zero: a new position at this price
            self.holdings[ticker] = Holding(new, price, day, None, sector)
        else:
            if abs(new) > abs(h.shares):
                h.avg_cost = (h.avg_cost * abs(h.shares) + price * abs(qty)) / abs(new)
            h.shares = new

    # ------------------------------------------------------------------ 3-4. borrow and mark
    def start_session(self) -> None:
        self._flows: dict[str | None, float] = {}
        self._open_values = {t: (h.sector, h.shares * self.marks[t]) for t, h in self.holdings.items()
                             if t in self.marks}

    def borrow(self, last_price, rate_of) -> float:
        cost = sum(-h.shares * last_price(t) * rate_of(t) / 252.0 for t, h in self.holdings.items()
                   if h.shares < 0 and last_price(t) is not None)
        self.cash -= cost
        return cost

    def mark(self, day: dt.date, last_price) -> tuple[dict, dict[str | None, float]]:
        """The session's row (date, nav, cash, long/short value, gross, net, daily return, drawdown, positions)
        and the P&L of each sector that session."""
        values: dict[str, float] = {}
        for t, h in self.holdings.items():
            px = last_price(t)
            px = px if px is not None else self.marks.get(t, h.avg_cost)
            self.marks[t] = px
            values[t] = h.shares * px
        pnl: dict[str | None, float] = dict(self._flows)
        for t, v in values.items():
            s = self.holdings[t].sector
            pnl[s] = pnl.get(s, 0.0) + v
        for s, v in self._open_values.values():
            pnl[s] = pnl.get(s, 0.0) - v
        long_v = sum(v for v in values.values() if v > 0)
        short_v = -sum(v for v in values.values() if v < 0)
        nav = self.cash + long_v - short_v
        self.peak = max(self.peak, nav)
        row = {"date": day, "nav": nav, "cash": self.cash, "long_value": long_v, "short_value": short_v,
               "gross": (long_v + short_v) / nav, "net": (long_v - short_v) / nav,
               "daily_return": nav / self.prev_nav - 1.0, "drawdown": 1.0 - nav / self.peak,
               "positions": sum(1 for h in self.holdings.values() if h.shares)}
        self.prev_nav = nav
        return row, pnl

    def unrealized(self) -> dict[str, float]:
        return {t: h.shares * (self.marks.get(t, h.avg_cost) - h.avg_cost) for t, h in self.holdings.items()}

    def positions(self) -> dict[str, int]:
        return {t: h.shares for t, h in self.holdings.items() if h.shares}


def _split_order(o: Order, ratio: float) -> Order:
    return Order(o.as_of, o.ticker, o.sector, o.action, int(np.trunc(o.shares * ratio)), o.signal_price / ratio,
                 o.score, o.costs)


def _renamed(o: Order, new: str) -> Order:
    return Order(o.as_of, new, o.sector, o.action, o.shares, o.signal_price, o.score, o.costs)
