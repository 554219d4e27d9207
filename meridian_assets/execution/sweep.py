"""Every open order carrying Meridian's client-id prefix is accounted for: tracked to a final state or
cancelled, and recorded — at the end of every run, and for other rebalances' orders at the start of the next.

- `settle` cancels an open order (cancels always go through, halted or not), polls until the broker confirms a
  final state and returns its `execution_fills` row: FILLED / PARTIAL / CANCELLED / REJECTED, or OPEN when
  the cancel is not confirmed yet or the broker could not be reached (the next run adopts it then).
- `sweep_at_stop` settles every Meridian order still open at the broker when a run stops (whatever ended it:
  done, aborted, interrupted) and looks up each of the run's UNKNOWN rows by client order id: found -> settled
  as above; definitely absent -> CANCELLED with 0 shares ("never reached the broker"). A lookup that still
  fails leaves the row UNKNOWN for the next run's reconciliation, which looks it up again.
- Orders without Meridian's prefix (placed by hand, other tools) are never touched.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from meridian_assets.execution.broker import Broker, BrokerError, BrokerOrder, Side, parse_client_order_id
from meridian_assets.execution.clock import Clock, utc
from meridian_assets.execution.fills import ExecutionRecord, FillLedger, Status, final_status, outcome_record

log = logging.getLogger(__name__)

CONFIRM_POLLS = 6
CONFIRM_SECONDS = 1.0
UNSETTLED = (Status.OPEN, Status.UNKNOWN)


def guess_action(order: BrokerOrder, held_now: int) -> str:
    """BUY/SELL/SHORT/COVER of an order known only to the broker, from where the book stands."""
    if order.side is Side.BUY:
        return "COVER" if held_now < 0 else "BUY"
    return "SHORT" if held_now < 0 else "SELL"


def settle(broker: Broker, order: BrokerOrder, *, clock: Clock, known: ExecutionRecord | None, note: str,
           held: dict[str, int] | None = None, prices: dict[str, float] | None = None, run_id: str | None = None,
           polls: int = CONFIRM_POLLS, wait: float = CONFIRM_SECONDS) -> ExecutionRecord | None:
    """Cancel ``order`` if it is open, follow it to a final state, and return its row (None: not Meridian's)."""
    key = parse_client_order_id(order.client_order_id)
    if key is None:
        return None
    ledger = FillLedger(order.qty)
    ledger.observe(order)
    notes = [note]
    if not order.status.is_terminal:
        try:
            broker.cancel_order(order.order_id)
            for _ in range(polls):
                order = broker.get_order(order.order_id)
                ledger.observe(order)
                if order.status.is_terminal:
                    break
                clock.sleep(wait)
            else:
                notes.append("cancel not confirmed yet; the next run adopts it")
        except BrokerError as err:
            notes.append(f"could not cancel ({err}); the next run adopts it")
    action = known.action if known else guess_action(order, (held or {}).get(order.ticker, 0))
    signal = (known.signal_price if known else None) or (prices or {}).get(order.ticker)
    rec = outcome_record(
        rebalance_id=key.rebalance_id, order=order, client_order_id=order.client_order_id, ticker=order.ticker,
        action=action, book_side=known.side if known else ("LONG" if action in ("BUY", "SELL") else "SHORT"),
        ordered=order.qty, signal=signal, limit=order.limit_price, ledger=ledger, broker=broker.name,
        chunk=key.chunk, attempt=key.attempt, status=final_status(order, ledger.filled), notes="; ".join(notes),
        now=utc(clock))
    rec.run_id = (known.run_id if known else None) or run_id
    log.warning("order %s (%s %s %d): %s, %d filled", order.client_order_id, order.side.value, order.ticker,
                order.qty, rec.status, rec.shares)
    return rec


def not_placed(rec: ExecutionRecord, clock: Clock) -> ExecutionRecord:
    """The row of a submit whose order the broker definitely does not have."""
    now = utc(clock)
    return dataclasses.replace(rec, status=Status.CANCELLED, shares=0, fill_price=None, slippage_bps=None,
                               slippage_dollars=None, finished_at=now, recorded_at=now,
                               notes="; ".join(filter(None, [rec.notes, "not at the broker when looked up by client "
                                                                        "order id: never placed"])))


def sweep_at_stop(broker: Broker, records: Iterable[ExecutionRecord], *, clock: Clock, run_id: str | None,
                  prices: dict[str, float] | None = None) -> list[ExecutionRecord]:
    """Rows for every Meridian order open at the broker and every UNKNOWN/OPEN row of the run (see above)."""
    local = {r.client_order_id: r for r in records}
    out: list[ExecutionRecord] = []
    try:
        opened = broker.open_orders()
    except BrokerError as err:
        log.error("end of run: could not list open orders (%s); the next run's reconciliation adopts them", err)
        opened = []
    for o in opened:
        rec = settle(broker, o, clock=clock, known=local.get(o.client_order_id), prices=prices, run_id=run_id,
                     note=f"still working when run {run_id} stopped: cancelled")
        if rec is not None:
            out.append(rec)
    done = {r.client_order_id for r in out}
    for cid, r in local.items():
        if r.status not in UNSETTLED or cid in done or parse_client_order_id(cid) is None:
            continue
        try:
            found = broker.get_order_by_client_id(cid)
        except BrokerError as err:
            log.error("end of run: %s still unknown (%s); the next run's reconciliation looks it up", cid, err)
            continue
        if found is None:
            out.append(not_placed(r, clock) if r.status == Status.UNKNOWN else r)
        else:
            rec = settle(broker, found, clock=clock, known=r, prices=prices, run_id=run_id,
                         note=f"outcome settled by lookup when run {run_id} stopped")
            if rec is not None:
                out.append(rec)
    return out
