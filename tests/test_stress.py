"""Stress scenarios: hand example, committed real-data shocks, and their reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.risk import calibrate_stress
from meridian_assets.risk.stress import SHOCKS_PATH, load_shocks, run_stress

REALDATA_ETF = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "prices" / "etf_index_daily.parquet"
NAV = 1_000_000.0
CFG = RiskConfig()
SHOCKS = {
    "scenarios": {
        name: {"spy": -0.5, "sector_shocks": {"Energy": -0.4, "Utilities": -0.1}}
        for name in ("2008 Crisis", "2020 Covid", "2022 Rate Hikes")
    }
}
BOOK = pl.DataFrame(
    {
        "ticker": ["A", "B", "C", "D", "E"],
        "notional": [100_000.0, 50_000.0, -80_000.0, -20_000.0, 30_000.0],
        "sector": ["Energy", "Energy", "Utilities", "Energy", "Other"],
        "beta_to_sector": [1.0, 2.0, 1.0, 1.0, None],
        "momentum": [5.0, 1.0, 0.0, -1.0, -5.0],
    }
)


def by_name(results):
    return {r.scenario: r for r in results}


def test_stress_hand_example():
    res = by_name(run_stress(BOOK, NAV, CFG, shocks=SHOCKS))
    assert len(res) == 6
    h = res["2008 Crisis"]  # Σ notional × sector shock × beta; "Other" falls back to SPY's -50%
    assert h.long_pnl == pytest.approx(100_000 * -0.4 + 50_000 * -0.8 + 30_000 * -0.5)
    assert h.short_pnl == pytest.approx(-80_000 * -0.1 + -20_000 * -0.4)
    assert h.total_pct == pytest.approx((h.long_pnl + h.short_pnl) / NAV)
    s = res["Sector Shock"]  # Energy has the largest gross (170k): -30% on A, B, D
    assert (s.long_pnl, s.short_pnl) == pytest.approx((-45_000.0, 6_000.0))
    m = res["Momentum Reversal"]  # 5 names: top quintile A -20%, bottom quintile E +20%
    assert (m.long_pnl, m.short_pnl) == pytest.approx((-20_000.0 + 6_000.0, 0.0))
    q = res["Short Squeeze"]
    assert (q.long_pnl, q.short_pnl, q.total_pct) == pytest.approx((0.0, -30_000.0, -0.03))


def test_committed_shocks_are_real_episode_moves():
    doc = json.loads(SHOCKS_PATH.read_text())
    assert set(doc["scenarios"]) == {"2008 Crisis", "2020 Covid", "2022 Rate Hikes"}
    spy = {k: v["spy"] for k, v in doc["scenarios"].items()}
    assert spy["2008 Crisis"] < -0.40 and spy["2020 Covid"] < -0.30 and spy["2022 Rate Hikes"] < -0.20
    assert doc["scenarios"]["2008 Crisis"]["fallback_to_spy"] == ["Communication Services", "Real Estate"]
    assert doc["scenarios"]["2022 Rate Hikes"]["sector_shocks"]["Energy"] > 0  # energy rallied in 2022
    assert all(len(v["sector_shocks"]) == 11 and "window" in v for v in doc["scenarios"].values())
    assert "etf_index_daily" in doc["source"]
    hist = by_name(run_stress(BOOK, NAV, CFG, shocks=load_shocks()))["2020 Covid"]
    assert hist.long_pnl < 0 < hist.short_pnl


@pytest.mark.skipif(not REALDATA_ETF.exists(), reason=f"real ETF prices not present at {REALDATA_ETF}")
def test_calibration_script_reproduces_committed_json(tmp_path):
    out = calibrate_stress.main(["--source", str(REALDATA_ETF), "--out", str(tmp_path / "shocks.json")])
    assert json.loads(out.read_text()) == json.loads(SHOCKS_PATH.read_text())
