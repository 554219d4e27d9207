"""Reading the dated constituent lists and the constituents metadata file of the `files` provider, and the
ticker and sector conventions they are read in (pure functions, no I/O beyond reading the files named). The
rules that turn the lists into point-in-time membership are in `constituents`.

**Snapshot format.** ``constituents/history`` holds one CSV per version of the constituent list, named
``YYYY-MM-DD.csv`` or ``YYYY-MM-DD_<id>.csv`` (other files are ignored). The first field of a row is the
symbol; the name comes from a ``Security``/``Name``/``Company`` column and the sector from ``GICS Sector``/
``Sector`` (legacy "Telecommunication(s) Services" -> "Communication Services"), with optional
``GICS Sub-Industry`` and ``CIK``. Old files with unquoted commas or extra fields are read as: first field
= symbol, last field that is a GICS sector name = sector. A symbol field holding a company name is resolved
by the previous list's names, else the row is dropped. Several files dated the same day are ordered as a
chain of edits from the previous day's list and the last one is the day's list.

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
    "Entry",
    "Membership",
    "Snapshot",
    "load_membership",
    "load_metadata",
    "normalize_ticker",
    "parse_snapshot",
    "ticker_variants",
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
class Entry:
    name: str | None
    sector: str | None
    sub_industry: str | None = None
    cik: int | None = None


@dataclass
class Snapshot:
    date: dt.date
    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    # rows whose symbol field is not a ticker (e.g. a company name typed into it): (raw field, entry)
    unresolved: list[tuple[str, Entry]] = field(default_factory=list)

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


def parse_snapshot(path: Path, date: dt.date) -> Snapshot:
    """One constituent list. Robust to unquoted commas and extra fields in old files: the symbol is the
    first field and the sector the last field that is a GICS sector name."""
    snap = Snapshot(date=date, path=path)
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
        entry = Entry(name=name or None, sector=sector, sub_industry=sub or None, cik=cik)
        m = _SYMBOL_FIELD.match(raw_symbol)
        ticker = normalize_ticker(m.group(1)) if m else None
        if ticker and _VALID_TICKER.match(ticker):
            snap.entries.setdefault(ticker, entry)
        else:
            snap.unresolved.append((raw_symbol.strip(), entry))
    return snap


@dataclass
class Membership:
    """The constituent snapshots, one per date, in date order."""

    dates: list[dt.date]
    snapshots: list[Snapshot]


def _collapse_same_day(group: list[Snapshot], previous: set[str] | None) -> Snapshot:
    """Several versions of the list dated the same day: order them as a chain of edits starting from the
    previous day's list (each step the version closest to the last one) and keep the last as the day's
    list. Uses no later snapshot. Name/sector of a ticker: the first version that gives one, last first."""
    if len(group) == 1:
        return group[0]
    remaining = list(group)
    current = previous if previous is not None else set()
    chain: list[Snapshot] = []
    while remaining:
        best = min(remaining, key=lambda s: (len(s.tickers ^ current), s.path.name))
        chain.append(best)
        remaining.remove(best)
        current = best.tickers
    final = chain[-1]
    merged = Snapshot(date=final.date, path=final.path, unresolved=list(final.unresolved))
    for t, e in final.entries.items():
        entry = Entry(e.name, e.sector, e.sub_industry, e.cik)
        for other in reversed(chain[:-1]):
            o = other.entries.get(t)
            if o is not None:
                entry.name = entry.name or o.name
                entry.sector = entry.sector or o.sector
                entry.sub_industry = entry.sub_industry or o.sub_industry
                entry.cik = entry.cik or o.cik
        merged.entries[t] = entry
    return merged


def load_membership(folder: Path) -> Membership:
    by_date: dict[dt.date, list[Snapshot]] = {}
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
        by_date.setdefault(date, []).append(parse_snapshot(path, date))
    dates = sorted(by_date)
    snapshots: list[Snapshot] = []
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
                    snap.entries[t] = Entry(prev_entry.name, entry.sector or prev_entry.sector)
                else:
                    log.info("files provider: %s: dropping row with symbol %r", snap.path.name, raw)
            snap.unresolved = []
        snapshots.append(snap)
    return Membership(dates=dates, snapshots=snapshots)


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
