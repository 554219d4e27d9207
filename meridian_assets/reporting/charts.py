"""The report charts as PNG bytes: equity curve against SPY, drawdown, rolling Sharpe, the monthly returns
grid, CVaR95 by regime, live versus simulated P&L and the week's attribution.

matplotlib's Agg canvas directly (no pyplot, no display, no global state), one house style: navy for the
book, grey for benchmarks, red for losses. `save` writes a chart under the output folder; the images go into
asset metadata with `meridian_assets.factors.plots.png_markdown` and into the PDF as files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from meridian_assets.plotting import new_figure, png_bytes
from meridian_assets.reporting.regimes import ALL

if TYPE_CHECKING:  # matplotlib is imported where a chart is drawn
    from matplotlib.figure import Figure

BOOK, BENCH, SIM, LOSS, GAIN = "#1f3a5f", "#9aa5b1", "#c98a1b", "#b23a3a", "#2e7d4f"
COMPONENT_COLOURS = {"beta": "#9aa5b1", "sector": "#6c8ebf", "factor": "#c98a1b", "alpha": "#1f3a5f"}
WIDTH_IN, DPI = 9.0, 110


def _figure(height: float = 4.0) -> tuple[Figure, object]:
    return new_figure(WIDTH_IN, height, DPI, "#e3e6ea")


_png = png_bytes


def no_data(title: str, reason: str = "no data yet", height: float = 3.0) -> bytes:
    fig, ax = _figure(height)
    ax.set_title(title, loc="left", fontsize=11)
    ax.text(0.5, 0.5, reason, ha="center", va="center", fontsize=12, color="#777777", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return _png(fig)


def equity_curve(dates: list[dt.date], book: np.ndarray, spy: np.ndarray) -> bytes:
    """Book and SPY growth of 100 from the first session."""
    title = "Equity curve: book vs SPY (rebased to 100)"
    if len(dates) < 2:
        return no_data(title)
    fig, ax = _figure()
    ax.plot(dates, 100 * np.cumprod(1 + np.nan_to_num(book)), color=BOOK, linewidth=1.8, label="Book")
    ax.plot(dates, 100 * np.cumprod(1 + np.nan_to_num(spy)), color=BENCH, linewidth=1.3, label="SPY")
    ax.axhline(100, color="#444444", linewidth=0.6)
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(frameon=False, loc="upper left")
    fig.autofmt_xdate()
    return _png(fig)


def growth_of_one(series: dict[str, tuple[list[dt.date], np.ndarray]], benchmark: str = "SPY") -> bytes:
    """Growth of $1 of each backtest and the benchmark (grey), log scale."""
    title = "Backtests vs SPY: growth of $1 (log scale)"
    if not any(len(d) > 1 for d, _ in series.values()):
        return no_data(title)
    fig, ax = _figure(4.5)
    palette = ["#1f3a5f", "#c98a1b", "#2e7d4f", "#6c8ebf", "#b23a3a", "#7b5ea7", "#3a8f8f"]
    for i, (name, (dates, level)) in enumerate(sorted(series.items())):
        if name == benchmark:
            ax.plot(dates, level, color=BENCH, linewidth=2.0, label=name)
        else:
            ax.plot(dates, level, color=palette[i % len(palette)], linewidth=1.2, label=name)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:.2f}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.axhline(1.0, color="#444444", linewidth=0.6)
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(frameon=False, loc="upper left", fontsize=8, ncol=3)
    fig.autofmt_xdate()
    return _png(fig)


def drawdown(dates: list[dt.date], dd: np.ndarray) -> bytes:
    from matplotlib.ticker import PercentFormatter

    title = "Drawdown from the running peak"
    if len(dates) < 2:
        return no_data(title)
    fig, ax = _figure(3.0)
    ax.fill_between(dates, dd, 0, color=LOSS, alpha=0.35, linewidth=0)
    ax.plot(dates, dd, color=LOSS, linewidth=1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(title, loc="left", fontsize=11)
    fig.autofmt_xdate()
    return _png(fig)


def rolling_sharpe(dates: list[dt.date], values: np.ndarray, window: int) -> bytes:
    title = f"Rolling Sharpe ({window} sessions)"
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return no_data(title, f"needs {window} sessions of returns (have {len(dates)})")
    fig, ax = _figure(3.0)
    ax.plot([d for d, k in zip(dates, ok) if k], values[ok], color=BOOK, linewidth=1.5)
    ax.axhline(0, color="#444444", linewidth=0.6)
    ax.set_title(title, loc="left", fontsize=11)
    fig.autofmt_xdate()
    return _png(fig)


def monthly_grid(grid: pl.DataFrame) -> bytes:
    """Heatmap of monthly returns (years down, months across), each cell annotated in %."""
    from matplotlib.figure import Figure

    title = "Monthly returns"
    if grid.height == 0:
        return no_data(title)
    months = [c for c in grid.columns if c not in ("year",)]
    M = grid.select(months).to_numpy().astype(float)
    fig = Figure(figsize=(WIDTH_IN, 0.9 + 0.42 * grid.height), dpi=DPI)
    ax = fig.add_subplot()
    lim = max(float(np.nanmax(np.abs(M))) if np.isfinite(M).any() else 0.01, 0.005)
    ax.imshow(np.ma.masked_invalid(M), cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if np.isfinite(M[i, j]):
                ax.text(j, i, f"{M[i, j] * 100:.1f}", ha="center", va="center", fontsize=8,
                        fontweight="bold" if months[j] == "Year" else "normal")
    ax.set_xticks(range(len(months)), months, fontsize=8)
    ax.set_yticks(range(grid.height), [str(y) for y in grid["year"].to_list()], fontsize=8)
    ax.set_title(title + " (%)", loc="left", fontsize=11)
    return _png(fig)


def cvar_heatmap(cells: pl.DataFrame) -> bytes:
    """|CVaR95| in bps by VIX regime (rows) and market regime (columns), ALL margins, n per cell."""
    from matplotlib.figure import Figure

    if cells.height == 0:
        return no_data("Tail risk by regime (|CVaR95|, bps)", "no book returns in the window")
    start, end = cells["window_start"][0], cells["window_end"][0]
    rows = list(dict.fromkeys(cells["vix_regime"].to_list()))
    cols = list(dict.fromkeys(cells["market_regime"].to_list()))
    rows = [r for r in rows if r != ALL] + [ALL]
    cols = [c for c in cols if c != ALL] + [ALL]
    lookup = {(r["vix_regime"], r["market_regime"]): r for r in cells.iter_rows(named=True)}
    M = np.full((len(rows), len(cols)), np.nan)
    for i, v in enumerate(rows):
        for j, m in enumerate(cols):
            if (v, m) in lookup:
                M[i, j] = abs(lookup[(v, m)]["cvar_bps"])
    fig = Figure(figsize=(WIDTH_IN, 1.4 + 0.55 * len(rows)), dpi=DPI)
    ax = fig.add_subplot()
    top = max(float(np.nanmax(M)) if np.isfinite(M).any() else 1.0, 1.0)
    image = ax.imshow(np.ma.masked_invalid(M), cmap="OrRd", aspect="auto", vmin=0, vmax=top * 1.15)
    for i, v in enumerate(rows):
        for j, m in enumerate(cols):
            cell = lookup.get((v, m))
            if cell:
                dark = M[i, j] > 0.6 * top
                ax.text(j, i, f"{abs(cell['cvar_bps']):.0f} bps\nn={cell['observations']}", ha="center",
                        va="center", fontsize=8, color="white" if dark else "#1d2733",
                        fontweight="bold" if ALL in (v, m) else "normal")
    for k in (len(cols) - 1.5,):
        ax.axvline(k, color="white", linewidth=3)
    ax.axhline(len(rows) - 1.5, color="white", linewidth=3)
    ax.set_xticks(range(len(cols)), [f"market: {c}" if c != ALL else "all sessions" for c in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), [f"VIX {r}" if r != ALL else "all VIX" for r in rows], fontsize=8)
    ax.set_title(f"Tail risk by regime: |CVaR95| of daily book returns, {start} to {end}", loc="left", fontsize=11)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="bps")
    return _png(fig)


def live_vs_sim(frame: pl.DataFrame, sim_label: str = "Simulated: target weights marked to market, no costs") -> bytes:
    """``sim_label`` names the simulated line's source (the backtest engine, or the mark-to-market proxy)."""
    title = "Live vs simulated P&L of the same targets (cumulative bps)"
    if frame.height < 2:
        return no_data(title, "fewer than two sessions in the window")
    fig, ax = _figure(3.6)
    d = frame["date"].to_list()
    ax.plot(d, frame["live_cum_bps"].to_numpy(), color=BOOK, linewidth=1.8, label="Live book (realized)")
    ax.plot(d, frame["sim_cum_bps"].to_numpy(), color=SIM, linewidth=1.5, linestyle="--",
            label=sim_label)
    ax.axhline(0, color="#444444", linewidth=0.6)
    ax.set_ylabel("bps")
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(frameon=False, loc="best", fontsize=8)
    fig.autofmt_xdate()
    return _png(fig)


def attribution_bars(frame: pl.DataFrame) -> bytes:
    """Stacked daily contributions (bps) of beta, sector, factor and alpha, with the total as dots."""
    title = "Daily attribution (bps)"
    if frame.height == 0:
        return no_data(title, "no attributed sessions in the period")
    fig, ax = _figure(3.2)
    x = np.arange(frame.height)
    pos, neg = np.zeros(frame.height), np.zeros(frame.height)
    for name, colour in COMPONENT_COLOURS.items():
        v = frame[f"{name}_return"].to_numpy() * 1e4
        base = np.where(v >= 0, pos, neg)
        ax.bar(x, v, bottom=base, color=colour, width=0.6, label=name)
        pos, neg = pos + np.maximum(v, 0), neg + np.minimum(v, 0)
    ax.scatter(x, frame["total_return"].to_numpy() * 1e4, color="black", s=14, zorder=3, label="total")
    ax.axhline(0, color="#444444", linewidth=0.6)
    ax.set_xticks(x, [d.strftime("%a %d %b") for d in frame["date"].to_list()], fontsize=8)
    ax.legend(frameon=False, ncol=5, fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0))
    ax.set_title(title, loc="right", fontsize=11)
    return _png(fig)


def save(png: bytes, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    path.write_bytes(png)
    return path
