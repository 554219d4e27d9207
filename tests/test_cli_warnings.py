"""Warning-level check results reach the console: each check with its count by rule and its first findings,
read from the run's ASSET_CHECK_EVALUATION events (`cli.runner.check_warnings`)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from meridian_assets.cli.runner import check_warnings, report_warnings
from meridian_assets.ingest.checks import check_result
from meridian_assets.ingest.quality import Rule, evaluate

BARS = pl.DataFrame({"date": [dt.date(2024, 3, d) for d in (4, 5, 6, 7)], "ticker": ["AAA", "BBB", "CCC", "DDD"],
                     "volume": [0.0, 0.0, 0.0, 1e6], "ret": [0.01, 0.02, 0.9, 0.0]})


@dg.asset
def bars():
    return None


@dg.asset_check(asset=bars, blocking=False, name="suspicious")
def suspicious():
    found = evaluate("daily_prices", BARS, [
        Rule("zero_volume", pl.col("volume") == 0, "zero volume on a stock", field="volume"),
        Rule("large_move", pl.col("ret").abs() > 0.5, "move > 50%", field="ret"),
    ])
    return check_result(found, BARS.height, warn=True)


@dg.asset_check(asset=bars, blocking=False, name="clean")
def clean():
    return check_result(evaluate("daily_prices", BARS, [Rule("never", pl.lit(False), "x", field="volume")]),
                        BARS.height, warn=True)


def test_warning_checks_are_summarised_with_counts_and_first_examples(capsys):
    result = dg.materialize([bars, suspicious, clean], raise_on_error=False)
    lines = check_warnings(result, examples=2)
    assert lines[0] == "bars:suspicious: 4 findings (zero_volume 3, large_move 1)"
    assert len(lines) == 3 and all(ln.startswith("    daily_prices 2024-03-0") for ln in lines[1:])
    assert "AAA" in lines[1] and "zero volume" in lines[1]
    assert report_warnings(result, "Data load")
    out = capsys.readouterr().out
    assert "Data load: warning checks" in out and "- bars:suspicious: 4 findings" in out and "clean" not in out
