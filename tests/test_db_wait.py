"""A command that reads DuckDB while another process writes it waits, says which process holds the file, and
reads once the writer is done; past the bound it fails with a clear error instead of a lock traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from meridian_assets import dbread

MERIDIAN = str(Path(sys.executable).with_name("meridian"))
HOLD_SECONDS = 4.0

WRITER = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("CREATE TABLE IF NOT EXISTS daily_prices (date DATE, ticker VARCHAR, close DOUBLE)")
conn.execute("INSERT INTO daily_prices VALUES ('2024-03-28', 'AAA', 10.0)")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def _hold(db: Path, seconds: float) -> subprocess.Popen:
    """A process that writes ``db`` and keeps it open for ``seconds``; returns once it holds the file."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


@pytest.mark.timeout(120)
def test_a_reader_waits_for_the_writer_and_then_reads(meridian_home):
    db = meridian_home / "meridian.duckdb"
    writer = _hold(db, HOLD_SECONDS)
    started = time.monotonic()
    try:
        # Before: `meridian summary` (like score's reads around its run) died on "Could not set lock on file".
        out = subprocess.run(["timeout", "-s", "KILL", "90", MERIDIAN, "summary"], capture_output=True, text=True,
                             timeout=100)
    finally:
        writer.wait(timeout=30)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"Waiting to read {db}: PID {writer.pid}" in out.stderr
    assert "daily_prices" in out.stdout and "Could not set lock" not in out.stderr
    assert time.monotonic() - started >= HOLD_SECONDS * 0.9


def test_past_the_bound_the_error_names_the_holder(tmp_path, capsys):
    db = tmp_path / "m.duckdb"
    writer = _hold(db, 20)
    try:
        with pytest.raises(dbread.DatabaseBusyError, match=rf"{db} is still held by PID {writer.pid} after 1 s"):
            with dbread.read_only(db, wait_seconds=1.0):
                pass
        assert f"Waiting to read {db}: PID {writer.pid}" in capsys.readouterr().err
    finally:
        writer.kill()
        writer.wait()
    with dbread.read_only(db, wait_seconds=1.0) as conn:
        assert conn.execute("SELECT count(*) FROM daily_prices").fetchone()[0] == 1


def test_other_io_errors_are_not_waited_for(tmp_path):
    (tmp_path / "not_a_db.duckdb").write_text("this is not a database file")
    started = time.monotonic()
    with pytest.raises(duckdb.Error):
        dbread.connect(tmp_path / "not_a_db.duckdb", wait_seconds=30)
    assert time.monotonic() - started < 10
