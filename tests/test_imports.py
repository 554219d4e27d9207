"""Start-up cost: loading the code location and parsing a command's arguments import no heavy SDK.

Every `meridian` command, every run worker and the UI's code server import `meridian_assets.definitions`
before doing any work, so an SDK imported at module level is paid by all of them. Each check runs in a fresh
interpreter, since this test process has long since imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Imported where they are used: the optimizer (cvxpy), the PDF (weasyprint), the LLM clients, the broker,
# SEC filings, the charts, the statistics and the trading calendar (with pandas under it).
HEAVY = ("cvxpy", "weasyprint", "anthropic", "openai", "alpaca", "edgar", "matplotlib", "scipy", "pandas",
         "exchange_calendars")


def _imported_after(code: str, watch: tuple[str, ...]) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    return sorted(loaded & set(watch))


def test_loading_the_code_location_imports_no_heavy_sdk():
    assert _imported_after("import meridian_assets.definitions as d; d.defs.resolve_all_job_defs()", HEAVY) == []


def test_job_selections_are_built_from_keys_not_parsed_strings():
    """A job's selection given as strings is parsed by Dagster's selection grammar (ANTLR) when the module
    loads, ~0.1 s that every command and run worker would pay; selections are `AssetSelection` objects."""
    assert _imported_after("import meridian_assets.definitions as d; d.defs.resolve_all_job_defs()",
                           ("antlr4",)) == []


# Every subcommand's parser is built for any `--help`: one top-level and one subcommand cover them all.
@pytest.mark.parametrize("argv", [["--help"], ["execute", "--help"]])
def test_help_imports_neither_dagster_nor_the_data_libraries(argv):
    code = ("from meridian_assets.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass")
    assert _imported_after(code, (*HEAVY, "dagster", "polars", "duckdb")) == []
