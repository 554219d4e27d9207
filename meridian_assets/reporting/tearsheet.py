"""The returns tear sheet, as pyfolio lays one out, in the specification's 11 sections:

1 Header · 2 Top-line · 3 Returns vs SPY · 4 Monthly Returns · 5 Drawdown · 6 Rolling 12-month Sharpe ·
7 Factor Exposures · 8 Sector Exposures · 9 Turnover & Tax · 10 Win/Loss · 11 Predictive Power

`build` assembles the figures (statistics from `stats`, definitions in its docstring) and the charts;
`metrics` flattens them into `tear_sheet` rows; the Markdown (`output/tear_sheet_latest.md`) and HTML
documents are rendered from `templates/reports/tear_sheet.{md,html}.j2`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meridian_assets.reporting import charts, stats
from meridian_assets.reporting.positions import PredictivePower
from meridian_assets.reporting.schemas import TEAR_SHEET

SECTIONS = ("Header", "Top-line", "Returns vs SPY", "Monthly Returns", "Drawdown", "Rolling 12-month Sharpe",
            "Factor Exposures", "Sector Exposures", "Turnover & Tax", "Win/Loss", "Predictive Power")


@dataclass
class TearSheet:
    as_of: dt.date
    fund: str
    start: dt.date | None
    nav: float | None
    topline: dict[str, float]
    vs_spy: dict[str, float]
    spy: dict[str, float]
    monthly: pl.DataFrame
    drawdown: dict
    rolling: dict
    factor_exposures: pl.DataFrame
    sector_exposures: pl.DataFrame
    turnover: pl.DataFrame
    win_loss: pl.DataFrame
    predictive: PredictivePower
    risk_free_rate: float
    charts: dict[str, bytes] = field(default_factory=dict)

    def metrics(self) -> pl.DataFrame:
        """The `tear_sheet` rows: (section, metric, value, benchmark, unit)."""
        rows = [("Top-line", k, v, self.spy.get(k), _unit(k)) for k, v in self.topline.items()]
        rows += [("Returns vs SPY", k, v, None, _unit(k)) for k, v in self.vs_spy.items()]
        rows += [("Drawdown", k, v, None, _unit(k)) for k, v in self.drawdown.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)]
        rows += [("Rolling 12-month Sharpe", k, v, None, "ratio") for k, v in self.rolling.items()
                 if isinstance(v, (int, float)) and k != "window"]
        for r in self.turnover.iter_rows(named=True):
            rows += [("Turnover & Tax", f"{r['period']}_{k}", r[k], None, _unit(k))
                     for k in ("turnover", "turnover_annualised", "estimated_tax")]
        for r in self.win_loss.filter(pl.col("dimension") == "all").iter_rows(named=True):
            rows += [("Win/Loss", k, r[k], None, _unit(k)) for k in ("trades", "win_rate", "pl_ratio")]
        p = self.predictive
        rows += [("Predictive Power", "spearman_rho", p.rho, None, "ratio"),
                 ("Predictive Power", "points", float(p.points), None, "count")]
        frame = pl.DataFrame(rows, schema={"section": pl.Utf8, "metric": pl.Utf8, "value": pl.Float64,
                                           "benchmark": pl.Float64, "unit": pl.Utf8}, orient="row")
        return TEAR_SHEET.conform(frame.with_columns(pl.lit(self.as_of).alias("as_of"),
                                                     pl.col("value", "benchmark").fill_nan(None)))

    def context(self, chart_uris: dict[str, str] | None = None) -> dict:
        """What the templates render: the figures, tables as row dicts and chart URIs."""
        return {
            "sections": SECTIONS, "as_of": self.as_of, "fund": self.fund, "start": self.start, "nav": self.nav,
            "topline": self.topline, "spy": self.spy, "vs_spy": self.vs_spy, "drawdown": self.drawdown,
            "rolling": self.rolling, "risk_free_rate": self.risk_free_rate,
            "monthly": self.monthly.to_dicts(), "months": list(stats.MONTHS),
            "factor_exposures": self.factor_exposures.to_dicts(),
            "sector_exposures": self.sector_exposures.to_dicts(),
            "turnover": self.turnover.to_dicts(),
            "win_loss": self.win_loss.filter(pl.col("dimension") != "streak").to_dicts(),
            "streaks": self.win_loss.filter(pl.col("dimension") == "streak").to_dicts(),
            "predictive": self.predictive, "charts": chart_uris or {},
        }


def _unit(metric: str) -> str:
    if metric in ("sharpe", "sortino", "calmar", "beta_to_benchmark", "correlation", "information_ratio",
                  "pl_ratio", "latest", "min", "max", "mean"):
        return "ratio"
    if metric in ("sessions", "trades", "points", "recovery_sessions"):
        return "count"
    if metric.endswith("tax"):
        return "usd"
    return "fraction"


def sector_exposures(positions: pl.DataFrame) -> pl.DataFrame:
    """``(sector, long, short, net, gross, names)`` from signed position weights."""
    if positions.height == 0:
        return pl.DataFrame(schema={"sector": pl.Utf8, "long": pl.Float64, "short": pl.Float64,
                                    "net": pl.Float64, "gross": pl.Float64, "names": pl.UInt32})
    return positions.group_by("sector").agg(
        pl.col("weight").filter(pl.col("weight") > 0).sum().alias("long"),
        pl.col("weight").filter(pl.col("weight") < 0).sum().abs().alias("short"),
        pl.col("weight").sum().alias("net"), pl.col("weight").abs().sum().alias("gross"),
        pl.len().alias("names"),
    ).sort("gross", descending=True)


def build(
    as_of: dt.date, fund: str, book: pl.DataFrame, spy: pl.DataFrame, *, positions: pl.DataFrame,
    factor_exposures: pl.DataFrame, turnover: pl.DataFrame, win_loss: pl.DataFrame, predictive: PredictivePower,
    risk_free_rate: float = 0.04, rolling_window: int = 252, confidence: float = 0.95, with_charts: bool = True,
) -> TearSheet:
    """``book``: (date, ret, nav) of the book up to ``as_of``; ``spy``: (date, ret) of SPY."""
    b = book.filter(pl.col("date") <= as_of).sort("date")
    aligned = b.join(spy.rename({"ret": "spy"}), on="date", how="left")
    dates = aligned["date"].to_list()
    r = aligned["ret"].to_numpy().astype(float)
    s = aligned["spy"].fill_null(np.nan).to_numpy().astype(float)
    top = stats.summary(r, s, risk_free_rate, confidence)
    vs = {k: top.pop(k) for k in ("alpha_jensen", "beta_to_benchmark", "correlation", "tracking_error",
                                  "information_ratio")}
    spy_top = stats.summary(np.nan_to_num(s), None, risk_free_rate, confidence) if len(s) else {}
    vs["excess_total_return"] = top["total_return"] - spy_top.get("total_return", np.nan)
    vs["excess_annualised_return"] = top["annualised_return"] - spy_top.get("annualised_return", np.nan)
    dd = stats.max_drawdown(r)
    dd_series = stats.drawdown_series(r)
    roll = stats.rolling_sharpe(r, rolling_window, risk_free_rate)
    finite = roll[np.isfinite(roll)]
    drawdown = {
        "max_drawdown": dd.depth,
        "current_drawdown": float(dd_series[-1]) if len(dd_series) else float("nan"),
        "peak_date": dates[dd.peak] if dd.peak >= 0 else (dates[0] if dates else None),
        "trough_date": dates[dd.trough] if dd.trough >= 0 and dates else None,
        "recovery_date": dates[dd.recovery] if dd.recovery is not None else None,
    }
    rolling = {"window": rolling_window, "latest": float(finite[-1]) if finite.size else float("nan"),
               "min": float(finite.min()) if finite.size else float("nan"),
               "max": float(finite.max()) if finite.size else float("nan"),
               "mean": float(finite.mean()) if finite.size else float("nan")}
    grid = stats.monthly_grid(dates, r)
    sheet = TearSheet(
        as_of=as_of, fund=fund, start=dates[0] if dates else None, nav=float(b["nav"][-1]) if b.height else None,
        topline=top, vs_spy=vs, spy=spy_top, monthly=grid, drawdown=drawdown, rolling=rolling,
        factor_exposures=factor_exposures, sector_exposures=sector_exposures(positions), turnover=turnover,
        win_loss=win_loss, predictive=predictive, risk_free_rate=risk_free_rate,
    )
    if with_charts:
        sheet.charts = {
            "equity_curve": charts.equity_curve(dates, r, s),
            "drawdown": charts.drawdown(dates, dd_series),
            "rolling_sharpe": charts.rolling_sharpe(dates, roll, rolling_window),
            "monthly_returns": charts.monthly_grid(grid),
        }
    return sheet
