"""A thread-safe token-bucket rate limiter (``burst=1``: a plain minimum interval between calls).

    limiter = RateLimiter(8)          # at most 8 acquisitions per second, shared by every thread
    limiter.wait()                    # blocks until a token is free
    with limiter:                     # same, as a context manager
        ...

The clock and the sleep function are injectable so tests can check the rate without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most ``per_second`` acquisitions per second on average, and never more than ``burst`` at once.

    With the default ``burst=1`` consecutive acquisitions are at least ``1 / per_second`` seconds apart,
    so any window of length T holds at most ``floor(T * per_second) + 1`` of them.
    """

    def __init__(
        self,
        per_second: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not per_second > 0:
            raise ValueError(f"RateLimiter: per_second must be > 0, got {per_second!r}")
        if burst < 1:
            raise ValueError(f"RateLimiter: burst must be >= 1, got {burst!r}")
        self.per_second = float(per_second)
        self.interval = 1.0 / self.per_second
        self.capacity = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last: float | None = None
        self._lock = threading.Lock()
        self.acquired = 0  # acquisitions so far (for logs and tests)

    def _refill(self) -> None:
        now = self._clock()
        if self._last is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.per_second)
        self._last = now

    def wait(self) -> float:
        """Block until a token is available and take it; returns the seconds spent waiting."""
        waited = 0.0
        # The lock is held while sleeping: waiters queue in order and none can overtake the rate.
        with self._lock:
            self._refill()
            while self._tokens < 1.0 - 1e-9:  # tolerance for float round-off
                delay = (1.0 - self._tokens) * self.interval
                self._sleep(delay)
                waited += delay
                self._refill()
            self._tokens = max(0.0, self._tokens - 1.0)
            self.acquired += 1
        return waited

    def __enter__(self) -> RateLimiter:
        self.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"RateLimiter(per_second={self.per_second:g}, burst={int(self.capacity)})"
