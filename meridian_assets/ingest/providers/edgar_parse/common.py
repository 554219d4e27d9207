"""What every EDGAR parser shares: when a filing becomes usable (``known_at``), lenient date and number
readers for values as filed, and loading a full SGML submission."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

from meridian_assets.calendar import known_session, session_on_or_after


def known_at_for(accepted: dt.datetime | dt.date | str | None, filing_date: dt.date | str | None = None) -> dt.date:
    """The session a filing becomes usable (schemas docstring: ``known_at``).

    ``accepted`` is the acceptance timestamp. A naive datetime is read as New York wall-clock time (the SGML
    header's ACCEPTANCE-DATETIME is Eastern; the submissions JSON labels its time UTC but is not reliably so,
    and reading it as Eastern is the later, look-ahead-safe reading). A bare date, or no acceptance time at all,
    is treated as accepted after the close of that day (the next session) -- conservative.
    """
    fd = to_date(filing_date)
    if isinstance(accepted, str) and accepted.strip():
        accepted = parse_datetime(accepted)
    if isinstance(accepted, dt.datetime):
        known = known_session(accepted)
    else:
        day = to_date(accepted) or fd
        if day is None:
            raise ValueError("known_at_for: neither an acceptance time nor a filing date")
        known = known_session(dt.datetime.combine(day, dt.time(16, 0)))
    if fd is not None:
        known = max(known, session_on_or_after(fd))
    return known


def parse_datetime(s: str) -> dt.datetime:
    s = s.strip()
    if re.fullmatch(r"\d{14}", s):
        return dt.datetime.strptime(s, "%Y%m%d%H%M%S")
    # The JSON 'Z' is not trustworthy (see known_at_for): keep the wall-clock time, drop the zone.
    return dt.datetime.fromisoformat(s.replace("Z", "")).replace(tzinfo=None)


def to_date(v: Any) -> dt.date | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    s = str(v).strip()
    if re.fullmatch(r"\d{8}", s):
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    if re.fullmatch(r"\d{2}-\d{2}-\d{4}", s):  # 13-F cover page: MM-DD-YYYY
        return dt.datetime.strptime(s, "%m-%d-%Y").date()
    try:
        return dt.date.fromisoformat(s[:10])
    except ValueError:
        return None


def num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(str(v).replace(",", "")) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def as_sgml(sgml: Any) -> Any:
    from edgar.sgml import FilingSGML

    if isinstance(sgml, FilingSGML) or (hasattr(sgml, "header") and hasattr(sgml, "xml")):
        return sgml  # a FilingSGML, or anything shaped like one
    if isinstance(sgml, Path) or (isinstance(sgml, str) and "\n" not in sgml and Path(sgml).exists()):
        return FilingSGML.from_source(Path(sgml))
    return FilingSGML.from_text(str(sgml))
