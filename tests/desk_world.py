"""A small demo instance for the desk's tests: `meridian demo` on the 40-name market (eight weekly rebalances),
run once per test process, then a published serving snapshot."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]


def desk_env(home: Path) -> dict[str, str]:
    return {**os.environ, "MERIDIAN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
            "MERIDIAN_CONFIG": str(home / "meridian.yaml")}


@lru_cache(maxsize=1)
def demo_home() -> Path:
    """The demo home; $MERIDIAN_DESK_DEMO names one built earlier by this function, reused as it is (tests read
    it, and the browser test works on a copy)."""
    reuse = os.environ.get("MERIDIAN_DESK_DEMO")
    if reuse and (Path(reuse) / "serving").is_dir():
        return Path(reuse)
    home = Path(tempfile.mkdtemp(prefix="desk-demo-"))
    (home / "dagster").mkdir()
    write_config(home)
    env = desk_env(home)
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        env.pop(key, None)
    # a short book (8 weekly rebalances, the meta layer every 4 weeks) on the 40-name market: every page has
    # fills, allocations and a proposal to show, in a fraction of the full demo's year
    done = subprocess.run([str(Path(sys.executable).parent / "meridian"), "demo", "--weeks", "8", "--meta-every", "4"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    publish = ("import dagster as dg; from meridian_assets.definitions import defs; "
               "assert defs.resolve_job_def('serving_snapshot_job').execute_in_process("
               "instance=dg.DagsterInstance.get()).success")
    done = subprocess.run([sys.executable, "-c", publish], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return home
