"""The NYSE trading calendar (exchange_calendars' XNYS), as plain dates."""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

if TYPE_CHECKING:  # exchange_calendars (and pandas under it) costs ~1.5 s: imported when the calendar is built
    import exchange_calendars as xc

NEW_YORK = ZoneInfo("America/New_York")
MARKET_CLOSE = dt.time(16, 0)

# Scheduled FOMC rate decisions (the last day of each meeting, from the Federal Reserve's published calendar).
# The rebalance advisories warn ahead of them (`portfolio.advisory_fomc_days`); `portfolio.fomc_dates` in
# meridian.yaml replaces this list. Add each new year's dates when the Fed publishes them.
FOMC_DECISIONS: tuple[dt.date, ...] = (
    dt.date(2026, 1, 28),
    dt.date(2026, 3, 18),
    dt.date(2026, 4, 29),
    dt.date(2026, 6, 17),
    dt.date(2026, 7, 29),
    dt.date(2026, 9, 16),
    dt.date(2026, 10, 28),
    dt.date(2026, 12, 9),
)


@lru_cache(maxsize=1)
def _calendar() -> xc.ExchangeCalendar:
    import exchange_calendars as xc

    return xc.get_calendar("XNYS", start="1995-01-03", end=f"{dt.date.today().year + 2}-12-31")


def _sessions_cache() -> Path:
    """Where the session list is kept between processes: keyed by exchange_calendars' version and the
    calendar's end year, so an upgrade (new holidays) or a new year builds it afresh."""
    from importlib.metadata import version

    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meridian"
    return root / f"xnys-sessions-{version('exchange_calendars')}-{dt.date.today().year + 2}.npy"


@lru_cache(maxsize=1)
def _all_sessions() -> np.ndarray:
    # Building the exchange_calendars calendar costs ~0.6 s of CPU (plus pandas' import) in every process
    # that needs a date; the session list it yields is cached on disk as day ordinals.
    path = _sessions_cache()
    try:
        ordinals = np.load(path)
    except (OSError, ValueError):
        ordinals = np.array([d.date().toordinal() for d in _calendar().sessions], dtype=np.int64)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, ordinals)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: the calendar is built in each process, as before
    return np.array([dt.date.fromordinal(int(o)) for o in ordinals], dtype=object)


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """Trading sessions in [start, end], inclusive."""
    s = _all_sessions()
    lo, hi = np.searchsorted(s, start, "left"), np.searchsorted(s, end, "right")
    return list(s[lo:hi])


def is_session(d: dt.date) -> bool:
    s = _all_sessions()
    i = np.searchsorted(s, d)
    return bool(i < len(s) and s[i] == d)


def session_on_or_after(d: dt.date) -> dt.date:
    s = _all_sessions()
    return s[np.searchsorted(s, d, "left")]


def session_on_or_before(d: dt.date) -> dt.date:
    s = _all_sessions()
    return s[np.searchsorted(s, d, "right") - 1]


def next_session(d: dt.date) -> dt.date:
    s = _all_sessions()
    return s[np.searchsorted(s, d, "right")]


def previous_session(d: dt.date) -> dt.date:
    s = _all_sessions()
    return s[np.searchsorted(s, d, "left") - 1]


def add_sessions(d: dt.date, n: int) -> dt.date:
    """The session n sessions after (n < 0: before) the session on or before ``d``."""
    s = _all_sessions()
    i = np.searchsorted(s, session_on_or_before(d), "left") + n
    return s[max(0, min(i, len(s) - 1))]


def known_session(accepted_at: dt.datetime) -> dt.date:
    """The first session whose end-of-day computation may use something published at ``accepted_at``.

    Published during or before a session's trading hours: that session; after the 16:00 ET close or on a
    non-trading day: the next session.
    """
    local = accepted_at.astimezone(NEW_YORK) if accepted_at.tzinfo else accepted_at
    d = local.date()
    if is_session(d) and local.time() < MARKET_CLOSE:
        return d
    return next_session(d)


def last_completed_session(now: dt.datetime | None = None) -> dt.date:
    """The latest session whose close has passed at ``now`` (default: the current time)."""
    now = now or dt.datetime.now(tz=NEW_YORK)
    local = now.astimezone(NEW_YORK)
    d = local.date()
    if is_session(d) and local.time() >= dt.time(16, 30):
        return d
    return previous_session(d) if is_session(d) else session_on_or_before(d)
