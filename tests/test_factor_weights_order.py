"""A re-weighted composite is the same to the last bit whatever the process's thread count: its sums are
added in one fixed order (a last-bit difference is another rank on a tie, and another backtest)."""

import json
import os
import subprocess
import sys

import numpy as np
import polars as pl

from meridian_assets.factors.weights import ordered_sum

PROBE = """
import hashlib, numpy as np, polars as pl
from meridian_assets.factors.weights import reweighted_expr
rng = np.random.default_rng(3)
cols = {f"{p}_score": rng.uniform(0, 100, 200_000) for p in ("momentum", "value", "quality", "growth",
        "revisions", "short_interest", "insider", "institutional")}
cols["value_score"][::7] = np.nan
f = pl.DataFrame(cols)
w = {"momentum": .4, "value": .1, "quality": .15, "growth": .1, "revisions": .1, "short_interest": .05,
     "insider": .05, "institutional": .05}
print(hashlib.sha256(f.select(reweighted_expr(w)).to_series().to_numpy().tobytes()).hexdigest())
"""


def test_ordered_sum_adds_left_to_right_with_nulls_as_zero():
    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=1000) * 10.0 ** rng.integers(-8, 8, 1000) for _ in range(3))
    f = pl.DataFrame({"a": a, "b": b, "c": c}).with_columns(pl.when(pl.int_range(pl.len()) % 5 == 0)
                                                            .then(None).otherwise(pl.col("b")).alias("b"))
    got = f.select(ordered_sum([pl.col("a"), pl.col("b"), pl.col("c")])).to_series().to_numpy()
    b0 = np.where(np.arange(1000) % 5 == 0, 0.0, b)
    assert np.array_equal(got, (a + b0) + c)


def test_the_reweighted_composite_does_not_depend_on_the_thread_count():
    def run(threads: str) -> str:
        env = {**os.environ, "POLARS_MAX_THREADS": threads}
        return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                              check=True, timeout=120).stdout.strip()

    assert run("1") == run("4")
