"""`meridian execute --dry-run | --execute [--scored-csv PATH] [--rebalance-id ID]`.

--dry-run materializes `execution_plan` only (no broker call) and prints the planned orders. --execute runs
`execution_job` on the project instance (the run shows in the UI): reconcile with the broker, trade the
approved rebalance, record. On a live account (`execution.mode: live` with the alpaca broker) it first asks
the operator to type ``YES I UNDERSTAND THE RISKS`` and leaves a one-time confirmation bound to the run id it
then launches (`execution.live_gate`); no other way of starting a run can trade live. Ctrl-C (or SIGTERM)
cancels every order the run placed and leaves positions as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from meridian_assets.config import get_config

if TYPE_CHECKING:  # dagster is imported by the commands that run, so `--help` does not pay for it
    import dagster as dg
    import polars as pl

EXECUTE_ASSETS = ["execution_plan", "execution_fills", "broker_positions", "short_availability",
                  "execution_reconciliation", "slippage_summary"]
PLAN_COLUMNS = ["ticker", "action", "chunk", "shares", "signal_price", "limit_price", "adv_pct", "status", "reason"]


def add_parser(sub) -> argparse.ArgumentParser:
    e = sub.add_parser("execute", help="Layer 6: execute an approved rebalance (paper by default)")
    mode = e.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="plan the chunks and limits; no broker call")
    mode.add_argument("--execute", action="store_true", help="reconcile with the broker, then route the orders")
    e.add_argument("--scored-csv", help="a scored-universe CSV: use the (approved) rebalance built on its date")
    e.add_argument("--rebalance-id", help="the rebalance to execute (default: the newest approved one)")
    e.set_defaults(handler=run)
    return e


def build_execution_definitions() -> dg.Definitions:
    """The execution assets, job and sensor with the resources they use, bound as the code location binds them
    ("settings", "db", "broker"), without importing every other layer."""
    import dagster as dg

    from meridian_assets.cli.runner import progress_logger
    from meridian_assets.execution.definitions import defs as execution_defs
    from resources import DuckDBStore, MeridianSettings
    from resources.execution import BrokerResource

    settings = MeridianSettings(config_path=os.environ.get("MERIDIAN_CONFIG"))
    res = {"settings": settings, "db": DuckDBStore(database=str(settings.get().database_path())),
           "broker": BrokerResource(settings=settings)}
    return dg.Definitions.merge(execution_defs(), dg.Definitions(resources=res, loggers={"progress": progress_logger}))


def confirm_live(prompt=input) -> bool:
    from meridian_assets.execution.live_gate import LIVE_CONFIRMATION

    print("WARNING: execution.mode is live — orders go to a REAL-MONEY Alpaca account.", file=sys.stderr)
    try:
        answer = prompt(f"Type '{LIVE_CONFIRMATION}' to continue: ")
    except EOFError:
        answer = ""
    return answer.strip() == LIVE_CONFIRMATION


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (like Ctrl-C), so the run cancels its orders before exiting."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace, prompt=input) -> int:
    from meridian_assets.cli.runner import prepare_instance, report_failures, run_assets
    from resources.execution import BrokerResource
    from resources.settings import MeridianSettings

    cfg = get_config()
    defs = build_execution_definitions()
    broker = BrokerResource(settings=MeridianSettings(config_path=os.environ.get("MERIDIAN_CONFIG")))
    live = broker.is_live()
    run_id = str(uuid.uuid4())
    if args.execute and live:
        if not confirm_live(prompt):
            print("Not confirmed: nothing traded.", file=sys.stderr)
            return 1
        broker.confirmations().issue(run_id, args.rebalance_id)
    op = {"rebalance_id": args.rebalance_id or "", "scored_csv": args.scored_csv or ""}
    op_config = {"execution_plan": op}
    assets = ["execution_plan"]
    if args.execute:
        op_config["execute_rebalance"] = op
        assets = EXECUTE_ASSETS
    today = dt.date.today()
    print(("Planning" if args.dry_run else "Executing") + f" on the {cfg.execution.broker} broker"
          + (" (LIVE)" if live else f" ({cfg.execution.mode})"), flush=True)
    try:
        with sigterm_as_interrupt():
            result = run_assets(defs, "execution_job", assets, today, today, op_config=op_config,
                                instance=prepare_instance(), run_id=run_id)
    finally:
        if args.execute and live:
            broker.confirmations().discard(run_id)  # never left lying around unused
    if report_failures(result, "Execution" if args.execute else "Planning"):
        return 1
    print(render_plan(cfg) if args.dry_run else render_execution(cfg, result.run_id))
    return 0


def _read(cfg, sql: str, params: list) -> pl.DataFrame:
    from meridian_assets import dbread

    with dbread.read_only(cfg.database_path()) as conn:
        return conn.sql(sql, params=params).pl()


def render_plan(cfg) -> str:
    import polars as pl

    plan = _read(cfg, "SELECT * FROM execution_plan WHERE planned_at = (SELECT max(planned_at) FROM execution_plan) "
                      "ORDER BY status, ticker, chunk", [])
    if plan.height == 0:
        return "No trades: the positions already match the rebalance."
    rid = plan["rebalance_id"][0]
    orders = plan.filter(pl.col("status") == "PLANNED")
    lines = [f"Dry run of {rid} (as of {plan['as_of'][0]}): {orders.height} orders, "
             f"${orders['notional'].sum():,.0f} notional; nothing sent"]
    with pl.Config(tbl_rows=200, tbl_cols=12, fmt_str_lengths=48, tbl_width_chars=220, tbl_hide_dataframe_shape=True):
        lines.append(str(plan.select(PLAN_COLUMNS)))
    return "\n".join(lines)


def render_execution(cfg, run_id: str) -> str:
    rows = _read(cfg, "SELECT status, count(*) AS n, sum(shares) AS shares FROM execution_fills WHERE run_id = ? "
                      "GROUP BY status ORDER BY status", [run_id])
    pos = _read(cfg, "SELECT count(*) AS n, sum(abs(market_value)) AS gross FROM portfolio_positions", [])
    lines = [f"Execution run {run_id}:"]
    lines += [f"  {r['status']:<10} {r['n']:>5} outcomes {int(r['shares'] or 0):>10,} shares" for r in rows.iter_rows(named=True)]
    if pos.height:
        lines.append(f"Positions reconciled with the broker: {pos['n'][0]}, gross ${float(pos['gross'][0] or 0):,.0f}")
    return "\n".join(lines)
