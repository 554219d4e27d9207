"""Opening the DuckDB file while another process may hold it.

DuckDB locks the file: one process may write it, or any number may read it, never both. A command that reads
while a run writes (or a run that writes while a command reads) waits here for the other to finish, saying
which process holds the file, and gives up with `DatabaseBusyError` after a bound instead of failing at once
or waiting for ever. Every read-only open of the database outside the `DuckDBStore` resource goes through
`read_only`.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from meridian_assets.errors import MeridianError

WAIT_SECONDS = 300.0  # a backfill's write transaction is far shorter; a longer hold is a stuck or dead process
NOTICE_EVERY_SECONDS = 30.0
_PID = re.compile(r"\(PID (\d+)\)")


class DatabaseBusyError(MeridianError):
    """The database stayed locked by another process for longer than the wait bound."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _is_lock_error(err: duckdb.Error) -> bool:
    return "lock" in str(err).lower()


def lock_holder(err: duckdb.Error) -> str:
    """'PID 1234 (meridian data --no-filings)' from DuckDB's lock error, as far as it can be told."""
    m = _PID.search(str(err))
    if not m:
        return "another process"
    pid = m.group(1)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [a.decode(errors="replace") for a in argv if a]
        # "python /venv/bin/meridian data" -> "meridian data"
        while len(words) > 1 and Path(words[0]).name.startswith("python"):
            words = words[1:]
        command = " ".join([Path(words[0]).name, *words[1:]])[:120] if words and words[0][0] != "-" else ""
    except OSError:
        command = ""
    return f"PID {pid} ({command})" if command else f"PID {pid}"


def connect(path: str | Path, read_only: bool = True, wait_seconds: float | None = None,
            say: Callable[[str], None] = _say) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting up to ``wait_seconds`` (default `WAIT_SECONDS`) while another process holds
    the file, with a line through ``say`` when the wait starts and every `NOTICE_EVERY_SECONDS`."""
    bound = WAIT_SECONDS if wait_seconds is None else wait_seconds
    start = time.monotonic()
    last_notice = None
    pause = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as err:
            if not _is_lock_error(err):
                raise
            waited = time.monotonic() - start
            holder = lock_holder(err)
            if waited >= bound:
                raise DatabaseBusyError(
                    f"{path} is still held by {holder} after {waited:.0f} s: try again when it finishes "
                    "(`meridian reset --stale-runs` shows a run that holds the DuckDB pool)") from None
            if last_notice is None or time.monotonic() - last_notice >= NOTICE_EVERY_SECONDS:
                last_notice = time.monotonic()
                verb = "read" if read_only else "write"
                say(f"Waiting to {verb} {path}: {holder} holds it (waited {waited:.0f} s, giving up after "
                    f"{bound:.0f} s).")
            time.sleep(min(pause, max(0.0, bound - waited)))
            pause = min(pause * 2, 1.0)


@contextmanager
def read_only(path: str | Path, wait_seconds: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``path`` (waiting while a writer holds it), closed on exit."""
    conn = connect(path, read_only=True, wait_seconds=wait_seconds)
    try:
        yield conn
    finally:
        conn.close()
