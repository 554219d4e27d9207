"""Page II, Research: the latest proposal, its advisories and decision, the factor heatmap, candidate cards."""

from __future__ import annotations

import polars as pl

from meridian_assets.desk.source import Snapshot

PARENTS = ["momentum", "value", "quality", "growth", "revisions", "short_interest", "insider", "institutional"]
METHODS = ("mvo", "conviction", "sleeves")  # rebalance_proposal's optimize_method (sleeves: the meta layer's target)
HEATMAP_N = 30
CARDS_N = 10


def latest_proposal(snap: Snapshot, method: str | None = None) -> dict | None:
    """The newest rebalance (optionally of one optimizer method) with its decision status: PROPOSED when no
    decision is recorded, else APPROVED / REJECTED / EXECUTED from `position_approvals`."""
    where = "WHERE method = ?" if method else ""
    book = snap.query(f"SELECT rebalance_id, as_of, method, count(*) AS names, sum(abs(weight)) AS gross, "
                      f"sum(weight) AS net FROM target_book {where} GROUP BY ALL ORDER BY as_of DESC, rebalance_id DESC "
                      "LIMIT 1", [method] if method else None)
    if book.is_empty():
        return None
    row = book.row(0, named=True)
    rid = row["rebalance_id"]
    decided = snap.query("SELECT status, count(*) AS n, max(decided_by) AS by FROM position_approvals "
                         "WHERE rebalance_id = ? GROUP BY status", [rid])
    statuses = dict(zip(decided["status"], decided["n"])) if decided.height else {}
    decision = next((s for s in ("EXECUTED", "APPROVED", "REJECTED") if s in statuses), "PROPOSED")
    trades = snap.query("SELECT status, count(*) AS n FROM rebalance_trades WHERE rebalance_id = ? GROUP BY status",
                        [rid])
    return {**row, "decision": decision, "decided_by": decided["by"][0] if decided.height else None,
            "trade_counts": dict(zip(trades["status"], trades["n"])) if trades.height else {}}


def heatmap(snap: Snapshot, n: int = HEATMAP_N) -> pl.DataFrame:
    """Top-``n`` by composite and bottom-``n`` × the 8 parent scores on the latest scored session (long rows
    first, best first; then shorts, worst last)."""
    cols = ", ".join(f"{p}_score AS {p}" for p in PARENTS)
    latest = snap.query(f"SELECT date, ticker, sector, composite, {cols} FROM factor_scores "
                        "WHERE date = (SELECT max(date) FROM factor_scores)")
    if latest.is_empty():
        return latest
    ranked = latest.sort("composite", descending=True)
    longs = ranked.head(n).with_columns(pl.lit("LONG").alias("side"))
    shorts = ranked.tail(n).with_columns(pl.lit("SHORT").alias("side"))
    return pl.concat([longs, shorts]).unique(subset="ticker", keep="first", maintain_order=True)


def candidates(snap: Snapshot, rebalance_id: str, n: int = CARDS_N) -> pl.DataFrame:
    """Card rows: the proposal's ``n`` largest longs and shorts with their trade, its status, the shares the
    target book wants traded (``intended_shares``: also for a DEFERRED or VETOED trade, whose ``delta_shares``
    is what goes now) and the decision recorded for the name (``decision``: None while undecided)."""
    cols = ("b.ticker, b.sector, b.side, b.score, b.weight, b.target_shares, b.price, b.beta, b.mctr_flag, "
            "t.action, t.delta_shares, b.target_shares - t.current_shares AS intended_shares, "
            "t.status AS trade_status, t.reason, t.cost_bps")
    base = "FROM target_book b LEFT JOIN rebalance_trades t USING (rebalance_id, ticker)"
    if snap.has("position_approvals"):  # a crossing trade's two legs carry the same decision
        book = snap.query(f"SELECT {cols}, a.decision {base} LEFT JOIN (SELECT ticker, min(status) AS decision "
                          "FROM position_approvals WHERE rebalance_id = ? GROUP BY ticker) a USING (ticker) "
                          "WHERE b.rebalance_id = ?", [rebalance_id, rebalance_id])
    else:
        book = snap.query(f"SELECT {cols}, NULL::VARCHAR AS decision {base} WHERE b.rebalance_id = ?",
                          [rebalance_id])
    if book.is_empty():
        return book
    longs = book.filter(pl.col("side") == "LONG").sort("weight", descending=True).head(n)
    shorts = book.filter(pl.col("side") == "SHORT").sort("weight").head(n)
    return pl.concat([longs, shorts])


def _why(reason: str | None) -> str:
    """The first clause of a Layer-4 reason: 'turnover budget', 'below the minimum trade (0.10% of NAV)'."""
    text = (reason or "").split(":")[0].strip()
    return text[:60] or "no reason given"


def trade_label(row: dict) -> str:
    """How a card reads its trade: ``BUY 1,682 sh`` for a proposed trade; for one that does not go now the
    status, why, and the shares it would have traded: ``DEFERRED (turnover budget) · BUY 1,303 sh waits``."""
    action, status = row.get("action"), (row.get("trade_status") or "").upper()
    if not action:
        return "hold (at target)"
    shares = abs(int(row.get("delta_shares") or 0))
    intended = abs(int(row["intended_shares"])) if row.get("intended_shares") is not None else shares
    if status == "DEFERRED":
        return f"DEFERRED ({_why(row.get('reason'))}) · {action} {intended:,} sh waits"
    if status == "VETOED":
        return f"VETOED ({_why(row.get('reason'))}) · {action} {intended:,} sh not sent"
    return f"{action} {shares:,} sh" + ("" if not status or status == "PROPOSED" else f" · {status}")


def can_refuse(row: dict) -> bool:
    """Only a PROPOSED trade can be refused on its card (a deferred, vetoed or absent trade sends nothing)."""
    return bool(row.get("action")) and (row.get("trade_status") or "").upper() == "PROPOSED"


def advisories(events: list[dict]) -> list[str]:
    """Advisory lines from the latest `target_book` materialization's metadata (``events``: metadata dicts,
    newest first, as `actions.latest_metadata` returns them)."""
    for meta in events:
        text = str(meta.get("advisories") or "")
        if text:
            return [] if text.strip() == "none" else [ln.lstrip("- ").strip() for ln in text.splitlines() if ln.strip()]
    return []


def latest_proposal_metadata() -> list[dict]:
    """The latest `target_book` materialization's metadata, from Dagster's event log (plain values)."""
    import dagster as dg

    try:
        instance = dg.DagsterInstance.get()
        event = instance.get_latest_materialization_event(dg.AssetKey("target_book"))
    except Exception:  # no instance configured: no advisories to show
        return []
    if event is None or event.asset_materialization is None:
        return []
    return [{k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}]
