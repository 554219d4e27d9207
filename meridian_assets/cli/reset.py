"""`meridian reset --halt|--state|--db|--all [--yes] [--dry-run]`."""

from __future__ import annotations

import argparse
import sys

from meridian_assets.config import get_config
from meridian_assets.reset import execute, reset_plan

DESTRUCTIVE = ("state", "db", "all")


def run_reset(args: argparse.Namespace, input_fn=input) -> int:
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
