"""Factor-exposure spreads of a book and rebalance-schedule advisories (both informational, never blocking).

Exposure spread per parent factor f: ``L_f = Σ_long |w_i| s_if / Σ_long |w_i|`` (weighted-average 0–100 score of
the long book), ``S_f`` likewise for the short book, spread = ``L_f − S_f``. A spread is *flagged* when it is
more than 1σ from the mean of the same factor's spreads at earlier rebalances; with fewer than 3 earlier
rebalances there is no history to judge and nothing is flagged.

Advisories warn when the rebalance date is within ``advisory_earnings_days`` calendar days of a book name's
earnings, ``advisory_fomc_days`` of an FOMC date (config), or ``advisory_opex_days`` of monthly options
expiry (third Friday).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from meridian_assets.portfolio.settings import PortfolioConfig

MIN_HISTORY = 3


def exposure_spreads(book: pl.DataFrame, factors: Sequence[str], history: pl.DataFrame | None = None,
                     sigma: float = 1.0) -> pl.DataFrame:
    """``book``: ticker, weight (signed) and one column per factor. ``history``: earlier rows of this function's
    output (factor, spread, as_of/rebalance_id). Returns factor, long_exposure, short_exposure, spread,
    history_mean, history_std, z, flagged."""
    long_, short = book.filter(pl.col("weight") > 0), book.filter(pl.col("weight") < 0)

    def avg(b: pl.DataFrame, f: str) -> float | None:
        vals = b[f].cast(pl.Float64).to_numpy()
        w = np.abs(b["weight"].to_numpy())
        ok = np.isfinite(vals)
        return float(np.average(vals[ok], weights=w[ok])) if ok.any() and w[ok].sum() > 0 else None

    rows = []
    for f in factors:
        lo, sh = avg(long_, f), avg(short, f)
        spread = None if lo is None or sh is None else lo - sh
        past = (history.filter(pl.col("factor") == f)["spread"].drop_nulls().to_numpy()
                if history is not None and history.height else np.array([]))
        mean = std = z = None
        flagged = False
        if past.size >= MIN_HISTORY and spread is not None:
            mean, std = float(past.mean()), float(past.std(ddof=1))
            z = (spread - mean) / std if std > 0 else 0.0
            flagged = abs(z) > sigma
        rows.append({"factor": f, "long_exposure": lo, "short_exposure": sh, "spread": spread,
                     "history_mean": mean, "history_std": std, "z": z, "flagged": flagged})
    return pl.DataFrame(rows, schema={"factor": pl.Utf8, "long_exposure": pl.Float64, "short_exposure": pl.Float64,
                                      "spread": pl.Float64, "history_mean": pl.Float64, "history_std": pl.Float64,
                                      "z": pl.Float64, "flagged": pl.Boolean})


def third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def rebalance_advisories(as_of: dt.date, next_earnings: dict[str, dt.date], cfg: PortfolioConfig) -> list[str]:
    """Human-readable warnings; ``next_earnings`` maps each book name to its next known earnings date."""
    out = []
    for t, d in sorted(next_earnings.items()):
        if d is not None and 0 <= (d - as_of).days <= cfg.advisory_earnings_days:
            out.append(f"earnings: {t} reports {d} ({(d - as_of).days}d)")
    for d in cfg.fomc_dates:
        if 0 <= (d - as_of).days <= cfg.advisory_fomc_days:
            out.append(f"FOMC: decision on {d} ({(d - as_of).days}d)")
    for y, m in ((as_of.year, as_of.month), (as_of.year + (as_of.month == 12), as_of.month % 12 + 1)):
        opex = third_friday(y, m)
        if 0 <= (opex - as_of).days <= cfg.advisory_opex_days:
            out.append(f"monthly opex: {opex} ({(opex - as_of).days}d)")
    return out
