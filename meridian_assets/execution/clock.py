"""Time for the executor and the venues: injectable, so tests and benchmarks never sleep for real.

`SystemClock` is wall time. `ManualClock` only moves when slept on (or advanced), so a 120-second time in
force polled every 5 seconds runs in microseconds and deterministically.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


def utc(clock: Clock) -> dt.datetime:
    """The clock's time as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(clock.time(), tz=dt.timezone.utc)


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that advances only when slept on; ``slept`` is the total simulated sleep."""

    def __init__(self, start: float | dt.datetime = 1_711_722_600.0) -> None:  # 2024-03-29 14:30 UTC
        self._now = start.timestamp() if isinstance(start, dt.datetime) else float(start)
        self.slept = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(float(seconds), 0.0))
        self.slept += max(float(seconds), 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
