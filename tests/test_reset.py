"""The four reset tiers remove exactly what the specification says and keep the rest."""

import duckdb
import pytest

from meridian_assets.cli import main
from meridian_assets.config import MeridianConfig
from meridian_assets.reset import execute, reset_plan


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    cfg = MeridianConfig()
    conn = duckdb.connect(str(cfg.database_path()))
    conn.execute("CREATE TABLE daily_prices (x INT)")
    conn.execute("CREATE TABLE portfolio_positions (x INT)")
    conn.execute("CREATE TABLE execution_fills (x INT)")
    conn.close()
    out = cfg.output_dir()
    (out / "letters").mkdir(parents=True)
    (out / "letters" / "letter_2026-01-02.md").write_text("x")
    (out / "reports_20260102").mkdir()
    (out / "daily_attribution.csv").write_text("x")
    (out / "scored_universe_latest.csv").write_text("x")
    (out / "run.log").write_text("log")
    (tmp_path / "edgar").mkdir()
    cfg.halt_lock_path().write_text("halted")
    (tmp_path / "risk_state.json").write_text("{}")
    (tmp_path / "execution" / "journal").mkdir(parents=True)
    (tmp_path / "execution" / "journal" / "run-1.jsonl").write_text('{"event": "intent"}\n')
    return cfg


def _names(actions):
    return {a.target.rsplit("/", 1)[-1] for a in actions}


def test_halt_removes_only_the_lock(home):
    actions = reset_plan("halt", home)
    assert _names(actions) == {"risk_halt.lock"}
    execute(actions, home)
    assert not home.halt_lock_path().exists() and home.database_path().exists()


def test_state_drops_state_tables_and_keeps_market_data(home):
    actions = reset_plan("state", home)
    assert {"portfolio_positions", "execution_fills", "risk_state.json", "risk_halt.lock", "letters",
            "reports_20260102", "daily_attribution.csv", "execution"} == _names(actions)
    execute(actions, home)
    conn = duckdb.connect(str(home.database_path()))
    tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    conn.close()
    assert tables == {"daily_prices"}
    assert (home.output_dir() / "scored_universe_latest.csv").exists()
    assert not (home.home() / "execution").exists()  # no dead run's journal replays into the fresh state


def test_db_keeps_caches_and_run_log(home):
    execute(reset_plan("db", home), home)
    assert not home.database_path().exists()
    assert (home.output_dir() / "run.log").exists()
    assert not (home.output_dir() / "scored_universe_latest.csv").exists()
    assert (home.home() / "edgar").exists()


def test_all_removes_home(home):
    execute(reset_plan("all", home), home)
    assert not home.home().exists()


def test_cli_dry_run_changes_nothing(home, capsys):
    assert main(["reset", "--db", "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert home.database_path().exists()


def test_cli_destructive_needs_confirmation(home, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    assert main(["reset", "--state"]) == 1
    assert home.halt_lock_path().exists()
    assert main(["reset", "--state", "--yes"]) == 0
    assert not home.halt_lock_path().exists()


def test_cli_halt_needs_no_confirmation(home):
    assert main(["reset", "--halt"]) == 0
    assert not home.halt_lock_path().exists()
