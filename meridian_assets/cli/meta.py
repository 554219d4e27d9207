"""`meridian meta proposals | approve ID | reject ID | revert ID` and `meridian backtest --sleeve S --start D --end D`.

    meta proposals [--all | --status S]   list the config-change proposals (PENDING by default); reads only
    meta approve ID [--by NAME]           apply a proposal: a new config version + config_change_log (HUMAN)
    meta reject ID [--by NAME]            reject it
    meta revert ID [--by NAME]            restore exactly the config the proposal replaced
    backtest --sleeve S [--sleeve T] [--start D] [--end D]
                                          daily-rebalance backtest of sleeves (default window: meta.backtest_sessions
                                          scored sessions up to the latest); prints returns, Sharpe, drawdown,
                                          turnover, each cost type and the time per simulated day

Decisions and backtests are runs of `meta_apply_job` / `meta_backtest_job` on the project's Dagster instance, so
they show in the UI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import TYPE_CHECKING

from meridian_assets.config import get_config
from meridian_assets.errors import MeridianError

if TYPE_CHECKING:  # dagster is imported by the commands that run, so `--help` does not pay for it
    import dagster as dg
    import polars as pl

APPLY_JOB, BACKTEST_JOB = "meta_apply_job", "meta_backtest_job"


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def add_parser(sub) -> None:
    m = sub.add_parser("meta", help="Meta layer: list, approve, reject or revert config-change proposals")
    msub = m.add_subparsers(dest="meta_command", required=True)
    p = msub.add_parser("proposals", help="list proposals (PENDING unless --all or --status)")
    p.add_argument("--all", action="store_true", help="every proposal, any status")
    p.add_argument("--status", choices=["PENDING", "APPROVED", "REJECTED", "APPLIED", "REVERTED"])
    for name, text in (("approve", "apply a proposal (new config version, change log)"),
                       ("reject", "reject a proposal"),
                       ("revert", "restore exactly the config an applied proposal replaced")):
        a = msub.add_parser(name, help=text)
        a.add_argument("proposal_id", help="the id `meridian meta proposals` prints")
        a.add_argument("--by", default=os.environ.get("USER", "operator"), help="who decides (default: $USER)")
    b = sub.add_parser("backtest", help="daily-rebalance backtest of a sleeve over a date range")
    b.add_argument("--sleeve", action="append", required=True, help="sleeve name (repeat for several)")
    b.add_argument("--start", type=_date, help="first session (default: meta.backtest_sessions before the end)")
    b.add_argument("--end", type=_date, help="last session (default: the latest scored session)")


def definitions() -> dg.Definitions:
    """The code location (the meta jobs are merged into it)."""
    from meridian_assets.cli.runner import progress_logger
    from meridian_assets.definitions import build_definitions

    return build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})


def _execute(job: str, op: str, config: dict) -> dict:
    from meridian_assets.cli.runner import run_job

    result = run_job(definitions(), job, {op: config}, log_level="WARNING")
    out = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization
        out[mat.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def _read(table: str, where: str = "", params=None) -> pl.DataFrame:
    """Rows of ``table`` (empty when it does not exist yet), read-only."""
    import polars as pl

    from meridian_assets import dbread

    db = get_config().database_path()
    if not db.exists():
        raise MeridianError(f"no database at {db}: run `meridian demo` first")
    with dbread.read_only(db) as conn:
        if not conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                            [table]).fetchall()[0][0]:
            return pl.DataFrame()
        return conn.sql(f'SELECT * FROM "{table}" {where}', params=params).pl()


def _table(df: pl.DataFrame, n: int = 50) -> str:
    import polars as pl

    with pl.Config(tbl_rows=n, tbl_cols=12, tbl_width_chars=170, float_precision=3, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=70):
        return str(df)


def list_proposals(args: argparse.Namespace) -> int:
    import polars as pl

    status = None if args.all else (args.status or "PENDING")
    rows = _read("meta_controller_config_proposals", (" WHERE status = ?" if status else "")
                 + " ORDER BY created_at DESC, proposal_id", [status] if status else None)
    if rows.is_empty():
        print(f"No {status or ''} proposals. The weekly meta_proposal_job makes them (or materialize it in the UI).")
        return 0
    print(_table(rows.select("proposal_id", "status", "rule", "target_type", "target_id", "confidence",
                             "data_sufficient", "auto_eligible", pl.col("rationale_text").str.slice(0, 70))))
    print("Decide: meridian meta approve|reject ID   (an applied one: meridian meta revert ID)")
    return 0


def decide(args: argparse.Namespace) -> int:
    action = args.meta_command
    md = _execute(APPLY_JOB, "config_change_log", {"proposal_ids": [args.proposal_id], "action": action,
                                                   "decided_by": args.by, "applied_by": "HUMAN"})
    log = md.get("config_change_log", {})
    for o in log.get("outcomes", []):
        versions = f": {o['config_key']} v{o['from_version']} -> v{o['to_version']}" if o.get("to_version") else ""
        print(f"{o['proposal_id']} {o['status']} by {args.by}{versions}")
    for pid, why in (log.get("refused") or {}).items():
        print(f"{pid} not decided: {why}")
    return 0 if log.get("outcomes") else 1


def backtest(args: argparse.Namespace) -> int:
    config = {"sleeves": args.sleeve, "start": args.start.isoformat() if args.start else "",
              "end": args.end.isoformat() if args.end else "", "purpose": "cli"}
    md = _execute(BACKTEST_JOB, "sleeve_backtests", config)
    run_ids = list((md.get("backtest_runs", {}).get("run_ids") or {}).values())
    if not run_ids:
        print("Nothing was backtested: " + str(md.get("backtest_runs", {}).get("skipped", "")))
        return 1
    runs = _read("backtest_runs", "WHERE run_id IN (SELECT unnest(?)) ORDER BY sleeve", [run_ids])
    for r in runs.iter_rows(named=True):
        print(f"=== {r['sleeve']} v{r['sleeve_version']} {r['start']}..{r['end']} ({r['sessions']} sessions) "
              f"run {r['run_id']} ===")
        print(f"return {r['total_return']:+.2%}  annualised {r['annual_return'] or 0:+.2%}  Sharpe "
              f"{r['sharpe'] if r['sharpe'] is not None else float('nan'):.2f}  max drawdown {r['max_drawdown']:.2%}  "
              f"CVaR95 {r['cvar_95'] or 0:.2%}")
        print(f"turnover {r['avg_turnover']:.1%}/session ({r['annual_turnover']:.0%}/yr)  trades {r['trades']}  "
              f"vetoed {r['vetoed']}  deferred {r['deferred']}  unfilled {r['unfilled']}")
        print(f"costs: commission ${r['commission']:,.0f}  spread ${r['spread']:,.0f}  impact ${r['impact']:,.0f}  "
              f"borrow ${r['borrow']:,.0f}  ({r['cost_bps']:.1f} bps of mean NAV)")
        print(f"time: {r['seconds']:.1f} s, {r['seconds_per_day'] * 1e3:.0f} ms per simulated session")
        if r["warnings"]:
            print("notes: " + "; ".join(r["warnings"].splitlines()[:4]))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "backtest":
        return backtest(args)
    if args.meta_command == "proposals":
        return list_proposals(args)
    return decide(args)
