"""Sleeve sweep: four sleeves backtested over the weekly window (252 sessions, ~500 names) in parallel processes.

In a child process (polars limited to 2 threads, the machine's cores), the embedded market is scored (untimed).
Each stage then does what the `sleeve_backtests` step does: builds the `MarketHistory` from the frames and
runs the same four sleeves (core, momentum_tilt and quality_value_tilt on MVO, conviction on the conviction
tilt) over the last 252 sessions, three ways:

- serial: one after another in the calling process (`run_sweep(..., workers=1)`) — the baseline;
- parallel: `meta.sweep.start_workers` before the history is built (as the step does), then `run_sweep` with
  2 workers forked from a fork server that preloads the backtest, one library thread per worker; the fork
  server is stopped after the stage, so its imports are in the figures (the first sweep of a run; later sweeps
  of the same run reuse it);
- spawn: the same pool with fresh interpreters (spawn), the way the sweep used to start its workers.

Each stage reports wall and CPU seconds (the calling process and every process it spawned and waited for).
The parallel results must equal the serial ones sleeve by sleeve (daily rows without timings, trades).
Target: serial / parallel >= 1.6 on 2 cores.
"""

from __future__ import annotations

from benchmarks.harness import Result, measure_stages

SESSIONS = 252
TARGET = 1.6

CHILD = r'''
import concurrent.futures as cf, datetime as dt, json, multiprocessing, os, resource, time
from multiprocessing import forkserver
import polars as pl
from meridian_assets import calendar
from meridian_assets.config import MeridianConfig
from meridian_assets.factors.inputs import inputs_from_provider
from meridian_assets.factors.scoring import score_history
from meridian_assets.ingest.providers.synthetic import SyntheticProvider
from meridian_assets.meta import sweep
from meridian_assets.meta.history import MarketHistory
from meridian_assets.meta.sleeves import builtin_sleeves

SESSIONS = int(os.environ["SWEEP_SESSIONS"])

def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

cfg = MeridianConfig()
end = dt.date(2026, 11, 20)
sessions = calendar.sessions(dt.date(2024, 6, 1), end)
start = sessions[0]
p = SyntheticProvider(seed=cfg.synthetic.seed, n_tickers=500, epoch=cfg.synthetic.epoch)
inputs = inputs_from_provider(p, start, end)
scores = score_history(inputs, None, cfg.scoring).frame
earnings = p.earnings_calendar(None, start, end + dt.timedelta(days=120)).frame
macro = p.macro_series(["BAMLH0A0HYM2"], start - dt.timedelta(days=400), end).frame
def build():
    return MarketHistory.from_frames(inputs.prices, scores, cfg, earnings=earnings,
                                     actions=inputs.corporate_actions, hy_oas=macro)
history = build()
by_name = {s.name: s for s in builtin_sleeves()}
sleeves = [(by_name[n], 1) for n in ("core", "momentum_tilt", "quality_value_tilt", "conviction")]
window = (sessions[-SESSIONS], sessions[-1])

def stage(fn):
    t, c = time.perf_counter(), cpu()
    out = fn()
    return out, {"wall_seconds": round(time.perf_counter() - t, 3), "cpu_seconds": round(cpu() - c, 3)}

def parallel():
    try:
        sweep.start_workers(cfg, len(sleeves))
        return sweep.run_sweep(build(), sleeves, cfg, *window, workers=2)
    finally:
        forkserver._forkserver._stop()  # reap the server (and through it its workers) so their CPU is counted

def spawned():
    env = {k: os.environ.get(k) for k in sweep.SINGLE_THREAD}
    os.environ.update(sweep.SINGLE_THREAD)
    try:
        with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=sweep._init_worker, initargs=(build(), cfg)) as pool:
            return list(pool.map(sweep._run_one, [(s.doc(), v, *window, "sweep") for s, v in sleeves]))
    finally:
        for k, v in env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)

serial, t_serial = stage(lambda: sweep.run_sweep(build(), sleeves, cfg, *window, workers=1))
par, t_par = stage(parallel)
spa, t_spawn = stage(spawned)

def same(a, b):
    return a.run_id == b.run_id and a.trades.equals(b.trades) and a.daily.drop("seconds").equals(b.daily.drop("seconds"))

json.dump(dict(
    names=len([c for c in history.tickers if not c.startswith("^")]), sessions=serial[0].sessions,
    sleeves=[s.name for s, _ in sleeves], per_sleeve_serial_seconds={r.sleeve.name: round(r.seconds, 3) for r in serial},
    serial=t_serial, parallel=t_par, spawn=t_spawn,
    identical={r.sleeve.name: same(r, q) for r, q in zip(serial, par)},
    spawn_identical={r.sleeve.name: same(r, q) for r, q in zip(serial, spa)},
    load_average=os.getloadavg()[0],
), open(os.environ["BENCH_OUT"], "w"))
'''


def run() -> Result:
    whole, st = measure_stages(CHILD, {"POLARS_MAX_THREADS": "2", "SWEEP_SESSIONS": str(SESSIONS)})
    nan = {"wall_seconds": float("nan"), "cpu_seconds": float("nan")}
    serial, par, spawn = st.get("serial", nan), st.get("parallel", nan), st.get("spawn", nan)
    speedup = serial["wall_seconds"] / par["wall_seconds"]
    return Result(
        name="sleeve_sweep",
        description=f"4 sleeves (3 MVO, 1 conviction) x {SESSIONS} sessions x ~500 names: backtested in 2 worker "
                    "processes forked from a preloaded fork server, one library thread each (fork server start-up "
                    "included)",
        baseline="the same four backtests one after another in the calling process (serial); also the same pool "
                 "with spawned workers (fresh interpreters, the previous way)",
        measurements={"child_process": vars(whole), "stages": st},
        targets={"serial_over_parallel": TARGET},
        passed={"serial_over_parallel": speedup >= TARGET,
                "identical_to_serial": bool(st) and all(st.get("identical", {}).values())},
        ratios={"serial_over_parallel": round(speedup, 2),
                "spawn_over_parallel": round(spawn["wall_seconds"] / par["wall_seconds"], 2),
                "parallel_cpu_over_serial_cpu": round(par["cpu_seconds"] / serial["cpu_seconds"], 2)},
        wall_s=par["wall_seconds"], cpu_s=par["cpu_seconds"],
    )
