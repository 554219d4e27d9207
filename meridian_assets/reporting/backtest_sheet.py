"""The backtest tear sheet: every sleeve's longest backtest (the meta layer's sleeve backtests, through the live
rebalance code) against SPY over the whole window, year by year, with the survivorship of the prices behind it.

Per sleeve (from `backtest_daily`, the backtest's own marks; SPY from `daily_prices` on the same sessions):
total and annualised return, volatility, Sharpe, max drawdown, CVaR95, beta to SPY, Jensen alpha, correlation,
excess annualised return over SPY (definitions in `stats`), and the backtest's turnover and costs (from
`backtest_runs`). Calendar-year returns per sleeve and SPY. Survivorship: the index members and the members with
prices on the first session of each year (`index_coverage`), since a price source that holds today's members only
backtests a survivor universe.

Plain functions over polars frames; the asset (`reporting.assets.backtest_tear_sheet`) reads and writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meridian_assets.reporting import stats

COLUMNS = ("total_return", "annualised_return", "annualised_volatility", "sharpe", "max_drawdown", "cvar95",
           "beta_to_benchmark", "alpha_jensen", "correlation")


def longest_runs(runs: pl.DataFrame) -> pl.DataFrame:
    """Per sleeve, its backtest with the most sessions ending on the latest end any backtest reached (the
    latest-created one of equals): the window the sheet reports."""
    if runs.height == 0:
        return runs
    latest = runs["end"].max()
    return (runs.filter(pl.col("end") == latest)
            .sort(["sleeve", "sessions", "created_at"], descending=[False, True, True])
            .unique("sleeve", keep="first", maintain_order=True).sort("sleeve"))


@dataclass
class BacktestSheet:
    as_of: dt.date
    start: dt.date
    sleeves: pl.DataFrame  # one row per sleeve: run_id, COLUMNS, excess_annualised_return, costs, turnover
    spy: dict[str, float]
    yearly: pl.DataFrame  # year, one column per sleeve and SPY: calendar-year return
    coverage: pl.DataFrame  # date, members, members_with_prices, share
    short_sessions: int = 0  # sessions of the window on which some members have no prices
    total_sessions: int = 0  # sessions of the window with index_coverage rows
    growth: dict[str, tuple[list[dt.date], np.ndarray]] = field(default_factory=dict)

    def context(self, fund: str, risk_free_rate: float, chart: str | None) -> dict:
        """What templates/reports/backtest_tear_sheet.md.j2 renders (``chart``: the chart's path from the
        document, None for none)."""
        return {"fund": fund, "as_of": self.as_of, "start": self.start, "spy": self.spy,
                "risk_free_rate": risk_free_rate, "sleeves": self.sleeves.to_dicts(), "chart": chart,
                "yearly": self.yearly.to_dicts(), "yearly_columns": [c for c in self.yearly.columns if c != "year"],
                "coverage": self.coverage.to_dicts(), "short": self.short_sessions, "total": self.total_sessions}

    def rows(self) -> pl.DataFrame:
        """The `backtest_tear_sheet` table: one row per sleeve, and SPY."""
        spy = {"sleeve": "SPY", "run_id": None, **{c: self.spy.get(c) for c in COLUMNS},
               "excess_annualised_return": 0.0, "annual_turnover": None, "cost_bps": None}
        return pl.concat([self.sleeves.with_columns(pl.lit(self.as_of).alias("as_of"),
                                                    pl.lit(self.start).alias("start")),
                          pl.DataFrame([{**spy, "as_of": self.as_of, "start": self.start}])], how="diagonal_relaxed")


def build(runs: pl.DataFrame, daily: pl.DataFrame, spy: pl.DataFrame, coverage: pl.DataFrame, *,
          risk_free_rate: float = 0.04, confidence: float = 0.95) -> BacktestSheet | None:
    """``runs``: `backtest_runs` rows; ``daily``: `backtest_daily` rows of those runs (run_id, date,
    daily_return, nav); ``spy``: (date, ret) of SPY; ``coverage``: `index_coverage` rows. None without runs."""
    chosen = longest_runs(runs)
    if chosen.height == 0:
        return None
    start = chosen["start"].min()
    end = chosen["end"].max()
    spy = spy.filter(pl.col("date").is_between(start, end)).sort("date")
    rows, yearly, growth = [], [], {}
    spy_years = _yearly(spy["date"].to_list(), spy["ret"].fill_null(0.0).to_numpy())
    for run in chosen.iter_rows(named=True):
        d = daily.filter(pl.col("run_id") == run["run_id"]).sort("date").join(
            spy.rename({"ret": "spy"}), on="date", how="left")
        r = d["daily_return"].fill_null(0.0).to_numpy().astype(float)
        s = d["spy"].fill_null(np.nan).to_numpy().astype(float)
        top = stats.summary(r, s, risk_free_rate, confidence)
        spy_top = stats.summary(np.nan_to_num(s), None, risk_free_rate, confidence)
        rows.append({"sleeve": run["sleeve"], "run_id": run["run_id"], **{c: top.get(c) for c in COLUMNS},
                     "excess_annualised_return": top["annualised_return"] - spy_top["annualised_return"],
                     "annual_turnover": run["annual_turnover"], "cost_bps": run["cost_bps"]})
        dates = d["date"].to_list()
        growth[run["sleeve"]] = (dates, np.cumprod(1 + r))
        yearly.append(_yearly(dates, r).rename({"ret": run["sleeve"]}))
    growth["SPY"] = (spy["date"].to_list(), np.cumprod(1 + spy["ret"].fill_null(0.0).to_numpy()))
    grid = spy_years.rename({"ret": "SPY"})
    for y in yearly:
        grid = grid.join(y, on="year", how="full", coalesce=True)
    spy_r = spy["ret"].fill_null(0.0).to_numpy().astype(float)
    window = coverage.filter(pl.col("date").is_between(start, end), pl.col("members") > 0)
    return BacktestSheet(as_of=end, start=start, sleeves=pl.DataFrame(rows, infer_schema_length=None),
                         spy=stats.summary(spy_r, None, risk_free_rate, confidence), yearly=grid.sort("year"),
                         coverage=yearly_coverage(coverage, start, end), growth=growth,
                         short_sessions=window.filter(pl.col("members_with_prices") < pl.col("members")).height,
                         total_sessions=window.height)


def _yearly(dates: list[dt.date], r: np.ndarray) -> pl.DataFrame:
    """year, ret: the compounded return of each calendar year."""
    if not dates:
        return pl.DataFrame(schema={"year": pl.Int32, "ret": pl.Float64})
    return (pl.DataFrame({"date": dates, "ret": r}).group_by(pl.col("date").dt.year().alias("year"))
            .agg(((1 + pl.col("ret")).product() - 1).alias("ret")).sort("year"))


def yearly_coverage(coverage: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The first session of each year in [start, end] and the last one: members, members with prices, share."""
    c = coverage.filter(pl.col("date").is_between(start, end), pl.col("members") > 0).sort("date")
    if c.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "members": pl.Int64, "members_with_prices": pl.Int64,
                                    "share": pl.Float64})
    firsts = c.group_by(pl.col("date").dt.year().alias("year")).agg(pl.col("date").min())["date"]
    keep = c.filter(pl.col("date").is_in(firsts) | (pl.col("date") == c["date"].max()))
    return keep.select("date", "members", "members_with_prices",
                       share=pl.col("members_with_prices") / pl.col("members"))
