"""The executor: each trade of an approved rebalance through the spec's flow, against any `Broker`.

Per trade (in `planning.order_trades` order: reducing trades first, then opening ones balanced long/short):

1. **Halt** — the halt lock or trading state HALTED (re-checked before *every* submit): nothing more is
   submitted; the run's working orders are cancelled (cancels always go through); the rest is HALTED.
2. **Pre-trade veto** — `risk.pre_trade.check_trade` on the book as it stands after the trades so far;
   any denial -> a VETOED row with every reason code.
3. **Short availability** — only for the leg that opens or adds to a short: shortable and easy to borrow
   (cached 7 days), else a SKIPPED row.
4. **Price** — signal = latest close; limit = signal x (1 +/- `limit_offset_pct`) (buy pays up, sell marks down).
5. **Chunks** — whole shares, each <= `chunk_max_adv_pct` of 20-day ADV.
6. **Each chunk** — a DAY limit order with client id (rebalance, ticker, chunk, attempt), polled every
   `poll_seconds`, cancelled at `time_in_force_seconds`; partial fills are kept and the residual dropped.
7. **Zero fill** — retried up to `max_retries` times, re-priced from the broker's current price when it has one;
   a rejection, at submit or after the venue accepted the order, is definite: the leg stops, never resubmitted.

Every outcome is an `ExecutionRecord` (``on_record``), and every order event — the intent before the
request, the ack, each fill, a cancel, a reject, an unknown outcome — goes to ``on_event`` as it happens
(the session's fsync'd `journal.OrderJournal`). Open orders of the same rebalance left by an earlier run (found by
the reconciliation) are *adopted* first (`finish_adopted`: polled and cancelled like new ones, never placed
again); the trade list is then taken against the positions that result.

**Cancellation hook** — `cancel_pending()` cancels every order this run placed or adopted that may still be
working. `run()` calls it on any exception, including Ctrl-C (`KeyboardInterrupt`) and Dagster's run
termination (`DagsterExecutionInterruptedError`), before re-raising; positions are left as they are.
Broker failures the gateway could not ride out (unreachable, an unsettled submit, an unconfirmed live
account) end the run early: `ExecutionReport.aborted` says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from meridian_assets.execution.settings import ExecutionConfig
from meridian_assets.risk.settings import RiskConfig
from meridian_assets.execution.broker import (
    Broker, BrokerError, BrokerOrder, LiveTradingNotConfirmed, OrderRejected, OrderRequest, OrderStatus,
    client_order_id, parse_client_order_id,
)
from meridian_assets.execution.clock import Clock, utc
from meridian_assets.execution.fills import ExecutionRecord, FillLedger, Status, final_status, outcome_record
from meridian_assets.execution.planning import Action, Leg, TradeIntent, chunk_sizes, legs, limit_price, order_trades
from meridian_assets.execution.short_availability import Availability
from meridian_assets.risk.pre_trade import BookState, MarketInfo, Trade, check_trade
from meridian_assets.risk.states import TradingState

log = logging.getLogger(__name__)

CANCEL_CONFIRM_POLLS = 6
CANCEL_CONFIRM_SECONDS = 1.0


@dataclass
class ExecutionContext:
    """What one run needs besides the broker: the book and market for the veto, and the run's hooks."""

    rebalance_id: str
    nav: float
    positions_value: dict[str, float]  # signed $ of every holding (the veto's book)
    market: MarketInfo
    risk: RiskConfig
    trading_state: TradingState = TradingState.ACTIVE
    halted: Callable[[], bool] = lambda: False
    short_check: Callable[[str], Availability] | None = None
    refresh_price: Callable[[str], float | None] | None = None  # default: the broker's `last_price`
    next_chunk: dict[str, int] = field(default_factory=dict)
    run_id: str | None = None


@dataclass
class ExecutionReport:
    records: list[ExecutionRecord] = field(default_factory=list)
    submitted: int = 0
    adopted: int = 0
    cancelled: list[str] = field(default_factory=list)
    halted: bool = False
    aborted: str | None = None

    def filled(self) -> dict[str, int]:
        """Signed shares filled per ticker."""
        out: dict[str, int] = {}
        for r in self.records:
            if r.shares:
                out[r.ticker] = out.get(r.ticker, 0) + r.signed_shares
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            out[r.status] = out.get(r.status, 0) + 1
        return out


class _Stop(Exception):
    """Stop the current leg (a definite rejection, a halt)."""


class Executor:
    def __init__(self, broker: Broker, cfg: ExecutionConfig, *, clock: Clock,
                 on_record: Callable[[ExecutionRecord], None] | None = None,
                 on_event: Callable[..., None] | None = None) -> None:
        self.broker, self.cfg, self.ex, self.clock = broker, cfg, cfg.executor, clock
        self.on_record, self.on_event = on_record, on_event
        self.report = ExecutionReport()
        self._working: dict[str, BrokerOrder] = {}  # orders placed/adopted that may still be working
        self._shares: dict[str, int] = {}
        self._values: dict[str, float] = {}
        self._prices: dict[str, float] = {}

    # ------------------------------------------------------------------ the cancellation hook
    def cancel_pending(self) -> list[str]:
        """Cancel every order this run placed or adopted that may still be working (best effort)."""
        done: list[str] = []
        for oid, order in list(self._working.items()):
            try:
                self._event("cancel", cid=order.client_order_id, order_id=oid, why="run stopping")
                self.broker.cancel_order(oid)
                done.append(oid)
                self._working.pop(oid, None)
            except BrokerError as err:
                log.error("could not cancel %s (%s): %s", order.client_order_id, order.ticker, err)
        if done:
            log.warning("cancelled %d working order(s): %s", len(done), ", ".join(done))
        self.report.cancelled += done
        return done

    # ------------------------------------------------------------------ run
    def finish_adopted(self, orders: list[BrokerOrder], ctx: ExecutionContext,
                       prices: dict[str, float] | None = None) -> ExecutionReport:
        """Work the rebalance's orders an earlier run left open (poll to the time in force, cancel, record)
        before anything new is planned; the caller then re-reads the positions."""
        self._prices = dict(prices or {})
        return self._guarded(lambda: [self._work_adopted(o, ctx) for o in orders])

    def run(self, intents: list[TradeIntent], ctx: ExecutionContext) -> ExecutionReport:
        """Execute ``intents`` (current = the broker's position, target = the rebalance's)."""
        self._values = dict(ctx.positions_value)
        self._shares = {i.ticker: i.current for i in intents}
        self._prices = {**self._prices, **{i.ticker: i.price for i in intents}}
        return self._guarded(lambda: [self._execute_trade(i, ctx) for i in order_trades(intents)])

    def _guarded(self, work: Callable[[], object]) -> ExecutionReport:
        try:
            work()
        except BrokerError as err:
            self.report.aborted = f"{type(err).__name__}: {err}"
            log.error("execution stopped: %s", self.report.aborted)
            self.cancel_pending()
        except BaseException:
            log.warning("execution interrupted: cancelling the orders this run placed")
            self.cancel_pending()
            raise
        return self.report

    def _event(self, kind: str, **fields) -> None:
        if self.on_event is not None:
            self.on_event(kind, **fields)

    def _record(self, rec: ExecutionRecord, ctx: ExecutionContext) -> None:
        rec.run_id = ctx.run_id
        self.report.records.append(rec)
        if self.on_record is not None:
            self.on_record(rec)

    def _note(self, ctx: ExecutionContext, intent: TradeIntent, leg: Leg, status: str, notes: str) -> None:
        """A row for a leg that never reached the broker (veto, skip, halt)."""
        now = utc(self.clock)
        cid = f"{ctx.rebalance_id}:{intent.ticker}:{leg.action.value}:{status.lower()}"
        self._record(ExecutionRecord(
            rebalance_id=ctx.rebalance_id, client_order_id=cid, ticker=intent.ticker, side=leg.action.book_side,
            action=leg.action.value, shares=0, ordered_shares=leg.qty, signal_price=intent.price,
            limit_price=None, status=status, broker=self.broker.name, notes=notes, finished_at=now, recorded_at=now),
            ctx)

    def _is_halted(self, ctx: ExecutionContext) -> bool:
        if not self.report.halted and (ctx.trading_state is TradingState.HALTED or ctx.halted()):
            self.report.halted = True
            log.error("trading halted: no more orders are submitted; cancelling working orders")
            self.cancel_pending()
        return self.report.halted

    # ------------------------------------------------------------------ per trade
    def _execute_trade(self, intent: TradeIntent, ctx: ExecutionContext) -> None:
        plan = legs(intent.current, intent.target)
        if not plan:
            return
        if self._is_halted(ctx):
            for leg in plan:
                self._note(ctx, intent, leg, Status.HALTED, "trading halted (halt lock or HALTED state)")
            return
        book = BookState(nav=ctx.nav, positions=dict(self._values), state=ctx.trading_state)
        decision = check_trade(Trade(intent.ticker, intent.notional), book, ctx.market, ctx.risk, halted=False)
        if not decision.accepted:
            codes = ",".join(r.value for r in decision.reasons)
            msg = "; ".join(d.message for d in decision.denials)
            log.warning("veto %s %+d: %s", intent.ticker, intent.delta, msg)
            for leg in plan:
                self._note(ctx, intent, leg, Status.VETOED, f"{codes}: {msg}")
            return
        for i, leg in enumerate(plan):
            if i > 0 and self._shares.get(intent.ticker, 0) != 0:
                self._note(ctx, intent, leg, Status.SKIPPED, "the closing leg did not complete; not opening the other side")
                continue
            if leg.action is Action.SHORT and ctx.short_check is not None:
                avail = ctx.short_check(intent.ticker)
                if not avail.ok:
                    self._note(ctx, intent, leg, Status.SKIPPED, f"short not available: {avail.reason()}")
                    continue
            try:
                self._execute_leg(intent, leg, ctx)
            except _Stop:
                continue

    def _execute_leg(self, intent: TradeIntent, leg: Leg, ctx: ExecutionContext) -> None:
        if not intent.adv_dollars or intent.adv_dollars <= 0:
            self._note(ctx, intent, leg, Status.SKIPPED, "no 20-day ADV: cannot size chunks")
            return
        for qty in chunk_sizes(leg.qty, intent.price, intent.adv_dollars, self.ex.chunk_max_adv_pct):
            chunk = ctx.next_chunk.get(intent.ticker, 0)
            ctx.next_chunk[intent.ticker] = chunk + 1
            self._work_chunk(intent, leg, chunk, qty, ctx)

    def _work_chunk(self, intent: TradeIntent, leg: Leg, chunk: int, qty: int, ctx: ExecutionContext) -> None:
        signal = intent.price
        for attempt in range(self.ex.max_retries + 1):
            if self._is_halted(ctx):
                self._note(ctx, intent, leg, Status.HALTED, f"chunk {chunk}: trading halted before submit")
                raise _Stop
            cid = client_order_id(ctx.rebalance_id, intent.ticker, chunk, attempt)
            limit = limit_price(signal, leg.action.side, self.ex.limit_offset_pct)
            request = OrderRequest(cid, intent.ticker, leg.action.side, qty, limit, intent=leg.action.intent)
            self._event("intent", cid=cid, rebalance_id=ctx.rebalance_id, ticker=intent.ticker,
                        side=leg.action.side.value, qty=qty, limit=limit, action=leg.action.value,
                        book_side=leg.action.book_side, signal=signal, chunk=chunk, attempt=attempt)
            try:
                order = self.broker.submit_order(request)
            except OrderRejected as err:
                self._event("reject", cid=cid, code=err.code, reason=err.reason)
                self._record(outcome_record(
                    rebalance_id=ctx.rebalance_id, order=None, client_order_id=cid, ticker=intent.ticker,
                    action=leg.action.value, book_side=leg.action.book_side, ordered=qty, signal=signal, limit=limit,
                    ledger=None, broker=self.broker.name, chunk=chunk, attempt=attempt, status=Status.REJECTED,
                    notes=f"{err.code}: {err.reason}", now=utc(self.clock)), ctx)
                raise _Stop from err
            except LiveTradingNotConfirmed:
                raise  # nothing was sent
            except BrokerError as err:  # AmbiguousOrderState, or the gateway gave up: settled at stop / next run
                self._event("unknown", cid=cid, detail=str(err))
                self._record(outcome_record(
                    rebalance_id=ctx.rebalance_id, order=None, client_order_id=cid, ticker=intent.ticker,
                    action=leg.action.value, book_side=leg.action.book_side, ordered=qty, signal=signal, limit=limit,
                    ledger=None, broker=self.broker.name, chunk=chunk, attempt=attempt, status=Status.UNKNOWN,
                    notes=str(err), now=utc(self.clock)), ctx)
                raise
            self.report.submitted += 1
            self._event("ack", cid=cid, order_id=order.order_id, status=order.status.value, filled_qty=order.filled_qty)
            if order.qty != qty or order.side is not leg.action.side:
                log.warning("order %s exists at the broker as %s %d (planned %s %d); working that one", cid,
                            order.side.value, order.qty, leg.action.side.value, qty)
            filled, final = self._await_and_record(order, leg.action, signal, limit, chunk, attempt, ctx)
            if filled > 0:
                return
            if final is OrderStatus.REJECTED:  # refused by the venue after accepting it: a definite rejection
                raise _Stop
            fresh = (ctx.refresh_price or self.broker.last_price)(intent.ticker)
            if fresh and fresh > 0:
                signal = fresh
        log.warning("%s chunk %d: no fill after %d attempts; dropped", intent.ticker, chunk, self.ex.max_retries + 1)

    def _work_adopted(self, order: BrokerOrder, ctx: ExecutionContext) -> None:
        self.report.adopted += 1
        action = _action_of(order, ctx.positions_value.get(order.ticker, 0.0))
        log.warning("adopting %s (%s %s %d, %d filled) left working by an earlier run", order.client_order_id,
                    order.side.value, order.ticker, order.qty, order.filled_qty)
        key = _key(order)
        self._event("adopt", cid=order.client_order_id, rebalance_id=ctx.rebalance_id, ticker=order.ticker,
                    side=order.side.value, qty=order.qty, limit=order.limit_price, action=action.value,
                    book_side=action.book_side, signal=self._prices.get(order.ticker), chunk=key[0], attempt=key[1],
                    order_id=order.order_id)
        self._await_and_record(order, action, None, order.limit_price, None, None, ctx, adopted=True)

    # ------------------------------------------------------------------ one order
    def _await_and_record(self, order: BrokerOrder, action: Action, signal: float | None, limit: float | None,
                          chunk: int | None, attempt: int | None, ctx: ExecutionContext,
                          adopted: bool = False) -> tuple[int, OrderStatus]:
        """Work ``order`` to its end and record it: (shares filled, the broker's last status of it)."""
        self._working[order.order_id] = order
        ledger = FillLedger(order.qty)
        before = order.filled_qty if adopted else 0
        try:
            order, notes = self._await(order, ledger, ctx)
        except BrokerError as err:  # lost the broker while the order works: an OPEN row, settled at stop
            self._record(outcome_record(
                rebalance_id=ctx.rebalance_id, order=order, client_order_id=order.client_order_id, ticker=order.ticker,
                action=action.value, book_side=action.book_side, ordered=order.qty,
                signal=signal if signal is not None else self._prices.get(order.ticker), limit=limit, ledger=ledger,
                broker=self.broker.name, chunk=chunk if chunk is not None else _key(order)[0],
                attempt=attempt if attempt is not None else _key(order)[1], status=Status.OPEN,
                notes=f"broker lost while working: {err}", now=utc(self.clock)), ctx)
            raise
        status = final_status(order, ledger.filled)
        if adopted:
            notes.append(f"adopted from an earlier run ({before} filled then)")
        if order.reject_reason:
            notes.append(order.reject_reason)
        key = _key(order)
        self._record(outcome_record(
            rebalance_id=ctx.rebalance_id, order=order, client_order_id=order.client_order_id, ticker=order.ticker,
            action=action.value, book_side=action.book_side, ordered=order.qty,
            signal=signal if signal is not None else self._prices.get(order.ticker), limit=limit, ledger=ledger,
            broker=self.broker.name, chunk=chunk if chunk is not None else key[0],
            attempt=attempt if attempt is not None else key[1], status=status, notes="; ".join(notes) or None,
            now=utc(self.clock)), ctx)
        new_fill = ledger.filled - before
        if new_fill:
            self._book_fill(order.ticker, action.sign * new_fill)
        return ledger.filled, order.status

    def _await(self, order: BrokerOrder, ledger: FillLedger, ctx: ExecutionContext) -> tuple[BrokerOrder, list[str]]:
        """Poll until done or the time in force; cancel then; confirm the cancel. Returns the last snapshot."""
        notes: list[str] = []
        self._observe(order, ledger)
        deadline = self.clock.time() + self.ex.time_in_force_seconds
        while not order.status.is_terminal and self.clock.time() < deadline and not self._is_halted(ctx):
            self.clock.sleep(min(self.ex.poll_seconds, deadline - self.clock.time()))
            order = self.broker.get_order(order.order_id)
            self._observe(order, ledger)
        if not order.status.is_terminal:
            self._event("cancel", cid=order.client_order_id, order_id=order.order_id, why="time in force")
            self.broker.cancel_order(order.order_id)
            notes.append("cancelled at time in force" if not self.report.halted else "cancelled: trading halted")
            for _ in range(CANCEL_CONFIRM_POLLS):
                order = self.broker.get_order(order.order_id)
                self._observe(order, ledger)
                if order.status.is_terminal:
                    break
                self.clock.sleep(CANCEL_CONFIRM_SECONDS)
            else:
                notes.append("cancel not confirmed yet; the next run reconciles it")
        if order.status.is_terminal:
            self._working.pop(order.order_id, None)
        if ledger.duplicates:
            log.debug("order %s: %d duplicate fill reports ignored", order.client_order_id, ledger.duplicates)
        return order, notes

    def _observe(self, order: BrokerOrder, ledger: FillLedger) -> None:
        """Book a snapshot's fills; each new one is journaled."""
        before = set(ledger.fills)
        ledger.observe(order)
        for fid, f in ledger.fills.items():
            if fid not in before:
                self._event("fill", cid=order.client_order_id, order_id=order.order_id, fill_id=fid, qty=f.qty,
                            price=f.price)

    def _book_fill(self, ticker: str, signed_shares: int) -> None:
        self._shares[ticker] = self._shares.get(ticker, 0) + signed_shares
        price = self._prices.get(ticker)
        if price is not None:
            self._values[ticker] = self._shares[ticker] * price


def _key(order: BrokerOrder) -> tuple[int | None, int | None]:
    k = parse_client_order_id(order.client_order_id)
    return (k.chunk, k.attempt) if k else (None, None)


def _action_of(order: BrokerOrder, position_before: float) -> Action:
    """BUY/SELL/SHORT/COVER of an order given the (signed) position it trades from (adopted orders)."""
    if order.side.value == "buy":
        return Action.COVER if position_before < 0 else Action.BUY
    return Action.SELL if position_before > 0 else Action.SHORT
