"""Layer-2 scoring: within-sector percentiles of the 44 characteristics, parents, composite and flags.

Pure polars, no Dagster. Input: the long characteristics ``(date, ticker, sector, sub_factor, value)`` of
`meridian_assets.factors.characteristics` (higher is better). Output: a `ScoreResult` whose ``frame``
conforms to `FACTOR_SCORES`.

**Percentile within sector.** For one group ``(date, sector, sub_factor)`` with ``n`` non-null values, the
value of rank ``r`` (1 = lowest, ties get the *average* of the ranks they span) scores

    pct = 100 * (r - 1) / (n - 1)        (so the lowest is 0 and the highest 100)

with ``n == 1`` -> 50. Null, NaN or infinite values are excluded from the ranking and stay NULL: a score
is only ever a rank of data, never a placeholder. A two-name sector scores 0 and 100; ties share a score (two
names tied for the top of three: 75, 75, 0).
All 44 sub-factors are ranked in ONE grouped pass keyed by (sub_factor, date, sector), not one pass per
factor: the long values are laid out as a 44 x rows matrix whose rows are sorted by date and sector (a
reshape when the frame comes from `characteristics.to_long`, a pivot otherwise), so the group key is sorted
and polars groups it by slices. Parents and the composite reuse the same pass.

**Degenerate sub-factors.** On a date, a sub-factor whose values cover fewer than ``min_coverage`` (30%) of
the names scored that day is *degenerate*: its source is too sparse to rank (no estimate history yet, no
13-F run, a dead feed, no fundamentals at all on real price data...). All its scores that day are NULL
(absent) and it is reported in ``ScoreResult.degenerate`` (sub_factor, n_dates_pinned = dates absent, first,
last). The characteristics make revisions null until ``revisions_min_days`` of estimate snapshots exist, so
young estimate history lands here.

**Parents, composite, flags.** parent raw = mean of the name's sub-scores that are present (null when none
is); ``{parent}_score`` = the same within-sector percentile of the parent raw values, so a parent with no
source data on a date is ABSENT (null) for every name. The composite re-weights over the parents present
for the name: ``composite_raw = sum_{p present} w_p * {parent}_score / sum_{p present} w_p`` with
``cfg.composite_weights`` (e.g. with only momentum 0.15 and low_risk 0.10 present, 0.6 and 0.4). A name with
no parent present that day is not scored (no row). ``ScoreResult.coverage`` (`coverage_table`) says which
parents and sub-factors were live, their coverage and the weights actually used.
With ``use_regime_weights`` the weights of a date whose VIX (close as of that date)
is above ``cfg.vix_high`` are ``composite_weights`` updated with ``cfg.regime_weights['high_vix']``, below
``cfg.vix_low`` with ``['low_vix']``, renormalised to sum 1, and ``regime`` records which (``normal``
otherwise, and always when regime weights are off). ``composite`` = within-sector percentile of
composite_raw, where composite_raw values equal to 1e-9 (frequent in small sectors, whose parent scores sit on
a coarse grid) are ordered by the same re-weighted mean of the parent raw values (the finer, un-ranked
parent means); names equal on
both share the average rank. ``sector_rank`` = 1 for the best composite (remaining ties: ticker).
``k = min(max(1, floor(quintile * n)), floor(n / 2))`` in a sector of ``n >= 2`` names: ``long_flag`` for ranks
1..k, ``short_flag`` for ranks n-k+1..n, so never both; a one-name sector has no flags.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.factors.characteristics import (
    EXTRA_COLUMNS, SUB_FACTOR_ENUM, characteristics_and_extras,
)
from meridian_assets.factors.inputs import ScoringInputs
from meridian_assets.factors.schemas import ALL_SUB_FACTORS, FACTOR_SCORES, PARENTS, SUB_FACTORS
from meridian_assets.factors.weights import coverage_table, regime_weights, reweighted

__all__ = ["ScoreResult", "pct_within", "regime_weights", "score", "score_history", "single_stock_card",
           "sub_factor_percentiles", "vix_series"]

MIN_COVERAGE = 0.30
NEUTRAL = 50.0  # the score of the only name of a group that has a value
CHUNK_SESSIONS = 250


@dataclass
class ScoreResult:
    frame: pl.DataFrame  # conforms to FACTOR_SCORES
    degenerate: pl.DataFrame  # sub_factor, n_dates_pinned, first, last (dates the sub-factor was absent)
    degenerate_pairs: pl.DataFrame  # date, sub_factor: every absent (date, sub-factor)
    coverage: pl.DataFrame | None = None  # `coverage_table` of the frame

    def degenerate_frame(self) -> pl.DataFrame:
        """``sub_factor, n_dates_pinned, first, last`` (empty when nothing was pinned)."""
        return self.degenerate

    def degenerate_dates(self) -> dict[str, list[dt.date]]:
        out: dict[str, list[dt.date]] = {}
        for d, sf in self.degenerate_pairs.sort("date").select("date", "sub_factor").iter_rows():
            out.setdefault(str(sf), []).append(d)
        return out


def pct_within(value: pl.Expr, over: Sequence[str] | str) -> pl.Expr:
    """The within-group percentile of the module docstring (0-100, average ranks, nulls stay null)."""
    v = pl.when(value.is_finite()).then(value)
    r = v.rank("average").over(over)
    n = v.count().over(over)
    return pl.when(v.is_null()).then(None).when(n <= 1).then(NEUTRAL).otherwise(100.0 * (r - 1.0) / (n - 1))


@dataclass
class _Matrix:
    """Raw values as a (k, m) matrix over m (date, ticker) rows sorted by date, sector, ticker."""

    base: pl.DataFrame  # date, ticker, sector (Utf8), sorted by date, sector, ticker
    values: np.ndarray  # (44, m) float, NaN = missing
    gid: np.ndarray  # (m,) dense id of the (date, sector) run, non-decreasing


def _same_blocks(col: pl.Series, k: int, m: int) -> bool:
    """Whether the k consecutive blocks of m rows of ``col`` are identical."""
    if col.dtype in (pl.Date, pl.Categorical) or isinstance(col.dtype, pl.Enum):
        a = col.to_physical().to_numpy().reshape(k, m)
        return bool((a == a[0]).all())
    first = col.slice(0, m)
    return all(col.slice(j * m, m).equals(first) for j in range(1, k))


def _raw_matrix(long: pl.DataFrame) -> _Matrix:
    """The long characteristics as a matrix. The layout `to_long` produces (44 equal blocks, sub-factor-major)
    is reshaped without a pivot; any other long frame is pivoted."""
    k, h = len(ALL_SUB_FACTORS), long.height
    vals = None
    if h % k == 0 and long.schema["sub_factor"] == SUB_FACTOR_ENUM:
        m = h // k
        codes = long.get_column("sub_factor").to_physical().to_numpy().reshape(k, m)
        if bool((codes == np.arange(k)[:, None]).all()) and all(
            _same_blocks(long.get_column(c), k, m) for c in ("date", "ticker")
        ):
            base = long.slice(0, m).select("date", pl.col("ticker").cast(pl.Utf8), pl.col("sector").cast(pl.Utf8))
            vals = long.get_column("value").cast(pl.Float64).to_numpy(writable=True).reshape(k, m)
    if vals is None:
        w = long.select(
            "date", pl.col("ticker").cast(pl.Utf8), pl.col("sector").cast(pl.Utf8),
            pl.col("sub_factor").cast(pl.Utf8), pl.col("value").cast(pl.Float64),
        ).pivot(on="sub_factor", index=["date", "ticker", "sector"], values="value", aggregate_function="first")
        w = w.with_columns([pl.lit(None, dtype=pl.Float64).alias(s) for s in ALL_SUB_FACTORS if s not in w.columns])
        base = w.select("date", "ticker", "sector")
        vals = w.select(ALL_SUB_FACTORS).to_numpy().T.copy()
    order = base.with_row_index("__i").sort(["date", "sector", "ticker"]).get_column("__i").to_numpy()
    if not np.array_equal(order, np.arange(len(order))):
        base, vals = base[order], vals[:, order]
    vals[np.isinf(vals)] = np.nan
    gid = base.select(pl.struct("date", "sector").rle_id()).to_series().to_numpy().astype(np.int64)
    return _Matrix(base, vals, gid)


def _block_pct(mat: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """Within-(date, sector) percentiles of every row of ``mat`` (k, m) in ONE grouped pass: the k rows are
    stacked into one long column keyed by ``row * G + gid``, which is sorted, so polars groups it by slices
    instead of hashing (3x faster than a window over the three key columns)."""
    k, m = mat.shape
    if m == 0:
        return mat.copy()
    key = (np.arange(k, dtype=np.int64)[:, None] * (int(gid[-1]) + 1) + gid[None, :]).ravel()
    df = pl.DataFrame({"g": key, "v": pl.Series(mat.ravel(), nan_to_null=True)})
    v = pl.col("v")  # finite or null
    r, n = v.rank("average").over("g"), v.count().over("g")
    pct = pl.when(v.is_null()).then(None).when(n <= 1).then(NEUTRAL).otherwise(100.0 * (r - 1.0) / (n - 1))
    out = df.with_columns(pl.col("g").set_sorted()).select(pct.cast(pl.Float64))
    return out.to_series().to_numpy(writable=True).reshape(k, m).astype(np.float64)


def _tie_broken(primary: np.ndarray, secondary: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """A key ordering rows within their (date, sector) by ``primary`` then ``secondary`` (both rounded to
    1e-9, so float noise is a tie); rows equal on both stay equal."""
    df = pl.DataFrame({"g": gid, "a": np.round(primary, 9), "b": np.round(secondary, 9)})
    d = df.with_columns(pl.col("g").set_sorted()).select(
        a=pl.col("a").rank("dense").over("g").cast(pl.Float64),
        b=pl.col("b").rank("dense").over("g").cast(pl.Float64),
    )
    return (d["a"] * (len(gid) + 1) + d["b"]).to_numpy()


def _frame(base: pl.DataFrame, names: Sequence[str], mat: np.ndarray) -> pl.DataFrame:
    return base.with_columns([pl.Series(n, mat[j], nan_to_null=True) for j, n in enumerate(names)])


def sub_factor_percentiles(long: pl.DataFrame) -> pl.DataFrame:
    """``(date, ticker, sector, <44 sub-factors>)``: every sub-factor's within-(date, sector) percentile
    (no degenerate masking; null where the name has no value), sorted by date, sector, ticker."""
    mx = _raw_matrix(long)
    return _frame(mx.base, ALL_SUB_FACTORS, _block_pct(mx.values, mx.gid))


def _degenerate(mx: _Matrix, min_coverage: float) -> tuple[np.ndarray, pl.DataFrame]:
    """(44, n_dates) mask of degenerate (sub-factor, date) pairs and the ``(date, sub_factor)`` frame."""
    dates = mx.base.get_column("date")
    did = dates.rle_id().to_numpy()
    starts = np.flatnonzero(np.r_[True, did[1:] != did[:-1]]) if len(did) else np.zeros(0, dtype=np.int64)
    if len(starts) == 0:
        return np.zeros((len(ALL_SUB_FACTORS), 0), bool), pl.DataFrame(schema={"date": pl.Date, "sub_factor": pl.Utf8})
    have = np.add.reduceat((~np.isnan(mx.values)).astype(np.int64), starts, axis=1)
    size = np.diff(np.r_[starts, len(did)])
    mask = have < min_coverage * size[None, :]
    sf_i, d_i = np.nonzero(mask)
    uniq = dates.gather(starts)
    pairs = pl.DataFrame({"date": uniq.gather(d_i), "sub_factor": np.asarray(ALL_SUB_FACTORS)[sf_i]},
                         schema={"date": pl.Date, "sub_factor": pl.Utf8}).sort("date", "sub_factor")
    return mask[:, did], pairs


def degenerate_pairs(long: pl.DataFrame, min_coverage: float = MIN_COVERAGE) -> pl.DataFrame:
    """``(date, sub_factor)`` pairs whose non-null share of the day's names is below ``min_coverage``."""
    return _degenerate(_raw_matrix(long), min_coverage)[1]


def _regimes(dates: pl.DataFrame, cfg: ScoringConfig, vix: pl.DataFrame | None, on: bool) -> pl.DataFrame:
    if not on:
        return dates.with_columns(regime=pl.lit("normal"))
    if vix is None:
        raise ValueError("use_regime_weights=True needs vix_by_date (date, vix)")
    v = vix.select(pl.col("date").cast(pl.Date), pl.col(vix.columns[1]).cast(pl.Float64).alias("vix")).sort("date")
    j = dates.sort("date").join_asof(v.drop_nulls(), on="date", strategy="backward")
    return j.select(
        "date",
        regime=pl.when(pl.col("vix") > cfg.vix_high).then(pl.lit("high_vix"))
        .when(pl.col("vix") < cfg.vix_low).then(pl.lit("low_vix"))
        .otherwise(pl.lit("normal")),
    )


def _empty_result() -> ScoreResult:
    summary = pl.DataFrame(
        schema={"sub_factor": pl.Utf8, "n_dates_pinned": pl.Int64, "first": pl.Date, "last": pl.Date}
    )
    return ScoreResult(FACTOR_SCORES.empty(), summary, pl.DataFrame(schema={"date": pl.Date, "sub_factor": pl.Utf8}),
                       coverage_table(FACTOR_SCORES.empty(), ScoringConfig()))


def _degenerate_summary(pairs: pl.DataFrame) -> pl.DataFrame:
    return (
        pairs.group_by("sub_factor")
        .agg(n_dates_pinned=pl.len().cast(pl.Int64), first=pl.col("date").min(), last=pl.col("date").max())
        .sort("sub_factor")
    )


def score(
    characteristics_long: pl.DataFrame,
    cfg: ScoringConfig,
    vix_by_date: pl.DataFrame | None = None,
    use_regime_weights: bool = False,
    extras: pl.DataFrame | None = None,
    min_coverage: float = MIN_COVERAGE,
) -> ScoreResult:
    """Score the long characteristics (module docstring). ``vix_by_date``: ``(date, vix)``; ``extras``:
    ``(date, ticker, piotroski_f, piotroski_band, altman_z, altman_band, insider_cluster)``."""
    if characteristics_long.height == 0:
        return _empty_result()
    mx = _raw_matrix(characteristics_long)
    subs = _block_pct(mx.values, mx.gid)
    mask, pairs = _degenerate(mx, min_coverage)
    subs[mask] = np.nan  # absent: too sparse to rank that day

    col = {s: j for j, s in enumerate(ALL_SUB_FACTORS)}
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an all-NaN slice: the parent is absent
        parent_raw = np.stack([np.nanmean(subs[[col[s] for s in SUB_FACTORS[p]]], axis=0) for p in PARENTS])
    parents = _block_pct(parent_raw, mx.gid)

    regimes = _regimes(mx.base.select(pl.col("date").unique()), cfg, vix_by_date, use_regime_weights)
    regime = (mx.base.select("date").join(regimes, on="date", how="left", maintain_order="left")
              .get_column("regime").fill_null("normal"))
    weights = regime_weights(cfg)
    w = np.zeros_like(parents)
    reg = regime.to_numpy()
    for name in set(reg.tolist()):  # a regime without configured overrides uses the normal weights
        ws = weights.get(name, weights["normal"])
        w[:, reg == name] = np.array([ws.get(p, 0.0) for p in PARENTS])[:, None]
    composite_raw = reweighted(parents, w)
    scored = np.isfinite(composite_raw)  # a name with no parent present is not scored that day
    if not scored.all():
        keep = np.flatnonzero(scored)
        mx = _Matrix(mx.base[keep], mx.values[:, keep], mx.gid[keep])
        subs, parents, parent_raw, w = subs[:, keep], parents[:, keep], parent_raw[:, keep], w[:, keep]
        composite_raw, regime = composite_raw[keep], regime.gather(keep)
        if mx.base.height == 0:
            return _empty_result()
    composite = _block_pct(_tie_broken(composite_raw, reweighted(parent_raw, w), mx.gid)[None, :], mx.gid)[0]

    wide = _frame(mx.base, ALL_SUB_FACTORS, subs)
    wide = _frame(wide, [f"{p}_score" for p in PARENTS], parents).with_columns(
        pl.Series("composite_raw", composite_raw), pl.Series("composite", composite), regime.alias("regime"),
        pl.Series("__g", mx.gid),
    )
    wide = (
        wide.sort(["__g", "composite", "composite_raw", "ticker"], descending=[False, True, True, False])
        .with_columns(pl.col("__g").set_sorted())
        .with_columns(
            sector_rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("__g"),
            sector_size=pl.len().over("__g").cast(pl.Int64),
        )
    )
    n = pl.col("sector_size")
    k = pl.min_horizontal(
        pl.max_horizontal((n.cast(pl.Float64) * cfg.quintile + 1e-9).floor().cast(pl.Int64), pl.lit(1)), n // 2
    )
    wide = wide.with_columns(
        long_flag=(n >= 2) & (pl.col("sector_rank") <= k),
        short_flag=(n >= 2) & (pl.col("sector_rank") > n - k),
    )
    if extras is not None and extras.height:
        ex = extras.select("date", pl.col("ticker").cast(pl.Utf8), *[c for c in EXTRA_COLUMNS if c in extras.columns])
        wide = wide.join(ex.unique(["date", "ticker"], keep="last"), on=["date", "ticker"], how="left")
    frame = FACTOR_SCORES.conform(wide.sort(["date", "ticker"]))
    return ScoreResult(frame=frame, degenerate=_degenerate_summary(pairs), degenerate_pairs=pairs, coverage=coverage_table(frame, cfg))


def vix_series(inputs: ScoringInputs, ticker: str = "^VIX") -> pl.DataFrame:
    """``(date, vix)``: the VIX close by session from the inputs' prices."""
    return inputs.prices.filter(pl.col("ticker") == ticker).select("date", pl.col("close").alias("vix")).sort("date")


def score_history(
    inputs: ScoringInputs,
    dates: Sequence[dt.date] | None,
    cfg: ScoringConfig,
    use_regime_weights: bool = False,
) -> ScoreResult:
    """Characteristics + `score` + the Piotroski/Altman/insider-cluster extras in one call. ``dates=None``:
    every session of ``[inputs.start, inputs.end]``.

    Long histories are scored in blocks of `CHUNK_SESSIONS` sessions: every score depends only on its own
    date (ranks within the date, coverage of the date, the date's regime) and on data known by then, so the
    blocks give exactly the one-pass result while the long characteristics frame (names x sessions x 44)
    stays ~1 year at a time in memory."""
    dates = inputs.sessions() if dates is None else sorted(set(dates))
    vix = vix_series(inputs)
    parts: list[ScoreResult] = []
    for i in range(0, max(len(dates), 1), CHUNK_SESSIONS):
        block = dates[i:i + CHUNK_SESSIONS]
        long, extras = characteristics_and_extras(inputs, block, cfg)
        parts.append(score(long, cfg, vix, use_regime_weights, extras))
        del long, extras
    if len(parts) == 1:
        return parts[0]
    frame = pl.concat([r.frame for r in parts])
    pairs = pl.concat([r.degenerate_pairs for r in parts])
    return ScoreResult(frame=frame, degenerate=_degenerate_summary(pairs), degenerate_pairs=pairs,
                       coverage=coverage_table(frame, cfg))


def _fmt(v: object, spec: str = ".1f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def single_stock_card(result_frame: pl.DataFrame, ticker: str, date: dt.date) -> str:
    """A readable text card of one name on one date: every sub-factor under its parent, the parent scores,
    the composite, its rank in the sector, Piotroski / Altman with bands, and the flags."""
    row = result_frame.filter((pl.col("ticker") == ticker) & (pl.col("date") == date))
    if row.height == 0:
        raise KeyError(f"no factor scores for {ticker} on {date}")
    r = row.row(0, named=True)
    flag = "LONG" if r["long_flag"] else "SHORT" if r["short_flag"] else "-"
    lines = [
        f"{ticker}  {r['sector']}  {date}",
        f"composite {_fmt(r['composite'])} (raw {_fmt(r['composite_raw'])})  "
        f"rank {r['sector_rank']}/{r['sector_size']} in sector  flag {flag}  regime {r.get('regime') or 'normal'}",
        f"Piotroski F {_fmt(r['piotroski_f'], '.0f')} ({r['piotroski_band'] or 'n/a'})  "
        f"Altman Z {_fmt(r['altman_z'], '.2f')} ({r['altman_band'] or 'n/a'})  "
        f"insider cluster {'yes' if r['insider_cluster'] else 'no'}",
        "",
    ]
    for p in PARENTS:
        if r[f"{p}_score"] is None and all(r[s] is None for s in SUB_FACTORS[p]):
            lines.append(f"{p:<24}{'absent':>7}  (no source data; not in the composite)")
            continue
        lines.append(f"{p:<24}{_fmt(r[f'{p}_score']):>7}")
        lines += [f"    {s:<24}{_fmt(r[s]):>7}" for s in SUB_FACTORS[p]]
    return "\n".join(lines)
