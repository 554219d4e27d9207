"""The order-event journal: every order event of a run, durable on disk the moment it happens.

DuckDB has one writer and a run writes `execution_fills` when it ends, so a process killed mid-run (kill -9,
an OOM, a power cut) would lose what it did. The journal closes that gap: one append-only JSON-lines file
per run, ``$MERIDIAN_HOME/execution/journal/<run id>.jsonl``, each line flushed and fsync'd before the
executor goes on. Events, in the order they happen:

    start    the run, its rebalance
    intent   an order about to be sent (written *before* the request): client id, ticker, side, qty, limit,
             action, signal price, chunk, attempt
    adopt    an order an earlier run left working, taken over (the same fields and the broker id)
    ack      the broker answered with the order (broker id, status, filled qty)
    fill     a fill booked from the order (fill id, qty, price)
    cancel   a cancel was requested
    reject   the broker refused the order (code, reason)
    unknown  the submit's outcome could not be settled
    outcome  the `execution_fills` row of an outcome (every row the run records)
    closed   the run wrote its rows to DuckDB (or a later run replayed this journal)

A closed journal is renamed ``<run id>.jsonl.done``; a ``.jsonl`` without ``closed`` belongs to a run that died. The next run replays it (`replay`) before its
reconciliation: each client order id's last ``outcome``, else a row rebuilt from its intent, ack and fills
(OPEN when the broker had acknowledged it, UNKNOWN when only the intent was written), written to DuckDB
under the dead run's id; then reconciliation settles those rows with the broker. Replaying twice writes the
same rows (rows are keyed by client order id), so a crash during recovery is harmless.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from meridian_assets.execution.broker import Fill, Side
from meridian_assets.execution.fills import ExecutionRecord, FillLedger, Status, outcome_record

log = logging.getLogger(__name__)
SUFFIX = ".jsonl"
DONE = ".done"
_TIMES = ("submitted_at", "finished_at", "recorded_at")


def _jsonable(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if hasattr(v, "value"):
        return v.value
    return v


class OrderJournal:
    """The journal of one run. `append` returns once the line is on disk."""

    def __init__(self, folder: Path, run_id: str, rebalance_id: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{run_id}{SUFFIX}"
        self.run_id, self.rebalance_id = run_id, rebalance_id
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.append("start", rebalance_id=rebalance_id)
        _fsync_dir(self.folder)  # the new file's name is durable too

    def append(self, kind: str, **fields: Any) -> None:
        doc = {"kind": kind, "at": dt.datetime.now(dt.timezone.utc).isoformat(), "run_id": self.run_id,
               **{k: _jsonable(v) for k, v in fields.items()}}
        os.write(self._fd, (json.dumps(doc, default=str) + "\n").encode())
        os.fsync(self._fd)

    def record(self, rec: ExecutionRecord) -> None:
        self.append("outcome", cid=rec.client_order_id, record={k: _jsonable(v) for k, v in
                                                                 dataclasses.asdict(rec).items()})

    def close(self) -> None:
        """The run's rows are in DuckDB: nothing to replay."""
        if self._fd >= 0:
            self.append("closed", by="run")
            os.close(self._fd)
            self._fd = -1
            _retire(self.path)

    def release(self) -> None:
        """Close the file without marking it done (the rows did not reach DuckDB: the next run replays)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _retire(path: Path) -> None:
    """Move a closed journal out of the way of `unfinished` (kept for audit)."""
    try:
        os.replace(path, path.with_name(path.name + DONE))
    except OSError as err:  # still closed inside: `unfinished` skips it
        log.warning("could not rename the closed journal %s: %s", path, err)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_events(path: Path) -> Iterator[dict]:
    """The events of a journal; a torn last line (the process died mid-write) is skipped."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                yield json.loads(line)
            except ValueError:
                log.warning("journal %s line %d is incomplete (the run died while writing it); skipped", path, n)


def unfinished(folder: Path, exclude: str | None = None) -> list[Path]:
    """Journals of runs that died (no ``closed`` event), oldest first."""
    if not Path(folder).is_dir():
        return []
    out = []
    for p in sorted(Path(folder).glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime):
        if p.stem == exclude:
            continue
        if any(e.get("kind") == "closed" for e in read_events(p)):
            _retire(p)  # closed, but the rename did not happen (the run died right after closing)
        else:
            out.append(p)
    return out


def mark_replayed(path: Path, by_run: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": "closed", "by": "replay", "run_id": by_run,
                            "at": dt.datetime.now(dt.timezone.utc).isoformat()}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    _retire(path)


def _record_from(doc: dict) -> ExecutionRecord:
    names = {f.name for f in dataclasses.fields(ExecutionRecord)}
    vals = {k: v for k, v in doc.items() if k in names}
    for k in _TIMES:
        if vals.get(k):
            vals[k] = dt.datetime.fromisoformat(vals[k])
    return ExecutionRecord(**vals)


def replay(path: Path, broker: str) -> list[ExecutionRecord]:
    """The `execution_fills` rows a dead run's journal stands for (see the module docstring)."""
    events = list(read_events(path))
    run_id = next((e.get("run_id") for e in events), path.stem)
    outcomes: dict[str, ExecutionRecord] = {}
    intents: dict[str, dict] = {}
    acks: dict[str, dict] = {}
    fills: dict[str, dict[str, dict]] = {}
    order: list[str] = []
    for e in events:
        cid = e.get("cid")
        if not cid:
            continue
        if cid not in order:
            order.append(cid)
        kind = e["kind"]
        if kind == "outcome":
            outcomes[cid] = _record_from(e["record"])
        elif kind in ("intent", "adopt"):
            intents[cid] = e
        if kind in ("ack", "adopt"):
            acks[cid] = e
        elif kind == "fill":
            fills.setdefault(cid, {})[e["fill_id"]] = e
    out = []
    for cid in order:
        booked = fills.get(cid, {})
        rec = outcomes.get(cid)
        if rec is not None and sum(int(f["qty"]) for f in booked.values()) <= rec.shares:
            rec.run_id = rec.run_id or run_id
            out.append(rec)
            continue
        it, ack = intents.get(cid), acks.get(cid)
        if it is None and rec is None:
            continue
        base = it or {"ticker": rec.ticker, "side": "buy" if rec.action in ("BUY", "COVER") else "sell",
                      "qty": rec.ordered_shares, "limit": rec.limit_price, "action": rec.action,
                      "book_side": rec.side, "signal": rec.signal_price, "chunk": rec.chunk, "attempt": rec.attempt,
                      "rebalance_id": rec.rebalance_id}
        ledger = FillLedger(int(base["qty"]))
        for f in booked.values():
            ledger.add(Fill(f["fill_id"], f.get("order_id") or "", cid, base["ticker"], Side(base["side"]),
                            int(f["qty"]), float(f["price"]), dt.datetime.fromisoformat(f["at"])))
        status = Status.OPEN if (ack or rec) else Status.UNKNOWN
        what = "the broker had acknowledged it" if ack else "the request was about to be sent"
        now = dt.datetime.fromisoformat(events[-1]["at"])
        r = outcome_record(
            rebalance_id=base.get("rebalance_id") or (events[0].get("rebalance_id") or ""), order=None,
            client_order_id=cid, ticker=base["ticker"], action=base["action"], book_side=base["book_side"],
            ordered=int(base["qty"]), signal=base.get("signal"), limit=base.get("limit"), ledger=ledger,
            broker=broker, chunk=base.get("chunk"), attempt=base.get("attempt"), status=status,
            notes=f"recovered from the order journal of run {run_id}, which died: {what}", now=now)
        r.alpaca_order_id = (ack or {}).get("order_id") or (rec.alpaca_order_id if rec else None)
        r.run_id = run_id
        out.append(r)
    return out
