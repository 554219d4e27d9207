"""Daily P&L attribution: the book's return on a session split into beta, sector, factor and alpha.

For session t, with exposures as of the previous session's close (what the book carried into the day):

* **beta**   = net_beta_{t−1} × r_SPY,t
* **sector** = Σ_s (long_w_s − short_w_s)_{t−1} × (r_ETF(s),t − r_SPY,t), the net weight of each sector (signed
  market values / NAV) times its SPDR ETF's return in excess of SPY; sectors without an ETF add nothing.
* **factor** = Σ_k b_k × f_k,t, where f are the parent factors' daily long-short returns (`factor_returns`,
  the composite left out as it is a mix of the others) and b the OLS slopes (with an intercept) of the
  book's return net of beta and sector on f over the previous ``window`` (60) sessions; no look-ahead: the
  betas for t use sessions before t only. Fewer than ``min_observations`` usable sessions: no factor term.
* **alpha**  = total − beta − sector − factor, the residual, so the four components sum to the total
  exactly. (The regression intercept is alpha, not factor.)

The first session of the book has no prior exposures: its whole return is alpha. Returns of SPY and the
ETFs are adjusted-close to adjusted-close.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from meridian_assets.reporting.schemas import DAILY_ATTRIBUTION

SPY = "SPY"
COMPONENTS = ("beta_return", "sector_return", "factor_return", "alpha_return")


def benchmark_returns(prices: pl.DataFrame, tickers: list[str]) -> pl.DataFrame:
    """``(date, ticker, ret)`` adjusted-close returns of the given tickers (first day dropped)."""
    px = prices.filter(pl.col("ticker").is_in(tickers)).select("date", "ticker", "adj_close").sort("ticker", "date")
    return (px.with_columns((pl.col("adj_close") / pl.col("adj_close").shift(1).over("ticker") - 1).alias("ret"))
            .drop_nulls("ret").select("date", "ticker", "ret"))


def book_returns(history: pl.DataFrame, defined_only: bool = False) -> pl.DataFrame:
    """``(date, nav, beta, ret)``: `daily_return` where given (the first session's is against the starting
    capital, so it carries the opening costs), else the NAV change; sorted by date. A session with neither has
    return 0, or is left out with ``defined_only`` (for statistics)."""
    h = history.sort("date")
    nav_ret = pl.col("nav") / pl.col("nav").shift(1) - 1
    out = h.select("date", "nav", "beta", pl.coalesce(pl.col("daily_return"), nav_ret).alias("ret"))
    return out.drop_nulls("ret") if defined_only else out.with_columns(pl.col("ret").fill_null(0.0))


def starting_nav(history: pl.DataFrame) -> float | None:
    """The NAV before the first session's return: the first NAV divided back by its daily return."""
    if history.height == 0:
        return None
    first = history.sort("date").row(0, named=True)
    r = first.get("daily_return")
    return float(first["nav"]) / (1.0 + r) if r is not None and r > -1 else float(first["nav"])


def sector_net_weights(holdings: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """``(date, sector, net_weight)``: Σ signed market value of the sector / NAV at each close."""
    if holdings.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "sector": pl.Utf8, "net_weight": pl.Float64})
    return (holdings.group_by("date", "sector").agg(pl.col("market_value").sum())
            .join(history.select("date", "nav"), on="date", how="inner")
            .select("date", "sector", (pl.col("market_value") / pl.col("nav")).alias("net_weight")))


def _ols(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, float]:
    """Slopes (without the intercept) and R² of y on [1, X]."""
    A = np.column_stack([np.ones(len(y)), X])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss if ss > 0 else float("nan")
    return coef[1:], r2


def attribute(
    history: pl.DataFrame,
    holdings: pl.DataFrame,
    prices: pl.DataFrame,
    factor_returns: pl.DataFrame | None,
    sector_etfs: dict[str, str],
    window: int = 60,
    min_observations: int = 20,
) -> pl.DataFrame:
    """The `daily_attribution` rows for every session of ``history`` (see the module docstring).

    ``holdings``: `positions.holdings_history` (signed market values per ticker and close);
    ``prices``: daily_prices of SPY and the sector ETFs (at least); ``factor_returns``: the `factor_returns`
    table or None.
    """
    book = book_returns(history)
    if book.height == 0:
        return DAILY_ATTRIBUTION.empty()
    dates = book["date"].to_list()
    bench = benchmark_returns(prices, [SPY, *sector_etfs.values()])
    spy = dict(bench.filter(pl.col("ticker") == SPY).select("date", "ret").iter_rows())
    etf_ret = {(d, t): r for d, t, r in bench.iter_rows()}
    weights = sector_net_weights(holdings, history)
    w_by_date: dict[dt.date, dict[str, float]] = {}
    for d, s, w in weights.iter_rows():
        w_by_date.setdefault(d, {})[s] = w

    n = len(dates)
    total = book["ret"].to_numpy().astype(float)
    beta_prev = np.concatenate([[np.nan], book["beta"].cast(pl.Float64).to_numpy()[:-1]])
    spy_r = np.array([spy.get(d, np.nan) for d in dates])
    beta_c = np.where(np.isfinite(beta_prev) & np.isfinite(spy_r), np.nan_to_num(beta_prev) * np.nan_to_num(spy_r), 0.0)
    sector_c = np.zeros(n)
    for i in range(1, n):
        prev = w_by_date.get(dates[i - 1], {})
        for sector, w in prev.items():
            etf = sector_etfs.get(sector)
            r_etf = etf_ret.get((dates[i], etf)) if etf else None
            if r_etf is not None and np.isfinite(spy_r[i]):
                sector_c[i] += w * (r_etf - spy_r[i])
    residual = total - beta_c - sector_c

    factor_c, r2s, nobs = np.zeros(n), np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    F = _factor_matrix(factor_returns, dates)
    if F is not None:
        usable = np.isfinite(F).all(axis=1) & np.isfinite(residual)
        usable[0] = False  # the first session carries no exposures
        for i in range(1, n):
            if not np.isfinite(F[i]).all():
                continue
            past = np.nonzero(usable[:i])[0][-window:]
            if len(past) < max(min_observations, F.shape[1] + 2):
                continue
            b, r2 = _ols(residual[past], F[past])
            factor_c[i], r2s[i], nobs[i] = float(F[i] @ b), r2, len(past)
    alpha_c = total - beta_c - sector_c - factor_c
    return DAILY_ATTRIBUTION.conform(pl.DataFrame({
        "date": dates, "total_return": total, "beta_return": beta_c, "sector_return": sector_c,
        "factor_return": factor_c, "alpha_return": alpha_c, "net_beta": beta_prev, "spy_return": spy_r,
        "factor_r2": r2s, "factor_observations": nobs, "nav": book["nav"].to_numpy(),
    }).with_columns(pl.col("net_beta", "spy_return", "factor_r2").fill_nan(None)))


def _factor_matrix(factor_returns: pl.DataFrame | None, dates: list[dt.date]) -> np.ndarray | None:
    """Parent-factor returns aligned to ``dates`` (rows) — NaN where a factor has no return that day."""
    if factor_returns is None or factor_returns.height == 0:
        return None
    fr = factor_returns.filter(pl.col("factor") != "composite").drop_nulls("long_short_return")
    if fr.height == 0:
        return None
    wide = fr.pivot(on="factor", index="date", values="long_short_return", aggregate_function="first")
    names = sorted(c for c in wide.columns if c != "date")
    aligned = pl.DataFrame({"date": pl.Series(dates, dtype=pl.Date)}).join(wide, on="date", how="left")
    return aligned.select(names).to_numpy().astype(float)


def period_contributions(attribution: pl.DataFrame, start: dt.date, end: dt.date) -> dict[str, float]:
    """Sum of each daily component over [start, end] (bps) and the compounded total (bps)."""
    a = attribution.filter(pl.col("date").is_between(start, end))
    out = {c.replace("_return", ""): float(a[c].sum() * 1e4) for c in COMPONENTS}
    out["total_compounded"] = float(((a["total_return"] + 1).product() - 1) * 1e4) if a.height else 0.0
    out["sessions"] = a.height
    return out


def upsert_csv(path: Path, frame: pl.DataFrame, key: str = "date") -> int:
    """Write ``frame`` into the CSV at ``path``, replacing rows with the same ``key``; returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size:
        old = pl.read_csv(path, try_parse_dates=True, schema_overrides=frame.schema)
        keep = old.filter(~pl.col(key).is_in(frame[key].implode()))
        frame = pl.concat([keep.select(frame.columns), frame], how="vertical_relaxed")
    frame = frame.sort(key)
    frame.write_csv(path)
    return frame.height
