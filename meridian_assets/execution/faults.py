"""Faults the simulated venue can be told to inject, so the executor's safety is tested against the real
failure modes of a broker connection.

    plan = FaultPlan()
    plan.add(FaultKind.ACCEPT_THEN_TIMEOUT)                  # next submit: accepted, but the caller sees a 504
    plan.add(FaultKind.RATE_LIMIT, op="any", times=5)        # a storm of five 429s
    plan.add(FaultKind.PARTIAL, ticker="AAA", fraction=0.4)  # AAA's next order fills 40% at most
    plan.add(FaultKind.REJECT, op="submit", at_call=3)       # the third submit is rejected

| kind                    | when it acts                | what the caller sees                                  |
|-------------------------|-----------------------------|-------------------------------------------------------|
| REJECT                  | before the venue            | `OrderRejected` (nothing created)                     |
| REFUSE_SHORT            | before, short sales only    | `ShortRefused` although the asset is flagged shortable |
| TIMEOUT                 | lost before the venue       | `BrokerUnavailable` (nothing created)                 |
| RATE_LIMIT              | before the venue            | `RateLimited` (nothing processed)                     |
| ACCEPT_THEN_TIMEOUT     | after the venue accepted    | `BrokerUnavailable(status=504)` — the order exists    |
| DISCONNECT_AFTER_ACCEPT | after the venue accepted    | `BrokerUnavailable`, then the next `calls` calls too  |
| OUTAGE                  | instead of the call         | `BrokerUnavailable` for this and the next `calls - 1` |
| PARTIAL                 | at acceptance               | the order fills at most `fraction` of its quantity    |
| NO_FILL                 | at acceptance               | the order never fills                                 |
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass


class FaultKind(str, enum.Enum):
    REJECT = "reject"
    REFUSE_SHORT = "refuse_short"
    TIMEOUT = "timeout"
    RATE_LIMIT = "rate_limit"
    ACCEPT_THEN_TIMEOUT = "accept_then_timeout"
    DISCONNECT_AFTER_ACCEPT = "disconnect_after_accept"
    OUTAGE = "outage"
    PARTIAL = "partial"
    NO_FILL = "no_fill"


# Faults that only make sense on a submit.
SUBMIT_ONLY = {FaultKind.REJECT, FaultKind.REFUSE_SHORT, FaultKind.ACCEPT_THEN_TIMEOUT,
               FaultKind.DISCONNECT_AFTER_ACCEPT, FaultKind.PARTIAL, FaultKind.NO_FILL}
OPS = ("submit", "get", "cancel", "list", "any")


@dataclass
class Fault:
    kind: FaultKind
    op: str = "submit"  # submit | get (order lookups) | cancel | list (positions, account, orders...) | any
    ticker: str | None = None
    times: int = 1
    at_call: int | None = None  # 1-based index of the call of `op` it fires on (None: the next matching)
    fraction: float = 0.5  # PARTIAL
    calls: int = 3  # OUTAGE / DISCONNECT_AFTER_ACCEPT: calls that fail

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.op not in OPS:
            raise ValueError(f"fault op must be one of {OPS}, got {self.op!r}")
        if self.kind in SUBMIT_ONLY and self.op not in ("submit", "any"):
            raise ValueError(f"{self.kind.value} applies to submits only")


class FaultPlan:
    """A thread-safe list of pending faults; each is used ``times`` times, in the order added."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._faults: list[Fault] = list(faults or [])
        self._calls: dict[str, int] = {}
        self.down_for = 0  # calls left in an outage
        self.fired: list[tuple[FaultKind, str, str | None]] = []
        self._lock = threading.Lock()

    def add(self, kind: FaultKind | str, **kw) -> Fault:
        fault = Fault(FaultKind(kind), **kw)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.down_for = 0

    @property
    def pending(self) -> list[Fault]:
        return [f for f in self._faults if f.times > 0]

    def count_call(self, op: str) -> int:
        with self._lock:
            self._calls[op] = self._calls.get(op, 0) + 1
            return self._calls[op]

    def in_outage(self) -> bool:
        """True (and one outage call used) while the venue is down."""
        with self._lock:
            if self.down_for > 0:
                self.down_for -= 1
                return True
            return False

    def start_outage(self, calls: int) -> None:
        with self._lock:
            self.down_for = max(self.down_for, calls)

    def take(self, op: str, ticker: str | None, call_no: int, kinds: set[FaultKind] | None = None) -> Fault | None:
        """The first pending fault matching this call (and of one of ``kinds``), consumed once."""
        with self._lock:
            for f in self._faults:
                if f.times <= 0 or (kinds is not None and f.kind not in kinds):
                    continue
                if f.op not in (op, "any") or (f.ticker is not None and f.ticker != ticker):
                    continue
                if f.at_call is not None and f.at_call != call_no:
                    continue
                f.times -= 1
                self.fired.append((f.kind, op, ticker))
                return f
            return None
