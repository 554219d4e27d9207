"""Backtesting several sleeves over one window at once: one single-threaded process per core.

A sweep (the weekly sleeve backtests, a proposal's current-vs-proposed evidence) is a handful of independent
`backtest.run_backtest` calls on the same `MarketHistory`. They run in a pool of worker processes:

- **forkserver with the backtest preloaded.** The first sweep of a process starts a fork server that imports the
  backtest code (and the optimizer) once; every worker is a fork of it, so a worker starts in milliseconds
  instead of paying a fresh interpreter's ~3 s of imports (spawn), and the fork server stays up for the next
  sweep of the same run. `start_workers` starts it while the caller is still reading the history. Workers are not forked from the caller itself: it may hold DuckDB connections and
  polars / BLAS thread pools, which do not survive a fork.
- **one library thread per worker.** POLARS_MAX_THREADS, OMP / OpenBLAS / MKL threads are pinned to 1 in the
  fork server's environment before it imports anything, so its workers inherit them; two workers on two cores
  then do not oversubscribe the machine with each library's own pool.
- **the history is sent once per worker** (pool initializer), the sleeves as plain documents; results come back
  in the order given, identical to running them one after another in the caller (tests/test_meta_backtest.py).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import multiprocessing
import os

from meridian_assets.config import MeridianConfig
from meridian_assets.meta.backtest import run_backtest
from meridian_assets.meta.history import MarketHistory
from meridian_assets.meta.results import BacktestResult
from meridian_assets.meta.sleeves import Sleeve

SINGLE_THREAD = {k: "1" for k in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                  "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}
# polars' allocator starts background threads at import; the fork server is forked, so it should have none.
SINGLE_THREAD["_RJEM_MALLOC_CONF"] = "background_thread:false"
# Imported once by the fork server: the backtest and everything under it, and cvxpy for the MVO sleeves.
PRELOAD = ["meridian_assets.meta.backtest", "cvxpy"]

_WORKER: dict = {}


def _init_worker(history: MarketHistory, base: MeridianConfig) -> None:
    _WORKER["history"], _WORKER["base"] = history, base


def _run_one(task: tuple) -> BacktestResult:
    doc, version, start, end, purpose = task
    return run_backtest(_WORKER["history"], Sleeve.model_validate(doc), _WORKER["base"], start, end,
                        version=version, purpose=purpose)


def _context() -> multiprocessing.context.BaseContext:
    """The forkserver context; the server (started on first use) gets the single-thread environment."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD}
    os.environ.update(SINGLE_THREAD)
    try:
        from multiprocessing import forkserver

        forkserver.ensure_running()  # a no-op once the server is up
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ctx


def start_workers(base: MeridianConfig, n_sleeves: int) -> None:
    """Start the fork server now when a sweep of ``n_sleeves`` will use worker processes: it imports the
    backtest in the background, so its start-up overlaps the caller reading the history."""
    if min(base.meta.workers, n_sleeves) > 1:
        _context()


def run_sweep(history: MarketHistory, sleeves: list[tuple[Sleeve, int]], base: MeridianConfig, start: dt.date,
              end: dt.date, *, workers: int | None = None, purpose: str = "sweep") -> list[BacktestResult]:
    """Backtest every (sleeve, version) over [start, end] in up to ``workers`` processes (default
    ``meta.workers``, at most one per sleeve); results in the order given. One worker: in this process."""
    workers = min(workers or base.meta.workers, len(sleeves))
    if workers <= 1:
        return [run_backtest(history, s, base, start, end, version=v, purpose=purpose) for s, v in sleeves]
    tasks = [(s.doc(), v, start, end, purpose) for s, v in sleeves]
    with cf.ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker,
                                initargs=(history, base)) as pool:
        return list(pool.map(_run_one, tasks))
