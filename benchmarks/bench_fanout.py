"""Fanned-out sleeve backtests: 4 sleeves x the full embedded history as one Dagster run whose sleeve steps run
side by side on 2 processes, vs the serial in-step sweep, both measured in the same child process.

In a child process (polars limited to 2 threads, the machine's cores), the embedded market (~500 names) is
scored over the whole history it offers and written to a scratch DuckDB (untimed): it is simulated from
`synthetic.epoch` (2018-01-02) on, so the scores run from the first session with the scoring's full lookback
after the epoch (`DEFAULT_LOOKBACK_DAYS`, 12-1 momentum: 2019-02-06) to 2026-11-20, ~1,960 sessions. The window
is every scored session.
On one scratch instance (the committed dagster.yaml):

- serial: `meta_backtest_job` (`sleeve_backtests`, meta.workers 1) for the four sleeves (core, momentum_tilt and
  quality_value_tilt on MVO, conviction on the conviction tilt), in process, as `meridian backtest` runs it —
  the baseline;
- plan: `meta_research_plan_job` (the four sleeve@version partitions; once per config version, no history
  read), timed and reported apart;
- fanned out: `meta_research_sleeves_job` over every partition, executed as `dagster job execute` and a run
  worker execute it (`execute_job` of the reconstructable job, with its own executor: the research executor,
  2 processes, a fork server preloading the code location, started with the run): the history step (in this
  process, the run worker, while the fork server imports), four sleeve steps, the publishing step.

Then the fanned-out run again (the next research run over the same partitions: its steps start in the order
of the first run's own step timings, not the serial sweep's), rows identical. Each fanned-out run starts its own
fork server, as a new run worker does.

Then a parameter sweep with more partitions than processes: a `research_plan` grid of 4 risk aversions x core
and momentum_tilt (8 partitions of about equal length), the fanned-out job on one process and on two
(`DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT`; history and publish in both), rows identical.

Figures: wall and CPU of each (the fan-out's CPU includes the fork server and every step process), each step's
timeline (launched, started, ended, from the run's first event) and start-up (launched -> started), each
partition's backtest seconds and step CPU, the load average before and after, peak resident memory (this
process; the fan-out's process tree, sampled), and the most the fan-out could
gain with no overhead at all: the serial time with its backtests replaced by the same backtests on two processes,
longest first. Published rows must equal the serial step's (same run ids: delete-then-insert over them),
timings aside. Target: serial / fan-out >= 1.6 on 2 cores.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml

from benchmarks.harness import Result, measure_stages, scratch_env

TARGET = 1.6
SLEEVES = ["core", "momentum_tilt", "quality_value_tilt", "conviction"]
GRID = {"risk_aversion": ["1", "2", "4", "8"]}  # x core and momentum_tilt: 8 partitions

CHILD = r'''
import datetime as dt, json, os, resource, time
from pathlib import Path
import dagster as dg, duckdb, polars as pl
from benchmarks.harness import ROOT
from meridian_assets.config import load_config
from meridian_assets.factors.inputs import DEFAULT_LOOKBACK_DAYS, inputs_from_provider
from meridian_assets.factors.schemas import FACTOR_SCORES
from meridian_assets.factors.scoring import score_history
from meridian_assets.ingest.providers.synthetic import SyntheticProvider
from meridian_assets.ingest.schemas import CORPORATE_ACTIONS, DAILY_PRICES, EARNINGS_CALENDAR, MACRO_SERIES
from meridian_assets.storage import replace_window

home = Path(os.environ["MERIDIAN_HOME"])
GRID = json.loads(os.environ["FANOUT_GRID"])
db = home / "meridian.duckdb"
sleeves = json.loads(os.environ["FANOUT_SLEEVES"])
cfg = load_config(os.environ["MERIDIAN_CONFIG"])

def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

def stage(fn):
    t, c = time.perf_counter(), cpu()
    out = fn()
    return out, {"wall_seconds": round(time.perf_counter() - t, 3), "cpu_seconds": round(cpu() - c, 3)}

# ---- the embedded market in DuckDB (untimed)
# The whole history the embedded market offers: it is simulated from synthetic.epoch on, so the first scored
# session is the first one with the scoring's full lookback (DEFAULT_LOOKBACK_DAYS: 12-1 momentum) after it.
end = dt.date(2026, 11, 20)
start = cfg.synthetic.epoch + dt.timedelta(days=DEFAULT_LOOKBACK_DAYS)
p = SyntheticProvider(seed=cfg.synthetic.seed, n_tickers=cfg.synthetic.n_tickers, epoch=cfg.synthetic.epoch)
inputs = inputs_from_provider(p, start, end)
frames = ((DAILY_PRICES, inputs.prices.filter(pl.col("date") >= start - dt.timedelta(days=200)), "date"),
          (FACTOR_SCORES, score_history(inputs, None, cfg.scoring).frame, "date"),
          (EARNINGS_CALENDAR, p.earnings_calendar(None, start, end + dt.timedelta(days=120)).frame,
           EARNINGS_CALENDAR.partition_column),
          (CORPORATE_ACTIONS, inputs.corporate_actions.filter(pl.col("date") >= start), CORPORATE_ACTIONS.partition_column),
          (MACRO_SERIES, p.macro_series(["BAMLH0A0HYM2"], start - dt.timedelta(days=400), end).frame,
           MACRO_SERIES.partition_column))
conn = duckdb.connect(str(db))
for schema, frame, col in frames:
    f = schema.conform(frame)
    replace_window(conn, schema, f, f[col].min(), f[col].max())
conn.close()
del inputs, frames

from dagster._core.definitions.reconstruct import ReconstructableRepository
from meridian_assets.definitions import defs
from meridian_assets.meta.fanout_assets import RESEARCH_SLEEVES, research_run_tags

instance = dg.DagsterInstance.get()

TICK = os.sysconf("SC_CLK_TCK")

PAGE = os.sysconf("SC_PAGE_SIZE")

def tree(with_rss=False):
    """CPU of this process, its reaped children and its live descendants (the fork server and its steps); with
    ``with_rss``, also the resident memory of this process and its live descendants, in MB."""
    total, rss, kids, me = cpu(), 0.0, {}, os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(f[1]), []).append((int(pid), sum(int(x) for x in f[11:15]) / TICK, int(f[21])))
    if with_rss:
        rss = int(Path("/proc/self/statm").read_text().split()[1])
    todo = [me]
    while todo:
        for pid, c, pages in kids.get(todo.pop(), []):
            total += c
            rss += pages
            todo.append(pid)
    return total, rss * PAGE / 2**20

def tree_cpu():
    return tree()[0]

peak_tree_mb = [0.0]

def watch_memory(stop):
    """The most resident memory the process tree held at once, sampled every 0.5 s (the fan-out's processes
    share the fork server's pages copy-on-write, so this sum over-counts them: an upper bound)."""
    while not stop.wait(0.5):
        peak_tree_mb[0] = max(peak_tree_mb[0], tree(True)[1])

def tables():
    c = duckdb.connect(str(db), read_only=True)
    try:
        runs = c.sql("SELECT * EXCLUDE (created_at, seconds, seconds_per_day) FROM backtest_runs ORDER BY run_id").pl()
        metrics = [json.dumps({k: v for k, v in json.loads(m).items() if not k.startswith("seconds")}, sort_keys=True)
                   for m in runs["metrics_json"]]
        return {"runs": runs.with_columns(metrics_json=pl.Series(metrics)),
                "daily": c.sql("SELECT * EXCLUDE (seconds) FROM backtest_daily ORDER BY run_id, date").pl(),
                "trades": c.sql("SELECT * FROM backtest_trades ORDER BY run_id, as_of, ticker, status").pl()}
    finally:
        c.close()

def job(name, op):
    r = defs.resolve_job_def(name).execute_in_process(
        instance=instance, run_config={"ops": {op: {"config": {"sleeves": sleeves}}}})
    assert r.success, name
    return r

load0 = os.getloadavg()
_, t_serial = stage(lambda: job("meta_backtest_job", "sleeve_backtests"))
expected = tables()
serial_runs = expected["runs"].select("sleeve", "sessions", "start", "end").to_dicts()
c = duckdb.connect(str(db), read_only=True)
per_sleeve = dict(c.sql("SELECT sleeve, round(seconds, 3) FROM backtest_runs ORDER BY seconds DESC").fetchall())
c.close()
lanes = [0.0, 0.0]  # the backtests alone on two processes, longest first: the least a fan-out can take for them
for sec in per_sleeve.values():
    lanes[lanes.index(min(lanes))] += sec

# The plan: the sleeve@version partitions (once per sleeve config version or window; no history read).
_, t_plan = stage(lambda: job("meta_research_plan_job", "research_plan"))
keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)

# The fanned-out job over every partition, as `dagster job execute -j meta_research_sleeves_job` runs it: the
# job's own executor (multiprocess, forkserver preloading the code location), this process orchestrating.
recon = ReconstructableRepository.for_module("meridian_assets.definitions", "defs", str(ROOT)).get_reconstructable_job(
    "meta_research_sleeves_job")
import multiprocessing.forkserver
import threading

def fresh_fork_server():
    """Each fanned-out run below starts its own fork server, as a new run worker would (one survives in this
    process after a run otherwise, its imports done)."""
    multiprocessing.forkserver._forkserver._stop()

stop = threading.Event()
watcher = threading.Thread(target=watch_memory, args=(stop,), daemon=True)
watcher.start()
fresh_fork_server()
t0, c0 = time.perf_counter(), tree_cpu()
res = dg.execute_job(recon, instance, tags=research_run_tags(instance))
fan_wall, fan_cpu = time.perf_counter() - t0, tree_cpu() - c0
stop.set()
watcher.join()
assert res.success
run_id = res.run_id
load1 = os.getloadavg()

got = tables()
same = {n: got[n].equals(expected[n]) for n in expected}

# The same run again, as the next research run over these partitions runs: its steps start in the order of the
# first run's step timings (research/step_timings.json) instead of the serial sweep's.
fresh_fork_server()
t0, c0 = time.perf_counter(), tree_cpu()
again = dg.execute_job(recon, instance, tags=research_run_tags(instance))
assert again.success
repeat = {"wall_seconds": round(time.perf_counter() - t0, 3), "cpu_seconds": round(tree_cpu() - c0, 3)}
same_repeat = all(tables()[n].equals(expected[n]) for n in expected)


def timeline_of(run):
    """Each step's launched / started / ended seconds from the run's first event, and each partition's figures."""
    events = [r.event_log_entry for r in instance.get_records_for_run(run).records if r.event_log_entry.dagster_event]
    run_start = min(e.timestamp for e in events)
    steps, partition_steps = {}, {}
    for e in events:
        k, t = e.step_key, e.dagster_event.event_type
        if t == dg.DagsterEventType.ASSET_MATERIALIZATION:
            m = e.dagster_event.event_specific_data.materialization
            if "step_cpu_seconds" in m.metadata:
                partition_steps[m.partition] = {"backtest_seconds": m.metadata["seconds"].value,
                                                "step_cpu_seconds": m.metadata["step_cpu_seconds"].value}
        if k is None:
            continue
        d = steps.setdefault(k, {})
        if t == dg.DagsterEventType.STEP_WORKER_STARTING:
            d["launched"] = e.timestamp
        elif t == dg.DagsterEventType.STEP_START:
            d["started"] = e.timestamp
        elif t in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            d["ended"] = e.timestamp
    timeline = {k: {n: round(v - run_start, 3) for n, v in d.items()}
                for k, d in sorted(steps.items(), key=lambda kv: kv[1].get("started", 0))}
    return steps, timeline, partition_steps

steps, timeline, partition_steps = timeline_of(run_id)
_, repeat_timeline, _ = timeline_of(again.run_id)
step_startup = [round(d["started"] - d["launched"], 3) for d in steps.values() if "launched" in d and "started" in d]

# A parameter sweep, more partitions than processes: GRID variants of two MVO sleeves, the same job on one process
# and on two (the fixed costs, history and publish, in both).
assert defs.resolve_job_def("meta_research_plan_job").execute_in_process(instance=instance, run_config={"ops": {
    "research_plan": {"config": {"sleeves": ["core", "momentum_tilt"], "grid": GRID}}}}).success
grid_keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)

def fan_out(processes):
    os.environ["DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT"] = str(processes)
    fresh_fork_server()
    t, c = time.perf_counter(), tree_cpu()
    assert dg.execute_job(recon, instance, tags=research_run_tags(instance)).success
    return {"wall_seconds": round(time.perf_counter() - t, 3), "cpu_seconds": round(tree_cpu() - c, 3)}

grid_one = fan_out(1)
grid_rows = tables()
grid_two = fan_out(2)
grid = dict(partitions=len(grid_keys), one_process=grid_one, two_processes=grid_two,
            identical=all(tables()[n].equals(grid_rows[n]) for n in grid_rows),
            two_over_one=round(grid_one["wall_seconds"] / grid_two["wall_seconds"], 2))

json.dump(dict(
    names=cfg.synthetic.n_tickers, sessions=serial_runs[0]["sessions"], sleeves=sleeves, partitions=keys,
    serial=t_serial, plan_run=t_plan,
    fanout={"wall_seconds": round(fan_wall, 3), "cpu_seconds": round(fan_cpu, 3)}, fanout_repeat=repeat,
    identical_repeat=same_repeat,
    steps=timeline, repeat_steps=repeat_timeline, step_startup_seconds=step_startup, partition_steps=partition_steps,
    serial_backtest_seconds=per_sleeve, backtests_on_two_processes_seconds=round(max(lanes), 3),
    ideal_ratio_without_overhead=round(t_serial["wall_seconds"] / (
        t_serial["wall_seconds"] - sum(per_sleeve.values()) + max(lanes)), 2),
    identical=same, load_average_before=load0, load_average_after=load1, grid=grid,
    window={"start": str(serial_runs[0]["start"]), "end": str(serial_runs[0]["end"])},
    peak_rss_mb={"orchestrating_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                 "fanout_process_tree_sampled": round(peak_tree_mb[0], 1)},
), open(os.environ["BENCH_OUT"], "w"))
'''


def run(overrides: dict | None = None) -> Result:
    """``overrides``: configuration blocks merged over the benchmark's (a small universe for a quick check)."""
    blocks = {"meta": {"backtest_sessions": 100000, "workers": 1}}
    for block, values in (overrides or {}).items():
        blocks[block] = {**blocks.get(block, {}), **values}
    with tempfile.TemporaryDirectory(prefix="bench_fanout_") as tmp:
        home = Path(tmp)
        env = scratch_env(home)
        config = home / "meridian.yaml"
        config.write_text(yaml.safe_dump(blocks))
        whole, st = measure_stages(CHILD, {**env, "MERIDIAN_CONFIG": str(config), "POLARS_MAX_THREADS": "2",
                                           "DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT": "2",
                                           "FANOUT_SLEEVES": json.dumps(SLEEVES), "FANOUT_GRID": json.dumps(GRID)})
    nan = {"wall_seconds": float("nan"), "cpu_seconds": float("nan")}
    serial, fan, again = st.get("serial", nan), st.get("fanout", nan), st.get("fanout_repeat", nan)
    speedup, speedup_again = (serial["wall_seconds"] / f["wall_seconds"] for f in (fan, again))
    return Result(
        name="research_fanout",
        description=f"{len(SLEEVES)} sleeves (3 MVO, 1 conviction) x every scored session of the embedded "
                    "history (~500 names, 2019-02-06..2026-11-20: every session after the epoch's scoring "
                    "lookback): meta_research_sleeves_job over every sleeve@version partition (history step in "
                    "the run worker while the fork server starts, one backtest step per partition on the "
                    "research executor, 2 processes forked from the preloaded fork server, one publish step), "
                    "in one run",
        baseline="the same four backtests in one sleeve_backtests step, one after another (meta.workers 1), "
                 "measured in the same run",
        measurements={"child_process": vars(whole), "stages": st},
        targets={"serial_over_fanout": TARGET, "serial_over_repeated_fanout": TARGET},
        passed={"serial_over_fanout": speedup >= TARGET, "serial_over_repeated_fanout": speedup_again >= TARGET,
                "identical_to_serial": bool(st) and all(st.get("identical", {}).values())
                and bool(st.get("identical_repeat")),
                "grid_identical_on_one_and_two_processes": bool(st.get("grid", {}).get("identical"))},
        ratios={"serial_over_fanout": round(speedup, 2), "serial_over_repeated_fanout": round(speedup_again, 2),
                "grid_two_processes_over_one": st.get("grid", {}).get("two_over_one", nan["wall_seconds"]),
                "fanout_cpu_over_serial_cpu": round(fan["cpu_seconds"] / serial["cpu_seconds"], 2)},
        wall_s=None, cpu_s=None,
    )
