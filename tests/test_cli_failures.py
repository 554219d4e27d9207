"""A failed step reaches the console as one line (`cli.runner.failures`): a refusal's own text, and for a crash in
a step's code the exception that was raised (not Dagster's "Error occurred while executing op" wrapper) and the
run whose traceback the Dagster UI shows."""

from __future__ import annotations

import dagster as dg

from meridian_assets.cli.runner import failures
from meridian_assets.errors import DataError


@dg.asset
def refuses():
    raise dg.Failure("daily_prices: no bars for AAPL on 2024-03-05", allow_retries=False)


@dg.asset
def domain_error():
    raise DataError("target_book", "weights do not sum to the gross", ticker="AAPL", date="2024-03-05",
                    field="weight", value=0.7)


@dg.asset
def crashes():
    return {}.missing  # an AttributeError in the step's code


def _one_line(asset) -> tuple[str, str]:
    result = dg.materialize([asset], raise_on_error=False)
    (line,) = failures(result)
    return line, result.run_id


def test_a_refusal_prints_its_own_text():
    line, _ = _one_line(refuses)
    assert line == "step refuses failed: daily_prices: no bars for AAPL on 2024-03-05"


@dg.asset
def refuses_with_findings():
    raise dg.Failure("daily_prices: not published:\ndaily_prices 2024-03-28 AROR close=-1.0 (must be > 0)")


def test_a_refusal_keeps_every_line_of_its_findings():
    line, _ = _one_line(refuses_with_findings)
    assert line.endswith("not published:\ndaily_prices 2024-03-28 AROR close=-1.0 (must be > 0)")


def test_a_domain_error_prints_its_message_without_the_wrapper():
    line, _ = _one_line(domain_error)
    assert line == ("step domain_error failed: target_book 2024-03-05 AAPL weight=0.7 "
                    "(weights do not sum to the gross)")


def test_a_crash_names_the_exception_and_the_run_with_its_traceback():
    line, run_id = _one_line(crashes)
    assert "Error occurred while executing" not in line
    assert line.startswith("step crashes failed: AttributeError: 'dict' object has no attribute 'missing'")
    assert run_id[:8] in line and "\n" not in line
