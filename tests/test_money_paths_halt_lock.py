"""The halt lock file on its own: what is written and read back, that a write is atomic and a failed write
leaves the old lock, that anything unreadable still halts, New York dates for a day-scoped lock (whatever the
host's time zone), and which session a day-scoped halt applies to (after the close, late detections,
holidays). 2024-03-29 is Good Friday: the session after Thursday 2024-03-28 is Monday 2024-04-01."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from meridian_assets.calendar import NEW_YORK
from meridian_assets.risk.halt_lock import HaltLock, HaltRecord, halt_session, new_york_date

UTC = dt.timezone.utc


def ny(y, m, d, hh, mm=0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=NEW_YORK)


def test_a_persistent_lock_round_trips_and_never_expires(tmp_path):
    lock = HaltLock(tmp_path / "home" / "state" / "risk_halt.lock")  # missing parents are created
    assert lock.read() is None and not lock.is_halted() and lock.clear() is False
    before = dt.datetime.now(UTC).replace(microsecond=0)
    record = lock.write("KILL_SWITCH on 2024-03-28", {"drawdown": 0.09, "count": 2})
    text = lock.path.read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2)  # pretty-printed: an operator reads it with cat
    assert doc == {"reason": "KILL_SWITCH on 2024-03-28", "created_at": record.created_at,
                   "triggers": {"drawdown": 0.09, "count": 2.0}}  # no expires_on key: persistent
    assert isinstance(doc["triggers"]["count"], float)
    created = dt.datetime.fromisoformat(record.created_at)
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
    assert before <= created <= dt.datetime.now(UTC) + dt.timedelta(seconds=1)
    assert lock.read() == HaltRecord("KILL_SWITCH on 2024-03-28", record.created_at,
                                     {"drawdown": 0.09, "count": 2.0}, None)
    for at in (dt.date(1990, 1, 1), dt.date(2999, 1, 1), None, dt.datetime(2100, 1, 1, tzinfo=UTC)):
        assert lock.is_halted(at)
    assert lock.clear() is True and not lock.path.exists() and not lock.is_halted()


def test_a_day_scoped_lock_halts_through_its_new_york_date_only(tmp_path):
    lock = HaltLock(tmp_path / "risk_halt.lock")
    lock.write("CLOSE_ALL_TODAY on 2024-03-28", expires_on=dt.date(2024, 4, 1))
    assert json.loads(lock.path.read_text())["expires_on"] == "2024-04-01"
    assert lock.read().expires_on == "2024-04-01"
    assert lock.is_halted(dt.date(2024, 3, 29)) and lock.is_halted(dt.date(2024, 4, 1))
    assert not lock.is_halted(dt.date(2024, 4, 2))
    # 03:30 UTC on 2 April is still 1 April in New York (23:30 EDT): halted; 04:30 UTC is 2 April 00:30: free
    assert lock.is_halted(dt.datetime(2024, 4, 2, 3, 30, tzinfo=UTC))
    assert not lock.is_halted(dt.datetime(2024, 4, 2, 4, 30, tzinfo=UTC))
    assert lock.is_halted(dt.datetime(2024, 4, 2, 3, 30))  # naive: taken as UTC
    assert lock.is_halted(ny(2024, 4, 1, 23, 59)) and not lock.is_halted(ny(2024, 4, 2, 0, 0))


def test_an_unreadable_lock_still_halts(tmp_path):
    lock = HaltLock(tmp_path / "risk_halt.lock")
    for text in ("{half a lock", "[]", '{"created_at": "x"}', '{"reason": "r"}', "null"):
        lock.path.write_text(text)
        assert lock.read() == HaltRecord(f"unreadable halt lock at {lock.path}", "", {}, None), text
        assert lock.is_halted(dt.date(2999, 1, 1)), text
    lock.path.write_text(json.dumps({"reason": "r", "created_at": "t", "expires_on": "not a date"}))
    assert lock.is_halted(dt.date(2999, 1, 1))  # an expiry it cannot read never lifts the halt
    lock.path.write_text(json.dumps({"reason": "r", "created_at": "t"}))
    assert lock.read() == HaltRecord("r", "t", {}, None)


def test_a_lock_removed_between_the_check_and_the_read_does_not_halt(tmp_path, monkeypatch):
    lock = HaltLock(tmp_path / "risk_halt.lock")
    lock.write("KILL_SWITCH")
    monkeypatch.setattr(lock, "read", lambda: None)  # cleared by `meridian risk --clear-halt` in between
    assert lock.is_halted() is False


def test_the_new_lock_is_staged_beside_the_old_one(tmp_path, monkeypatch):
    lock = HaltLock(tmp_path / "risk_halt.lock")
    staged = []
    real = os.replace

    def spy(src, dst):
        staged.append((os.fspath(src), os.fspath(dst)))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    lock.write("KILL_SWITCH")
    ((src, dst),) = staged
    name = os.path.basename(src)
    assert os.path.dirname(src) == str(tmp_path) and dst == str(lock.path)  # same directory: an atomic rename
    assert name.startswith(".risk_halt.lock.") and name.endswith(".tmp") and len(name) > len(".risk_halt.lock..tmp")


def test_a_failed_write_leaves_the_previous_lock_and_no_temp_file(tmp_path, monkeypatch):
    lock = HaltLock(tmp_path / "risk_halt.lock")
    lock.write("first")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        lock.write("second")
    monkeypatch.undo()
    assert lock.read().reason == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["risk_halt.lock"]
    lock.write("third")
    assert lock.read().reason == "third" and sorted(p.name for p in tmp_path.iterdir()) == ["risk_halt.lock"]


def test_new_york_date():
    assert new_york_date(dt.date(2024, 3, 28)) == dt.date(2024, 3, 28)
    assert new_york_date(dt.datetime(2024, 3, 29, 2, 0, tzinfo=UTC)) == dt.date(2024, 3, 28)
    assert new_york_date(dt.datetime(2024, 3, 29, 2, 0)) == dt.date(2024, 3, 28)  # naive = UTC
    assert new_york_date(dt.datetime(2024, 3, 29, 5, 0, tzinfo=UTC)) == dt.date(2024, 3, 29)
    assert new_york_date() == dt.datetime.now(NEW_YORK).date() or dt.datetime.now(NEW_YORK).time() < dt.time(0, 1)


@pytest.mark.parametrize(("breach", "now", "expected"), [
    (dt.date(2024, 3, 28), ny(2024, 3, 28, 17), dt.date(2024, 4, 1)),  # after the close: next session (holiday skipped)
    (dt.date(2024, 3, 27), ny(2024, 3, 27, 16, 30), dt.date(2024, 3, 28)),
    (dt.date(2024, 3, 27), ny(2024, 3, 28, 10), dt.date(2024, 3, 28)),  # seen next morning: today's session
    (dt.date(2024, 3, 27), ny(2024, 3, 28, 16, 0), dt.date(2024, 4, 1)),  # seen at the next close: the one after
    (dt.date(2024, 3, 26), ny(2024, 4, 1, 12), dt.date(2024, 4, 1)),  # seen days late: the session in progress
    (dt.date(2024, 3, 28), ny(2024, 3, 30, 12), dt.date(2024, 4, 1)),  # seen on a weekend
    (dt.date(2024, 3, 27), dt.datetime(2024, 3, 28, 19, 0), dt.date(2024, 3, 28)),  # naive = UTC: 15:00 in NY
    (dt.date(2024, 3, 27), dt.datetime(2024, 3, 28, 20, 30, tzinfo=UTC), dt.date(2024, 4, 1)),  # 16:30 in NY
])
def test_the_session_a_day_scoped_halt_applies_to(breach, now, expected):
    assert halt_session(breach, now) == expected


FIXED = dt.datetime(2024, 3, 28, 14, 0, tzinfo=UTC)  # 10:00 on Thursday 28 March in New York, market open
HOST_ZONE = dt.timezone(dt.timedelta(hours=14))


class _IsDatetime(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, dt.datetime)


class _FrozenDatetime(metaclass=_IsDatetime):
    @staticmethod
    def now(tz=None):
        at = FIXED.astimezone(tz or HOST_ZONE)
        return at if tz is not None else at.replace(tzinfo=None)  # naive now() is the host's local time


class _Clock:
    """`dt` for halt_lock: a frozen now on a host whose local zone is UTC+14."""

    datetime = _FrozenDatetime
    date, time, timedelta, timezone = dt.date, dt.time, dt.timedelta, dt.timezone


@pytest.fixture
def tokyo_host(monkeypatch):
    """The process's local time zone set to UTC+9 (naive datetimes read as local would be 9 hours off)."""
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_now_is_taken_in_utc_whatever_the_hosts_zone(monkeypatch, tokyo_host):
    import meridian_assets.risk.halt_lock as module

    monkeypatch.setattr(module, "dt", _Clock)
    # (the host's clock reads 04:00 on the 29th: taken as UTC that would be Good Friday in New York)
    assert new_york_date() == dt.date(2024, 3, 28)
    assert halt_session(dt.date(2024, 3, 27)) == dt.date(2024, 3, 28)  # the session in progress
    lock = HaltLock("/nonexistent/risk_halt.lock")
    # naive = UTC, not the host's local time (12:00 in Tokyo is 23:00 the day before in New York)
    assert new_york_date(dt.datetime(2024, 3, 29, 12, 0)) == dt.date(2024, 3, 29)
    assert halt_session(dt.date(2024, 3, 26), dt.datetime(2024, 3, 28, 21, 0)) == dt.date(2024, 4, 1)
    assert not lock.is_halted()


def test_the_halt_session_defaults_to_now():
    today_ny = dt.datetime.now(NEW_YORK).date()
    assert halt_session(dt.date(2024, 3, 28)) >= today_ny
