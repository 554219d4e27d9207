"""The `meridian` command as a user calls it: runs land on the project's Dagster instance."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg

from meridian_assets.cli import main
from meridian_assets.cli.data import select_assets
from tests.conftest import query


def test_entry_point_is_installed():
    exe = Path(sys.executable).parent / "meridian"
    assert exe.exists(), "the meridian entry point is not installed next to the interpreter"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("data", "demo", "summary", "reset"):
        assert cmd in out


def test_data_loads_a_range_and_prints_the_summary(meridian_home, capsys):
    rc = main(["data", "--start", "2024-03-04", "--end", "2024-03-08", "--limit", "5"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "=== Meridian data refresh complete ===" in out
    assert "Window:              2024-03-04..2024-03-08" in out
    db = meridian_home / "meridian.duckdb"
    # --limit 5: five stocks plus the 13 benchmarks
    assert query(db, "SELECT count(DISTINCT ticker) n FROM daily_prices")["n"][0] == 5 + 13
    # The run is on the project instance, visible in the UI.
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].tags["dagster/asset_partition_range_start"] == "2024-03-04"
    assert runs[0].status == dg.DagsterRunStatus.SUCCESS


def test_data_is_incremental_after_a_first_load(meridian_home, capsys):
    assert main(["data", "--start", "2024-03-18", "--end", "2024-03-20", "--no-filings", "--limit", "3"]) == 0
    capsys.readouterr()
    assert main(["data", "--no-filings", "--limit", "3"]) == 0  # history.end_date in the test config: 2024-03-28
    out = capsys.readouterr().out
    assert "Window:              2024-03-21..2024-03-28" in out
    days = query(meridian_home / "meridian.duckdb", "SELECT max(date) d FROM daily_prices")["d"][0]
    assert days == dt.date(2024, 3, 28)


def test_flags_select_assets():
    everything = set(select_assets(False, False, None))
    assert "sec_filings" not in select_assets(True, False, None)
    assert "daily_prices" in select_assets(True, False, None)
    assert set(select_assets(False, True, None)) == everything - {"institutional_holdings", "institutional_summary"}
    assert "insider_transactions" not in select_assets(False, False, ["10-K"])
    assert "insider_transactions" in select_assets(False, False, ["10-K", "4"])


def test_bad_arguments_are_clear(meridian_home, capsys):
    assert main(["data", "--start", "2024-03-20", "--end", "2024-03-01"]) == 2
    assert "after --end" in capsys.readouterr().err


def test_summary_without_a_database(meridian_home, capsys):
    assert main(["summary"]) == 0
    assert "No database yet" in capsys.readouterr().out


def _use_alpaca_prices(home, fallback: bool):
    import yaml

    path = home / "meridian.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["providers"] = {"prices": "alpaca", "on_unavailable": "fallback_synthetic" if fallback else "fail"}
    path.write_text(yaml.safe_dump(raw))


def test_missing_key_is_a_clear_message_not_a_stack_trace(meridian_home, capsys, monkeypatch):
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_SECRET_KEY", raising=False)
    _use_alpaca_prices(meridian_home, fallback=False)
    rc = main(["data", "--start", "2024-03-04", "--end", "2024-03-05", "--no-filings", "--limit", "2"])
    captured = capsys.readouterr()
    assert rc == 2  # a missing key is bad configuration
    assert "ALPACA_API_KEY" in captured.err
    assert "Traceback" not in captured.err


def test_missing_key_falls_back_when_configured(meridian_home, capsys, monkeypatch):
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_SECRET_KEY", raising=False)
    _use_alpaca_prices(meridian_home, fallback=True)
    assert main(["data", "--start", "2024-03-04", "--end", "2024-03-05", "--no-filings", "--limit", "2"]) == 0
    assert query(meridian_home / "meridian.duckdb", "SELECT count(*) n FROM daily_prices")["n"][0] > 0
