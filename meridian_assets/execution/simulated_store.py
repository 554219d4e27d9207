"""The simulated venue's own books, in SQLite under ``$MERIDIAN_HOME/broker/`` — outside Meridian's
DuckDB, as a real broker's are, so reconciliation against it is real.

Every mutation is one SQLite transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): a crash leaves either the
whole change or none of it. WAL journal, so a reader never sees half a write.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meridian_assets.execution.broker import BrokerOrder, Fill, OrderStatus, Side

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL UNIQUE, ticker TEXT NOT NULL, side TEXT NOT NULL,
    qty INTEGER NOT NULL, limit_price REAL NOT NULL, status TEXT NOT NULL, filled_qty INTEGER NOT NULL DEFAULT 0,
    filled_avg_price REAL, submitted_at REAL NOT NULL, updated_at REAL NOT NULL, reject_reason TEXT);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE TABLE IF NOT EXISTS planned_fills (
    order_id TEXT NOT NULL, seq INTEGER NOT NULL, due_at REAL NOT NULL, qty INTEGER NOT NULL, price REAL NOT NULL,
    PRIMARY KEY (order_id, seq));
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, ticker TEXT NOT NULL, side TEXT NOT NULL, qty INTEGER NOT NULL,
    price REAL NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS fills_order ON fills(order_id);
CREATE TABLE IF NOT EXISTS positions (
    ticker TEXT PRIMARY KEY, qty INTEGER NOT NULL, avg_entry_price REAL NOT NULL, last_price REAL NOT NULL);
CREATE TABLE IF NOT EXISTS assets (
    ticker TEXT PRIMARY KEY, tradable INTEGER NOT NULL, shortable INTEGER NOT NULL, easy_to_borrow INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS account (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""

ORDER_COLS = ("order_id, client_order_id, ticker, side, qty, limit_price, status, filled_qty, filled_avg_price, "
              "submitted_at, updated_at, reject_reason")


def ts(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)


class VenueStore:
    """The SQLite file and the row <-> object conversions."""

    def __init__(self, path: Path, starting_cash: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self.conn.execute("INSERT OR IGNORE INTO account VALUES ('cash', ?)", (float(starting_cash),))
        self._lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ reads (inside a tx)
    def order_row(self, where: str, params: tuple) -> tuple | None:
        return self.conn.execute(f"SELECT {ORDER_COLS} FROM orders WHERE {where}", params).fetchone()

    def to_order(self, row: tuple) -> BrokerOrder:
        fills = tuple(
            Fill(fid, row[0], row[1], row[2], Side(row[3]), int(q), float(p), ts(t))
            for fid, q, p, t in self.conn.execute(
                "SELECT fill_id, qty, price, ts FROM fills WHERE order_id = ? ORDER BY ts, fill_id", (row[0],))
        )
        return BrokerOrder(order_id=row[0], client_order_id=row[1], ticker=row[2], side=Side(row[3]), qty=int(row[4]),
                           limit_price=float(row[5]), status=OrderStatus(row[6]), filled_qty=int(row[7]),
                           filled_avg_price=row[8], submitted_at=ts(row[9]), updated_at=ts(row[10]),
                           reject_reason=row[11], fills=fills)

    def cash(self) -> float:
        return float(self.conn.execute("SELECT value FROM account WHERE key = 'cash'").fetchone()[0])

    def position(self, ticker: str) -> tuple[int, float, float]:
        row = self.conn.execute("SELECT qty, avg_entry_price, last_price FROM positions WHERE ticker = ?",
                                (ticker,)).fetchone()
        return (int(row[0]), float(row[1]), float(row[2])) if row else (0, 0.0, 0.0)

    def open_qty(self, ticker: str, side: Side) -> int:
        row = self.conn.execute(
            "SELECT coalesce(sum(qty - filled_qty), 0) FROM orders WHERE ticker = ? AND side = ? AND status IN "
            "('new', 'accepted', 'partially_filled', 'pending_cancel')", (ticker, side.value)).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ writes (inside a tx)
    def apply_fill(self, order_id: str, seq: int, ticker: str, side: Side, qty: int, price: float, now: float) -> None:
        """Book one fill: the fill row, the order's cumulative quantity and average, the position, the cash."""
        self.conn.execute("INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (f"{order_id}-{seq}", order_id, ticker, side.value, qty, price, now))
        filled, avg, total = self.conn.execute("SELECT filled_qty, filled_avg_price, qty FROM orders WHERE order_id = ?",
                                               (order_id,)).fetchone()
        new_filled = filled + qty
        new_avg = ((avg or 0.0) * filled + price * qty) / new_filled
        status = OrderStatus.FILLED if new_filled >= total else OrderStatus.PARTIALLY_FILLED
        self.conn.execute("UPDATE orders SET filled_qty = ?, filled_avg_price = ?, status = ?, updated_at = ? "
                          "WHERE order_id = ?", (new_filled, new_avg, status.value, now, order_id))
        dq = qty if side is Side.BUY else -qty
        q0, a0, _ = self.position(ticker)
        q1 = q0 + dq
        if q0 == 0 or (q0 > 0) == (dq > 0):
            a1 = (abs(q0) * a0 + abs(dq) * price) / abs(q1)
        elif abs(dq) <= abs(q0):
            a1 = a0
        else:  # through zero (the venue refuses such orders, kept for completeness)
            a1 = price
        if q1 == 0:
            self.conn.execute("DELETE FROM positions WHERE ticker = ?", (ticker,))
        else:
            self.conn.execute("INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?)", (ticker, q1, a1, price))
        self.conn.execute("UPDATE account SET value = value - ? WHERE key = 'cash'", (dq * price,))
