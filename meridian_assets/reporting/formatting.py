"""How numbers read in every report: one function per kind, also registered as Jinja filters.

Missing or non-finite values print as an en dash, never as ``nan`` or ``None``.
"""

from __future__ import annotations

import datetime as dt
import math

DASH = "–"


def _ok(x) -> bool:
    return x is not None and not (isinstance(x, float) and not math.isfinite(x))


def pct(x, digits: int = 2, sign: bool = False) -> str:
    """0.01234 -> '1.23%' (``sign``: '+1.23%')."""
    if not _ok(x):
        return DASH
    return f"{x * 100:+.{digits}f}%" if sign else f"{x * 100:.{digits}f}%"


def bps(x, digits: int = 0, sign: bool = True) -> str:
    """A value already in bps: 12.3 -> '+12 bps'."""
    if not _ok(x):
        return DASH
    return f"{x:+,.{digits}f} bps" if sign else f"{x:,.{digits}f} bps"


def ret_bps(x, digits: int = 0) -> str:
    """A return as a fraction, shown in bps: 0.00123 -> '+12 bps'."""
    return bps(x * 1e4, digits) if _ok(x) else DASH


def money(x, digits: int = 0) -> str:
    if not _ok(x):
        return DASH
    s = f"{abs(x):,.{digits}f}"
    return f"-${s}" if x < 0 else f"${s}"


def num(x, digits: int = 2) -> str:
    return f"{x:,.{digits}f}" if _ok(x) else DASH


def weight(x, digits: int = 2) -> str:
    """A signed weight as a percentage of NAV: -0.035 -> '-3.50%'."""
    return pct(x, digits, sign=True)


def date(x) -> str:
    if x is None:
        return DASH
    return x.isoformat() if isinstance(x, (dt.date, dt.datetime)) else str(x)


def integer(x) -> str:
    return f"{int(x):,d}" if _ok(x) else DASH


FILTERS = {"pct": pct, "bps": bps, "ret_bps": ret_bps, "money": money, "num": num, "weight": weight,
           "date": date, "integer": integer}
