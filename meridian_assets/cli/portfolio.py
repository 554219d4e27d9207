"""`meridian portfolio --current | --whatif | --rebalance`, `meridian approve ID`, `meridian risk [...]`.

Each maps onto a job of the code location run on the project instance (so it shows in the UI); the printed
summaries read the tables the run just wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from meridian_assets.config import get_config
from meridian_assets.errors import MeridianError
from meridian_assets.risk.halt_lock import HaltLock

if TYPE_CHECKING:  # dagster is imported by the commands that run, so `--help` does not pay for it
    import dagster as dg
    import polars as pl


def add_parsers(sub) -> None:
    p = sub.add_parser("portfolio", help="Layer 4: show the book, propose a rebalance, or commit one (simulated)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--current", action="store_true", help="mark the book to market and show it")
    mode.add_argument("--whatif", action="store_true", help="propose a rebalance; commits nothing")
    mode.add_argument("--rebalance", action="store_true", help="propose and commit as filled (simulated book)")
    p.add_argument("--optimize-method", choices=["mvo", "conviction", "sleeves"],
                   help="default: portfolio.optimize_method; sleeves = the meta layer's capital-weighted sleeve book")
    p.add_argument("--scored-csv", help="take scores from this CSV (e.g. output/combined_scores_latest.csv)")
    p.add_argument("--as-of", help="rebalance on this session (default: the latest scored session)")

    a = sub.add_parser("approve", help="release a proposed rebalance to the broker (execution runs on approval)")
    a.add_argument("rebalance_id", help="the id printed by `meridian portfolio --whatif`")
    a.add_argument("--reject", action="store_true", help="record a rejection instead")
    a.add_argument("--by", default=os.environ.get("USER", "operator"), help="who decides (default: $USER)")

    r = sub.add_parser("risk", help="Layer 5: mark the book, evaluate breakers and monitors, write risk_state.json")
    r.add_argument("--stress", action="store_true", help="also print the six stress scenarios")
    r.add_argument("--tail-only", action="store_true", help="only the VIX / credit-spread check (reads, writes nothing)")
    r.add_argument("--clear-halt", action="store_true", help="remove the kill-switch halt lock")


def _run(job: str, op_config: dict | None = None) -> dg.ExecuteInProcessResult:
    from meridian_assets.cli.runner import progress_logger, run_job
    from meridian_assets.definitions import build_definitions

    defs = build_definitions(config_path=os.environ.get("MERIDIAN_CONFIG"), loggers={"progress": progress_logger})
    return run_job(defs, job, op_config)


def _proposed_id(result: dg.ExecuteInProcessResult) -> str:
    """The rebalance id this run proposed (from its target_book materialization)."""
    import dagster as dg

    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization
        if m.asset_key == dg.AssetKey("target_book"):
            return m.metadata["rebalance_id"].value
    raise MeridianError("the run proposed no rebalance")


def _read(sql: str, params=None) -> pl.DataFrame:
    from meridian_assets import dbread

    with dbread.read_only(get_config().database_path()) as conn:
        return conn.sql(sql, params=params).pl()


def _table(df: pl.DataFrame, n: int = 50) -> str:
    import polars as pl

    with pl.Config(tbl_rows=n, tbl_cols=14, tbl_width_chars=160, float_precision=4, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        return str(df)


def print_book() -> None:
    hist = _read("SELECT * FROM portfolio_history ORDER BY date DESC LIMIT 1")
    pos = _read("SELECT ticker, sector, side, shares, avg_cost, last_price, weight, entry_date FROM "
                "portfolio_positions ORDER BY weight DESC")
    if hist.is_empty():
        print("The book is empty (nothing committed yet): `meridian portfolio --rebalance` builds it.")
        return
    h = hist.row(0, named=True)
    print(f"=== Book on {h['date']}: NAV ${h['nav']:,.0f}, {h['positions']} positions, gross {h['gross']:.1%}, "
          f"net {h['net']:+.1%}, beta {h['beta'] or 0:+.2f}, drawdown {h['drawdown']:.2%} ===")
    print(_table(pos))


def print_proposal(rid: str) -> None:
    import polars as pl

    tb = _read("SELECT * FROM target_book WHERE rebalance_id = ?", [rid])
    trades = _read("SELECT ticker, action, delta_shares, price, notional, cost_bps, status, reason FROM "
                   "rebalance_trades WHERE rebalance_id = ? ORDER BY status, notional DESC", [rid])
    w = tb["weight"]
    print(f"=== Proposal {rid} ({tb['method'][0]}) on {tb['as_of'][0]}: {int((w > 0).sum())} long / "
          f"{int((w < 0).sum())} short, gross {w.abs().sum():.1%}, net {w.sum():+.1%} ===")
    print(_table(tb.sort("weight", descending=True).select("ticker", "sector", "side", "score", "weight",
                                                             "target_shares", "price", "beta")))
    counts = dict(trades.group_by("status").len().iter_rows())
    print(f"Trades: {counts}; cost ${trades.filter(pl.col('status') == 'PROPOSED')['notional'].sum():,.0f} notional")
    print(_table(trades.with_columns(pl.col("reason").str.slice(0, 70)), n=80))
    committed = _read("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'position_approvals'")[
        "n"][0] and _read("SELECT 1 FROM position_approvals WHERE rebalance_id = ? AND status = 'EXECUTED'", [rid]).height
    if not committed:
        print(f"Approve for the broker: meridian approve {rid}")


def run_portfolio(args: argparse.Namespace) -> int:
    cfg = get_config()
    proposal = {k: v for k, v in (("optimize_method", args.optimize_method), ("scored_csv", args.scored_csv),
                                  ("as_of", args.as_of)) if v}
    if args.current:
        _run("risk_check_job", {"risk_state": {"stress": False}})
        print_book()
    elif args.whatif:
        print_proposal(_proposed_id(_run("portfolio_rebalance_job", {"rebalance_proposal": proposal})))
    else:
        if HaltLock(cfg.halt_lock_path()).is_halted():
            print("warning: trading is halted; every trade will be vetoed (TRADING_HALTED)", file=sys.stderr)
        result = _run("portfolio_commit_job", {"rebalance_proposal": proposal,
                                               "position_approvals": {"decision": "commit",
                                                                      "decided_by": "simulated"}})
        print_proposal(_proposed_id(result))
        print()
        print_book()
    return 0


def run_approve(args: argparse.Namespace) -> int:
    decision = "reject" if args.reject else "approve"
    _run("portfolio_approve_job", {"position_approvals": {"rebalance_id": args.rebalance_id, "decision": decision,
                                                          "decided_by": args.by}})
    print(f"{args.rebalance_id}: {decision}d by {args.by}"
          + ("; the approved_rebalance_sensor launches execution" if decision == "approve" else ""))
    return 0


def run_risk(args: argparse.Namespace) -> int:
    import polars as pl

    from meridian_assets import dbread

    cfg = get_config()
    lock = HaltLock(cfg.halt_lock_path())
    if args.clear_halt:
        record = lock.read()
        if lock.clear():
            print(f"Halt lock cleared ({record.reason if record else 'unreadable'}, since "
                  f"{record.created_at if record else '?'}); trading may resume.")
        else:
            print("No halt lock present.")
        return 0
    if args.tail_only:
        from meridian_assets.risk.inputs import risk_as_of, tail_inputs
        from meridian_assets.risk.monitors import tail_risk

        with dbread.read_only(cfg.database_path()) as conn:
            as_of = risk_as_of(conn)
            vix, oas = tail_inputs(conn, as_of)
        tail = tail_risk(vix, oas, cfg.risk)
        z = f"{tail.credit_z:+.2f}σ" if tail.credit_z is not None else "n/a"
        vix_s = f"{vix:.2f}" if vix is not None else "n/a"
        print(f"Tail risk {as_of}: VIX {vix_s}, HY OAS {z}, gross multiplier {tail.gross_multiplier:.2f}")
        for reason in tail.reasons:
            print(f"- {reason}")
        return 0
    _run("risk_check_job", {"risk_state": {"stress": True}})
    doc = json.loads(cfg.risk_state_path().read_text())
    e = doc["exposures"]
    nav = f"${doc['nav']:,.0f}" if doc.get("nav") else "no book"
    print(f"=== Risk {doc['as_of']}: {doc['trading_state']}{' (HALTED: ' + doc['halt']['reason'] + ')' if doc['halted'] else ''} ===")
    if doc.get("nav"):
        print(f"NAV {nav}  day {doc['daily_return']:+.2%}  week {doc['weekly_return']:+.2%}  "
              f"drawdown {doc['drawdown']:.2%}")
    print(f"gross {e['gross']:.1%}  net {e['net']:+.1%}  beta {e['beta'] if e['beta'] is not None else float('nan'):+.2f}"
          f"  positions {e['positions']}")
    if "decomposition" in doc:
        d = doc["decomposition"]
        print(f"ex-ante vol {d['sigma']:.2%} ({d['factor_share']:.0%} factor)")
    for a in doc["alerts"] or ["no alerts"]:
        print(f"- {a}")
    if args.stress and doc["stress"]:
        print(_table(pl.DataFrame(doc["stress"])))
    print(f"Written to {cfg.risk_state_path()}")
    return 0
