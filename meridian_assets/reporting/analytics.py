"""Each Layer-7 table computed from `ReportInputs`: the glue between the loaders and the maths modules.

Assets call these and write the result; the weekly report and the benchmark call them too, so every number
in a document is computed by the same function as the table it comes from.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.reporting import attribution as attr
from meridian_assets.reporting import positions as pos
from meridian_assets.reporting import regimes
from meridian_assets.reporting.inputs import ReportInputs
from meridian_assets.reporting.live_vs_sim import live_vs_sim, simulate_target_books
from meridian_assets.reporting.schemas import POSITION_ATTRIBUTION
from meridian_assets.reporting.sector_relative import sector_relative_alpha
from meridian_assets.reporting.turnover_tax import turnover_and_tax
from meridian_assets.reporting.win_loss import win_loss_table


def trades_made(inputs: ReportInputs) -> pl.DataFrame:
    """Every trade the book made, as EXECUTED ledger rows: the simulated commits (`position_approvals`) and the
    broker's fills (`execution_fills` with shares filled, dated by when they finished, at their fill price),
    as the book's replay counts them: a rebalance is either committed or sent to the broker, never both."""
    a = inputs.approvals
    f = inputs.fills
    if f is None or f.height == 0 or "fill_price" not in f.columns:
        return a
    info = a.select("rebalance_id", "ticker", "sector", "score").unique(["rebalance_id", "ticker"], keep="first")
    filled = (f.filter((pl.col("shares") > 0) & pl.col("fill_price").is_not_null()
                       & (pl.col("finished_at").cast(pl.Date) <= inputs.as_of))
              .select("rebalance_id", "ticker", "action", "shares", pl.col("fill_price").alias("price"),
                      pl.col("finished_at").cast(pl.Date).alias("date"), pl.col("finished_at").alias("decided_at"))
              .join(info, on=["rebalance_id", "ticker"], how="left")
              .with_columns(pl.lit("EXECUTED").alias("status")))
    if filled.height == 0:
        return a
    rows = pl.concat([a.filter(pl.col("status") == "EXECUTED"), filled], how="diagonal_relaxed")
    return rows.sort("date", "decided_at", nulls_last=True)


def ledger(inputs: ReportInputs) -> pl.DataFrame:
    return pos.executed_ledger(trades_made(inputs), inputs.actions, inputs.prices)


def book_returns(inputs: ReportInputs) -> pl.DataFrame:
    """``(date, nav, beta, ret)`` of the book: the sessions with a defined return (for statistics)."""
    return attr.book_returns(inputs.history, defined_only=True)


def spy_returns(inputs: ReportInputs) -> pl.DataFrame:
    return attr.benchmark_returns(inputs.prices, [attr.SPY]).select("date", "ret")


def daily_attribution(inputs: ReportInputs, cfg: MeridianConfig) -> pl.DataFrame:
    rc = cfg.reporting
    dates = inputs.history["date"].to_list()
    splits = inputs.actions.filter(pl.col("action") == "split")
    holdings = pos.holdings_history(ledger(inputs), inputs.prices, dates, splits)
    return attr.attribute(inputs.history, holdings, inputs.prices, inputs.factor_returns, cfg.scoring.sector_etfs,
                          window=rc.attribution_window_days, min_observations=rc.attribution_min_observations)


def open_positions(inputs: ReportInputs) -> pl.DataFrame:
    """Open positions marked at ``as_of`` with signed weights of NAV (from `portfolio_positions`, or from the
    ledger's open lots when that table is empty)."""
    if inputs.positions.height:
        marked = pos.mark_open_positions(inputs.positions, inputs.prices, inputs.as_of)
    else:
        marked = pos.open_lots_frame(pos.match_lots(ledger(inputs), "lifo").open_lots, inputs.prices, inputs.as_of)
    nav = float(inputs.history["nav"][-1]) if inputs.history.height else None
    return marked.with_columns(
        (pl.col("shares") * pl.col("exit_price") / nav).alias("weight") if nav else pl.lit(None, pl.Float64)
        .alias("weight"))


def position_attribution(inputs: ReportInputs) -> pl.DataFrame:
    """OPEN rows (marked to market) and CLOSED round trips (LIFO) as of ``as_of``."""
    trips = pos.round_trips(ledger(inputs))
    opened = open_positions(inputs)
    frame = pl.concat([
        opened.with_columns(pl.lit("OPEN").alias("kind")),
        trips.with_columns(pl.lit("CLOSED").alias("kind")),
    ], how="diagonal_relaxed")
    return POSITION_ATTRIBUTION.conform(frame.with_columns(pl.lit(inputs.as_of).alias("as_of")))


def predictive_power(position_rows: pl.DataFrame, cfg: MeridianConfig) -> pos.PredictivePower:
    return pos.predictive_power(position_rows, cfg.reporting.predictive_power_min_points)


def win_loss(position_rows: pl.DataFrame, inputs: ReportInputs, cfg: MeridianConfig) -> pl.DataFrame:
    rc = cfg.reporting
    closed = position_rows.filter(pl.col("kind") == "CLOSED")
    return win_loss_table(closed, inputs.prices, inputs.as_of, rc.holding_buckets_days, rc.vix_low, rc.vix_high)


def sector_relative(inputs: ReportInputs, cfg: MeridianConfig) -> pl.DataFrame:
    return sector_relative_alpha(open_positions(inputs), inputs.prices, cfg.scoring.sector_etfs, inputs.as_of,
                                 cfg.reporting.sector_relative_days)


def turnover(inputs: ReportInputs, cfg: MeridianConfig) -> pl.DataFrame:
    rc = cfg.reporting
    return turnover_and_tax(ledger(inputs), inputs.history, inputs.as_of, rc.turnover_windows_days,
                            rc.turnover_annualisation, cfg.portfolio.turnover_budget, rc.short_term_tax_rate,
                            rc.long_term_tax_rate)


def report_window(as_of: dt.date, cfg: MeridianConfig) -> tuple[dt.date, dt.date]:
    """The date window of the regime heatmap and the live-vs-sim chart ending ``as_of``."""
    return as_of - dt.timedelta(days=cfg.reporting.report_window_days - 1), as_of


def labelled_returns(inputs: ReportInputs, cfg: MeridianConfig, start: dt.date, end: dt.date) -> pl.DataFrame:
    rc = cfg.reporting
    book = book_returns(inputs).select("date", "ret")
    vix = regimes.vix_regimes(inputs.prices, rc.vix_low, rc.vix_high)
    market = regimes.market_regimes(cfg, start, end)
    return regimes.label_sessions(book, vix, market)


def cvar_by_regime(inputs: ReportInputs, cfg: MeridianConfig, start: dt.date, end: dt.date) -> pl.DataFrame:
    labelled = labelled_returns(inputs, cfg, start, end)
    return regimes.cvar_by_regime(labelled, start, end, cfg.reporting.cvar_confidence)


SIMULATOR_LABEL = ("simulated = the backtest engine: the same target books through the live rebalance code, "
                   "filled at the next session's open with the cost model's commission, spread and impact")
PROXY_LABEL = "simulated = target weights marked to market with daily prices, no costs (no simulator run)"


def live_vs_simulated(inputs: ReportInputs, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Live against the simulator's line (``inputs.simulated``, the backtest engine's replay of the book's targets,
    compared since the book's inception) or, without one, the mark-to-market proxy over [start, end]."""
    live = book_returns(inputs).select("date", "ret")
    first = inputs.history["date"].min() if inputs.history.height else start
    if inputs.simulated is not None:
        return live_vs_sim(live, inputs.simulated.select("date", "sim_return", "rebalance_id"), first, end)
    sim = simulate_target_books(inputs.target_book, inputs.prices, end)
    return live_vs_sim(live, sim, max(start, first), end)


def simulator_label(inputs: ReportInputs) -> str:
    return SIMULATOR_LABEL if inputs.simulated is not None else PROXY_LABEL


def simulator_legend(inputs: ReportInputs) -> str:
    """The simulated line's name on the chart."""
    return ("Simulated by the backtest engine (same targets, next-open fills, modelled costs)"
            if inputs.simulated is not None else "Simulated: target weights marked to market, no costs")


def traded_target_book(inputs: ReportInputs) -> pl.DataFrame:
    """The target books of the rebalances the book traded (approved for the broker or committed), not what-ifs."""
    traded = inputs.approvals.filter(pl.col("status").is_in(["APPROVED", "EXECUTED"]))["rebalance_id"].unique()
    return inputs.target_book.filter(pl.col("rebalance_id").is_in(traded.to_list()))


def live_costs(inputs: ReportInputs) -> dict:
    """The live execution's slippage against the signal price ($, fills) and the trades vetoed at proposal."""
    f = inputs.fills
    filled = f.filter(pl.col("shares") > 0) if f is not None and f.height else None
    vetoed = inputs.approvals.filter(pl.col("status") == "VETOED").height
    return {"fills": filled.height if filled is not None else 0,
            "slippage_dollars": float(filled["slippage_dollars"].fill_null(0.0).sum()) if filled is not None else 0.0,
            "vetoed": vetoed}


def nan_to_none(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)
