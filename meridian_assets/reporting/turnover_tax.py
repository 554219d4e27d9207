"""Turnover against the budget, and the tax on realized gains (FIFO lots).

**Turnover** of a window of ``W`` calendar days ending ``as_of``: the traded notional of the executed ledger
(Σ shares × price, buys and sells alike) over the average NAV of the window's sessions — the same two-sided
Σ|Δw| the Layer-4 turnover budget limits. Annualised with `reporting.turnover_annualisation` (12 periods of
30 days a year): ``turnover × 12 × 30 / W`` (×12 for 30 days, ×4 for 90). Each rebalance's own turnover
(its notional over the NAV of its session) is compared with `portfolio.turnover_budget` (0.30, within 1%:
whole shares and costs in the fill prices move it a little);
``budget_utilisation`` = window turnover / (budget × rebalances in the window).

**Tax.** Lots are matched first-in-first-out per ticker and side (`positions.match_lots`). A lot closed after
less than 365 calendar days is short-term (37%), otherwise long-term (20%). Within each term, gains and
losses of the window's closed lots net; a net loss owes nothing (carry-forwards and cross-term netting are
left to the tax return). The estimate is pre-fees and ignores wash sales.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from meridian_assets.reporting.positions import match_lots
from meridian_assets.reporting.schemas import TURNOVER_AND_TAX

LONG_TERM_DAYS = 365
# Whole shares and fill prices that include costs put a rebalance's realized turnover a little off the weights
# the budget was applied to: within 1% of the budget counts as within it.
BUDGET_TOLERANCE = 0.01


def rebalance_turnover(ledger: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """``(rebalance_id, date, notional, nav, turnover)`` per rebalance of the executed ledger."""
    if ledger.height == 0:
        return pl.DataFrame(schema={"rebalance_id": pl.Utf8, "date": pl.Date, "notional": pl.Float64,
                                    "nav": pl.Float64, "turnover": pl.Float64})
    per = (ledger.group_by("rebalance_id").agg(pl.col("date").min(),
                                               (pl.col("shares") * pl.col("price")).sum().alias("notional"))
           .sort("date"))
    nav = history.select("date", "nav").sort("date")
    per = per.join_asof(nav, on="date", strategy="backward")
    # a rebalance before the first NAV row (the opening trades) uses the first NAV
    first_nav = nav["nav"][0] if nav.height else None
    return per.with_columns(pl.col("nav").fill_null(first_nav)).with_columns(
        (pl.col("notional") / pl.col("nav")).alias("turnover"))


def tax_lots(ledger: pl.DataFrame, short_rate: float = 0.37, long_rate: float = 0.20) -> pl.DataFrame:
    """Closed FIFO lots with their holding period in calendar days, term and rate."""
    closed = match_lots(ledger, "fifo").closed
    return closed.with_columns(
        (pl.col("exit_date") - pl.col("entry_date")).dt.total_days().alias("held_days"),
    ).with_columns(
        pl.when(pl.col("held_days") < LONG_TERM_DAYS).then(pl.lit("short")).otherwise(pl.lit("long")).alias("term"),
    ).with_columns(
        pl.when(pl.col("term") == "short").then(short_rate).otherwise(long_rate).alias("rate"),
    )


def _tax(lots: pl.DataFrame, short_rate: float, long_rate: float) -> dict[str, float]:
    st = float(lots.filter(pl.col("term") == "short")["pnl"].sum()) if lots.height else 0.0
    lt = float(lots.filter(pl.col("term") == "long")["pnl"].sum()) if lots.height else 0.0
    st_tax, lt_tax = max(st, 0.0) * short_rate, max(lt, 0.0) * long_rate
    return {"closed_lots": lots.height, "short_term_gain": st, "long_term_gain": lt, "short_term_tax": st_tax,
            "long_term_tax": lt_tax, "estimated_tax": st_tax + lt_tax}


def turnover_and_tax(
    ledger: pl.DataFrame, history: pl.DataFrame, as_of: dt.date, windows: tuple[int, ...] = (30, 90),
    annualisation: int = 12, budget: float = 0.30, short_rate: float = 0.37, long_rate: float = 0.20,
) -> pl.DataFrame:
    """The `turnover_and_tax` rows: one per window in ``windows`` and one year to date."""
    lots = tax_lots(ledger, short_rate, long_rate)
    per_rb = rebalance_turnover(ledger, history)
    spans = [(f"{w}d", w, as_of - dt.timedelta(days=w - 1)) for w in windows]
    ytd_start = dt.date(as_of.year, 1, 1)
    spans.append(("ytd", (as_of - ytd_start).days + 1, ytd_start))
    rows = []
    for name, days, start in spans:
        traded = ledger.filter(pl.col("date").is_between(start, as_of)) if ledger.height else ledger
        notional = float((traded["shares"] * traded["price"]).sum()) if traded.height else 0.0
        navs = history.filter(pl.col("date").is_between(start, as_of))["nav"] if history.height else pl.Series([])
        if navs.len() == 0 and history.height:
            navs = history.filter(pl.col("date") <= as_of).sort("date")["nav"].tail(1)
        avg_nav = float(navs.mean()) if navs.len() else None
        turnover = notional / avg_nav if avg_nav else None
        rbs = per_rb.filter(pl.col("date").is_between(start, as_of))
        max_rb = float(rbs["turnover"].max()) if rbs.height and rbs["turnover"].max() is not None else None
        window_lots = lots.filter(pl.col("exit_date").is_between(start, as_of)) if lots.height else lots
        rows.append({
            "as_of": as_of, "period": name, "window_days": days, "traded_notional": notional,
            "average_nav": avg_nav, "turnover": turnover,
            "turnover_annualised": turnover * annualisation * 30 / days if turnover is not None else None,
            "rebalances": rbs.height, "max_rebalance_turnover": max_rb, "budget_per_rebalance": budget,
            "budget_utilisation": (turnover / (budget * rbs.height)) if turnover is not None and rbs.height else None,
            "within_budget": (max_rb <= budget * (1 + BUDGET_TOLERANCE)) if max_rb is not None else True,
            **_tax(window_lots, short_rate, long_rate),
        })
    return TURNOVER_AND_TAX.conform(pl.DataFrame(rows))
