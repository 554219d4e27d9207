"""The simulated book, replayed from the executed-trade ledger: positions, cash and NAV every session.

`replay` starts from ``capital_base`` in cash on the first trade date and walks the sessions. Each session:

1. **Corporate actions** effective that day (as-traded closes, so they must be applied to the holdings), by
   `apply_corporate_action` — the one implementation, which the backtest's book (`meta.book`) uses too:
   * split ``ratio`` (new shares per old): shares × ratio (whole shares, the fraction paid in cash at that
     day's close, as brokers do), average cost ÷ ratio;
   * ticker change: the holding moves to ``new_ticker`` with its cost and entry date;
   * cash dividend ``ratio`` per share: cash += shares × ratio (a short pays it);
   * delisting: the position is closed at its last close and leaves the book.
2. **Trades** dated that session at their fill price (the estimated costs are in the price: buys pay up,
   sells mark down): cash −= signed shares × price. Opening (or flipping) sets the entry date and score;
   adding averages the cost; reducing keeps it.
3. **Mark to market** at the close (the last known close when a name has no bar that day):
   NAV = cash + Σ shares × close; gross / net / beta as fractions of NAV; daily return; drawdown from the peak.

Everything is recomputed from the ledger, so the history is reproducible and a re-run never double-counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meridian_assets.portfolio.schemas import PORTFOLIO_HISTORY, PORTFOLIO_POSITIONS

SIGN = {"BUY": 1, "COVER": 1, "SELL": -1, "SHORT": -1}


@dataclass
class Holding:
    shares: int
    avg_cost: float
    entry_date: dt.date
    entry_score: float | None
    sector: str | None


@dataclass
class Replay:
    history: pl.DataFrame
    positions: pl.DataFrame
    cash: float
    events: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ActionEffect:
    """What one corporate action did to a holding: the cash it moved (+ received, − paid), the holding's sector
    (for P&L by sector) and a line for the event log (None for a dividend)."""

    cash: float
    sector: str | None
    event: str | None


def apply_corporate_action(holdings: dict[str, Holding], day: dt.date, ticker: str, action: str, ratio, new_ticker,
                           close: float | None, last_mark: float | None = None) -> ActionEffect | None:
    """Apply one corporate action on ``day`` to ``holdings`` (in place; module docstring, step 1).

    ``close``: the ticker's close that day (None: unknown); a split's fraction of a share is paid at it (else
    at ``avg_cost × ratio``), a delisting closes at it (else at ``last_mark``, the last price the holding was
    marked at, else at its average cost). Returns None when the book does not hold ``ticker`` or the action
    does nothing (a split without a positive ratio, a rename without a new ticker, a dividend of 0).
    """
    h = holdings.get(ticker)
    if h is None:
        return None
    if action == "split" and ratio and ratio > 0:
        exact = h.shares * ratio
        whole = int(np.trunc(exact))
        cash = (exact - whole) * (close if close is not None else h.avg_cost * ratio) if whole != exact else 0.0
        h.shares, h.avg_cost = whole, h.avg_cost / ratio
        return ActionEffect(cash, h.sector, f"{day} {ticker}: {ratio:g}-for-1 split, now {whole} shares")
    if action == "ticker_change" and new_ticker:
        holdings[new_ticker] = holdings.pop(ticker)
        return ActionEffect(0.0, h.sector, f"{day} {ticker} renamed {new_ticker}")
    if action == "dividend" and ratio:
        return ActionEffect(h.shares * ratio, h.sector, None)
    if action == "delisting":
        px = close if close is not None else (last_mark if last_mark is not None else h.avg_cost)
        del holdings[ticker]
        return ActionEffect(h.shares * px, h.sector, f"{day} {ticker} delisted: {h.shares} shares closed at {px:.2f}")
    return None


def _trade(h: Holding | None, qty: int, price: float, day: dt.date, score, sector) -> Holding | None:
    if h is None or h.shares == 0:
        return Holding(qty, price, day, score, sector)
    new = h.shares + qty
    if new == 0:
        return None
    if np.sign(new) != np.sign(h.shares):  # flipped through zero: a new position at this price
        return Holding(new, price, day, score, sector)
    if abs(new) > abs(h.shares):  # adding: average the cost
        h.avg_cost = (h.avg_cost * abs(h.shares) + price * abs(qty)) / abs(new)
    h.shares = new
    return h


def replay(ledger: pl.DataFrame, prices: pl.DataFrame, corporate_actions: pl.DataFrame, capital_base: float,
           end: dt.date, betas: Mapping[str, float] | None = None) -> Replay:
    """``ledger``: executed trades (rebalance_id, date, ticker, sector, action, shares > 0, price, score).
    ``prices``: date, ticker, close. ``corporate_actions``: date, ticker, action, ratio, new_ticker."""
    betas = betas or {}
    if ledger.is_empty():
        return Replay(_history([]), _positions({}, {}, end), capital_base)
    ledger = ledger.sort("date", "rebalance_id", "ticker")
    start = ledger["date"].min()
    sessions = sorted(set(prices.filter(pl.col("date").is_between(start, end))["date"].to_list()) | set(
        ledger.filter(pl.col("date") <= end)["date"].to_list()))
    closes: dict[dt.date, dict[str, float]] = {}
    for d, t, c in prices.filter(pl.col("date").is_between(start, end), pl.col("close").is_not_null()).select(
            "date", "ticker", "close").iter_rows():
        closes.setdefault(d, {})[t] = c
    actions: dict[dt.date, list[tuple]] = {}
    for row in corporate_actions.filter(pl.col("date").is_between(start, end)).sort("date", "ticker").select(
            "date", "ticker", "action", "ratio", "new_ticker").iter_rows():
        actions.setdefault(row[0], []).append(row[1:])
    trades: dict[dt.date, list[tuple]] = {}
    for row in ledger.select("date", "ticker", "action", "shares", "price", "score", "sector",
                             "rebalance_id").iter_rows():
        trades.setdefault(row[0], []).append(row[1:])

    book: dict[str, Holding] = {}
    last: dict[str, float] = {}
    cash, peak, prev_nav = float(capital_base), float(capital_base), float(capital_base)
    rows, events = [], []
    for d in sessions:
        last.update(closes.get(d, {}))
        for ticker, action, ratio, new_ticker in actions.get(d, []):
            effect = apply_corporate_action(book, d, ticker, action, ratio, new_ticker, last.get(ticker))
            if effect is None:
                continue
            cash += effect.cash
            if effect.event:
                events.append(effect.event)
            if action == "ticker_change" and ticker in last and new_ticker not in last:
                last[new_ticker] = last[ticker]  # the new name is marked at the old one's close until it has bars
        rid = None
        for ticker, action, shares, price, score, sector, rebalance in trades.get(d, []):
            qty = SIGN[action] * int(shares)
            cash -= qty * price
            h = _trade(book.get(ticker), qty, float(price), d, score, sector)
            if h is None:
                book.pop(ticker, None)
            else:
                book[ticker] = h
            last.setdefault(ticker, float(price))
            rid = rebalance
        values = {t: h.shares * last.get(t, h.avg_cost) for t, h in book.items()}
        long_v = sum(v for v in values.values() if v > 0)
        short_v = -sum(v for v in values.values() if v < 0)
        nav = cash + long_v - short_v
        peak = max(peak, nav)
        beta = sum(v * betas.get(t, 1.0) for t, v in values.items()) / nav if nav else None
        rows.append({"date": d, "nav": nav, "cash": cash, "long_value": long_v, "short_value": short_v,
                     "gross": (long_v + short_v) / nav, "net": (long_v - short_v) / nav, "beta": beta,
                     "daily_return": nav / prev_nav - 1.0, "drawdown": 1.0 - nav / peak,
                     "positions": sum(1 for h in book.values() if h.shares), "rebalance_id": rid})
        prev_nav = nav
    return Replay(_history(rows), _positions(book, last, end, rows[-1]["nav"] if rows else capital_base),
                  cash, events)


def _history(rows: list[dict]) -> pl.DataFrame:
    return PORTFOLIO_HISTORY.conform(pl.DataFrame(rows)) if rows else PORTFOLIO_HISTORY.empty()


def _positions(book: dict[str, Holding], last: dict[str, float], end: dt.date, nav: float = 1.0) -> pl.DataFrame:
    rows = []
    for t, h in sorted(book.items()):
        if h.shares == 0:
            continue
        px = last.get(t, h.avg_cost)
        rows.append({"ticker": t, "sector": h.sector, "side": "LONG" if h.shares > 0 else "SHORT",
                     "shares": h.shares, "avg_cost": h.avg_cost, "entry_date": h.entry_date,
                     "entry_score": h.entry_score, "last_price": px, "market_value": h.shares * px,
                     "weight": h.shares * px / nav, "source": "simulated"})
    return PORTFOLIO_POSITIONS.conform(pl.DataFrame(rows)) if rows else PORTFOLIO_POSITIONS.empty()
