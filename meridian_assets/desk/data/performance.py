"""Page IV, Performance: equity vs SPY, attribution, sector-relative alpha, turnover and tax, win/loss,
best and worst contributors, the latest commentary."""

from __future__ import annotations

import polars as pl

from meridian_assets.desk.source import Snapshot


def rebase_to_100(series: pl.Series) -> pl.Series:
    return series / series[0] * 100.0


def equity_vs_spy(snap: Snapshot) -> pl.DataFrame:
    """(date, book, spy): the NAV and SPY's close over the book's history, both rebased to 100 on day one."""
    df = snap.query("SELECT h.date, h.nav, p.close AS spy FROM portfolio_history h JOIN daily_prices p "
                    "ON p.date = h.date AND p.ticker = 'SPY' ORDER BY h.date")
    if df.is_empty():
        return df
    return df.select("date", rebase_to_100(df["nav"]).alias("book"), rebase_to_100(df["spy"]).alias("spy"))


def attribution(snap: Snapshot, days: int = 20) -> pl.DataFrame:
    """The last ``days`` of daily attribution, long: (date, component, return)."""
    df = snap.query("SELECT date, beta_return AS Beta, sector_return AS Sector, factor_return AS Factor, "
                    "alpha_return AS Alpha FROM daily_attribution ORDER BY date DESC LIMIT ?", [days])
    if df.is_empty():
        return df
    return df.sort("date").unpivot(index="date", variable_name="component", value_name="return")


def sector_alpha(snap: Snapshot) -> pl.DataFrame:
    return snap.query("SELECT sector, selection_alpha, picks_return, etf_return, positions FROM sector_relative_alpha "
                      "WHERE as_of = (SELECT max(as_of) FROM sector_relative_alpha) ORDER BY selection_alpha DESC")


def turnover_tax(snap: Snapshot) -> pl.DataFrame:
    """The latest report's turnover and tax windows (30d, 90d, year to date), shortest first."""
    return snap.query("SELECT period, turnover, turnover_annualised, rebalances, max_rebalance_turnover, "
                      "budget_per_rebalance, within_budget, closed_lots, short_term_gain, long_term_gain, "
                      "estimated_tax FROM turnover_and_tax WHERE as_of = (SELECT max(as_of) FROM turnover_and_tax) "
                      "ORDER BY window_days")


TURNOVER_ROWS = [  # (column, label, format)
    ("turnover", "Turnover (traded / average NAV)", "{:.0%}"), ("turnover_annualised", "Annualised", "{:.1f}×"),
    ("rebalances", "Rebalances", "{:d}"), ("max_rebalance_turnover", "Largest rebalance", "{:.1%}"),
    ("budget_per_rebalance", "Budget per rebalance", "{:.0%}"), ("within_budget", "Within budget", "bool"),
    ("closed_lots", "Lots closed", "{:d}"), ("short_term_gain", "Short-term gain", "${:,.0f}"),
    ("long_term_gain", "Long-term gain", "${:,.0f}"), ("estimated_tax", "Estimated tax", "${:,.0f}"),
]


def turnover_tax_table(tt: pl.DataFrame) -> pl.DataFrame:
    """`turnover_tax` turned for reading: one row per figure, one column per window (30d, 90d, ytd), as text."""
    if tt.is_empty():
        return pl.DataFrame()

    def fmt(v, f: str) -> str:
        if v is None:
            return "—"
        return ("yes" if v else "no") if f == "bool" else f.format(v)

    return pl.DataFrame([{"figure": label, **{r["period"]: fmt(r[col], f) for r in tt.iter_rows(named=True)}}
                         for col, label, f in TURNOVER_ROWS])


def win_loss(snap: Snapshot) -> dict | None:
    df = snap.query("SELECT trades, wins, losses, win_rate, avg_win, avg_loss, pl_ratio, total_pnl FROM win_loss "
                    "WHERE dimension = 'all' AND as_of = (SELECT max(as_of) FROM win_loss)")
    return df.row(0, named=True) if df.height else None


def contributors(snap: Snapshot, n: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Best and worst ``n`` positions by P&L (open marks and closed round trips) as of the latest report."""
    df = snap.query("SELECT ticker, side, kind, pnl, return_pct FROM position_attribution "
                    "WHERE as_of = (SELECT max(as_of) FROM position_attribution)")
    if df.is_empty():
        return df, df
    by = df.group_by("ticker", "side").agg(pl.col("pnl").sum()).sort("pnl", descending=True)
    return by.head(n), by.tail(n).sort("pnl")


def commentary(snap: Snapshot) -> dict | None:
    df = snap.query("SELECT week_start, week_end, doc_id, body, source, llm_note FROM weekly_commentary "
                    "ORDER BY week_start DESC LIMIT 1")
    return df.row(0, named=True) if df.height else None
