"""A backtest's result, in the manner of cvxportfolio's `BacktestResult`: the daily book, every trade, and the
statistics with their standard definitions (`reporting.stats`).

    returns           daily simple returns of NAV (the first session's is against the starting capital)
    sharpe            mean / std(ddof=1) × √252 of the daily returns (cash earns nothing in the simulation, so
                      the returns are not reduced by a risk-free rate)
    max_drawdown      deepest peak-to-trough fall of NAV (≤ 0); cvar_95 the mean of the worst 5% of days
    turnover          traded notional / NAV per session; annual = mean × 252
    costs             commission, spread, impact and borrow in dollars, and all of them in bps of mean NAV
    time              wall seconds of the whole run, and per simulated session (mean and 95th percentile) less
                      the optimizer's one-off compilation of a program (`mvo_program.compile_seconds`): the
                      sleeve's own cost, whatever ran before it in the process (the fan-out orders by it)
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meridian_assets.meta.schemas import BACKTEST_DAILY, BACKTEST_RUNS, BACKTEST_TRADES
from meridian_assets.meta.sleeves import Sleeve, canonical_json
from meridian_assets.reporting import stats

COSTS = ("commission", "spread", "impact", "borrow")


def _f(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


@dataclass
class BacktestResult:
    run_id: str
    sleeve: Sleeve
    sleeve_version: int
    purpose: str
    start: dt.date
    end: dt.date
    capital: float
    daily: pl.DataFrame  # BACKTEST_DAILY columns
    trades: pl.DataFrame  # BACKTEST_TRADES columns
    final_target: pl.DataFrame  # ticker, sector, weight: the last proposal's target book
    sector_pnl: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    # ------------------------------------------------------------------ series
    @property
    def returns(self) -> np.ndarray:
        return self.daily["daily_return"].to_numpy().astype(float)

    @property
    def nav(self) -> np.ndarray:
        return self.daily["nav"].to_numpy().astype(float)

    @property
    def sessions(self) -> int:
        return self.daily.height

    # ------------------------------------------------------------------ statistics
    @property
    def total_return(self) -> float:
        return float(self.nav[-1] / self.capital - 1.0) if self.sessions else 0.0

    @property
    def sharpe(self) -> float:
        return stats.sharpe_ratio(self.returns)

    @property
    def max_drawdown(self) -> float:
        return stats.max_drawdown(self.returns).depth if self.sessions else 0.0

    def cost(self, kind: str) -> float:
        return float(self.daily[kind].sum()) if self.sessions else 0.0

    @property
    def cost_bps(self) -> float:
        mean_nav = float(self.nav.mean()) if self.sessions else self.capital
        return 1e4 * sum(self.cost(k) for k in COSTS) / mean_nav

    @property
    def avg_turnover(self) -> float:
        return float(self.daily["turnover"].mean()) if self.sessions else 0.0

    def seconds_per_day(self, q: float | None = None) -> float:
        s = self.daily["seconds"].to_numpy()
        if not len(s):
            return 0.0
        return float(np.percentile(s, q)) if q is not None else float(s.mean())

    def count(self, status: str) -> int:
        return int((self.trades["status"] == status).sum()) if self.trades.height else 0

    def summary(self) -> dict:
        r = self.returns
        out = {
            "sessions": self.sessions, "final_nav": _f(self.nav[-1]) if self.sessions else self.capital,
            "total_return": _f(self.total_return), "annual_return": _f(stats.annualised_return(r)),
            "annual_volatility": _f(stats.annualised_volatility(r)), "sharpe": _f(self.sharpe),
            "sortino": _f(stats.sortino_ratio(r)), "max_drawdown": _f(self.max_drawdown),
            "cvar_95": _f(stats.cvar(r, 0.95)) if len(r) else None, "avg_turnover": _f(self.avg_turnover),
            "annual_turnover": _f(self.avg_turnover * stats.TRADING_DAYS),
            **{k: self.cost(k) for k in COSTS}, "cost_bps": _f(self.cost_bps),
            "trades": self.count("FILLED") + self.count("PARTIAL"), "vetoed": self.count("VETOED"),
            "deferred": self.count("DEFERRED"), "unfilled": self.count("UNFILLED"),
            "reducing_sessions": int((self.daily["trading_state"] == "REDUCING").sum()) if self.sessions else 0,
            "halted_sessions": int((self.daily["trading_state"] == "HALTED").sum()) if self.sessions else 0,
            "seconds": self.seconds, "seconds_per_day": self.seconds_per_day(),
            "seconds_per_day_p95": self.seconds_per_day(95),
        }
        return out

    def __str__(self) -> str:
        s = self.summary()
        return (f"{self.sleeve.name} v{self.sleeve_version} {self.start}..{self.end} ({s['sessions']} sessions): "
                f"return {s['total_return']:+.2%}, Sharpe {s['sharpe'] or float('nan'):.2f}, "
                f"max drawdown {s['max_drawdown']:.2%}, turnover {s['avg_turnover']:.1%}/day, "
                f"costs {s['cost_bps']:.1f} bps (commission ${s['commission']:,.0f}, spread ${s['spread']:,.0f}, "
                f"impact ${s['impact']:,.0f}, borrow ${s['borrow']:,.0f}), "
                f"{s['seconds_per_day'] * 1e3:.0f} ms/session")

    # ------------------------------------------------------------------ table rows
    def run_row(self, created_at: dt.datetime | None = None) -> pl.DataFrame:
        s = self.summary()
        target = [[t, sec, round(w, 8)]
                  for t, sec, w in self.final_target.select("ticker", "sector", "weight").iter_rows()]
        metrics = {**s, "sector_pnl": {k: round(v, 2) for k, v in sorted(self.sector_pnl.items())},
                   "capital": self.capital, "final_target": target}
        row = {"run_id": self.run_id, "sleeve": self.sleeve.name, "sleeve_version": self.sleeve_version,
               "config_hash": self.sleeve.hash, "config_json": canonical_json(self.sleeve.doc()),
               "purpose": self.purpose, "start": self.start, "end": self.end,
               "created_at": created_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
               **{k: v for k, v in s.items() if k in BACKTEST_RUNS.columns},
               "metrics_json": json.dumps(metrics, sort_keys=True, default=str),
               "warnings": "\n".join(self.warnings) or None}
        return BACKTEST_RUNS.conform(pl.DataFrame([row]))

    def daily_rows(self) -> pl.DataFrame:
        return BACKTEST_DAILY.conform(self.daily.with_columns(run_id=pl.lit(self.run_id),
                                                              sleeve=pl.lit(self.sleeve.name)))

    def trade_rows(self) -> pl.DataFrame:
        return BACKTEST_TRADES.conform(self.trades.with_columns(run_id=pl.lit(self.run_id),
                                                                sleeve=pl.lit(self.sleeve.name)))
