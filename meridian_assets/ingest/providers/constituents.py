"""Point-in-time index membership from dated constituent snapshots (pure functions, no I/O beyond reading
the files named). Used by the `files` provider's ``universe(as_of)``.

**Snapshot format.** ``constituents/history`` holds one CSV per version of the constituent list, named
``YYYY-MM-DD.csv`` or ``YYYY-MM-DD_<id>.csv`` (other files are ignored). The first field of a row is the
symbol; the name comes from a ``Security``/``Name``/``Company`` column and the sector from ``GICS Sector``/
``Sector`` (legacy "Telecommunication(s) Services" -> "Communication Services"), with optional
``GICS Sub-Industry`` and ``CIK``. Old files with unquoted commas or extra fields are read as: first field
= symbol, last field that is a GICS sector name = sector. A symbol field holding a company name is resolved
by the previous list's names, else the row is dropped. Several files dated the same day are ordered as a
chain of edits from the previous day's list and the last one is the day's list.

**Interval rules.** Only snapshots dated on or before ``as_of`` are used (no look-ahead). Glitches are
removed first (`_deglitch`): a name missing from one list while both neighbours (at most
``bridge_max_days`` apart) name it is kept; a name only one list gives while both neighbours (at most
``drop_max_days`` apart) do not is dropped. An interval opens at the first list naming a ticker and closes
(``end_date``) at the first list that no longer does; the ticker added in that same list with the same CIK
or name is its ``successor``. Intervals still open have no end. Name/sector/sub-industry/CIK come from
``constituents/constituents.csv`` (today's companies) unless the interval ended before that company's
``Date added`` (an earlier listing of the ticker): then from the last history list naming it.

**Tickers** (`normalize_ticker`): upper case, share class after a dot (``BRK-B``/``BRK/B`` -> ``BRK.B``),
index symbols keep their caret (``^VIX``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

# the provider's logger, so log records are the same as before this module was split out of files.py
log = logging.getLogger("meridian_assets.ingest.providers.files")

__all__ = [
    "GICS_SECTORS",
    "UNKNOWN_SECTOR",
    "normalize_ticker",
    "ticker_variants",
    "load_metadata",
    "membership_intervals",
    "stock_rows",
]

# The 11 GICS sectors, and the names older snapshots use for one of them.
GICS_SECTORS: frozenset[str] = frozenset(
    {
        "Communication Services",
        "Consumer Discretionary",
        "Consumer Staples",
        "Energy",
        "Financials",
        "Health Care",
        "Industrials",
        "Information Technology",
        "Materials",
        "Real Estate",
        "Utilities",
    }
)
_LEGACY_SECTORS = {
    "Telecommunications Services": "Communication Services",
    "Telecommunication Services": "Communication Services",
}

UNKNOWN_SECTOR = "Unknown"  # a member whose sector no file gives (the column is NOT NULL)

_SNAPSHOT_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:_[^.]*)?\.csv$", re.IGNORECASE)
_SYMBOL_FIELD = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*(?:[.\-/][A-Za-z]{1,3})?)\s*(?:\(.*\))?\s*$")
_VALID_TICKER = re.compile(r"^[A-Z][A-Z0-9]{0,5}(?:\.[A-Z]{1,3})?$")


# --------------------------------------------------------------------------------------------- tickers
def normalize_ticker(ticker: str) -> str:
    """Meridian's ticker convention: upper case, share class after a dot (``BRK-B`` -> ``BRK.B``)."""
    t = str(ticker).strip().upper()
    if t.startswith("^"):
        return t
    return t.replace("-", ".").replace("/", ".").replace(" ", ".")


def ticker_variants(ticker: str) -> set[str]:
    """The spellings of one ticker a source may use (``BRK.B``, ``BRK-B``, ``BRK/B``, ``BRK B``)."""
    t = normalize_ticker(ticker)
    if "." not in t:
        return {t}
    return {t, t.replace(".", "-"), t.replace(".", "/"), t.replace(".", " ")}


def _sector(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if v in GICS_SECTORS:
        return v
    return _LEGACY_SECTORS.get(v)


# --------------------------------------------------------------------------------------------- snapshots
@dataclass
class _Entry:
    name: str | None
    sector: str | None
    sub_industry: str | None = None
    cik: int | None = None


@dataclass
class _Snapshot:
    date: dt.date
    path: Path
    entries: dict[str, _Entry] = field(default_factory=dict)
    # rows whose symbol field is not a ticker (e.g. a company name typed into it): (raw field, entry)
    unresolved: list[tuple[str, _Entry]] = field(default_factory=list)

    @property
    def tickers(self) -> set[str]:
        return set(self.entries)


def _to_int(value: str | None) -> int | None:
    if value is None:
        return None
    v = value.strip()
    try:
        return int(float(v)) if v else None
    except ValueError:
        return None


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8-sig", errors="replace")


def _parse_snapshot(path: Path, date: dt.date) -> _Snapshot:
    """One constituent list. Robust to unquoted commas and extra fields in old files: the symbol is the
    first field and the sector the last field that is a GICS sector name."""
    snap = _Snapshot(date=date, path=path)
    rows = [r for r in csv.reader(io.StringIO(_read_text(path))) if any(x.strip() for x in r)]
    if not rows:
        return snap
    header = [h.strip().lower() for h in rows[0]]
    idx = {h: i for i, h in enumerate(header)}
    name_i = next((idx[k] for k in ("security", "name", "company") if k in idx), 1)
    sector_i = next((idx[k] for k in ("gics sector", "sector") if k in idx), None)
    sub_i = idx.get("gics sub-industry")
    cik_i = idx.get("cik")
    for r in rows[1:]:
        raw_symbol = r[0]
        if len(r) == len(header):
            name = r[name_i].strip() if name_i < len(r) else None
            sector = _sector(r[sector_i]) if sector_i is not None else None
            sub = r[sub_i].strip() if sub_i is not None else None
            cik = _to_int(r[cik_i]) if cik_i is not None else None
            if sector is None and sector_i is not None and sub_i is None:
                # old layout with a stray value in the Sector column: look for a sector elsewhere
                sector = next((s for s in map(_sector, reversed(r[1:])) if s), None)
        else:
            # malformed row (unquoted commas, trailing fields): first field = symbol, last sector field
            pos = next((i for i in range(len(r) - 1, 0, -1) if _sector(r[i])), None)
            sector = _sector(r[pos]) if pos is not None else None
            name = ",".join(r[1:pos] if pos is not None else r[1:2]).strip() or None
            sub, cik = None, None
        entry = _Entry(name=name or None, sector=sector, sub_industry=sub or None, cik=cik)
        m = _SYMBOL_FIELD.match(raw_symbol)
        ticker = normalize_ticker(m.group(1)) if m else None
        if ticker and _VALID_TICKER.match(ticker):
            snap.entries.setdefault(ticker, entry)
        else:
            snap.unresolved.append((raw_symbol.strip(), entry))
    return snap


def _deglitch(snaps: list[_Snapshot], bridge_max_days: int, drop_max_days: int) -> list[set[str]]:
    """The member sets of the lists with the source's glitches removed.

    A name missing from one list while the lists either side of it (at most ``bridge_max_days`` apart)
    both name it is kept: the index does not drop and re-add a name within months, a mistyped row or a
    stale edit does. A name only one list gives, while the lists either side (at most ``drop_max_days``
    apart) do not, is dropped: an edit reverted within days. Only lists dated on or before ``as_of`` are
    passed in, so a glitch in the latest list cannot be seen yet (no look-ahead).
    """
    raw = [s.tickers for s in snaps]
    members = [set(t) for t in raw]
    for i in range(1, len(snaps) - 1):
        span = (snaps[i + 1].date - snaps[i - 1].date).days
        if span <= bridge_max_days:
            members[i] |= (raw[i - 1] & raw[i + 1]) - raw[i]
        if span <= drop_max_days:
            members[i] -= raw[i] - raw[i - 1] - raw[i + 1]
    return members


def _simple_name(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (name or "").lower())


def _successor(old: _Entry | None, added: list[str], snap: _Snapshot) -> str | None:
    """The ticker added in the same list that is the same company (same CIK, or the same name)."""
    if old is None:
        return None
    for t in added:
        new = snap.entries.get(t)
        if new is None:
            continue
        if old.cik and new.cik and old.cik == new.cik:
            return t
        if old.name and new.name and _simple_name(old.name) == _simple_name(new.name):
            return t
    return None


@dataclass
class _Membership:
    """The constituent snapshots, one per date, in date order."""

    dates: list[dt.date]
    snapshots: list[_Snapshot]


def _collapse_same_day(group: list[_Snapshot], previous: set[str] | None) -> _Snapshot:
    """Several versions of the list dated the same day: order them as a chain of edits starting from the
    previous day's list (each step the version closest to the last one) and keep the last as the day's
    list. Uses no later snapshot. Name/sector of a ticker: the first version that gives one, last first."""
    if len(group) == 1:
        return group[0]
    remaining = list(group)
    current = previous if previous is not None else set()
    chain: list[_Snapshot] = []
    while remaining:
        best = min(remaining, key=lambda s: (len(s.tickers ^ current), s.path.name))
        chain.append(best)
        remaining.remove(best)
        current = best.tickers
    final = chain[-1]
    merged = _Snapshot(date=final.date, path=final.path, unresolved=list(final.unresolved))
    for t, e in final.entries.items():
        entry = _Entry(e.name, e.sector, e.sub_industry, e.cik)
        for other in reversed(chain[:-1]):
            o = other.entries.get(t)
            if o is not None:
                entry.name = entry.name or o.name
                entry.sector = entry.sector or o.sector
                entry.sub_industry = entry.sub_industry or o.sub_industry
                entry.cik = entry.cik or o.cik
        merged.entries[t] = entry
    return merged


def _load_membership(folder: Path) -> _Membership:
    by_date: dict[dt.date, list[_Snapshot]] = {}
    for path in sorted(folder.iterdir()):
        m = _SNAPSHOT_NAME.match(path.name)
        if not m or not path.is_file():
            if path.is_file():
                log.debug("files provider: ignoring %s (not YYYY-MM-DD[_id].csv)", path)
            continue
        try:
            date = dt.date.fromisoformat(m.group(1))
        except ValueError:
            log.warning("files provider: ignoring %s (bad date in file name)", path)
            continue
        by_date.setdefault(date, []).append(_parse_snapshot(path, date))
    dates = sorted(by_date)
    snapshots: list[_Snapshot] = []
    for d in dates:
        prev = snapshots[-1] if snapshots else None
        snap = _collapse_same_day(by_date[d], prev.tickers if prev else None)
        # a row whose symbol field holds a company name: resolve it by the previous list's names
        if snap.unresolved:
            by_name = {e.name.lower(): t for t, e in (prev.entries.items() if prev else []) if e.name}
            for raw, entry in snap.unresolved:
                t = by_name.get(raw.lower()) or by_name.get((entry.name or "").lower())
                if t and t not in snap.entries:
                    prev_entry = prev.entries[t]  # type: ignore[union-attr]
                    snap.entries[t] = _Entry(prev_entry.name, entry.sector or prev_entry.sector)
                else:
                    log.info("files provider: %s: dropping row with symbol %r", snap.path.name, raw)
            snap.unresolved = []
        snapshots.append(snap)
    return _Membership(dates=dates, snapshots=snapshots)


# --------------------------------------------------------------------------------------------- metadata
def load_metadata(path: Path) -> dict[str, dict]:
    """constituents.csv: ticker -> name, sector, sub_industry, cik, date_added (empty when the file is absent)."""
    meta: dict[str, dict] = {}
    if path.is_file():
        rows = list(csv.DictReader(io.StringIO(_read_text(path))))
        for r in rows:
            r = {(k or "").strip().lower(): (v or "").strip() for k, v in r.items() if k is not None}
            sym = r.get("symbol")
            if not sym:
                continue
            added = None
            try:
                added = dt.date.fromisoformat(r.get("date added", "")[:10])
            except ValueError:
                pass
            meta[normalize_ticker(sym)] = {
                "name": r.get("security") or r.get("name") or None,
                "sector": _sector(r.get("gics sector")),
                "sub_industry": r.get("gics sub-industry") or None,
                "cik": _to_int(r.get("cik")),
                "date_added": added,
            }
    else:
        log.warning("files provider: %s not found; sectors from the history files only", path)
    return meta


# --------------------------------------------------------------------------------------------- intervals
# (ticker, start, end or None while open, successor, the last history entry naming the ticker)
Interval = tuple[str, dt.date, dt.date | None, str | None, _Entry | None]


def membership_intervals(snaps: list[_Snapshot], bridge_max_days: int, drop_max_days: int) -> list[Interval]:
    """(ticker, start, end, successor, last entry) for each membership interval in ``snaps`` (date order)."""
    members = _deglitch(snaps, bridge_max_days, drop_max_days)
    # intervals: open at the first list naming the ticker, closed at the first list that no longer does
    open_: dict[str, dt.date] = {}
    intervals: list[Interval] = []
    latest: dict[str, _Entry] = {}  # latest name, sector, CIK seen for each ticker (<= as_of)
    for snap, tickers in zip(snaps, members, strict=True):
        added = [t for t in tickers if t not in open_]
        removed = [t for t in open_ if t not in tickers]
        for t in removed:
            last = latest.get(t)  # as the last list naming it described it
            intervals.append((t, open_.pop(t), snap.date, _successor(last, added, snap), last))
        for t in added:
            open_[t] = snap.date
        for t, e in snap.entries.items():
            prev = latest.get(t)
            latest[t] = _Entry(
                e.name or (prev.name if prev else None),
                e.sector or (prev.sector if prev else None),
                e.sub_industry or (prev.sub_industry if prev else None),
                e.cik or (prev.cik if prev else None),
            )
    intervals += [(t, s, None, None, latest.get(t)) for t, s in open_.items()]
    return intervals


def stock_rows(intervals: list[Interval], meta: dict[str, dict]) -> list[dict]:
    """Universe rows of the intervals, described from ``meta`` (constituents.csv) or the history files,
    sorted by ticker and start date."""
    rows = []
    for t, s, e, successor, last in intervals:
        m = meta.get(t)
        h = last or _Entry(None, None)
        # constituents.csv describes today's company with that ticker; an interval that ended before
        # that company was added belongs to an earlier listing: describe it from the history files.
        if m is not None and (e is None or m["date_added"] is None or e > m["date_added"]):
            name, sector, sub, cik = m["name"] or h.name, m["sector"] or h.sector, m["sub_industry"], m["cik"]
        else:
            name, sector, sub, cik = h.name, h.sector, h.sub_industry, h.cik
        rows.append(
            {
                "ticker": t,
                "name": name,
                "sector": sector or UNKNOWN_SECTOR,
                "sub_industry": sub,
                "cik": cik,
                "is_benchmark": False,
                "asset_type": "stock",
                "start_date": s,
                "end_date": e,
                "successor": successor,
            }
        )
    rows.sort(key=lambda r: (r["ticker"], r["start_date"]))
    return rows
