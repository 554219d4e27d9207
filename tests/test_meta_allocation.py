"""The maths of the meta layer: risk parity with a CVaR penalty, the sleeve decisions, the information measures,
the diagnostics and the proposal rules and evidence (no Dagster, no database)."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.config import MeridianConfig
from meridian_assets.meta import diagnostics as dx
from meridian_assets.meta import information, proposals
from meridian_assets.meta import config_store as store
from meridian_assets.meta.allocation import allocate, combined_book, risk_contributions
from meridian_assets.meta.decisions import SleeveRecord, decide
from meridian_assets.meta.settings import MetaConfig
from meridian_assets.meta.sleeves import AllocationPolicy, Sleeve, builtin_sleeves

DATES = [dt.date(2023, 1, 2) + dt.timedelta(days=i) for i in range(400)]
KW = dict(lookback=300, confidence=0.95, min_weight=0.0, max_weight=1.0, promote_tilt=0.25)


def frames(R: np.ndarray, names=None) -> dict[str, pl.DataFrame]:
    names = names or [f"s{j}" for j in range(R.shape[1])]
    return {n: pl.DataFrame({"date": DATES[:len(R)], "ret": R[:, j]}) for j, n in enumerate(names)}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 5))
def test_risk_parity_without_penalty_equalises_risk_contributions(seed, n):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n)) * 0.3 + np.eye(n)
    R = rng.normal(size=(250, n)) @ A.T * rng.uniform(0.002, 0.02, n)
    a = allocate(frames(R), {}, AllocationPolicy(), kappa=0.0, **KW)
    w = np.array([a.weights[f"s{j}"] for j in range(n)])
    assert a.method == "risk_parity_cvar" and w.sum() == pytest.approx(1.0, abs=1e-9) and (w > 0).all()
    rc, _ = risk_contributions(R, w, 0.95)
    np.testing.assert_allclose(rc, 1.0 / n, atol=2e-4)


def test_the_cvar_penalty_moves_capital_away_from_the_fat_tailed_sleeve():
    rng = np.random.default_rng(0)
    R = rng.normal(0, 1, (300, 3)) * [0.006, 0.008, 0.006]
    R[:, 2] += np.where(rng.random(300) < 0.04, -0.05, 0.0)
    w0 = allocate(frames(R), {}, AllocationPolicy(), kappa=0.0, **KW).weights["s2"]
    w1 = allocate(frames(R), {}, AllocationPolicy(), kappa=1.0, **KW).weights["s2"]
    assert w1 < w0 - 0.02


def test_decisions_and_policy_shape_the_allocation():
    rng = np.random.default_rng(1)
    R = rng.normal(0, 0.01, (200, 4))
    f = frames(R)
    a = allocate(f, {"s0": "KILL", "s1": "PROMOTE"}, AllocationPolicy(excluded=("s3",), max_weights={"s2": 0.2}),
                 kappa=0.5, **{**KW, "min_weight": 0.05})
    assert a.weights["s0"] == 0 and a.weights["s3"] == 0 and a.weights["s2"] <= 0.2 + 1e-6
    assert a.weights["s1"] > a.weights["s2"] and sum(a.weights.values()) == pytest.approx(1.0)
    assert a.inputs["excluded"] == ["s0", "s3"]
    short = allocate({k: v.head(10) for k, v in f.items()}, {}, AllocationPolicy(), kappa=0.5, **KW)
    assert short.method.startswith("equal_weight") and short.weights["s0"] == pytest.approx(0.25)
    book = combined_book({"s1": pl.DataFrame({"ticker": ["A", "B"], "sector": ["X", "Y"], "weight": [0.1, -0.1]}),
                          "s2": pl.DataFrame({"ticker": ["A"], "sector": ["X"], "weight": [0.2]})},
                         {"s1": 0.5, "s2": 0.5})
    assert dict(zip(book["ticker"], book["weight"])) == pytest.approx({"A": 0.15, "B": -0.05})


def _record(name, r, version=1):
    return SleeveRecord(name, version, pl.DataFrame({"date": DATES[:len(r)], "ret": r}))


def test_decisions_promote_keep_kill_retire_with_evidence():
    rng = np.random.default_rng(3)
    cfg = MetaConfig(live_sessions=60, min_live_sessions=20)
    good = rng.normal(0.002, 0.004, 250)                                    # steady: PROMOTE
    broke = np.r_[rng.normal(0.002, 0.004, 190), rng.normal(-0.004, 0.004, 60)]  # stopped working: KILL
    crash = np.r_[rng.normal(0.001, 0.004, 230), np.full(20, -0.006)]      # deep live drawdown: KILL
    weak = rng.normal(-0.001, 0.004, 250)                                   # earns nothing: RETIRE
    twin = good + rng.normal(0, 0.0004, 250) - 0.0004                       # a worse copy of good: RETIRE
    meh = rng.normal(0.0003, 0.008, 250)                                    # KEEP
    regimes = pl.DataFrame({"date": DATES[:250], "vix_regime": ["NORMAL"] * 250})
    recs = [_record(n, r) for n, r in (("good", good), ("broke", broke), ("crash", crash), ("weak", weak),
                                       ("twin", twin), ("meh", meh))]
    d = decide(recs, regimes, cfg, DATES[249])
    got = dict(zip(d["sleeve"], d["decision"]))
    assert got == {"good": "PROMOTE", "broke": "KILL", "crash": "KILL", "weak": "RETIRE", "twin": "RETIRE",
                   "meh": "KEEP"}
    row = d.filter(pl.col("sleeve") == "crash").row(0, named=True)
    assert row["live_drawdown"] < -0.08 and "drawdown" in row["reason"] and row["data_sufficient"]
    assert '"closest_better_sleeve": "good"' in d.filter(pl.col("sleeve") == "twin")["evidence_json"][0]
    young = decide([_record("young", good[:30])], regimes, cfg, DATES[29])
    assert (young["decision"][0], young["data_sufficient"][0], young["confidence"][0]) == ("KEEP", False, 0.0)


def test_a_bad_current_regime_blocks_a_promotion():
    rng = np.random.default_rng(4)
    r = rng.normal(0.002, 0.004, 250)
    calm = ["LOW" if i % 5 else "HIGH" for i in range(250)]
    high = [i for i, v in enumerate(calm) if v == "HIGH"]
    r[high] = rng.normal(-0.004, 0.001, len(high))  # loses every HIGH-VIX session, earns overall
    regimes = pl.DataFrame({"date": DATES[:250], "vix_regime": calm[:-1] + ["HIGH"]})
    d = decide([_record("x", r)], regimes, MetaConfig(live_sessions=60, min_live_sessions=20,
                                                      promote_sharpe=0.5), DATES[249])
    assert d["decision"][0] == "KEEP" and "HIGH regime blocks a promotion" in d["reason"][0]


def test_entropy_and_mutual_information():
    rng = np.random.default_rng(5)
    edges = information.grid(rng.normal(0, 1, 5000), 10)
    h, hn = information.entropy(np.zeros(100), edges)
    assert h == 0 and hn == 0
    _, spread = information.entropy(rng.uniform(-2, 2, 10_000), edges)
    assert 0.8 < spread <= 1.0
    runs = []
    for j, knob in enumerate([0.5, 1.0, 2.0, 4.0, 0.5, 1.0, 2.0, 4.0]):
        daily = pl.DataFrame({"date": DATES[:240], "ret": rng.normal(0.001 * np.log(knob), 0.001, 240)})
        runs.append((f"r{j}", {"risk_aversion": knob, "noise": float(rng.random()), "fixed": 1.0}, daily))
    mi = information.knob_information(runs, 3, 200, DATES[-1])
    by = {r["subject"]: r for r in mi.iter_rows(named=True)}
    assert by["risk_aversion"]["p_value"] < 0.05 and by["risk_aversion"]["value"] > by["noise"]["value"]
    assert by["noise"]["p_value"] > 0.05 and by["fixed"]["value"] is None


def test_diagnostics_by_regime_bucket_and_risk_events():
    r = pl.DataFrame({"date": DATES[:6], "ret": [0.01, -0.02, 0.0, 0.01, -0.01, 0.02]})
    regimes = pl.DataFrame({"date": DATES[:6], "vix_regime": ["LOW"] * 3 + ["HIGH"] * 3,
                            "market_regime": ["calm"] * 6})
    perf = dx.performance({"a": r}, regimes, DATES[5])
    low = perf.filter((pl.col("dimension") == "vix_regime") & (pl.col("bucket") == "LOW")).row(0, named=True)
    assert low["observations"] == 3 and low["mean_bps"] == pytest.approx(-100 / 3)
    trades = pl.DataFrame({"status": ["VETOED", "VETOED", "FILLED", "FILLED"],
                           "action": ["BUY", "SHORT", "BUY", "SHORT"],
                           "reason": ["POSITION_SIZE: A x; BETA: b", "LIQUIDITY: B", None, None],
                           "notional": [1e5, 2e5, 1e5, 1e5], "fwd_return": [0.02, -0.01, 0.01, 0.0],
                           "score": [85.0, 10.0, 90.0, 5.0]})
    daily = r.with_columns(nav=pl.lit(1e6), trading_state=pl.Series(["ACTIVE", "REDUCING", "ACTIVE", "ACTIVE",
                                                                       "HALTED", "ACTIVE"]))
    ev = dx.risk_events("backtest", "a", trades, daily, DATES[5])
    by = {(x["kind"], x["reason"]): x for x in ev.iter_rows(named=True)}
    assert by[("veto", "POSITION_SIZE")]["impact_bps"] == pytest.approx(1e5 * 0.02 / 1e6 * 1e4)
    assert by[("veto", "LIQUIDITY")]["frequency"] == pytest.approx(0.25)
    assert by[("breaker", "REDUCING")]["events"] == 1
    assert by[("breaker", "HALTED")]["frequency"] == pytest.approx(1 / 6)
    buckets = dx.score_buckets({"a": trades}, DATES[5])  # the filled ones: BUY at 90, SHORT at 5
    assert dict(zip(buckets["bucket"], buckets["mean_bps"])) == {"Q1 0-20": 0.0, "Q5 80-100": 100.0}


def _context(summary: dict, perf: pl.DataFrame | None = None, decisions: pl.DataFrame | None = None,
             allocation: pl.DataFrame | None = None) -> proposals.Context:
    import duckdb

    conn = duckdb.connect()
    store.seed(conn)
    cur = store.current(conn)
    sleeves = {s.name: (s, cur[f"sleeve:{s.name}"]) for s in builtin_sleeves()[:4]}
    return proposals.Context(sleeves=sleeves, policy=(AllocationPolicy(), cur[store.ALLOCATION_KEY]),
                             summaries={n: summary for n in sleeves}, performance=perf if perf is not None else
                             pl.DataFrame(schema={"dimension": pl.Utf8, "bucket": pl.Utf8, "observations": pl.Int64,
                                                  "sleeve": pl.Utf8, "sharpe": pl.Float64}),
                             decisions=decisions if decisions is not None else
                             pl.DataFrame(schema={"sleeve": pl.Utf8, "decision": pl.Utf8, "current_regime": pl.Utf8}),
                             allocation=allocation if allocation is not None else pl.DataFrame(), base=MeridianConfig())


def test_rules_propose_from_costs_drawdown_vetoes_and_decisions():
    summary = {"final_nav": 10_050_000.0, "commission": 0.0, "spread": 90_000.0, "impact": 10_000.0,
               "borrow": 5_000.0, "max_drawdown": -0.09, "trades": 100, "unfilled": 0, "vetoed": 40}
    dec = pl.DataFrame({"sleeve": ["core", "conviction"], "decision": ["KEEP", "RETIRE"],
                        "current_regime": ["LOW"] * 2})
    cands = proposals.rules(_context(summary, decisions=dec))
    by = {(c.rule, c.target_id): c for c in cands}
    assert by[("cost_drag", "core")].proposed["turnover_budget"] == 0.22
    assert by[("drawdown_budget", "core")].proposed["risk_aversion"] == 2.0
    assert by[("drawdown_budget", "conviction")].proposed["long_exposure"] == pytest.approx(0.68)
    assert by[("veto_rate", "core")].proposed["max_position_pct"] == 0.04
    assert ("veto_rate", "conviction") not in by  # 15 names at 4% cannot hold an 80% long book
    excl = by[("sleeve_exclusion", "sleeve_allocation")]
    assert excl.target_type == "ALLOCATION_CONFIG" and excl.proposed["excluded"] == ["conviction"]
    assert excl.changes == {"excluded": {"from": [], "to": ["conviction"]}}
    quiet = {**summary, "final_nav": 11_000_000.0, "max_drawdown": -0.01, "vetoed": 1}
    assert proposals.rules(_context(quiet)) == []


def test_evidence_compares_the_same_sessions_and_caps_confidence():
    rng = np.random.default_rng(9)
    a = rng.normal(0, 0.01, 100)
    cur = pl.DataFrame({"date": DATES[:100], "ret": a})
    better = pl.DataFrame({"date": DATES[:100], "ret": a + 0.001 + rng.normal(0, 0.0005, 100)})
    ev = proposals.compare(cur, better, 60)
    assert ev["supported"] and ev["confidence"] > 0.99 and ev["data_sufficient"] and ev["sessions"] == 100
    short = proposals.compare(cur.head(30), better.head(30), 60)
    assert not short["data_sufficient"] and short["confidence"] <= 0.25
    worse = proposals.compare(cur, better.with_columns(ret=pl.col("ret") - 0.002), 60)
    assert not worse["supported"] and worse["confidence"] < 0.5
    s = Sleeve(name="x")
    assert s.hash != Sleeve(name="x", turnover_budget=0.2).hash
