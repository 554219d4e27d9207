"""Stress tester: six scenarios, $ and % of NAV, split into long and short book.

P&L of a scenario = Σ_i notional_i × shock_i (notional signed: shorts < 0, so a falling price makes them money),
reported as $ and as % of NAV, for the long book (notional > 0), the short book and the total.

    historical (2008 Crisis, 2020 Covid, 2022 Rate Hikes)
        shock_i = sector_shock[sector_i] × beta_to_sector_i (column optional, default 1 = plain sector shock).
        Sector shocks are real SPDR sector-ETF moves over fixed windows, committed in data/stress_shocks.json
        (regenerate with `python -m meridian_assets.risk.calibrate_stress`); unknown sector ⇒ SPY's move.
    sector_shock       shock (−30%) on every name of the most concentrated sector = largest gross |notional|
                       (ties: alphabetical); other names 0.
    momentum_reversal  top momentum quintile of the held names −shock (−20%), bottom quintile +shock (+20%).
    short_squeeze      every short +shock (+30%); longs 0.

`positions`: polars frame with columns ticker, notional ($, signed), sector, and optionally beta_to_sector,
momentum (needed by momentum_reversal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from meridian_assets.risk.settings import RiskConfig, StressScenario

SHOCKS_PATH = Path(__file__).resolve().parent / "data" / "stress_shocks.json"


@dataclass(frozen=True)
class StressResult:
    scenario: str
    long_pnl: float
    short_pnl: float
    total_pnl: float
    long_pct: float
    short_pct: float
    total_pct: float


@lru_cache(maxsize=4)
def load_shocks(path: Path = SHOCKS_PATH) -> dict:
    return json.loads(Path(path).read_text())


def _result(name: str, notional: np.ndarray, shock: np.ndarray, nav: float) -> StressResult:
    pnl = notional * shock
    long_pnl = float(pnl[notional > 0].sum())
    short_pnl = float(pnl[notional < 0].sum())
    total = long_pnl + short_pnl
    return StressResult(name, long_pnl, short_pnl, total, long_pnl / nav, short_pnl / nav, total / nav)


def scenario_shocks(positions: pl.DataFrame, scenario: StressScenario, shocks: dict | None = None) -> np.ndarray:
    """Per-position return shock for one scenario, aligned with `positions` rows."""
    n = positions.height
    notional = positions["notional"].to_numpy().astype(float)
    if scenario.kind == "historical":
        doc = (shocks or load_shocks())["scenarios"][scenario.name]
        by_sector = doc["sector_shocks"]
        base = np.array([by_sector.get(s, doc["spy"]) for s in positions["sector"]], dtype=float)
        beta = (
            positions["beta_to_sector"].fill_null(1.0).to_numpy().astype(float)
            if "beta_to_sector" in positions.columns
            else np.ones(n)
        )
        return base * beta
    if scenario.kind == "sector_shock":
        gross = positions.group_by("sector").agg(pl.col("notional").abs().sum().alias("g"))
        top = gross.sort(["g", "sector"], descending=[True, False])["sector"][0] if n else None
        return np.where(positions["sector"].to_numpy() == top, scenario.shock, 0.0)
    if scenario.kind == "momentum_reversal":
        mom = positions["momentum"].to_numpy().astype(float)
        # quintiles by rank among the held names: k = n // 5 names in each (none when fewer than 5 names)
        rank = np.argsort(np.argsort(mom, kind="stable"), kind="stable")
        k = n // 5
        shock = np.zeros(n)
        shock[rank >= n - k] = -scenario.shock
        shock[rank < k] = scenario.shock
        return shock
    if scenario.kind == "short_squeeze":
        return np.where(notional < 0, scenario.shock, 0.0)
    raise ValueError(f"stress: unknown scenario kind {scenario.kind!r}")


def run_stress(
    positions: pl.DataFrame, nav: float, cfg: RiskConfig, shocks: dict | None = None
) -> list[StressResult]:
    """Apply every scenario in `cfg.stress_scenarios` to the book."""
    notional = positions["notional"].to_numpy().astype(float)
    return [
        _result(s.name, notional, scenario_shocks(positions, s, shocks), nav) for s in cfg.stress_scenarios
    ]


def stress_frame(results: list[StressResult]) -> pl.DataFrame:
    return pl.DataFrame([r.__dict__ for r in results])
