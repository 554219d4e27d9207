"""Backtest seconds per session against cvxportfolio, and against the one-shot optimizer, on the same data.

One child process (2 polars threads), the embedded market's 40 names over the last 250 sessions to 2026-11-20,
default portfolio settings (20 LONG / 20 SHORT books: every name is in a book), daily rebalance:

* ``meridian``: `meta.backtest.run_backtest` of the ``core`` sleeve — the live `propose_rebalance` (books, MVO
  through the compiled program, overlays, 30% turnover budget, whole shares, costs, pre-trade veto) and the
  simulated fills, borrow and breakers. The program cache is emptied first, so its one compile is timed.
* ``one_shot_baseline``: the same backtest with the rebalance's optimizer swapped for the one-shot
  `mvo.optimize_mvo` (a new program built and compiled every session), ``mvo_turnover_mode="soft"`` and CLARABEL's
  own default settings: the optimizer path before the compiled program (the rest of the proposal is today's code
  in both). ``compiled_soft`` (compiled program, soft turnover term) separates the two changes.
* ``cvxportfolio`` (benchmark-only dependency, ``pip install -e '.[benchmarks]'``): `MarketSimulator.backtest`
  of a `SinglePeriodOptimization` of the same program on the same numbers — per session the same μ (score →
  annual return), Ledoit–Wolf Σ, books (position bounds, 0.80 / −0.70 exposures), betas (|β·w| ≤ 0.15), sector
  net and single-side limits, half-spread and 3/2-power impact (σ and $ADV as Meridian's cost model sees them),
  solver CLARABEL. The per-session inputs are prepared before timing (in its favour); cvxportfolio compiles its
  program once per backtest, inside the timed run.

Each run is preceded by a 5-session warm-up (imports, caches). Measured: wall and CPU seconds (``time.process_time``:
all threads of the process) per simulated session. Targets: cvxportfolio / meridian ≥ 3 and baseline / meridian
≥ 5, on CPU seconds per session (the machine is shared, so wall time also carries other processes' load; both
are reported).
"""

from __future__ import annotations

from benchmarks.harness import Result, measure_stages

CHILD = r'''
import datetime as dt, json, os, tempfile, time
import numpy as np, pandas as pd, polars as pl
from meridian_assets import calendar
from meridian_assets.config import MeridianConfig
from meridian_assets.factors.inputs import inputs_from_provider
from meridian_assets.factors.scoring import score_history
from meridian_assets.ingest.providers.synthetic import SyntheticProvider
from meridian_assets.meta import backtest as bt
from meridian_assets.meta.history import MarketHistory
from meridian_assets.meta.sleeves import builtin_sleeves
from meridian_assets.portfolio import mvo_program, rebalance as rb
from meridian_assets.portfolio.market import sample_covariance
from functools import partial
from meridian_assets.portfolio.mvo import expected_returns, optimize_mvo
from meridian_assets.portfolio.selection import select_books

N, SESSIONS = 40, 250
DAILY = {"meta": {"rebalance_every_sessions": 1}}  # cvxportfolio rebalances every session too
cfg = MeridianConfig.model_validate(DAILY)
pc = cfg.portfolio
lim = cfg.risk  # the limits of the book
soft = MeridianConfig.model_validate({**DAILY, "portfolio": {"mvo_turnover_mode": "soft"}})
end = dt.date(2026, 11, 20)
sessions = calendar.sessions(dt.date(2024, 9, 1), end)[-SESSIONS:]
start = sessions[0]
p = SyntheticProvider(seed=cfg.synthetic.seed, n_tickers=N, epoch=cfg.synthetic.epoch)
inputs = inputs_from_provider(p, start, end)
history = MarketHistory.from_frames(
    inputs.prices.filter(pl.col("date") >= start - dt.timedelta(days=200)), score_history(inputs, None, cfg.scoring).frame,
    cfg, earnings=p.earnings_calendar(None, start, end + dt.timedelta(days=120)).frame,
    actions=inputs.corporate_actions, hy_oas=p.macro_series(["BAMLH0A0HYM2"], start - dt.timedelta(days=400), end).frame)
core = builtin_sleeves()[0]
out = {"names": N, "sessions": SESSIONS}

def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w, time.process_time() - c

compiled = rb.solve_mvo
def meridian(config, solve, first, last):
    rb.solve_mvo = solve
    mvo_program._PROGRAMS.clear()
    try:
        return bt.run_backtest(history, core, config, first, last)
    finally:
        rb.solve_mvo = compiled

one_shot = partial(optimize_mvo, solver_options={"CLARABEL": {}})  # CLARABEL's defaults, as before
for label, config, solve in (("meridian", cfg, compiled), ("one_shot_baseline", soft, one_shot),
                             ("compiled_soft", soft, compiled)):
    meridian(config, solve, sessions[0], sessions[4])
    r, wall, cpu = timed(lambda: meridian(config, solve, sessions[0], sessions[-1]))
    s = r.summary()
    out[label] = {"sessions": r.sessions, "wall_seconds": wall, "cpu_seconds": cpu,
                  "wall_per_session_ms": 1e3 * wall / r.sessions, "cpu_per_session_ms": 1e3 * cpu / r.sessions,
                  "mvo_sessions": int((r.daily["method"] == "mvo").sum()), "total_return": s["total_return"],
                  "avg_turnover": s["avg_turnover"], "cost_bps": s["cost_bps"]}

try:
    import cvxportfolio as cvx
except ImportError:
    cvx = None
if cvx is not None:
    scores = bt.sleeve_scores(history, core, cfg)
    names = sorted(scores[sessions[0]]["ticker"].to_list())
    cols = [history.col[t] for t in names]
    per = {k: {} for k in ("mu", "lo", "hi", "beta", "long", "short", "spread", "vol", "adv", "sigma")}
    sectors = {}
    for d in sessions:
        i = history.index[d]
        c = history.candidates(i, scores[d], {}, {}).filter(pl.col("ticker").is_in(names)).sort("ticker")
        b = select_books(c, pc.num_longs, pc.num_shorts)
        L, S = set(b.longs), set(b.shorts)
        ts = pd.Timestamp(d)
        series = lambda v: pd.Series(np.asarray(v, dtype=float), index=names)
        per["mu"][ts] = series(expected_returns(c["score"].fill_null(50.0).to_numpy(), pc.expected_return_range))
        per["lo"][ts] = series([pc.min_position_pct if t in L else -lim.max_position_pct if t in S else 0.0 for t in names])
        per["hi"][ts] = series([lim.max_position_pct if t in L else -pc.min_position_pct if t in S else 0.0 for t in names])
        per["beta"][ts] = series(c["beta"].fill_null(1.0).fill_nan(1.0).to_numpy())
        per["long"][ts] = series([t in L for t in names])
        per["short"][ts] = series([t in S for t in names])
        per["spread"][ts] = series(pc.spread_fraction_of_range * c["avg_range_pct"].fill_null(0.02).to_numpy())
        per["vol"][ts] = series(c["daily_vol"].fill_null(0.02).to_numpy())
        per["adv"][ts] = series(np.maximum(c["adv_dollars"].fill_null(1.0).to_numpy(), 1.0))
        _, R = history.returns_window(i)
        per["sigma"][ts] = pd.DataFrame(sample_covariance(R[-pc.covariance_lookback_days:][:, cols]), index=names,
                                        columns=names)
        sectors.update(zip(c["ticker"].to_list(), c["sector"].fill_null("Unknown").to_list()))
    F = {k: pd.DataFrame(v).T for k, v in per.items() if k != "sigma"}
    sigma = pd.concat(per["sigma"])
    cons = [cvx.MinWeights(F["lo"]), cvx.MaxWeights(F["hi"]), cvx.FixedFactorLoading(F["long"], pc.long_exposure),
            cvx.FixedFactorLoading(F["short"], -pc.short_exposure), cvx.FactorMaxLimit(F["beta"], lim.max_beta),
            cvx.FactorMinLimit(F["beta"], -lim.max_beta)]
    for sec in sorted(set(sectors.values())):
        ind = pd.Series([1.0 if sectors[t] == sec else 0.0 for t in names], index=names)
        cons += [cvx.FactorMaxLimit(ind, pc.max_sector_net_pct), cvx.FactorMinLimit(ind, -pc.max_sector_net_pct),
                 cvx.FactorMaxLimit(F["long"] * ind, lim.max_sector_side_pct),
                 cvx.FactorMinLimit(F["short"] * ind, -lim.max_sector_side_pct)]
    policy = cvx.SinglePeriodOptimization(
        cvx.ReturnsForecast(r_hat=F["mu"]) - pc.mvo_risk_aversion * cvx.FullCovariance(sigma)
        - cvx.TransactionCost(a=F["spread"], b=pc.impact_coefficient, sigma=F["vol"], volume_hat=F["adv"]),
        cons, solver="CLARABEL")
    i0, i1 = history.index[sessions[0]], history.index[sessions[-1]]
    j0 = max(1, i0 - 130)  # history before the first session (cvxportfolio reads past returns)
    full = pd.DatetimeIndex([pd.Timestamp(d) for d in history.sessions[j0:i1 + 1]])
    fwd = history.returns[j0 + 1:i1 + 2][:, cols]  # row t: the return over [t, t+1)
    rets = pd.DataFrame(np.nan_to_num(fwd), index=full[:len(fwd)], columns=names)
    rets["USDOLLAR"] = 0.0
    px = history.price[j0:i1 + 1][:, cols]
    with tempfile.TemporaryDirectory() as tmp:
        sim = cvx.MarketSimulator(
            returns=rets, volumes=pd.DataFrame(history.volume[j0:i1 + 1][:, cols] * px, index=full, columns=names),
            prices=pd.DataFrame(px, index=full, columns=names), cash_key="USDOLLAR", base_location=tmp,
            min_history=pd.Timedelta(0), costs=[cvx.TransactionCost(a=F["spread"], b=pc.impact_coefficient,
                                                                    sigma=F["vol"])])
        ts0 = pd.Timestamp(sessions[0])
        sim.backtest(policy, start_time=ts0, end_time=pd.Timestamp(sessions[4]), initial_value=pc.capital_base)
        res, wall, cpu = timed(lambda: sim.backtest(policy, start_time=ts0, end_time=pd.Timestamp(sessions[-1]),
                                                     initial_value=pc.capital_base))
    n = len(res.w.index)
    out["cvxportfolio"] = {"version": cvx.__version__, "sessions": n, "wall_seconds": wall, "cpu_seconds": cpu,
                           "wall_per_session_ms": 1e3 * wall / n, "cpu_per_session_ms": 1e3 * cpu / n,
                           "policy_ms_mean": 1e3 * float(res.policy_times.mean()),
                           "simulator_ms_mean": 1e3 * float(res.simulator_times.mean())}
out["load_average"] = os.getloadavg()[0]
json.dump(out, open(os.environ["BENCH_OUT"], "w"))
'''


def run() -> Result:
    whole, stages = measure_stages(CHILD, {"POLARS_MAX_THREADS": "2"})
    nan = float("nan")

    def per(label: str, kind: str) -> float:
        return stages.get(label, {}).get(f"{kind}_per_session_ms", nan)

    def ratio(a: str, b: str, kind: str) -> float:
        return round(per(a, kind) / per(b, kind), 2)

    ratios = {f"{a}_over_meridian_{kind}": ratio(a, "meridian", kind)
              for a in ("cvxportfolio", "one_shot_baseline", "compiled_soft") for kind in ("cpu", "wall")}
    targets = {"cvxportfolio_over_meridian_cpu": 3.0, "one_shot_baseline_over_meridian_cpu": 5.0}
    passed = {k: bool(ratios[k] >= v) for k, v in targets.items()}
    passed["cvxportfolio_installed"] = "cvxportfolio" in stages
    return Result(
        name="backtest_vs_cvxportfolio",
        description="Backtest seconds per session, 40 names, 20/20 books, 250 daily sessions: Meridian (compiled "
        "MVO) vs the one-shot optimizer path before it vs cvxportfolio on the same inputs (CPU and wall)",
        measurements={"child_process": vars(whole), "stages": stages},
        targets=targets, passed=passed, ratios=ratios,
        baseline="cvxportfolio 1.5.1 on the same inputs, and the same backtest through the one-shot optimize_mvo "
        "(before the compiled program), in the same child process")
