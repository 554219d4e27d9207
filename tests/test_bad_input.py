"""Bad input through the `meridian` command as a user runs it: a broken data file, a bad `meridian.yaml`, a
limit out of bounds, a value that does not parse, a stock without a sector, a missing column. Each is one
clear line naming where and what, exit code 2, never a traceback, and nothing already loaded is overwritten."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from meridian_assets import calendar
from meridian_assets.cli import main
from meridian_assets.ingest import quality
from tests.conftest import query, table_names

START, END = dt.date(2024, 3, 4), dt.date(2024, 3, 8)
WINDOW = ["--start", START.isoformat(), "--end", END.isoformat(), "--no-filings"]
STOCKS = {"AAPL": "Information Technology", "MSFT": "Information Technology", "XOM": "Energy"}
MERIDIAN = Path(sys.executable).parent / "meridian"


# --------------------------------------------------------------------------------------------- helpers
def bars(tickers, start=START, end=END) -> pl.DataFrame:
    """Clean daily bars (open = low, close = high) for ``tickers`` on every session of the window."""
    rows = []
    for k, t in enumerate(tickers):
        for i, d in enumerate(calendar.sessions(start, end)):
            px = 100.0 + 10 * k + i
            rows.append({"date": d, "ticker": t, "open": px, "high": px + 1, "low": px, "close": px + 1,
                         "adj_close": px + 1, "volume": 1_000_000.0 + i})
    return pl.DataFrame(rows)


def files_home(tmp_path: Path, monkeypatch, *, sectors: dict[str, str] = STOCKS) -> tuple[Path, Path]:
    """A Meridian home whose universe and prices come from a folder of files (every other kind of data
    too, and that folder has none of them, so those tables are skipped). Returns (data folder, config)."""
    home, root = tmp_path / "home", tmp_path / "data"
    (home / "dagster").mkdir(parents=True)
    (root / "constituents" / "history").mkdir(parents=True)
    monkeypatch.setenv("MERIDIAN_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    snapshot = "Symbol,Security,GICS Sector\n" + "".join(f"{t},{t} Inc.,{s}\n" for t, s in sectors.items())
    (root / "constituents" / "history" / "2023-01-03.csv").write_text(snapshot)
    bars(["SPY"]).drop("adj_close").write_parquet(root / "etf.parquet")
    bars(list(sectors)).write_parquet(root / "prices.parquet")
    kinds = ("universe", "prices", "fundamentals", "filings", "estimates", "transcripts", "macro")
    cfg = home / "meridian.yaml"
    cfg.write_text(yaml.safe_dump({
        "history": {"years": 1, "end_date": END.isoformat()},
        "providers": {k: "files" for k in kinds},
        "files": {"root": str(root), "prices": "prices.parquet", "benchmarks": "etf.parquet"},
        "benchmarks": ["SPY"],
    }))
    monkeypatch.setenv("MERIDIAN_CONFIG", str(cfg))
    return root, cfg


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------- data files
@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_broken_parquet_file_is_named_with_its_problem(tmp_path, monkeypatch, capsys, damage):
    root, _ = files_home(tmp_path, monkeypatch)
    path = root / "prices.parquet"
    whole = path.read_bytes()
    path.write_bytes(b"" if damage == "empty" else whole[: len(whole) // 2])

    rc = main(["data", *WINDOW])

    err = capsys.readouterr().err
    assert rc == 2, err
    problem = "empty file (0 bytes)" if damage == "empty" else "not a readable Parquet file, truncated or corrupt"
    [line] = [x for x in error_lines(err) if str(path) in x]
    assert f"{path}: {problem}" in line and "daily_prices" in line
    assert "Traceback" not in err and "Error occurred while executing op" not in err


def test_a_value_that_does_not_parse_is_refused_and_the_loaded_value_stays(tmp_path, monkeypatch, capsys):
    root, cfg = files_home(tmp_path, monkeypatch)
    csv = root / "prices.csv"
    bars(list(STOCKS)).write_csv(csv)
    cfg.write_text(cfg.read_text().replace("prices: prices.parquet", "prices: prices.csv"))
    assert main(["data", *WINDOW]) == 0, capsys.readouterr().err
    db = tmp_path / "home" / "meridian.duckdb"
    sql = "SELECT volume FROM daily_prices WHERE ticker = 'AAPL' AND date = DATE '2024-03-05'"
    good = query(db, sql)["volume"].to_list()
    assert good == [1_000_001.0]

    text = csv.read_text().splitlines()
    row = next(i for i, line in enumerate(text) if line.startswith("2024-03-05,AAPL,"))
    text[row] = text[row].rsplit(",", 1)[0] + ",n/a"  # volume is the last column
    csv.write_text("\n".join(text) + "\n")
    capsys.readouterr()
    rc = main(["data", *WINDOW])

    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"{csv}: 1 value(s) do not parse: daily_prices 2024-03-05 AAPL volume='n/a' (not a number)" in err
    assert query(db, sql)["volume"].to_list() == good  # not replaced by a null
    assert "Traceback" not in err


def test_a_price_column_of_strings_in_parquet_is_refused(tmp_path, monkeypatch, capsys):
    root, _ = files_home(tmp_path, monkeypatch)
    frame = bars(list(STOCKS)).with_columns(pl.col("close").cast(pl.Utf8))
    frame = frame.with_columns(
        pl.when((pl.col("ticker") == "XOM") & (pl.col("date") == dt.date(2024, 3, 7)))
        .then(pl.lit("12O.5")).otherwise(pl.col("close")).alias("close"))
    frame.write_parquet(root / "prices.parquet")

    rc = main(["data", *WINDOW])

    err = capsys.readouterr().err
    assert rc == 2, err
    assert "daily_prices 2024-03-07 XOM close='12O.5' (not a number)" in err


def test_a_missing_column_is_reported_once(tmp_path, monkeypatch, capsys):
    root, _ = files_home(tmp_path, monkeypatch)
    bars(list(STOCKS)).drop("open").write_parquet(root / "prices.parquet")

    rc = main(["data", *WINDOW])

    err = capsys.readouterr().err
    assert rc == 2, err
    mentions = [line for line in error_lines(err) if "open" in line]
    assert len(mentions) == 1, err
    assert "missing required column(s) open for daily_prices" in mentions[0]


def test_a_column_null_in_every_row_is_one_violation():
    frame = bars(["AAPL", "MSFT", "XOM"]).with_columns(pl.lit(None, dtype=pl.Float64).alias("open"))
    found = quality.violations_for("daily_prices", frame, blocking=True)
    assert found.counts == {"missing_column": 1}
    assert [v.message for v in found] == ["daily_prices open (column missing: null in all 15 rows)"]
    # one bad row among good ones is still a row violation, with its ticker and date
    one = bars(["AAPL", "MSFT"]).with_columns(
        pl.when(pl.col("ticker") == "MSFT").then(None).otherwise(pl.col("open")).alias("open"))
    assert quality.violations_for("daily_prices", one, blocking=True).counts == {"positive_price": 5}


def test_a_stock_without_a_sector_fails_universe_valid(tmp_path, monkeypatch, capsys):
    files_home(tmp_path, monkeypatch, sectors={**STOCKS, "ZZZQ": ""})  # in no list with a sector

    rc = main(["data", *WINDOW])

    err = capsys.readouterr().err
    assert rc == 2, err
    assert "universe" in err and "ZZZQ" in err and "sector='Unknown'" in err
    db = tmp_path / "home" / "meridian.duckdb"
    assert "daily_prices" not in table_names(db)  # nothing downstream ran on it


# --------------------------------------------------------------------------------------------- configuration
BAD_CONFIGS = {
    "negative max_position_pct": ("risk:\n  max_position_pct: -0.05\n",
                                  "risk.max_position_pct: Input should be greater than 0 (got -0.05)"),
    "negative turnover_budget": ("portfolio: {turnover_budget: -0.3}\n",
                                 "portfolio.turnover_budget: Input should be greater than or equal to 0 (got -0.3)"),
    "negative max_gap_sessions": ("quality: {max_gap_sessions: -1}\n",
                                  "quality.max_gap_sessions: Input should be greater than or equal to 0 (got -1)"),
    "fraction above one": ("risk: {vix_reduce_fraction: 1.5}\n",
                           "risk.vix_reduce_fraction: Input should be less than or equal to 1 (got 1.5)"),
    "unknown key": ("risk: {max_postion_pct: 0.05}\n",
                    "risk.max_postion_pct: unknown key (did you mean max_position_pct?)"),
    "a limit under its old block": ("portfolio: {max_beta: 0.1}\n",
                                    "portfolio.max_beta: unknown key (moved to risk.max_beta)"),
    "the old top-level retries": ("retries: {max_attempts: 3}\n", "retries: unknown key (moved to execution.retries)"),
    "a venue cost key": ("execution: {simulated: {spread_fraction_of_range: 0.05}}\n",
                         "execution.simulated.spread_fraction_of_range: unknown key "
                         "(moved to portfolio.spread_fraction_of_range)"),
    "wrong type": ("portfolio: {num_longs: twenty}\n",
                   "portfolio.num_longs: Input should be a valid integer, unable to parse string as an integer "
                   "(got 'twenty')"),
    "min above max": ("portfolio: {min_position_pct: 0.2}\n",
                      "portfolio.min_position_pct=0.2 must not exceed risk.max_position_pct=0.05"),
    "not a number": ("risk: {drawdown_kill: .nan}\n", "risk.drawdown_kill: Input should be a finite number"),
    "unparsable YAML": ("portfolio: [1, 2\n", ":2:1: not valid YAML: while parsing a flow sequence, expected"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_bad_config_is_one_line_naming_file_key_and_problem(tmp_path, monkeypatch, capsys, case):
    text, expected = BAD_CONFIGS[case]
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)

    rc = main(["--config", str(bad), "summary"])

    [line] = error_lines(capsys.readouterr().err)
    assert rc == 2
    assert line.startswith(f"error: {bad}") and expected in line, line


def test_a_missing_or_unreadable_config_file_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    assert main(["--config", str(tmp_path / "nope.yaml"), "summary"]) == 2
    assert error_lines(capsys.readouterr().err) == [
        f"error: {tmp_path / 'nope.yaml'}: configuration file not found (given by --config or MERIDIAN_CONFIG)"]
    (tmp_path / "dir.yaml").mkdir()
    assert main(["--config", str(tmp_path / "dir.yaml"), "summary"]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {tmp_path / 'dir.yaml'}: cannot be read")


def _env(tmp_path: Path, config: Path) -> dict[str, str]:
    return {**os.environ, "MERIDIAN_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster"),
            "MERIDIAN_CONFIG": str(config)}


def test_a_bad_config_read_while_the_command_starts_is_one_line(tmp_path):
    """MERIDIAN_CONFIG is read while the subcommands are imported: still one line and exit 2."""
    bad = tmp_path / "meridian.yaml"
    bad.write_text("portfolio:\n  turnover_budget: -0.3\n  num_longs: twenty\n")
    proc = subprocess.run([MERIDIAN, "summary"], capture_output=True, text=True, env=_env(tmp_path, bad),
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert error_lines(proc.stderr) == [
        f"error: {bad}: portfolio.num_longs: Input should be a valid integer, unable to parse string as an integer "
        "(got 'twenty'); portfolio.turnover_budget: Input should be greater than or equal to 0 (got -0.3)"]


def test_loading_the_code_location_with_a_bad_config_fails_with_the_same_line(tmp_path):
    bad = tmp_path / "meridian.yaml"
    bad.write_text("risk: {max_position_pct: -0.05}\n")
    (tmp_path / "dagster").mkdir()
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run([dagster, "definitions", "validate", "-m", "meridian_assets.definitions"],
                          capture_output=True, text=True, env=_env(tmp_path, bad), timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert (f"ConfigError: {bad}: risk.max_position_pct: Input should be greater than 0 (got -0.05)\n"
            in out), out
    assert "validation error for" not in out and "errors.pydantic.dev" not in out  # no pydantic dump


# --------------------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("value", ["-5", "0", "five"])
def test_limit_must_be_a_positive_whole_number(tmp_path, monkeypatch, capsys, value):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        main(["data", "--limit", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --limit:" in err and "Traceback" not in err
    assert ("must be 1 or more" if value != "five" else "not a whole number") in err


def test_a_negative_limit_in_a_run_config_is_refused_before_anything_loads(tmp_path):
    """The UI launchpad takes the same bounds as the CLI: `limit: -5` fails the step, naming the field."""
    import dagster as dg

    from meridian_assets.definitions import build_resources
    from meridian_assets.ingest.assets import universe

    res = build_resources(None, str(tmp_path / "meridian.duckdb"))
    result = dg.materialize([universe], resources=res, raise_on_error=False, instance=dg.DagsterInstance.ephemeral(),
                            run_config={"ops": {"universe": {"config": {"limit": -5}}}})
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failure.event_specific_data.error.cause or failure.event_specific_data.error)
    assert "limit" in text and "greater than 0" in text
    assert not (tmp_path / "meridian.duckdb").exists() or "universe" not in table_names(tmp_path / "meridian.duckdb")
