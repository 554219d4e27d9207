"""Point-in-time index membership from the dated constituent lists (pure functions over the lists read by
`constituent_lists`). Used by the `files` provider's ``universe(as_of)``.

**Interval rules.** Only snapshots dated on or before ``as_of`` are used (no look-ahead). Glitches are
removed first (`_deglitch`): a name missing from one list while both neighbours (at most
``bridge_max_days`` apart) name it is kept; a name only one list gives while both neighbours (at most
``drop_max_days`` apart) do not is dropped. An interval opens at the first list naming a ticker; it ends
(``end_date``, inclusive) at the last list naming it, or, for a ticker change, the day before the new
ticker's first list. The new ticker is the ``successor``: the ticker added in the list that drops the old
one with the same CIK or name, or whose company constituents.csv says joined the index on the date the old
interval began (`link_renames`). Intervals still open have no end. Name/sub-industry/CIK come from
``constituents/constituents.csv`` (today's companies) unless the interval ended before that company's
``Date added`` (an earlier listing of the ticker): then from the last history list naming it.

**Sector, point in time.** Each interval is cut where the sector the lists give changes: the sector on a
date is the one of the latest list on or before it that names one (`sector_as_of`); today's sector only
before any list of the interval names one (``sector_as_of`` null).

**Identity.** ``security_id`` follows a company across ticker changes and re-additions, and never across a
reused ticker (`assign_securities`); `price_labels` and `price_keys` map a price file keyed by today's
tickers back to each date's ticker.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from meridian_assets.ingest.providers.constituent_lists import UNKNOWN_SECTOR, Entry, Snapshot

__all__ = [
    "Interval",
    "membership_intervals",
    "link_renames",
    "assign_securities",
    "stock_rows",
    "price_labels",
    "price_keys",
]


def _deglitch(snaps: list[Snapshot], bridge_max_days: int, drop_max_days: int) -> list[set[str]]:
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


def _successor(old: Entry | None, added: list[str], snap: Snapshot) -> str | None:
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


# --------------------------------------------------------------------------------------------- intervals
@dataclass
class Interval:
    """One stretch of index membership under one ticker, as the snapshots show it.

    ``start`` is the first list naming the ticker; ``last_listed`` the last list naming it; ``end`` the last
    day of membership (None while open): the day before the successor's first list for a ticker change,
    else ``last_listed`` (a name is a member up to the last list that names it, not up to the first list
    that no longer does). ``sectors`` are the (snapshot date, GICS sector) where the sector the lists give
    changes; ``security_id`` the company's identity across ticker changes (`assign_securities`)."""

    ticker: str
    start: dt.date
    last_listed: dt.date
    end: dt.date | None = None
    successor: str | None = None
    last: Entry | None = None
    sectors: list[tuple[dt.date, str]] = field(default_factory=list)
    security_id: str | None = None


def membership_intervals(snaps: list[Snapshot], bridge_max_days: int, drop_max_days: int) -> list[Interval]:
    """The membership intervals in ``snaps`` (date order), successors linked by CIK or name within the list
    that makes the change; `link_renames` finds the others."""
    members = _deglitch(snaps, bridge_max_days, drop_max_days)
    open_: dict[str, Interval] = {}
    intervals: list[Interval] = []
    latest: dict[str, Entry] = {}  # latest name, sector, CIK seen for each ticker (<= as_of)
    for snap, tickers in zip(snaps, members, strict=True):
        added = [t for t in tickers if t not in open_]
        removed = [t for t in open_ if t not in tickers]
        for t in removed:
            iv = open_.pop(t)
            iv.last = latest.get(t)  # as the last list naming it described it
            iv.successor = _successor(iv.last, added, snap)
            intervals.append(iv)
        for t in added:
            open_[t] = Interval(ticker=t, start=snap.date, last_listed=snap.date)
        for t in tickers:
            iv = open_[t]
            iv.last_listed = snap.date
            e = snap.entries.get(t)
            if e is not None and e.sector and (not iv.sectors or iv.sectors[-1][1] != e.sector):
                iv.sectors.append((snap.date, e.sector))
        for t, e in snap.entries.items():
            prev = latest.get(t)
            latest[t] = Entry(
                e.name or (prev.name if prev else None),
                e.sector or (prev.sector if prev else None),
                e.sub_industry or (prev.sub_industry if prev else None),
                e.cik or (prev.cik if prev else None),
            )
    for t, iv in open_.items():
        iv.last = latest.get(t)
        intervals.append(iv)
    return intervals


def link_renames(intervals: list[Interval], meta: dict[str, dict], snapshot_dates: list[dt.date]) -> None:
    """Successor links the lists' names and CIKs cannot show (FB -> META: "Facebook" without a CIK, then
    "Meta Platforms" 14 months later), from constituents.csv's ``Date added``: a ticker first listed well after
    the date its company joined the index took over the interval that ended in the same list and began at
    the first list on or after that date. Then sets every interval's ``end`` (see `Interval`). In place."""
    starts = {}
    for iv in intervals:
        starts.setdefault(iv.start, []).append(iv)
    taken = {iv.successor for iv in intervals if iv.successor}
    ordered = sorted(snapshot_dates)
    seen_from = {}  # ticker -> first and last start of its intervals
    for iv in intervals:
        lo, hi = seen_from.get(iv.ticker, (iv.start, iv.start))
        seen_from[iv.ticker] = (min(lo, iv.start), max(hi, iv.start))
    pairs = []
    for old in intervals:
        # an old ticker that comes back later was not renamed away
        if old.successor is not None or _is_open(old, ordered) or seen_from[old.ticker][1] > old.start:
            continue
        for new in starts.get(_first_after(ordered, old.last_listed), []):
            m = meta.get(new.ticker)
            added = m.get("date_added") if m else None
            if (new.ticker in taken or new.ticker == old.ticker or added is None or added >= new.start
                    or seen_from[new.ticker][0] < new.start):
                continue
            first_on_or_after = next((d for d in ordered if d >= added), None)
            # a date before the first list says nothing: every interval of that list starts there
            if first_on_or_after == old.start and first_on_or_after != ordered[0]:
                pairs.append((old, new.ticker))
    # only unambiguous pairs: one candidate each way (lists months apart can hold several changes)
    for old, new in pairs:
        if sum(o is old for o, _ in pairs) == 1 and sum(n == new for _, n in pairs) == 1:
            old.successor = new
    for iv in intervals:
        nxt = [n for n in starts.get(_first_after(ordered, iv.last_listed), []) if n.ticker == iv.successor]
        if nxt:  # a ticker change: membership continues under the new ticker without a gap
            iv.end = nxt[0].start - dt.timedelta(days=1)
        else:
            iv.end = None if _is_open(iv, ordered) else iv.last_listed


def _first_after(ordered: list[dt.date], day: dt.date) -> dt.date | None:
    return next((d for d in ordered if d > day), None)


def _is_open(iv: Interval, ordered: list[dt.date]) -> bool:
    """Still a member in the last list read."""
    return bool(ordered) and iv.last_listed == ordered[-1]


def _same_company(a: Interval, b: Interval) -> bool:
    """Two intervals of one ticker are one company when their CIKs agree, or (no CIK on one side) when one
    name is the other's start ("Teradyne Inc." and "Teradyne")."""
    ea, eb = a.last or Entry(None, None), b.last or Entry(None, None)
    if ea.cik and eb.cik:
        return ea.cik == eb.cik
    na, nb = _simple_name(ea.name), _simple_name(eb.name)
    return bool(na and nb) and (na.startswith(nb) or nb.startswith(na))


def assign_securities(intervals: list[Interval]) -> None:
    """``security_id`` of every interval: one company keeps one id across ticker changes and re-additions.

    Intervals are taken in start order. One that a predecessor's ``successor`` link points at (ending the
    day before it starts) continues the predecessor's security; a later interval of a ticker already seen
    continues that ticker's security when it is the same company (`_same_company`), else it is a new
    security: a reused ticker is a different company. A new security's id is ``<first ticker>:<first
    list date>``, which no later list can change. In place."""
    by_end: dict[tuple[str, dt.date], Interval] = {}
    last_of_ticker: dict[str, Interval] = {}
    for iv in sorted(intervals, key=lambda i: (i.start, i.ticker)):
        sid = None
        for (succ, day), prev in by_end.items():
            if succ == iv.ticker and day == iv.start:
                sid = prev.security_id
                break
        if sid is None and iv.ticker in last_of_ticker and _same_company(last_of_ticker[iv.ticker], iv):
            sid = last_of_ticker[iv.ticker].security_id
        iv.security_id = sid or f"{iv.ticker}:{iv.start.isoformat()}"
        last_of_ticker[iv.ticker] = iv
        if iv.successor and iv.end is not None:
            by_end[(iv.successor, iv.end + dt.timedelta(days=1))] = iv


def stock_rows(intervals: list[Interval], meta: dict[str, dict]) -> list[dict]:
    """Universe rows of the intervals, sorted by ticker and start date: one row per stretch of an interval
    with one GICS sector (the sector of the latest list on or before the date that names one; today's, from
    constituents.csv, only before any list of the interval names one, and then ``sector_as_of`` is null).
    Name/sub-industry/CIK come from ``meta`` (constituents.csv) or the history files."""
    rows = []
    for iv in intervals:
        t, s, e = iv.ticker, iv.start, iv.end
        m = meta.get(t)
        h = iv.last or Entry(None, None)
        # constituents.csv describes today's company with that ticker; an interval that ended before
        # that company was added belongs to an earlier listing: describe it from the history files.
        if m is not None and (e is None or m["date_added"] is None or e > m["date_added"]):
            name, today, sub, cik = m["name"] or h.name, m["sector"], m["sub_industry"], m["cik"]
        else:
            name, today, sub, cik = h.name, None, h.sub_industry, h.cik
        segments: list[tuple[dt.date, str | None, dt.date | None]] = [
            (max(d, s), sec, d) for d, sec in iv.sectors
        ]
        if not segments or segments[0][0] > s:
            segments.insert(0, (s, today or h.sector, None))
        for k, (seg_start, sector, named_on) in enumerate(segments):
            last_seg = k == len(segments) - 1
            rows.append(
                {
                    "ticker": t,
                    "security_id": iv.security_id,
                    "name": name,
                    "sector": sector or UNKNOWN_SECTOR,
                    "sector_as_of": named_on,
                    "sub_industry": sub,
                    "cik": cik,
                    "is_benchmark": False,
                    "asset_type": "stock",
                    "start_date": seg_start,
                    "end_date": e if last_seg else segments[k + 1][0] - dt.timedelta(days=1),
                    "successor": iv.successor if last_seg else None,
                }
            )
    rows.sort(key=lambda r: (r["ticker"], r["start_date"]))
    return rows


def price_labels(intervals: list[Interval]) -> dict[str, list[tuple[dt.date, str]]]:
    """security_id -> [(first day, ticker)] in date order: the ticker each security trades under from each
    day on (its first ticker before its first interval)."""
    out: dict[str, list[tuple[dt.date, str]]] = {}
    for iv in sorted(intervals, key=lambda i: i.start):
        seq = out.setdefault(iv.security_id or iv.ticker, [])
        if not seq or seq[-1][1] != iv.ticker:
            seq.append((iv.start, iv.ticker))
    return out


def ticker_changes(labels: dict[str, list[tuple[dt.date, str]]], start: dt.date, end: dt.date) -> list[dict]:
    """`corporate_actions` rows of every ticker change in `price_labels` effective in [start, end]: the old
    ticker, action ``ticker_change``, ``new_ticker``, dated the first session under the new ticker (the day the
    bars change label), known that day."""
    from meridian_assets import calendar

    rows = []
    for seq in labels.values():
        for (_, old), (since, new) in zip(seq, seq[1:]):
            if old == new:
                continue
            day = calendar.session_on_or_after(since)
            if start <= day <= end:
                rows.append({"date": day, "ticker": old, "action": "ticker_change", "ratio": None,
                             "new_ticker": new, "known_at": day})
    return rows


def price_keys(intervals: list[Interval]) -> dict[str, str]:
    """ticker in a price file keyed by today's tickers -> the security its bars belong to: the security
    that held the ticker last. An earlier company that used the same ticker gets none of its bars."""
    owner: dict[str, tuple[dt.date, str]] = {}
    for iv in intervals:
        sid = iv.security_id or iv.ticker
        if iv.ticker not in owner or iv.start > owner[iv.ticker][0]:
            owner[iv.ticker] = (iv.start, sid)
    return {t: sid for t, (_, sid) in owner.items()}
