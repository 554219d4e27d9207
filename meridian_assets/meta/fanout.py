"""Fanned-out sleeve backtests: the files that let each sleeve's backtest run in its own process (a step of its
own), away from the DuckDB writer.

The in-step sweep (`meta.sweep`) holds the one-slot ``duckdb`` pool while every sleeve computes. Fanned out,
the work is split in four, and only the second and the last open DuckDB:

1. **plan** (a writer step, once per sleeve config version or window): ``<root>/plan.json`` names the window,
   the purpose, the plan id and one partition key per sleeve, ``<sleeve>@<version>``, with the sleeve's config
   document. Earlier files of the window are removed, so nothing computed for another plan can be published
   with this one.
2. **history** (a writer step, first in each run, computed in the run worker): the window's `MarketHistory`,
   read from DuckDB once, is written to ``<root>/<start>_<end>/`` (`write_history`).
3. **one step per sleeve partition** (no pool, no DuckDB: DuckDB's file lock keeps other processes out while a
   writer is open): reads the plan and the history file, runs `backtest.run_backtest` for its sleeve — the same
   call the serial sweep makes on the same history, so the same rows — and writes ``results/<key>/`` (daily
   and trades as Parquet, the final target as Parquet, the rest as JSON), stamped with the plan id.
4. **publish** (a writer step): reads the run's partitions' results, in the plan's order, refuses a missing one
   or one from another plan, and replaces their rows in backtest_runs / backtest_daily / backtest_trades
   (`backtest.write_results`: delete-then-insert by run id).

Files are written to a temporary name and renamed, so a reader sees a whole file or none. Plain functions, no
Dagster: the wiring is `meta.fanout_assets`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import pickle
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import MeridianError
from meridian_assets.meta.backtest import run_backtest
from meridian_assets.meta.history import MarketHistory
from meridian_assets.meta.results import BacktestResult
from meridian_assets.meta.sleeves import Sleeve, parse_sleeve

PLAN = "plan.json"
HISTORY = "history.pkl"
HISTORY_FRAMES = ("scores", "combined")  # MarketHistory's frames written as Arrow IPC beside history.pkl
TIMINGS = "step_timings.json"  # at the research root: each partition's and sleeve's last measured step speed


class FanoutError(MeridianError):
    """A partition or the publish step found the research files missing or from another plan."""


def partition_key(sleeve: Sleeve, version: int) -> str:
    """One dynamic partition per sleeve config version: ``core@3``."""
    return f"{sleeve.name}@{version}"


# The sleeve knobs a parameter sweep may vary (a grid); the rest name or switch a sleeve, or are a weight vector
GRID_KNOBS = tuple(k for k in Sleeve.model_fields if k not in ("name", "description", "enabled", "factor_weights"))


def grid_partitions(chosen: list[tuple[Sleeve, int]], grid: dict[str, list[str]],
                    base: MeridianConfig) -> list[tuple[str, Sleeve, int]]:
    """The plan's partitions as (key, sleeve, version): each sleeve@version as it is; with a ``grid`` (knob ->
    values), one variant per sleeve and point of the grid (every combination of the values, knobs in name order),
    keyed ``core@3~num_longs=30~risk_aversion=2``. A variant is validated as a sleeve, and its configuration
    built, here: a bad knob or value fails the plan, naming the sleeve and the point, before any backtest."""
    if not grid:
        return [(partition_key(s, v), s, v) for s, v in chosen]
    unknown = sorted(set(grid) - set(GRID_KNOBS))
    if unknown:
        raise FanoutError(f"research grid: unknown sleeve knobs {', '.join(unknown)}; a grid varies "
                          f"{', '.join(GRID_KNOBS)}")
    empty = sorted(k for k, values in grid.items() if not values)
    if empty:
        raise FanoutError(f"research grid: no values for {', '.join(empty)}")
    knobs = sorted(grid)
    out = []
    for sleeve, version in chosen:
        for values in itertools.product(*(grid[k] for k in knobs)):
            point = dict(zip(knobs, values))
            label = "~".join(f"{k}={v}" for k, v in point.items())
            try:
                variant = parse_sleeve({**sleeve.doc(), **point})
                variant.config(base)
            except MeridianError as err:
                raise FanoutError(f"research grid: {sleeve.name} with {label}: {err}") from None
            out.append((f"{partition_key(sleeve, version)}~{label}", variant, version))
    keys = [k for k, _, _ in out]
    if len(set(keys)) < len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise FanoutError(f"research grid: a value is repeated ({', '.join(twice)})")
    return out


def evidence_partitions(jobs: list[tuple[Sleeve, int, bool]]) -> list[tuple[str, Sleeve, int]]:
    """A proposal batch's evidence backtests (`proposal_assets.evidence_backtests`: each sleeve candidate's
    current config, and proposed one at its next version) as partitions: ``core@1`` for a current config,
    ``core@2~proposed=<config hash>`` for a proposal (a version not written yet, named by its config)."""
    return [(f"{partition_key(s, v)}~proposed={s.hash[:8]}" if proposed else partition_key(s, v), s, v)
            for s, v, proposed in jobs]


@dataclass(frozen=True)
class Plan:
    plan_id: str
    start: dt.date
    end: dt.date
    purpose: str
    sleeves: dict[str, tuple[dict, int]]  # partition key -> (sleeve config document, version), in sweep order
    root: Path

    @property
    def window_dir(self) -> Path:
        return self.root / f"{self.start:%Y%m%d}_{self.end:%Y%m%d}"

    @property
    def history_path(self) -> Path:
        return self.window_dir / HISTORY

    def result_dir(self, key: str) -> Path:
        return self.window_dir / "results" / key

    def sleeve(self, key: str) -> tuple[Sleeve, int]:
        if key not in self.sleeves:
            raise FanoutError(f"research plan {self.plan_id}: no sleeve partition {key!r} (the plan has "
                              f"{', '.join(self.sleeves) or 'none'}); materialize research_plan again")
        doc, version = self.sleeves[key]
        return Sleeve.model_validate(doc), version


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_plan(root: Path, partitions: list[tuple[str, Sleeve, int]], start: dt.date, end: dt.date, purpose: str,
               plan_id: str) -> Plan:
    """Write the plan (module docstring, step 1) of ``partitions`` (`grid_partitions`); earlier results and
    history of the window go."""
    plan = Plan(plan_id, start, end, purpose, {k: (s.doc(), v) for k, s, v in partitions}, Path(root))
    shutil.rmtree(plan.window_dir, ignore_errors=True)
    doc = {"plan_id": plan_id, "start": start.isoformat(), "end": end.isoformat(), "purpose": purpose,
           "sleeves": [{"key": k, "version": v, "doc": d} for k, (d, v) in plan.sleeves.items()]}
    _atomic_write(plan.root / PLAN, lambda tmp: tmp.write_text(json.dumps(doc, indent=1, sort_keys=True)))
    return plan


def _frame_path(plan: Plan, name: str) -> Path:
    return plan.window_dir / f"history_{name}.arrow"


def write_history(plan: Plan, history: MarketHistory) -> None:
    """The window's history, once per run, for every sleeve step of the run to read (step 2): the score frames
    (most of its size) as uncompressed Arrow IPC, which a step reads back at memory speed, and the rest
    (matrices, small frames, risk models) pickled into ``history.pkl``, written last: its presence marks a whole
    history."""
    plan.history_path.unlink(missing_ok=True)
    for name in HISTORY_FRAMES:
        _atomic_write(_frame_path(plan, name),
                      lambda tmp, f=getattr(history, name): f.write_ipc(tmp, compression="uncompressed"))
    rest = {k: v for k, v in vars(history).items() if k not in HISTORY_FRAMES}

    def dump(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            pickle.dump(rest, fh, protocol=pickle.HIGHEST_PROTOCOL)

    _atomic_write(plan.history_path, dump)


def longest_first(plan: Plan, keys, seconds_per_day: dict[str, float]) -> list[str]:
    """``keys`` in the order their steps should start: the longest expected backtest first, by the seconds per
    simulated day of the partition key (a grid's variant) or else of its sleeve; partitions never timed first of
    all, in the plan's order. On two processes the longest-first order keeps the last step from starting late
    (the makespan of 3 long sleeves and 1 short one is then the two longest chains, not a long one started after
    the short one)."""
    ordered = [k for k in plan.sleeves if k in set(keys)]

    def expected(k: str) -> float:
        return seconds_per_day.get(k, seconds_per_day.get(k.split("@")[0], float("inf")))

    return sorted(ordered, key=lambda k: -expected(k))


def read_timings(root: Path) -> dict[str, float]:
    """Seconds per simulated day as the research steps last measured them, by partition key and by sleeve
    (`record_timings`); empty before the first fanned-out run."""
    path = Path(root) / TIMINGS
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: the order falls back on backtest_runs' timings
    return {str(k): float(v) for k, v in doc.items() if isinstance(v, (int, float)) and v > 0}


def record_timings(root: Path, results: list[tuple[str, BacktestResult]]) -> None:
    """Keep each published partition's seconds per simulated day, measured in its step (one library thread,
    forked, beside the other steps: as the next run's step will run), under its key and its sleeve's name, for
    `longest_first`. A serial sweep's timings (several library threads, one sleeve warming the process for the
    next) rank sleeves differently, so these take precedence. The file is the publish step's alone."""
    doc = read_timings(root)
    for key, r in results:
        if r.sessions:
            doc[key] = doc[r.sleeve.name] = round(r.seconds_per_day(), 6)
    _atomic_write(Path(root) / TIMINGS, lambda tmp: tmp.write_text(json.dumps(doc, indent=1, sort_keys=True)))


def read_plan(root: Path) -> Plan:
    path = Path(root) / PLAN
    if not path.exists():
        raise FanoutError(f"no research plan at {path}: materialize research_plan first")
    doc = json.loads(path.read_text())
    return Plan(doc["plan_id"], dt.date.fromisoformat(doc["start"]), dt.date.fromisoformat(doc["end"]),
                doc["purpose"], {s["key"]: (s["doc"], int(s["version"])) for s in doc["sleeves"]}, Path(root))


def read_history(plan: Plan) -> MarketHistory:
    if not plan.history_path.exists():
        raise FanoutError(f"research plan {plan.plan_id}: history file {plan.history_path} is missing; "
                          "materialize research_sleeve_backtests again")
    with open(plan.history_path, "rb") as fh:
        state = pickle.load(fh)
    history = MarketHistory.__new__(MarketHistory)  # as unpickling does: the state already holds the lookups
    history.__dict__.update(state, **{name: pl.read_ipc(_frame_path(plan, name)) for name in HISTORY_FRAMES})
    return history


def run_partition(plan: Plan, key: str, base: MeridianConfig,
                  history: MarketHistory | None = None) -> BacktestResult:
    """Backtest the partition's sleeve over the plan's window and write its result files (step 3)."""
    sleeve, version = plan.sleeve(key)
    result = run_backtest(history if history is not None else read_history(plan), sleeve, base, plan.start,
                          plan.end, version=version, purpose=plan.purpose)
    write_result(plan.result_dir(key), result, plan.plan_id)
    return result


def write_result(folder: Path, r: BacktestResult, plan_id: str) -> None:
    """daily.parquet, trades.parquet, target.parquet and result.json (written last: its presence marks a whole
    result)."""
    for name, frame in (("daily", r.daily), ("trades", r.trades), ("target", r.final_target)):
        _atomic_write(folder / f"{name}.parquet", lambda tmp, f=frame: f.write_parquet(tmp))
    doc = {"plan_id": plan_id, "run_id": r.run_id, "sleeve": r.sleeve.doc(), "sleeve_version": r.sleeve_version,
           "purpose": r.purpose, "start": r.start.isoformat(), "end": r.end.isoformat(), "capital": r.capital,
           "sector_pnl": r.sector_pnl, "warnings": r.warnings, "seconds": r.seconds}
    _atomic_write(folder / "result.json", lambda tmp: tmp.write_text(json.dumps(doc, sort_keys=True)))


def read_result(folder: Path) -> tuple[str, BacktestResult]:
    """(plan id, the result) as `write_result` wrote them."""
    doc = json.loads((folder / "result.json").read_text())
    return doc["plan_id"], BacktestResult(
        run_id=doc["run_id"], sleeve=Sleeve.model_validate(doc["sleeve"]), sleeve_version=doc["sleeve_version"],
        purpose=doc["purpose"], start=dt.date.fromisoformat(doc["start"]), end=dt.date.fromisoformat(doc["end"]),
        capital=doc["capital"], daily=pl.read_parquet(folder / "daily.parquet"),
        trades=pl.read_parquet(folder / "trades.parquet"), final_target=pl.read_parquet(folder / "target.parquet"),
        sector_pnl=doc["sector_pnl"], warnings=doc["warnings"], seconds=doc["seconds"])


def collect(plan: Plan, keys=None) -> list[BacktestResult]:
    """The results of ``keys`` (default: every partition of the plan) in the plan's order (step 4); a key the
    plan does not hold, a missing result, or one written for another plan, is an error naming the partitions."""
    keys = list(plan.sleeves) if keys is None else list(keys)
    unknown = [k for k in keys if k not in plan.sleeves]
    missing, stale, results = [], [], []
    for key in (k for k in plan.sleeves if k in keys):
        folder = plan.result_dir(key)
        if not (folder / "result.json").exists():
            missing.append(key)
            continue
        plan_id, result = read_result(folder)
        if plan_id != plan.plan_id:
            stale.append(key)
        else:
            results.append(result)
    if missing or stale or unknown:
        raise FanoutError(f"research plan {plan.plan_id} ({plan.start}..{plan.end}): partitions not run: "
                          f"{', '.join(missing) or 'none'}; from another plan: {', '.join(stale) or 'none'}; "
                          f"not in the plan: {', '.join(unknown) or 'none'}. Materialize research_plan, then "
                          "those partitions of research_sleeve_backtests")
    return results
