"""The simulated venue: a broker with its own books (`simulated_store`), filling DAY limit orders against
the embedded market's next bar, and able to inject faults (`faults.FaultPlan`).

**Fill model** (per order, decided at acceptance from its bar): the one transaction-cost model of the
optimizer and the backtest (`portfolio.costs.CostModel`, the `portfolio` block's coefficients) prices the fill
against the bar, with the bar's range / close as its volatility and volume x open as its dollar volume:

    half spread  h = spread_fraction_of_range * (high - low) / close * open      (the optimizer's a, in $)
    impact       I = impact_coefficient * (high - low) / close * sqrt(qty / volume) * open
    buy:  arrives at open + h + I; fills there if <= limit, else at the limit if low + h + I <= limit
    sell: arrives at open - h - I; fills there if >= limit, else at the limit if high - h - I >= limit
    quantity     at most floor(max_participation * volume) shares (the rest never fills: a partial)

Fills arrive in `fill_slices` whole-share slices from `fill_delay_seconds` after acceptance to
`fill_duration_seconds` later, on the venue's clock (inject a `ManualClock` to step time). With no bar for
a ticker the order rests unfilled.

**Rules** as Alpaca applies them: a client order id is unique (`DuplicateClientOrderId`); a short sale needs
a shortable, easy-to-borrow asset (`ShortRefused`); an order may not take a position through zero (close
first, then open); orders that add exposure need buying power (2 x equity - gross exposure).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path

from meridian_assets.execution.settings import SimulatedVenueConfig
from meridian_assets.execution.broker import (
    Account, AssetInfo, BrokerOrder, BrokerUnavailable, CallLog, DuplicateClientOrderId, OrderNotFound,
    OrderRejected, OrderRequest, OrderStatus, Position, RateLimited, ShortRefused, Side,
)
from meridian_assets.execution.clock import Clock, SystemClock
from meridian_assets.execution.faults import FaultKind, FaultPlan
from meridian_assets.execution.market import Bar, BarSource
from meridian_assets.execution.simulated_store import ORDER_COLS, VenueStore
from meridian_assets.portfolio.costs import CostModel

STATE_FILE = "simulated.sqlite"
_OPEN = "('new', 'accepted', 'partially_filled', 'pending_cancel')"
_NAMESPACE = uuid.UUID("6f1d9b52-3c1e-4d7a-9a57-2f0f4c8e1b11")
_BEFORE = {FaultKind.TIMEOUT, FaultKind.RATE_LIMIT, FaultKind.OUTAGE}
_AT_ACCEPT = {FaultKind.PARTIAL, FaultKind.NO_FILL}
_AFTER = {FaultKind.ACCEPT_THEN_TIMEOUT, FaultKind.DISCONNECT_AFTER_ACCEPT}


def fill_price(side: Side, qty: int, limit: float, bar: Bar, costs: CostModel | None = None) -> float | None:
    """The price an order of ``qty`` fills at against ``bar`` (see the module docstring), None if it cannot."""
    model = (costs or CostModel()).for_bar(bar.open, bar.high, bar.low, bar.close, bar.volume)
    signed = qty if side is Side.BUY else -qty
    arrive = model.price_fill(0, signed, bar.open).price
    slip = abs(arrive - bar.open)  # h + I per share
    if side is Side.BUY:
        return arrive if arrive <= limit else (limit if bar.low + slip <= limit else None)
    return arrive if arrive >= limit else (limit if bar.high - slip >= limit else None)


def last_activity(state_dir: str | Path) -> float | None:
    """The venue's latest order timestamp (epoch seconds), None for a venue that never traded: a virtual clock
    starts no earlier, so its time never runs backwards across runs."""
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return None
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT max(updated_at) FROM orders").fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def slices(qty: int, n: int) -> list[int]:
    """``qty`` split into at most ``n`` whole-share slices, larger first, none empty."""
    base, extra = divmod(qty, n)
    return [s for s in (base + (1 if i < extra else 0) for i in range(n)) if s > 0]


class SimulatedBroker:
    """A `Broker` over a state folder. ``bars=None``: no market, orders rest unfilled. ``costs``: the
    transaction-cost model fills are priced with (default: the `portfolio` block's defaults)."""

    name = "simulated"

    def __init__(self, state_dir: str | Path, cfg: SimulatedVenueConfig | None = None, *,
                 bars: BarSource | None = None, clock: Clock | None = None, faults: FaultPlan | None = None,
                 costs: CostModel | None = None) -> None:
        self.cfg = cfg or SimulatedVenueConfig()
        self.costs = costs or CostModel()
        self.state_dir = Path(state_dir)
        self.store = VenueStore(self.state_dir / STATE_FILE, self.cfg.starting_cash)
        self.bars = bars
        self.clock = clock or SystemClock()
        self.faults = faults or FaultPlan()
        self.calls = CallLog()

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ faults
    def _enter(self, op: str, ticker: str | None = None, method: str = "") -> int:
        self.calls.add(method or op)
        call_no = self.faults.count_call(op)
        if self.faults.in_outage():
            raise BrokerUnavailable(f"simulated venue unreachable ({method or op})")
        f = self.faults.take(op, ticker, call_no, _BEFORE)
        if f is None:
            return call_no
        if f.kind is FaultKind.RATE_LIMIT:
            raise RateLimited("simulated venue: too many requests (429)")
        if f.kind is FaultKind.OUTAGE:
            self.faults.start_outage(f.calls - 1)
            raise BrokerUnavailable(f"simulated venue unreachable ({method or op})")
        if f.kind is FaultKind.TIMEOUT:
            raise BrokerUnavailable(f"simulated venue: request timed out ({method or op})")
        return call_no

    # ------------------------------------------------------------------ orders
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        r = request
        call_no = self._enter("submit", r.ticker, "submit_order")
        reject = self.faults.take("submit", r.ticker, call_no, {FaultKind.REJECT})
        now = self.clock.time()
        with self.store.tx() as c:
            if c.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (r.client_order_id,)).fetchone():
                raise DuplicateClientOrderId(r.client_order_id)
            if reject is not None:
                raise OrderRejected(r.client_order_id, "rejected by the venue (injected fault)")
            self._check_rules(r, call_no)
            order_id = str(uuid.uuid5(_NAMESPACE, r.client_order_id))
            c.execute(f"INSERT INTO orders ({ORDER_COLS}) VALUES (?, ?, ?, ?, ?, ?, 'accepted', 0, NULL, ?, ?, NULL)",
                      (order_id, r.client_order_id, r.ticker, r.side.value, r.qty, r.limit_price, now, now))
            self._plan(order_id, r, now, call_no)
            self._match(now, order_id)
            order = self.store.to_order(self.store.order_row("order_id = ?", (order_id,)))
        after = self.faults.take("submit", r.ticker, call_no, _AFTER)
        if after is not None:
            if after.kind is FaultKind.DISCONNECT_AFTER_ACCEPT:
                self.faults.start_outage(after.calls)
                raise BrokerUnavailable("simulated venue: connection dropped after the order was accepted")
            raise BrokerUnavailable("simulated venue: gateway timeout (504) after the order was accepted", status=504)
        return order

    def _check_rules(self, r: OrderRequest, call_no: int) -> None:
        if not self._asset(r.ticker).tradable:
            raise OrderRejected(r.client_order_id, f"{r.ticker} is not tradable", code="NOT_TRADABLE")
        q, _, _ = self.store.position(r.ticker)
        if r.side is Side.SELL:
            long_avail = max(q, 0) - self.store.open_qty(r.ticker, Side.SELL)
            if q > 0 and r.qty > long_avail:
                raise OrderRejected(r.client_order_id, f"insufficient qty available for order (requested: {r.qty}, "
                                    f"available: {max(long_avail, 0)}); close the long before selling short")
            if q <= 0:
                info = self._asset(r.ticker)
                if not (info.shortable and info.easy_to_borrow):
                    raise ShortRefused(r.client_order_id, f"{r.ticker} is not shortable / easy to borrow")
                if self.faults.take("submit", r.ticker, call_no, {FaultKind.REFUSE_SHORT}) is not None:
                    raise ShortRefused(r.client_order_id, f"no shares of {r.ticker} available to borrow")
        else:
            cover_avail = max(-q, 0) - self.store.open_qty(r.ticker, Side.BUY)
            if q < 0 and r.qty > cover_avail:
                raise OrderRejected(r.client_order_id, f"insufficient qty available for order (requested: {r.qty}, "
                                    f"available: {max(cover_avail, 0)}); cover the short before buying")
        adds_exposure = (r.side is Side.BUY and q >= 0) or (r.side is Side.SELL and q <= 0)
        if adds_exposure:
            acct = self._account()
            if r.qty * r.limit_price > acct.buying_power + 1e-6:
                raise OrderRejected(r.client_order_id, f"insufficient buying power ({acct.buying_power:,.2f} for "
                                    f"{r.qty * r.limit_price:,.2f})", code="BUYING_POWER")

    def _plan(self, order_id: str, r: OrderRequest, now: float, call_no: int) -> None:
        mod = self.faults.take("submit", r.ticker, call_no, _AT_ACCEPT)
        bar = self.bars.bar(r.ticker) if self.bars is not None else None
        if bar is None or (mod is not None and mod.kind is FaultKind.NO_FILL):
            return
        price = fill_price(r.side, r.qty, r.limit_price, bar, self.costs)
        if price is None:
            return
        qty = min(r.qty, int(self.cfg.max_participation * bar.volume))
        if mod is not None and mod.kind is FaultKind.PARTIAL:
            qty = min(qty, int(r.qty * mod.fraction))
        parts = slices(qty, self.cfg.fill_slices) if qty > 0 else []
        step = self.cfg.fill_duration_seconds / max(len(parts) - 1, 1)
        self.store.conn.executemany(
            "INSERT INTO planned_fills VALUES (?, ?, ?, ?, ?)",
            [(order_id, i + 1, now + self.cfg.fill_delay_seconds + i * step, q, round(price, 4))
             for i, q in enumerate(parts)])

    def _match(self, now: float, order_id: str | None = None) -> None:
        """Book every planned fill that is due (of one order, or all), in time order."""
        sql = ("SELECT p.order_id, p.seq, p.qty, p.price, o.ticker, o.side FROM planned_fills p JOIN orders o "
               f"USING (order_id) WHERE p.due_at <= ? AND o.status IN {_OPEN}")
        params: tuple = (now,)
        if order_id is not None:
            sql, params = sql + " AND p.order_id = ?", (now, order_id)
        due = self.store.conn.execute(sql + " ORDER BY p.due_at, p.order_id, p.seq", params).fetchall()
        for oid, seq, qty, price, ticker, side in due:
            self.store.apply_fill(oid, seq, ticker, Side(side), int(qty), float(price), now)
            self.store.conn.execute("DELETE FROM planned_fills WHERE order_id = ? AND seq = ?", (oid, seq))

    def _read(self, where: str, params: tuple) -> BrokerOrder | None:
        with self.store.tx():
            self._match(self.clock.time())
            row = self.store.order_row(where, params)
            return self.store.to_order(row) if row else None

    def get_order(self, order_id: str) -> BrokerOrder:
        self._enter("get", method="get_order")
        order = self._read("order_id = ?", (order_id,))
        if order is None:
            raise OrderNotFound(f"no order {order_id} at the simulated venue")
        return order

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        self._enter("get", method="get_order_by_client_id")
        return self._read("client_order_id = ?", (client_order_id,))

    def cancel_order(self, order_id: str) -> None:
        self._enter("cancel", method="cancel_order")
        now = self.clock.time()
        with self.store.tx() as c:
            self._match(now)
            row = c.execute("SELECT status FROM orders WHERE order_id = ?", (order_id,)).fetchone()
            if row is None:
                raise OrderNotFound(f"no order {order_id} at the simulated venue")
            if OrderStatus(row[0]).is_terminal:
                return
            c.execute("DELETE FROM planned_fills WHERE order_id = ?", (order_id,))
            c.execute("UPDATE orders SET status = 'canceled', updated_at = ? WHERE order_id = ?", (now, order_id))

    def list_orders(self, after: dt.datetime | None = None) -> list[BrokerOrder]:
        self._enter("list", method="list_orders")
        with self.store.tx() as c:
            self._match(self.clock.time())
            since = after.timestamp() if after is not None else float("-inf")
            rows = c.execute(f"SELECT {ORDER_COLS} FROM orders WHERE submitted_at > ? ORDER BY submitted_at, order_id",
                             (since,)).fetchall()
            return [self.store.to_order(r) for r in rows]

    def open_orders(self) -> list[BrokerOrder]:
        self._enter("list", method="open_orders")
        with self.store.tx() as c:
            self._match(self.clock.time())
            rows = c.execute(f"SELECT {ORDER_COLS} FROM orders WHERE status IN {_OPEN} ORDER BY submitted_at").fetchall()
            return [self.store.to_order(r) for r in rows]

    def cancel_all_open_orders(self) -> list[str]:
        self._enter("cancel", method="cancel_all_open_orders")
        now = self.clock.time()
        with self.store.tx() as c:
            self._match(now)
            ids = [r[0] for r in c.execute(f"SELECT order_id FROM orders WHERE status IN {_OPEN}").fetchall()]
            for oid in ids:
                c.execute("DELETE FROM planned_fills WHERE order_id = ?", (oid,))
                c.execute("UPDATE orders SET status = 'canceled', updated_at = ? WHERE order_id = ?", (now, oid))
            return ids

    # ------------------------------------------------------------------ book
    def position_details(self) -> list[Position]:
        self._enter("list", method="positions")
        with self.store.tx() as c:
            self._match(self.clock.time())
            rows = c.execute("SELECT ticker, qty, avg_entry_price, last_price FROM positions ORDER BY ticker").fetchall()
        out = []
        for t, q, avg, last in rows:
            mark = self._mark(t, last)
            out.append(Position(t, int(q), float(avg), mark, int(q) * mark))
        return out

    def positions(self) -> dict[str, int]:
        return {p.ticker: int(p.qty) for p in self.position_details()}

    def _mark(self, ticker: str, last: float) -> float:
        bar = self.bars.bar(ticker) if self.bars is not None else None
        return bar.close if bar is not None else last

    def _account(self) -> Account:
        cash = self.store.cash()
        rows = self.store.conn.execute("SELECT ticker, qty, last_price FROM positions").fetchall()
        values = [q * self._mark(t, last) for t, q, last in rows]
        long_mv = sum(v for v in values if v > 0)
        short_mv = sum(v for v in values if v < 0)
        equity = cash + long_mv + short_mv
        bp = max(0.0, 2.0 * equity - (long_mv - short_mv))
        return Account(cash=cash, equity=equity, buying_power=bp, long_market_value=long_mv,
                       short_market_value=short_mv)

    def account(self) -> Account:
        self._enter("list", method="account")
        with self.store.tx():
            self._match(self.clock.time())
            return self._account()

    def _asset(self, ticker: str) -> AssetInfo:
        row = self.store.conn.execute("SELECT tradable, shortable, easy_to_borrow FROM assets WHERE ticker = ?",
                                      (ticker,)).fetchone()
        if row is not None:
            return AssetInfo(ticker, bool(row[0]), bool(row[1]), bool(row[2]))
        return AssetInfo(ticker, True, ticker not in self.cfg.not_shortable, ticker not in self.cfg.hard_to_borrow)

    def asset(self, ticker: str) -> AssetInfo:
        self._enter("list", ticker, "asset")
        return self._asset(ticker)

    def set_asset(self, ticker: str, *, shortable: bool = True, easy_to_borrow: bool = True,
                  tradable: bool = True) -> None:
        """Set a ticker's flags on the venue (an operator's or a test's hand, not part of `Broker`)."""
        with self.store.tx() as c:
            c.execute("INSERT OR REPLACE INTO assets VALUES (?, ?, ?, ?)",
                      (ticker, int(tradable), int(shortable), int(easy_to_borrow)))

    def last_price(self, ticker: str) -> float | None:
        bar = self.bars.bar(ticker) if self.bars is not None else None
        return bar.open if bar is not None else None
