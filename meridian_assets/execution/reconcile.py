"""Reconciliation with the broker, at the start of every execution run and after it (Mode A: the broker is
the source of truth).

**Positions.** `portfolio_positions` becomes the broker's holdings (source='broker'): a ticker only the
broker holds is *inserted*, one held in different size or side is *overwritten*, one only held locally is
*removed* — each with a warning and a row in `execution_reconciliation`. Entry date and score survive when
the side is unchanged.

**Orders and fills.** Every Meridian order at the broker — this rebalance's and any earlier one's — is
matched to `execution_fills` by client order id: an order with no row (a run that died after the submit
landed) gets one under its own rebalance, a row whose filled shares or status differ from the broker's (an
order that filled after its run stopped while the row said UNKNOWN / 0 shares) is overwritten, both with a
warning. This rebalance's orders still working are returned for the executor to adopt; the next free chunk
number per ticker (from the broker's orders and the local rows) is returned so no client order id is ever
reused. Working orders of *other* Meridian rebalances are stale: returned to be cancelled, followed to a
final state and recorded (`sweep.settle`). Orders that are not Meridian's are left alone, with a warning.

**Failure** (`ReconciliationError`, the run trades nothing): an account that is blocked, a ticker listed
twice, a fractional or non-finite quantity, an order filled beyond its quantity, an order whose client id
names one ticker while it trades another.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field

import polars as pl

from meridian_assets.execution.broker import (
    Account, BrokerOrder, Position, ReconciliationError, parse_client_order_id,
)
from meridian_assets.execution.fills import ExecutionRecord, FillLedger, Status, final_status, outcome_record
from meridian_assets.execution.schemas import EXECUTION_RECONCILIATION
from meridian_assets.execution.sweep import guess_action
from meridian_assets.portfolio.schemas import PORTFOLIO_POSITIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileEvent:
    kind: str  # position | order
    ticker: str | None
    action: str  # inserted | overwritten | removed | adopted | recorded | stale | foreign | missing
    local: str | None
    broker: str | None
    message: str


@dataclass
class Reconciliation:
    positions: pl.DataFrame
    held: dict[str, int]
    account: Account
    events: list[ReconcileEvent] = field(default_factory=list)
    own_open: list[BrokerOrder] = field(default_factory=list)
    stale_open: list[BrokerOrder] = field(default_factory=list)
    next_chunk: dict[str, int] = field(default_factory=dict)
    records: list[ExecutionRecord] = field(default_factory=list)

    def frame(self, run_id: str, rebalance_id: str, phase: str, now: dt.datetime) -> pl.DataFrame:
        rows = [{"run_id": run_id, "rebalance_id": rebalance_id, "phase": phase, "kind": e.kind, "ticker": e.ticker,
                 "action": e.action, "local": e.local, "broker": e.broker, "message": e.message,
                 "reconciled_at": _naive(now)} for e in self.events]
        return EXECUTION_RECONCILIATION.conform(pl.DataFrame(rows)) if rows else EXECUTION_RECONCILIATION.empty()


def _naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def check_broker_state(positions: list[Position], account: Account, orders: list[BrokerOrder]) -> dict[str, int]:
    """The broker's holdings as whole shares, or `ReconciliationError` saying what cannot be traded on."""
    if account.trading_blocked or str(account.status).upper() != "ACTIVE":
        raise ReconciliationError(f"broker account is {account.status} (trading_blocked={account.trading_blocked}); "
                                  "resolve it with the broker before trading")
    held: dict[str, int] = {}
    for p in positions:
        if p.ticker in held:
            raise ReconciliationError(f"broker lists {p.ticker} twice; refusing to guess which holding is real")
        if not math.isfinite(p.qty) or p.qty != int(p.qty):
            raise ReconciliationError(f"broker holds a fractional or invalid quantity of {p.ticker} ({p.qty}); "
                                      "Meridian trades whole shares: close the fraction at the broker")
        if int(p.qty) != 0:
            held[p.ticker] = int(p.qty)
    for o in orders:
        if o.filled_qty > o.qty:
            raise ReconciliationError(f"order {o.client_order_id} ({o.ticker}) filled {o.filled_qty} of {o.qty}: "
                                      "an overfill to investigate with the broker")
        key = parse_client_order_id(o.client_order_id)
        if key is not None and key.ticker != o.ticker:
            raise ReconciliationError(f"order {o.client_order_id} trades {o.ticker} but its client id names "
                                      f"{key.ticker}")
    return held


def reconcile(*, rebalance_id: str, broker_name: str, positions: list[Position], account: Account,
              orders: list[BrokerOrder], open_orders: list[BrokerOrder], local_positions: pl.DataFrame,
              local_fills: pl.DataFrame, sectors: dict[str, str], scores: dict[str, float],
              prices: dict[str, float], now: dt.datetime, quiet: bool = False) -> Reconciliation:
    """Reconcile local positions and execution rows with the broker (see the module docstring). ``quiet``:
    the differences are expected (after this run's own trades) and logged at info level."""
    held = check_broker_state(positions, account, orders + open_orders)
    rec = Reconciliation(positions=PORTFOLIO_POSITIONS.empty(), held=held, account=account)
    rec.positions = _positions(rec, positions, held, local_positions, sectors, scores, prices, now)
    _orders(rec, rebalance_id, broker_name, orders, open_orders, local_fills, prices, now)
    for e in rec.events:
        log.log(logging.INFO if quiet else logging.WARNING, "reconciliation: %s %s %s: %s", e.kind, e.ticker or "",
                e.action, e.message)
    return rec


def _positions(rec: Reconciliation, positions: list[Position], held: dict[str, int], local: pl.DataFrame,
               sectors: dict[str, str], scores: dict[str, float], prices: dict[str, float],
               now: dt.datetime) -> pl.DataFrame:
    loc = {r["ticker"]: r for r in PORTFOLIO_POSITIONS.conform(local).iter_rows(named=True)} if local.height else {}
    details = {p.ticker: p for p in positions}
    equity = rec.account.equity if rec.account.equity else None
    rows = []
    for t, q in sorted(held.items()):
        p, old = details[t], loc.get(t)
        side = "LONG" if q > 0 else "SHORT"
        same_side = old is not None and old["shares"] is not None and (old["shares"] > 0) == (q > 0)
        last = p.current_price or prices.get(t) or p.avg_entry_price
        mv = q * last
        if old is None:
            rec.events.append(ReconcileEvent("position", t, "inserted", None, str(q),
                                             f"{t}: broker holds {q}, not in portfolio_positions; inserted"))
        elif old["shares"] != q:
            rec.events.append(ReconcileEvent("position", t, "overwritten", str(old["shares"]), str(q),
                                             f"{t}: local {old['shares']} vs broker {q}; overwritten with the broker's"))
        rows.append({
            "ticker": t, "sector": (old or {}).get("sector") or sectors.get(t), "side": side, "shares": q,
            "avg_cost": p.avg_entry_price,
            "entry_date": old["entry_date"] if same_side and old["entry_date"] else now.date(),
            "entry_score": (old["entry_score"] if same_side else None) or scores.get(t),
            "last_price": last, "market_value": mv, "weight": mv / equity if equity else None,
            "updated_at": _naive(now), "source": "broker"})
    for t, old in sorted(loc.items()):
        if t not in held:
            rec.events.append(ReconcileEvent("position", t, "removed", str(old["shares"]), "0",
                                             f"{t}: local {old['shares']} not held at the broker; removed"))
    return PORTFOLIO_POSITIONS.conform(pl.DataFrame(rows)) if rows else PORTFOLIO_POSITIONS.empty()


def _orders(rec: Reconciliation, rebalance_id: str, broker_name: str, orders: list[BrokerOrder],
            open_orders: list[BrokerOrder], local_fills: pl.DataFrame, prices: dict[str, float],
            now: dt.datetime) -> None:
    local = {r["client_order_id"]: r for r in local_fills.iter_rows(named=True)} if local_fills.height else {}
    for cid in local:
        key = parse_client_order_id(cid)
        if key is not None and key.rebalance_id == rebalance_id:
            rec.next_chunk[key.ticker] = max(rec.next_chunk.get(key.ticker, 0), key.chunk + 1)
    seen: set[str] = set()
    for o in orders:
        key = parse_client_order_id(o.client_order_id)
        if key is None or o.client_order_id in seen:
            continue
        seen.add(o.client_order_id)
        if key.rebalance_id == rebalance_id:
            rec.next_chunk[o.ticker] = max(rec.next_chunk.get(o.ticker, 0), key.chunk + 1)
        if not o.status.is_terminal:
            if key.rebalance_id == rebalance_id:
                rec.own_open.append(o)
                rec.events.append(ReconcileEvent("order", o.ticker, "adopted", None, o.status.value,
                                                 f"{o.client_order_id} still working ({o.filled_qty}/{o.qty} filled); "
                                                 "adopted"))
            else:
                _stale(rec, o)
            continue
        old = local.get(o.client_order_id)
        if old is not None and old["shares"] == o.filled_qty and old["status"] not in (Status.OPEN, Status.UNKNOWN):
            continue
        action = old["action"] if old is not None else guess_action(o, rec.held.get(o.ticker, 0))
        ledger = FillLedger(o.qty)
        ledger.observe(o)
        status = final_status(o, o.filled_qty)  # a terminal order here: the working ones were handled above
        signal = (old or {}).get("signal_price") or prices.get(o.ticker)
        what = "recorded" if old is None else "overwritten"
        note = ("recorded by reconciliation: the order was at the broker but not in execution_fills"
                if old is None else f"reconciled: local {old['shares']} {old['status']} -> broker {o.filled_qty} {status}")
        r = outcome_record(rebalance_id=key.rebalance_id, order=o, client_order_id=o.client_order_id, ticker=o.ticker,
                           action=action, book_side="LONG" if action in ("BUY", "SELL") else "SHORT", ordered=o.qty,
                           signal=signal, limit=o.limit_price, ledger=ledger, broker=broker_name, chunk=key.chunk,
                           attempt=key.attempt, status=status, notes=note, now=now)
        rec.records.append(r)
        rec.events.append(ReconcileEvent("order", o.ticker, what, None if old is None else f"{old['shares']} {old['status']}",
                                         f"{o.filled_qty} {o.status.value}", f"{o.client_order_id}: {note}"))
    for cid, old in local.items():
        key = parse_client_order_id(cid)
        if key is not None and old.get("alpaca_order_id") and cid not in seen and old["status"] in (Status.OPEN, Status.UNKNOWN):
            rec.events.append(ReconcileEvent("order", old["ticker"], "missing", old["status"], None,
                                             f"{cid} recorded {old['status']} but unknown to the broker"))
    for o in open_orders:
        key = parse_client_order_id(o.client_order_id)
        if key is None:
            rec.events.append(ReconcileEvent("order", o.ticker, "foreign", None, o.status.value,
                                             f"open order {o.client_order_id} was not placed by Meridian; left alone"))
        elif key.rebalance_id != rebalance_id:
            _stale(rec, o)
        elif o.client_order_id not in seen:
            seen.add(o.client_order_id)
            rec.own_open.append(o)
            rec.events.append(ReconcileEvent("order", o.ticker, "adopted", None, o.status.value,
                                             f"{o.client_order_id} still working ({o.filled_qty}/{o.qty} filled); adopted"))


def _stale(rec: Reconciliation, o: BrokerOrder) -> None:
    if any(s.order_id == o.order_id for s in rec.stale_open):
        return
    rec.stale_open.append(o)
    rec.events.append(ReconcileEvent("order", o.ticker, "stale", None, o.status.value,
                                     f"{o.client_order_id} of an earlier rebalance still working; cancelled and "
                                     "followed to its final state"))
