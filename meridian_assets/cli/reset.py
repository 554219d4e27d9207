"""`meridian reset --halt|--state|--db|--all [--yes] [--dry-run]` and `meridian reset --stale-runs [--run ID]`."""

from __future__ import annotations

import argparse
import sys

from meridian_assets.config import get_config
from meridian_assets.errors import MeridianError
from meridian_assets.reset import execute, reset_plan

DESTRUCTIVE = ("state", "db", "all")


def run_reset(args: argparse.Namespace, input_fn=input) -> int:
    if args.tier == "stale-runs":
        return run_stale_runs(args)
    if getattr(args, "run", None):
        raise MeridianError("--run goes with --stale-runs")
    cfg = get_config()
    actions = reset_plan(args.tier, cfg)
    if not actions:
        print(f"reset --{args.tier}: nothing to remove")
        return 0
    print(f"reset --{args.tier} will:")
    for a in actions:
        print(f"  - {a.describe()}")
    if args.dry_run:
        print("dry run: nothing changed")
        return 0
    if args.tier in DESTRUCTIVE and not args.yes:
        if not sys.stdin.isatty() and input_fn is input:
            print("refusing without confirmation: pass --yes to run non-interactively", file=sys.stderr)
            return 1
        if input_fn("Type 'yes' to continue: ").strip().lower() != "yes":
            print("aborted: nothing changed")
            return 1
    execute(actions, cfg)
    print(f"reset --{args.tier}: done ({len(actions)} items removed)")
    return 0


def run_stale_runs(args: argparse.Namespace) -> int:
    """Mark runs whose process is gone failed and free their pool slots: every such run on this host, or the one
    run ``--run`` names (for a run from another host or without worker tags; refused while it is running here)."""
    from meridian_assets.cli.runner import prepare_instance
    from meridian_assets.runs import dead_runs, fail_run, pool_holders, reap_dead_runs, run_worker

    instance = prepare_instance()
    if args.run:
        run = instance.get_run_by_id(args.run)
        if run is None:
            raise MeridianError(f"no run {args.run} in {instance.root_directory}")
        worker = run_worker(run)
        if worker is not None and worker.is_local() and worker.alive():
            print(f"run {run.run_id} is still running ({worker.describe()}): stop it first (`kill {worker.pid}`)",
                  file=sys.stderr)
            return 1
        if args.dry_run:
            print(f"dry run: would mark run {run.run_id} ({run.job_name}, {run.status.value}) failed and free its "
                  "pool slots")
            return 0
        freed = fail_run(instance, run, "Marked failed by `meridian reset --stale-runs --run`: its process is gone.")
        print(f"run {run.run_id} ({run.job_name}): marked failed, {freed} pool slot(s) freed")
        return 0
    if args.dry_run:
        dead = dead_runs(instance)
        for run, worker in dead:
            print(f"would release run {run.run_id} ({run.job_name}): process {worker.describe()} is gone")
        print("dry run: nothing changed" if dead else "reset --stale-runs: no run of this host has lost its process")
        return 0
    reaped = reap_dead_runs(instance)
    for r in reaped:
        print(f"released {r.describe()}")
    if not reaped:
        print("reset --stale-runs: no run of this host has lost its process")
    for h in pool_holders(instance):
        print(f"pool slot held by {h.describe()}: {h.advice()}")
    return 0
