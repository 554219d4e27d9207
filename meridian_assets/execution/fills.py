"""Execution outcomes: the fill ledger of an order, side-adjusted slippage, the `execution_fills` rows and the
rolling slippage summary.

**Fill ledger.** A broker reports an order's fills each time it is polled; the same fill comes back again and
again. `FillLedger` keeps each fill once (by the broker's fill id) and refuses a fill that would take the
order past its quantity (an overfill is a broker error to look at, not shares to book).

**Slippage** (bps, positive = adverse): buys +(fill - signal)/signal x 1e4, sells -(fill - signal)/signal x 1e4;
in dollars: bps / 1e4 x signal x shares.

**Summary** over the filled rows of the last ``window_days`` days: mean, median and 95th percentile (linear
interpolation) of the rows' bps, total $, and the ``worst_n`` rows with the highest bps.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field

import duckdb
import numpy as np
import polars as pl

from meridian_assets.execution.broker import BrokerOrder, Fill, OrderStatus, Side
from meridian_assets.execution.schemas import EXECUTION_FILLS
from meridian_assets.storage import read, replace_where, table_exists

log = logging.getLogger(__name__)


class Status:
    FILLED = "FILLED"
    PARTIAL = "PARTIAL"
    CANCELLED = "CANCELLED"  # reached its time in force with nothing filled
    REJECTED = "REJECTED"  # the broker said no
    VETOED = "VETOED"  # the pre-trade checks said no
    SKIPPED = "SKIPPED"  # not shortable, no ADV, not approved, ...
    HALTED = "HALTED"  # trading halted: not submitted
    OPEN = "OPEN"  # still working at the broker when recorded (adopted by the next run)
    UNKNOWN = "UNKNOWN"  # the submit's outcome could not be settled


def final_status(order: BrokerOrder, filled: int) -> str:
    """The row status of a broker order with ``filled`` shares: OPEN while it works, else REJECTED, FILLED,
    PARTIAL or CANCELLED (nothing filled)."""
    if not order.status.is_terminal:
        return Status.OPEN
    if order.status is OrderStatus.REJECTED:
        return Status.REJECTED
    return Status.FILLED if filled >= order.qty else Status.PARTIAL if filled else Status.CANCELLED


def slippage_bps(side: Side, fill_price: float, signal_price: float) -> float:
    s = (fill_price - signal_price) / signal_price * 1e4
    return s if side is Side.BUY else -s


@dataclass
class FillLedger:
    order_qty: int
    fills: dict[str, Fill] = field(default_factory=dict)
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)

    def add(self, fill: Fill) -> bool:
        """Book ``fill`` once; False for a duplicate or a refused overfill."""
        if fill.fill_id in self.fills:
            self.duplicates += 1
            return False
        if self.filled + fill.qty > self.order_qty:
            self._refuse(fill.fill_id, fill.client_order_id, fill.qty)
            return False
        self.fills[fill.fill_id] = fill
        return True

    def _refuse(self, fill_id: str, cid: str, qty: int) -> None:
        if fill_id not in self.refused:
            self.refused.append(fill_id)
            log.warning("order %s: fill %s of %d refused, it would overfill %d/%d", cid, fill_id, qty, self.filled,
                        self.order_qty)

    def observe(self, order: BrokerOrder) -> None:
        """Book an order snapshot's fills. A cumulative quantity beyond the listed fills (a venue that reports
        only totals) becomes one fill with id ``{order_id}:{cumulative qty}``, priced so the average matches."""
        for f in order.fills:
            self.add(f)
        reported = int(order.filled_qty)
        if reported > self.filled and order.filled_avg_price:
            fid = f"{order.order_id}:{reported}"
            price = (float(order.filled_avg_price) * reported - self.notional) / (reported - self.filled)
            bookable = min(reported, self.order_qty) - self.filled
            if bookable > 0 and fid not in self.fills:
                self.add(Fill(fid, order.order_id, order.client_order_id, order.ticker, order.side, bookable, price,
                              order.updated_at or dt.datetime.now(dt.timezone.utc)))
            if reported > self.order_qty:
                self._refuse(f"{fid}(+{reported - self.order_qty})", order.client_order_id, reported - self.order_qty)

    @property
    def filled(self) -> int:
        return sum(f.qty for f in self.fills.values())

    @property
    def notional(self) -> float:
        return sum(f.qty * f.price for f in self.fills.values())

    @property
    def vwap(self) -> float | None:
        q = self.filled
        return self.notional / q if q else None

    @property
    def ids(self) -> str:
        return ",".join(sorted(self.fills))


@dataclass
class ExecutionRecord:
    """One row of `execution_fills` (see `schemas.EXECUTION_FILLS`)."""

    rebalance_id: str
    client_order_id: str
    ticker: str
    side: str
    action: str
    shares: int
    ordered_shares: int
    signal_price: float | None
    limit_price: float | None
    status: str
    broker: str
    chunk: int | None = None
    attempt: int | None = None
    fill_price: float | None = None
    slippage_bps: float | None = None
    slippage_dollars: float | None = None
    alpaca_order_id: str | None = None
    fill_ids: str | None = None
    submitted_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    notes: str | None = None
    run_id: str | None = None
    recorded_at: dt.datetime | None = None

    @property
    def signed_shares(self) -> int:
        return self.shares if self.action in ("BUY", "COVER") else -self.shares


def outcome_record(*, rebalance_id: str, order: BrokerOrder | None, client_order_id: str, ticker: str,
                   action: str, book_side: str, ordered: int, signal: float | None, limit: float | None,
                   ledger: FillLedger | None, broker: str, chunk: int | None, attempt: int | None,
                   status: str, notes: str | None, now: dt.datetime) -> ExecutionRecord:
    """The row for an order outcome (fill quantity and price from the de-duplicated ledger)."""
    shares = ledger.filled if ledger else 0
    vwap = ledger.vwap if ledger else None
    side = Side.BUY if action in ("BUY", "COVER") else Side.SELL
    bps = slippage_bps(side, vwap, signal) if vwap and signal else None
    note_parts = [notes] if notes else []
    if ledger and ledger.refused:
        note_parts.append(f"overfill refused: fills {','.join(ledger.refused)}")
    return ExecutionRecord(
        rebalance_id=rebalance_id, client_order_id=client_order_id, ticker=ticker, side=book_side, action=action,
        shares=shares, ordered_shares=ordered, signal_price=signal, limit_price=limit, status=status, broker=broker,
        chunk=chunk, attempt=attempt, fill_price=vwap, slippage_bps=bps,
        slippage_dollars=(bps / 1e4 * signal * shares) if bps is not None and signal else None,
        alpaca_order_id=order.order_id if order else None, fill_ids=ledger.ids if ledger and ledger.fills else None,
        submitted_at=order.submitted_at if order else None, finished_at=now, notes="; ".join(note_parts) or None,
        recorded_at=now)


def records_frame(records: list[ExecutionRecord]) -> pl.DataFrame:
    if not records:
        return EXECUTION_FILLS.empty()
    rows = [asdict(r) for r in records]
    for r in rows:
        for k in ("submitted_at", "finished_at", "recorded_at"):
            if r[k] is not None and r[k].tzinfo is not None:
                r[k] = r[k].astimezone(dt.timezone.utc).replace(tzinfo=None)
    return EXECUTION_FILLS.conform(pl.DataFrame(rows, schema_overrides=EXECUTION_FILLS.columns, strict=False))


def write_records(conn: duckdb.DuckDBPyConnection, rebalance_id: str | None, records: list[ExecutionRecord]) -> int:
    """Upsert ``records`` into execution_fills by (rebalance_id, client_order_id); other rows are kept.
    ``rebalance_id`` None: every record, each under its own rebalance."""
    if rebalance_id is None:
        return sum(write_records(conn, rid, records) for rid in dict.fromkeys(r.rebalance_id for r in records))
    new = records_frame([r for r in records if r.rebalance_id == rebalance_id])
    if new.height == 0:
        return 0
    old = (read(conn, "SELECT * FROM execution_fills WHERE rebalance_id = ?", [rebalance_id])
           if table_exists(conn, EXECUTION_FILLS.name) else EXECUTION_FILLS.empty())
    merged = pl.concat([EXECUTION_FILLS.conform(old), new]) if old.height else new
    merged = merged.unique(subset=["client_order_id"], keep="last", maintain_order=True)
    replace_where(conn, EXECUTION_FILLS, merged, "rebalance_id", rebalance_id)
    return new.height


@dataclass(frozen=True)
class SlippageSummary:
    as_of: dt.date
    window_days: int
    window_start: dt.date
    fills: int
    shares: int
    avg_bps: float | None
    median_bps: float | None
    p95_bps: float | None
    total_dollars: float
    worst: pl.DataFrame

    def row(self) -> dict:
        worst = "; ".join(f"{r['ticker']} {r['action']} {r['slippage_bps']:+.1f}bps" for r in self.worst.iter_rows(named=True))
        return {"as_of": self.as_of, "window_days": self.window_days, "window_start": self.window_start,
                "fills": self.fills, "shares": self.shares, "avg_bps": self.avg_bps, "median_bps": self.median_bps,
                "p95_bps": self.p95_bps, "total_dollars": self.total_dollars, "worst_fills": worst or None}


def slippage_summary(fills: pl.DataFrame, as_of: dt.date, window_days: int = 30, worst_n: int = 5) -> SlippageSummary:
    """Rolling slippage of the filled rows finished in the ``window_days`` days ending ``as_of`` (a simulated
    venue's virtual clock may run ahead of the calendar: later rows count too)."""
    start = as_of - dt.timedelta(days=window_days - 1)
    if fills.height:
        when = pl.coalesce(pl.col("finished_at"), pl.col("recorded_at")).dt.date()
        rows = fills.filter((pl.col("shares") > 0) & pl.col("slippage_bps").is_not_null() & (when >= start))
    else:
        rows = fills
    if rows.height == 0:
        return SlippageSummary(as_of, window_days, start, 0, 0, None, None, None, 0.0, EXECUTION_FILLS.empty())
    bps = rows["slippage_bps"].to_numpy()
    worst = rows.sort("slippage_bps", descending=True).head(worst_n).select(
        "ticker", "action", "shares", "signal_price", "fill_price", "slippage_bps", "slippage_dollars", "client_order_id")
    return SlippageSummary(
        as_of=as_of, window_days=window_days, window_start=start, fills=rows.height, shares=int(rows["shares"].sum()),
        avg_bps=float(bps.mean()), median_bps=float(np.median(bps)), p95_bps=float(np.percentile(bps, 95)),
        total_dollars=float(rows["slippage_dollars"].fill_null(0.0).sum()), worst=worst)
