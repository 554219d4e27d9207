"""Fanned-out sleeve backtests: 4 sleeves x the full embedded history as Dagster runs, 2 at a time, vs the serial
in-step sweep, through real runs on a scratch instance with `dagster-daemon`.

In a child process (polars limited to 2 threads, the machine's cores), the embedded market (~500 names, three
years of scores ending 2026-11-20) is written to a scratch DuckDB (untimed). The window is every scored session.
Then, on one scratch instance (the committed dagster.yaml with `max_concurrent_runs: 2`: two run workers at a
time, the 2 processes):

- serial: `meta_backtest_job` (`sleeve_backtests`, meta.workers 1) for the four sleeves (core, momentum_tilt and
  quality_value_tilt on MVO, conviction on the conviction tilt), in process — the baseline;
- fanned out: `meta_research_history_job` in process (the history file and four partitions), then the asset
  backfill of research_sleeve_backtests (every partition, one run each) and research_backtests (one publish run
  after them) run by `dagster-daemon run` (started before, untimed). The daemon's environment pins every
  library to one thread per run worker (as `meta.sweep` does for its workers).

Figures: the serial step's wall and CPU; the fan-out as the history run + the partition runs (first run created
to last run ended, queue and worker start-up included) + the publish run, beside the whole pipeline from the
history run to the publish run's end (which also holds the daemon's backfill loop latency, up to 30 s, and the
wait for the next loop pass after the partitions); CPU of the fan-out = this process's steps + the daemon's
process tree (code server and run workers), beside the daemon's idle CPU rate (measured for 20 s before,
with nothing running: its sensors and loops, which a deployment pays anyway) and each partition run worker's
own CPU (start-up and backtest, from its materialization metadata). Published rows must equal the serial step's (same run ids:
delete-then-insert over them), timings aside. Target: serial / fan-out >= 1.6 on 2 cores.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml

from benchmarks.harness import Result, measure_stages, scratch_env

TARGET = 1.6
SLEEVES = ["core", "momentum_tilt", "quality_value_tilt", "conviction"]
ONE_THREAD = {k: "1" for k in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

CHILD = r'''
import datetime as dt, json, os, resource, time
from pathlib import Path
import dagster as dg, duckdb, polars as pl
from benchmarks.harness import Daemon, ROOT, session_cpu, wait_for
from meridian_assets.config import load_config
from meridian_assets.factors.inputs import inputs_from_provider
from meridian_assets.factors.schemas import FACTOR_SCORES
from meridian_assets.factors.scoring import score_history
from meridian_assets.ingest.providers.synthetic import SyntheticProvider
from meridian_assets.ingest.schemas import CORPORATE_ACTIONS, DAILY_PRICES, EARNINGS_CALENDAR, MACRO_SERIES
from meridian_assets.storage import replace_window

home = Path(os.environ["MERIDIAN_HOME"])
IDLE = 20.0
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
end = dt.date(2026, 11, 20)
start = end - dt.timedelta(days=365 * cfg.history.years)
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

from meridian_assets.definitions import defs
from meridian_assets.meta.fanout_assets import RESEARCH_SLEEVES, submit_research_backfill

instance = dg.DagsterInstance.get()

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

def job(name, op=None):
    rc = {"ops": {op: {"config": {"sleeves": sleeves}}}} if op else None
    r = defs.resolve_job_def(name).execute_in_process(instance=instance, run_config=rc)
    assert r.success, name
    return r

_, t_serial = stage(lambda: job("meta_backtest_job", "sleeve_backtests"))
expected = tables()
serial_runs = expected["runs"].select("sleeve", "sessions").to_dicts()

daemon_env = {**os.environ, **json.loads(os.environ["FANOUT_DAEMON_ENV"])}
with Daemon(daemon_env, ROOT / "workspace.yaml", home / "daemon.log") as daemon:
    idle0 = daemon.cpu()
    time.sleep(IDLE)  # the daemon's own CPU while nothing runs (sensors, queue, heartbeats), as a rate
    idle_rate = (daemon.cpu() - idle0) / IDLE
    t_fan, d0, c0 = time.perf_counter(), daemon.cpu(), cpu()
    _, t_history = stage(lambda: job("meta_research_history_job", "research_history"))
    submitted = time.time()
    bid = submit_research_backfill(instance, defs.resolve_asset_graph())
    keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)

    def finished():
        runs = instance.get_runs(dg.RunsFilter.for_backfill(bid))
        done = [r for r in runs if r.is_finished]
        if any(r.status != dg.DagsterRunStatus.SUCCESS for r in done):
            raise RuntimeError(f"a backfill run failed: {[(r.run_id, r.status) for r in done]}")
        return runs if len(done) == len(keys) + 1 else None

    runs = wait_for(finished, 3600, "the backfill's runs", poll=0.5)
    pipeline_wall = time.perf_counter() - t_fan
    fan_cpu = daemon.cpu() - d0 + cpu() - c0
    records = {r.run_id: instance.get_run_record_by_id(r.run_id) for r in runs}
    def key(tags):  # an asset backfill tags a one-partition run with a range of one
        return tags.get("dagster/partition") or tags.get("dagster/asset_partition_range_start")
    part = [records[r.run_id] for r in runs if key(r.tags)]
    pub = [records[r.run_id] for r in runs if not key(r.tags)]
    created = min(x.create_timestamp.timestamp() for x in part)
    ended = max(x.end_time for x in part)
    span = ended - created
    publish = pub[0].end_time - pub[0].create_timestamp.timestamp()
    latency = created - submitted
got = tables()
same = {n: got[n].equals(expected[n]) for n in expected}
per_run = sorted((round(x.end_time - x.start_time, 3), key(x.dagster_run.tags)) for x in part)
worker_cpu, backtest_seconds = {}, {}
for x in part:
    for e in instance.get_records_for_run(x.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        md = e.event_log_entry.dagster_event.event_specific_data.materialization.metadata
        worker_cpu[key(x.dagster_run.tags)] = md["worker_cpu_seconds"].value
        backtest_seconds[key(x.dagster_run.tags)] = md["seconds"].value

json.dump(dict(
    names=cfg.synthetic.n_tickers, sessions=serial_runs[0]["sessions"], sleeves=sleeves, partitions=keys,
    serial=t_serial, history_run=t_history,
    partition_runs={"created_to_last_end_seconds": round(span, 3), "per_run_seconds": per_run},
    publish_run_seconds=round(publish, 3), backfill_loop_latency_seconds=round(latency, 3),
    fanout={"wall_seconds": round(t_history["wall_seconds"] + span + publish, 3), "cpu_seconds": round(fan_cpu, 3)},
    pipeline_wall_seconds=round(pipeline_wall, 3), identical=same, load_average=os.getloadavg(),
    partition_worker_cpu_seconds=worker_cpu, partition_backtest_wall_seconds=backtest_seconds,
    daemon_idle_cpu_per_second=round(idle_rate, 4),
    daemon_idle_cpu_over_pipeline=round(idle_rate * pipeline_wall, 3),
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
        instance_yaml = Path(env["DAGSTER_HOME"]) / "dagster.yaml"
        doc = yaml.safe_load(instance_yaml.read_text())
        doc["concurrency"]["runs"]["max_concurrent_runs"] = 2  # two run workers at a time: the 2 processes
        instance_yaml.write_text(yaml.safe_dump(doc))
        config = home / "meridian.yaml"
        config.write_text(yaml.safe_dump(blocks))
        whole, st = measure_stages(CHILD, {**env, "MERIDIAN_CONFIG": str(config), "POLARS_MAX_THREADS": "2",
                                           "FANOUT_SLEEVES": json.dumps(SLEEVES),
                                           "FANOUT_DAEMON_ENV": json.dumps(ONE_THREAD)})
    nan = {"wall_seconds": float("nan"), "cpu_seconds": float("nan")}
    serial, fan = st.get("serial", nan), st.get("fanout", nan)
    speedup = serial["wall_seconds"] / fan["wall_seconds"]
    return Result(
        name="research_fanout",
        description=f"{len(SLEEVES)} sleeves (3 MVO, 1 conviction) x every scored session of the embedded "
                    "history (~500 names, 3 years): history file + one Dagster run per sleeve@version partition "
                    "(2 at a time, run queue) + one publish run, on a scratch instance with dagster-daemon",
        baseline="the same four backtests in one sleeve_backtests step, one after another (meta.workers 1), "
                 "measured in the same run",
        measurements={"child_process": vars(whole), "stages": st},
        targets={"serial_over_fanout": TARGET},
        passed={"serial_over_fanout": speedup >= TARGET,
                "identical_to_serial": bool(st) and all(st.get("identical", {}).values())},
        ratios={"serial_over_fanout": round(speedup, 2),
                "serial_over_pipeline_with_backfill_latency": round(
                    serial["wall_seconds"] / st.get("pipeline_wall_seconds", float("nan")), 2),
                "fanout_cpu_over_serial_cpu": round(fan["cpu_seconds"] / serial["cpu_seconds"], 2),
                "fanout_cpu_without_daemon_idle_over_serial_cpu": round(
                    (fan["cpu_seconds"] - st.get("daemon_idle_cpu_over_pipeline", 0.0)) / serial["cpu_seconds"], 2)},
        wall_s=None, cpu_s=None,
    )
