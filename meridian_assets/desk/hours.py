"""Auto-refresh only while NYSE is open: weekdays that are sessions, 09:30-16:00 New York time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from meridian_assets import calendar

NEW_YORK = ZoneInfo("America/New_York")
OPEN, CLOSE = dt.time(9, 30), dt.time(16, 0)


def market_open(now: dt.datetime | None = None) -> bool:
    local = (now or dt.datetime.now(dt.timezone.utc)).astimezone(NEW_YORK)
    if not OPEN <= local.time() < CLOSE:
        return False
    day = local.date()
    return calendar.session_on_or_before(day) == day


def refresh_seconds(interval: int, now: dt.datetime | None = None) -> int | None:
    """The reload interval during market hours, else None (no auto-refresh)."""
    return interval if market_open(now) else None
