"""Charts of the Layer-2 analytics as PNG bytes, for Dagster asset metadata and the output folder.

Rendered with matplotlib's Agg canvas directly (no pyplot, no display, no global figure state), 900 px wide
at 100 dpi, one consistent style: light grid, factors in a fixed order and colour, horizons in shades of one
hue. `png_markdown` turns the bytes into a Markdown image with a base64 data URI, which the Dagster UI
renders inline.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from meridian_assets.plotting import new_figure, png_bytes
from meridian_assets.factors.returns import DEFAULT_FACTORS

if TYPE_CHECKING:  # matplotlib is imported where a chart is drawn
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 9.0, 5.0, 100
FACTOR_COLOURS = dict(zip(DEFAULT_FACTORS, (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#222222",
)))
HORIZON_COLOURS = ("#9ecae1", "#4292c6", "#08519c", "#08306b")
QUINTILE_COLOURS = ("#b2182b", "#ef8a62", "#bababa", "#67a9cf", "#2166ac")


def _figure(height: float = HEIGHT_IN) -> tuple[Figure, object]:
    return new_figure(WIDTH_IN, height, DPI, "#dddddd")


_png = png_bytes


def _no_data(title: str) -> bytes:
    fig, ax = _figure()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", fontsize=14, color="#777777",
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return _png(fig)


def _factor_order(names: list[str]) -> list[str]:
    known = [f for f in DEFAULT_FACTORS if f in names]
    return known + sorted(n for n in names if n not in known)


def _label(factor: str) -> str:
    return factor.replace("_", " ")


def png_markdown(png: bytes, alt: str) -> str:
    """A Markdown image embedding `png` as a base64 data URI: ``![alt](data:image/png;base64,...)``."""
    alt = alt.replace("[", "(").replace("]", ")")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def ic_decay(tearsheet: pl.DataFrame) -> bytes:
    """Grouped bars: each factor's mean daily Spearman IC at each horizon (from `FACTOR_TEARSHEET`)."""
    title = "IC decay: mean daily Spearman IC by forward horizon"
    data = tearsheet.drop_nulls("ic_mean") if tearsheet.height else tearsheet
    if data.height == 0:
        return _no_data(title)
    factors = _factor_order(data["factor"].unique().to_list())
    horizons = sorted(data["horizon_days"].unique().to_list())
    lookup = {(r["factor"], r["horizon_days"]): r["ic_mean"] for r in data.iter_rows(named=True)}
    fig, ax = _figure()
    x = np.arange(len(factors))
    width = 0.8 / len(horizons)
    for i, h in enumerate(horizons):
        vals = [lookup.get((f, h), np.nan) for f in factors]
        ax.bar(x + (i - (len(horizons) - 1) / 2) * width, vals, width,
               color=HORIZON_COLOURS[i % len(HORIZON_COLOURS)], label=f"{h}-day")
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.set_xticks(x, [_label(f) for f in factors], rotation=25, ha="right")
    ax.set_ylabel("mean IC")
    ax.set_title(title)
    ax.legend(title="horizon", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def cumulative_factor_returns(factor_returns: pl.DataFrame) -> bytes:
    """Lines: each factor's cumulative long-short return, compounded daily (from `FACTOR_RETURNS`)."""
    from matplotlib.ticker import PercentFormatter

    title = "Cumulative long-short factor returns (sector-neutral quintiles)"
    data = factor_returns.drop_nulls("long_short_return") if factor_returns.height else factor_returns
    if data.height == 0:
        return _no_data(title)
    fig, ax = _figure(5.5)
    for f in _factor_order(data["factor"].unique().to_list()):
        s = data.filter(pl.col("factor") == f).sort("date")
        cum = np.cumprod(1.0 + s["long_short_return"].to_numpy()) - 1.0
        composite = f == "composite"
        ax.plot(s["date"].to_list(), cum, label=_label(f), color=FACTOR_COLOURS.get(f),
                linewidth=2.4 if composite else 1.3, zorder=3 if composite else 2)
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("cumulative return")
    ax.set_xlabel("date")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.autofmt_xdate()
    return _png(fig)


def quintile_returns(frame: pl.DataFrame, horizon: int | None = None) -> bytes:
    """Grouped bars: each factor's annualised mean forward return by score quintile at one horizon.

    Takes `tearsheet.quintile_returns` output (Q1..Q5) or a `FACTOR_TEARSHEET` frame (Q1 and Q5 only).
    `horizon` defaults to the longest in the frame.
    """
    from matplotlib.ticker import PercentFormatter

    if "quintile" in frame.columns:
        long = frame.select("factor", pl.col("horizon").alias("h"), "quintile",
                            pl.col("annual_return").alias("ret"))
    else:
        long = pl.concat([
            frame.select("factor", pl.col("horizon_days").alias("h"),
                         pl.lit(q, dtype=pl.Int64).alias("quintile"), pl.col(col).alias("ret"))
            for q, col in ((1, "q1_return_annual"), (5, "q5_return_annual"))
        ]) if frame.height else pl.DataFrame()
    long = long.drop_nulls("ret") if long.height else long
    if long.height == 0:
        return _no_data("Quintile returns")
    horizon = horizon if horizon is not None else int(long["h"].max())
    long = long.filter(pl.col("h") == horizon)
    title = f"Annualised mean {horizon}-day forward return by score quintile"
    if long.height == 0:
        return _no_data(title)
    factors = _factor_order(long["factor"].unique().to_list())
    quintiles = sorted(long["quintile"].unique().to_list())
    lookup = {(r["factor"], r["quintile"]): r["ret"] for r in long.iter_rows(named=True)}
    fig, ax = _figure()
    x = np.arange(len(factors))
    width = 0.8 / len(quintiles)
    for i, q in enumerate(quintiles):
        vals = [lookup.get((f, q), np.nan) for f in factors]
        suffix = " (low)" if q == 1 else " (high)" if q == 5 else ""
        ax.bar(x + (i - (len(quintiles) - 1) / 2) * width, vals, width,
               color=QUINTILE_COLOURS[min(q, 5) - 1], label=f"Q{q}{suffix}")
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xticks(x, [_label(f) for f in factors], rotation=25, ha="right")
    ax.set_ylabel("annualised return")
    ax.set_title(title)
    ax.legend(title="score quintile", frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def crowding_heatmap(crowding: pl.DataFrame, as_of: dt.date | None = None) -> bytes:
    """Heatmap of the pairwise factor-return correlations of one crowding window (`CROWDING_CORRELATIONS`,
    default: the latest as_of); flagged pairs are outlined and their baseline shown in brackets."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    data = crowding.drop_nulls("as_of") if crowding.height else crowding
    if data.height == 0:
        return _no_data("Factor return correlations")
    as_of = as_of or data["as_of"].max()
    data = data.filter(pl.col("as_of") == as_of)
    if data.height == 0:
        return _no_data(f"Factor return correlations to {as_of}")
    window = data["window_days"].drop_nulls().max()
    factors = _factor_order(sorted(set(data["factor_a"].to_list()) | set(data["factor_b"].to_list())))
    idx = {f: i for i, f in enumerate(factors)}
    n = len(factors)
    corr = np.full((n, n), np.nan)
    np.fill_diagonal(corr, 1.0)
    fig = Figure(figsize=(WIDTH_IN, 7.5), dpi=DPI)
    ax = fig.add_subplot()
    cells = []
    for r in data.iter_rows(named=True):
        i, j = idx[r["factor_a"]], idx[r["factor_b"]]
        if r["correlation"] is not None:
            corr[i, j] = corr[j, i] = r["correlation"]
        cells.append((i, j, r))
    image = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    for i, j, r in cells:
        text = "n/a" if r["correlation"] is None else f"{r['correlation']:+.2f}"
        if r["baseline"] is not None:
            text += f"\n({r['baseline']:+.2f})"
        for a, b in ((i, j), (j, i)):
            ax.text(b, a, text, ha="center", va="center", fontsize=8,
                    fontweight="bold" if r["flagged"] else "normal")
            if r["flagged"]:
                ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, edgecolor="black",
                                       linewidth=2.2))
    ax.set_xticks(range(n), [_label(f) for f in factors], rotation=35, ha="right")
    ax.set_yticks(range(n), [_label(f) for f in factors])
    ax.set_title(f"Factor return correlations, last {window} sessions to {as_of}\n"
                 "(literature baseline in brackets; outlined = flagged crowding)")
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.03, label="Pearson correlation")
    return _png(fig)

