"""The arithmetic of a rebalance's execution, as plain functions (no broker, no database).

- `intended_targets`: what the approved rebalance wants each ticker to be. A ticker trades only when its
  trade was approved (position_approvals APPROVED) and Layer 4 proposed it (not DEFERRED by the
  turnover budget, not VETOED); its target is the trade's `target_shares` (the budget-aware one), else the
  target book's. Everything else keeps what the broker holds. The delta is taken against the *broker's*
  positions, so a re-run after a partial execution trades only what is still missing.
- `legs`: a trade through zero becomes two orders, close then open (brokers refuse a flip in one order).
- `limit_price`: signal x (1 + offset) for buys, x (1 - offset) for sells, rounded to the tick *inwards*
  (never more aggressive than configured).
- `chunk_sizes`: the fewest whole-share chunks each worth at most `chunk_max_adv_pct` of 20-day ADV.
- `order_trades`: reducing trades first (they free buying power and never add risk), then the opening
  ones alternating long and short so the running net exposure stays near zero and the pre-trade net and
  gross checks see a balanced book at every step.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from meridian_assets.execution.broker import Side


class Action(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"
    SHORT = "SHORT"
    COVER = "COVER"

    @property
    def side(self) -> Side:
        return Side.BUY if self in (Action.BUY, Action.COVER) else Side.SELL

    @property
    def book_side(self) -> str:
        return "LONG" if self in (Action.BUY, Action.SELL) else "SHORT"

    @property
    def intent(self) -> str:
        return {"BUY": "buy_to_open", "SELL": "sell_to_close", "SHORT": "sell_to_open",
                "COVER": "buy_to_close"}[self.value]

    @property
    def sign(self) -> int:
        return 1 if self.side is Side.BUY else -1


@dataclass(frozen=True)
class Leg:
    action: Action
    qty: int


@dataclass(frozen=True)
class TradeIntent:
    """One ticker's trade: from the broker's ``current`` shares to ``target`` (signed), priced at ``price``
    (the signal: the latest close), with the 20-day ADV in $ for chunking and the pre-trade checks."""

    ticker: str
    current: int
    target: int
    price: float
    adv_dollars: float
    sector: str | None = None
    beta: float | None = None
    score: float | None = None

    @property
    def delta(self) -> int:
        return self.target - self.current

    @property
    def notional(self) -> float:
        return self.delta * self.price


APPROVED_STATUSES = ("APPROVED",)
NOT_TRADED_STATUSES = ("DEFERRED", "VETOED")


def intended_targets(
    target_book: pl.DataFrame, trades: pl.DataFrame, approvals: pl.DataFrame, held: dict[str, int]
) -> tuple[dict[str, int], dict[str, str]]:
    """(target shares per ticker that trades, reason per ticker that does not). See the module docstring."""
    book = {r["ticker"]: int(r["target_shares"]) for r in target_book.iter_rows(named=True)}
    trade_rows = {r["ticker"]: r for r in trades.iter_rows(named=True)}
    decided: dict[str, set[str]] = {}
    for r in approvals.iter_rows(named=True):
        decided.setdefault(r["ticker"], set()).add(str(r["status"]).upper())
    targets: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for t in sorted(set(book) | set(trade_rows) | set(decided) | set(held)):
        statuses = decided.get(t, set())
        tr = trade_rows.get(t)
        if statuses & {"REJECTED", "VETOED"}:
            skipped[t] = "not approved: " + "/".join(sorted(statuses & {"REJECTED", "VETOED"})).lower()
        elif tr is not None and str(tr["status"]).upper() in NOT_TRADED_STATUSES:
            skipped[t] = f"Layer 4 {str(tr['status']).upper()}: {tr.get('reason') or 'no reason given'}"
        elif statuses & set(APPROVED_STATUSES):
            targets[t] = int(tr["target_shares"]) if tr is not None and tr["target_shares"] is not None \
                else book.get(t, 0)
        elif tr is not None:
            skipped[t] = "trade not approved"
        elif t in held and t not in book:
            skipped[t] = "held at the broker but not part of the rebalance; left unchanged"
    return targets, skipped


def legs(current: int, target: int) -> list[Leg]:
    """The orders that take ``current`` to ``target``: at most two, never through zero in one order."""
    out: list[Leg] = []
    if target > current:
        if current < 0:
            out.append(Leg(Action.COVER, min(-current, target - current)))
        if target > 0:
            out.append(Leg(Action.BUY, target - max(current, 0)))
    elif target < current:
        if current > 0:
            out.append(Leg(Action.SELL, min(current, current - target)))
        if target < 0:
            out.append(Leg(Action.SHORT, -target + min(current, 0)))
    return [leg for leg in out if leg.qty > 0]


def limit_price(signal: float, side: Side, offset: float) -> float:
    """Signal x (1 +/- offset) on the tick ($0.01, $0.0001 under $1), rounded towards the signal."""
    if not (signal > 0 and math.isfinite(signal)):
        raise ValueError(f"signal price must be a positive number, got {signal!r}")
    raw = signal * (1 + offset) if side is Side.BUY else signal * (1 - offset)
    tick = 0.01 if raw >= 1.0 else 0.0001
    steps = raw / tick
    n = math.floor(steps + 1e-9) if side is Side.BUY else math.ceil(steps - 1e-9)
    return round(max(n, 1) * tick, 4)


def chunk_sizes(qty: int, price: float, adv_dollars: float, max_adv_pct: float) -> list[int]:
    """Whole-share chunks of ``qty``, each worth at most ``max_adv_pct`` x ADV (one share when a single share
    is already more), as few as possible and as equal as possible (largest first)."""
    if qty <= 0:
        return []
    if not (adv_dollars > 0 and price > 0 and math.isfinite(adv_dollars)):
        raise ValueError(f"chunking needs a positive ADV and price, got adv={adv_dollars!r} price={price!r}")
    cap = max(int(math.floor(max_adv_pct * adv_dollars / price + 1e-9)), 1)
    n = -(-qty // cap)
    base, extra = divmod(qty, n)
    return [base + 1] * extra + [base] * (n - extra)


def order_trades(intents: Iterable[TradeIntent]) -> list[TradeIntent]:
    """Reducing trades first (largest first), then opening ones alternating to keep net exposure near 0."""
    items = list(intents)

    def reduces(i: TradeIntent) -> bool:
        return abs(i.target) < abs(i.current) and i.target * i.current >= 0

    reducing = sorted((i for i in items if reduces(i)), key=lambda i: -abs(i.notional))
    rest = [i for i in items if not reduces(i)]
    buys = sorted((i for i in rest if i.delta > 0), key=lambda i: -abs(i.notional))
    sells = sorted((i for i in rest if i.delta < 0), key=lambda i: -abs(i.notional))
    net = sum(i.target * i.price for i in reducing) + sum(i.current * i.price for i in rest)
    ordered = list(reducing)
    while buys or sells:
        pick = buys if (net <= 0 and buys) or not sells else sells
        nxt = pick.pop(0)
        ordered.append(nxt)
        net += nxt.notional
    return ordered
