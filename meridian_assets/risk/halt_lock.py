"""The persistent halt lock written by the kill switch (`MeridianConfig.halt_lock_path()`).

A JSON file {reason, created_at, triggers, expires_on}. Its presence alone means HALTED — an unreadable or
corrupt file still halts (fail safe) — except a day-scoped lock, which stops halting after its session. The
kill switch's lock has no expiry.

A day-scoped lock (CLOSE_ALL_TODAY) is written after the close of the session that lost too much, so it halts
the *next* session: ``expires_on`` = `halt_session` (the session after the breach's, never one already over).
Days are New York dates (the exchange's), not the machine's: the lock halts until midnight New York time at
the end of ``expires_on``, whatever time zone the host runs in. Writes are atomic (temp file in the same directory, fsync, `os.replace`), so a reader
never sees half a lock. The lock outlives the process; only an explicit `clear()` removes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from meridian_assets.calendar import MARKET_CLOSE, NEW_YORK, is_session, next_session


@dataclass(frozen=True)
class HaltRecord:
    reason: str
    created_at: str  # ISO-8601 UTC
    triggers: dict[str, float] = field(default_factory=dict)
    expires_on: str | None = None  # ISO date (New York): the session a day-scoped halt applies to; None = persistent


def new_york_date(at: dt.date | dt.datetime | None = None) -> dt.date:
    """The New York calendar date of ``at`` (default: now); a naive datetime is taken as UTC, a date as is."""
    if at is None:
        at = dt.datetime.now(dt.timezone.utc)
    if isinstance(at, dt.datetime):
        aware = at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)
        return aware.astimezone(NEW_YORK).date()
    return at


def halt_session(breach_session: dt.date, now: dt.datetime | None = None) -> dt.date:
    """The session a day-scoped halt applies to: the one after the breach's session, or — when that one is
    already over at ``now`` (a breach detected late) — the session in progress or the next one."""
    now = (now or dt.datetime.now(dt.timezone.utc))
    local = (now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)).astimezone(NEW_YORK)
    today = local.date()
    current = today if is_session(today) and local.time() < MARKET_CLOSE else next_session(today)
    return max(next_session(breach_session), current)


class HaltLock:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def write(self, reason: str, triggers: dict[str, float] | None = None,
              expires_on: dt.date | None = None) -> HaltRecord:
        record = HaltRecord(
            reason=reason,
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            triggers={k: float(v) for k, v in (triggers or {}).items()},
            expires_on=expires_on.isoformat() if expires_on else None,
        )
        doc = {"reason": record.reason, "created_at": record.created_at, "triggers": record.triggers}
        if record.expires_on:
            doc["expires_on"] = record.expires_on
        payload = json.dumps(doc, indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return record

    def read(self) -> HaltRecord | None:
        """The lock's record, None when absent. A corrupt file yields a record saying so (still halted)."""
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            return HaltRecord(str(doc["reason"]), str(doc["created_at"]), dict(doc.get("triggers", {})),
                              doc.get("expires_on"))
        except (ValueError, KeyError, TypeError):
            return HaltRecord(f"unreadable halt lock at {self.path}", "", {})

    def is_halted(self, at: dt.date | dt.datetime | None = None) -> bool:
        """True while the lock exists, unless it is day-scoped and the New York date at ``at`` (default: now;
        a date is taken as a New York date) is past its session."""
        if not self.path.exists():
            return False
        record = self.read()
        if record is None:
            return False
        if record.expires_on:
            try:
                return new_york_date(at) <= dt.date.fromisoformat(record.expires_on)
            except ValueError:
                return True
        return True

    def clear(self) -> bool:
        """Remove the lock; True if one was removed. The only way out of a kill-switch halt."""
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return False
