"""Pacing requests to a broker: a sliding-window limiter and jittered exponential backoff.

`WindowLimiter(200, 60)` admits at most 200 acquisitions in *any* 60-second window (a token bucket with
burst 1 allows one more at the window's edge; this never does): it remembers the last `max_calls` times
and, when full, waits until the oldest leaves the window.

`Backoff` is "equal jitter": attempt k waits d/2 + U(0, d/2) with d = min(cap, base * 2^k), so a storm of
429s spreads clients out without ever retrying at once. A server's ``Retry-After`` is a floor.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable


class WindowLimiter:
    def __init__(self, max_calls: int, window_seconds: float, *, clock: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        if max_calls < 1 or window_seconds <= 0:
            raise ValueError(f"WindowLimiter needs max_calls >= 1 and window > 0, got {max_calls}, {window_seconds}")
        self.max_calls, self.window = int(max_calls), float(window_seconds)
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.acquired = 0
        self.waited = 0.0

    def wait(self) -> float:
        """Block until a call is allowed and count it; the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                while self._times and now - self._times[0] >= self.window:
                    self._times.popleft()
                if len(self._times) < self.max_calls:
                    break
                # a microsecond past the window's edge, so float round-off cannot leave the oldest call inside
                delay = self._times[0] + self.window - now + 1e-6
                self._sleep(delay)
                waited += delay
            self._times.append(self._clock())
            self.acquired += 1
            self.waited += waited
        return waited


class Backoff:
    def __init__(self, base_seconds: float, max_seconds: float, *, sleep: Callable[[float], None],
                 rng: random.Random | None = None) -> None:
        self.base, self.cap = float(base_seconds), float(max_seconds)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.slept = 0.0

    def delay(self, attempt: int, floor: float | None = None) -> float:
        d = min(self.cap, self.base * (2 ** max(attempt, 0)))
        wait = d / 2 + self._rng.uniform(0, d / 2)
        return max(wait, floor or 0.0)

    def pause(self, attempt: int, floor: float | None = None) -> float:
        wait = self.delay(attempt, floor)
        self._sleep(wait)
        self.slept += wait
        return wait
