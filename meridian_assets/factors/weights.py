"""Composite weights: per regime, re-weighted over the parents present, and what a run actually used.

A parent with no source data for a name (or on a date) is absent, never a placeholder 50: the composite is
the weighted mean of the parents present, ``sum_{p present} w_p s_p / sum_{p present} w_p``. With
momentum 0.15 and low_risk 0.10 the only parents present, they count 0.6 and 0.4. `coverage_table` reports,
per parent and sub-factor, the dates it was live, its coverage and the weights actually used; `coverage_lines`
prints it on the console.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meridian_assets.factors.schemas import ALL_SUB_FACTORS, PARENTS, SUB_FACTORS
from meridian_assets.factors.settings import ScoringConfig


def regime_weights(cfg: ScoringConfig) -> dict[str, dict[str, float]]:
    """Parent weights per regime: ``normal`` = composite_weights; the others updated and renormalised."""
    out = {"normal": dict(cfg.composite_weights)}
    for regime, over in cfg.regime_weights.items():
        w = {**cfg.composite_weights, **over}
        total = sum(w.values())
        out[regime] = {p: v / total for p, v in w.items()}
    return out


def reweighted(scores: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per column (name), ``sum_p w_p s_p / sum_p w_p`` over the rows p whose score is present (finite) and
    weight positive; NaN when no such row exists. ``scores`` and ``w``: (parents, names)."""
    present = np.isfinite(scores) & (w > 0)
    wp = np.where(present, w, 0.0)
    total = wp.sum(axis=0)
    num = np.where(present, scores, 0.0) * wp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, num.sum(axis=0) / total, np.nan)


def ordered_sum(terms: list[pl.Expr]) -> pl.Expr:
    """Σ terms, nulls counted as 0, added left to right. ``pl.sum_horizontal`` may add in another order on
    more threads, and a last-bit difference in a score is a different rank on a tie: a backtest would then
    depend on how many threads the process has."""
    if not terms:
        return pl.lit(0.0)
    total = terms[0].fill_null(0.0)
    for t in terms[1:]:
        total = total + t.fill_null(0.0)
    return total


def reweighted_expr(weights: dict[str, float]) -> pl.Expr:
    """`reweighted` as a polars expression over the ``{parent}_score`` columns: the weighted mean of the
    parents present in the row (null when none is)."""
    items = [(p, float(v)) for p, v in weights.items() if v and v > 0]
    present = [pl.col(f"{p}_score").cast(pl.Float64).fill_nan(None) for p, _ in items]
    num = ordered_sum([s * v for s, (_, v) in zip(present, items)])
    den = ordered_sum([pl.when(s.is_not_null()).then(pl.lit(v)).otherwise(0.0) for s, (_, v) in zip(present, items)])
    return pl.when(den > 0).then(num / den)


def effective_weights(frame: pl.DataFrame, cfg: ScoringConfig) -> pl.DataFrame:
    """``(date, ticker, <parent>...)``: the weight each parent actually had in each row's composite (the
    regime's configured weight re-normalised over the parents present in the row; 0 when absent)."""
    by_regime = regime_weights(cfg)
    regime = pl.col("regime").fill_null("normal") if "regime" in frame.columns else pl.lit("normal")

    def configured(p: str) -> pl.Expr:
        e = pl.lit(by_regime["normal"].get(p, 0.0))
        for name, ws in by_regime.items():
            if name != "normal":
                e = pl.when(regime == name).then(pl.lit(ws.get(p, 0.0))).otherwise(e)
        return e

    raw = {p: pl.when(pl.col(f"{p}_score").is_not_null()).then(configured(p)).otherwise(0.0) for p in PARENTS}
    total = ordered_sum(list(raw.values()))
    return frame.select("date", "ticker", *[pl.when(total > 0).then(e / total).alias(p) for p, e in raw.items()])


def coverage_table(frame: pl.DataFrame, cfg: ScoringConfig) -> pl.DataFrame:
    """What a scoring run actually used, one row per parent followed by its sub-factors:
    ``level`` (parent | sub_factor), ``name``, ``parent``, ``dates_live`` (dates with at least one value) of
    ``n_dates``, ``coverage`` (share of scored (date, name) rows with a value), ``weight_configured`` (parents),
    ``weight_used`` (mean effective weight over all rows) and ``weight_used_last`` (on the last date)."""
    schema = {"level": pl.Utf8, "name": pl.Utf8, "parent": pl.Utf8, "dates_live": pl.Int64, "n_dates": pl.Int64,
              "coverage": pl.Float64, "weight_configured": pl.Float64, "weight_used": pl.Float64,
              "weight_used_last": pl.Float64}
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    n_dates = frame.get_column("date").n_unique()
    cols = [*(f"{p}_score" for p in PARENTS), *ALL_SUB_FACTORS]
    per_date = frame.group_by("date").agg([pl.col(c).is_not_null().any().alias(c) for c in cols])
    live = per_date.select([pl.col(c).sum().alias(c) for c in cols]).row(0, named=True)
    share = frame.select([pl.col(c).is_not_null().mean().alias(c) for c in cols]).row(0, named=True)
    eff = effective_weights(frame, cfg)
    used = eff.select([pl.col(p).mean() for p in PARENTS]).row(0, named=True)
    last = eff.filter(pl.col("date") == eff.get_column("date").max()).select(
        [pl.col(p).mean() for p in PARENTS]).row(0, named=True)
    rows = []
    for p in PARENTS:
        c = f"{p}_score"
        rows.append(("parent", p, p, live[c], n_dates, share[c], float(cfg.composite_weights.get(p, 0.0)),
                     used[p], last[p]))
        rows += [("sub_factor", s, p, live[s], n_dates, share[s], None, None, None) for s in SUB_FACTORS[p]]
    return pl.DataFrame(rows, schema=schema, orient="row")


def coverage_lines(coverage: pl.DataFrame) -> list[str]:
    """The coverage table as console lines: each live parent with its weight and live sub-factors, then what
    was absent on every date."""
    if coverage.height == 0:
        return ["No names scored."]
    par = coverage.filter(pl.col("level") == "parent")
    subs = coverage.filter(pl.col("level") == "sub_factor")
    lines = [f"{'parent':<16}{'live dates':>12}{'coverage':>10}{'weight cfg':>12}{'used':>7}{'last day':>10}"
             "  live sub-factors (coverage)"]
    absent = []
    for r in par.iter_rows(named=True):
        mine = subs.filter(pl.col("parent") == r["name"])
        if r["dates_live"] == 0:
            absent.append(r["name"])
            continue
        live = ", ".join(f"{s['name']} {s['coverage']:.0%}" for s in mine.iter_rows(named=True) if s["dates_live"])
        lines.append(f"{r['name']:<16}{r['dates_live']:>6}/{r['n_dates']:<5}{r['coverage']:>10.1%}"
                     f"{r['weight_configured']:>12.2f}{r['weight_used'] or 0:>7.2f}{r['weight_used_last'] or 0:>10.2f}"
                     f"  {live}")
        dead = [s["name"] for s in mine.iter_rows(named=True) if not s["dates_live"]]
        if dead:
            lines.append(f"{'':<16}absent sub-factors (no data on any date, left empty): {', '.join(dead)}")
    if absent:
        lines.append(f"Absent parents (no source data on any date; left empty, not in the composite): "
                     f"{', '.join(absent)}")
    return lines
