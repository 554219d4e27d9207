"""What the risk state reads from DuckDB (the book, the model, the monitors' data), as `state.RiskInputs`."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.risk.descriptors import returns_matrix
from meridian_assets.risk.factor_model import FactorModel
from meridian_assets.risk.halt_lock import HaltRecord
from meridian_assets.risk.monitors import factor_exposure_z
from meridian_assets.risk.state import RiskInputs
from meridian_assets.risk.stress import run_stress
from meridian_assets.storage import read, table_exists

HY_OAS = "BAMLH0A0HYM2"  # FRED's ICE BofA US High Yield option-adjusted spread
EMPTY_POSITIONS = {"ticker": pl.Utf8, "sector": pl.Utf8, "shares": pl.Int64, "avg_cost": pl.Float64,
                   "last_price": pl.Float64, "market_value": pl.Float64}


def load_risk_model(conn, as_of: dt.date) -> FactorModel | None:
    """The latest stored risk-model estimate at ``as_of`` over its whole universe (`FactorModel.restrict` gives
    a book's names), None before the first estimate."""
    if not table_exists(conn, "risk_exposures"):
        return None
    est = conn.execute("SELECT max(as_of) FROM risk_exposures WHERE as_of <= ?", [as_of]).fetchall()[0][0]
    if est is None:
        return None
    ex = read(conn, "SELECT ticker, factor, exposure FROM risk_exposures WHERE as_of = ?", [est])
    wide = ex.pivot(on="factor", index="ticker", values="exposure").sort("ticker")
    cov = read(conn, "SELECT factor_a, factor_b, covariance FROM risk_factor_covariance WHERE as_of = ?", [est])
    names = [c for c in wide.columns if c != "ticker"]
    pos = {n: i for i, n in enumerate(names)}
    F = np.zeros((len(names), len(names)))
    for a, b, c in cov.iter_rows():
        F[pos[a], pos[b]] = c
    spec = read(conn, "SELECT ticker, specific_variance FROM risk_specific_variance WHERE as_of = ?", [est])
    wide = wide.join(spec, on="ticker", how="inner")
    return FactorModel(X=np.nan_to_num(wide.select(names).to_numpy()), F=F, D=wide["specific_variance"].to_numpy(),
                       factor_names=tuple(names), tickers=tuple(wide["ticker"]))


def tail_inputs(conn, as_of: dt.date) -> tuple[float | None, tuple[float, ...] | None]:
    """Latest VIX close and the HY OAS history known by ``as_of``."""
    vix = conn.execute("SELECT close FROM daily_prices WHERE ticker = '^VIX' AND date <= ? ORDER BY date DESC "
                       "LIMIT 1", [as_of]).fetchall() if table_exists(conn, "daily_prices") else []
    oas = (read(conn, "SELECT value FROM macro_series WHERE series_id = ? AND known_at <= ? ORDER BY date",
                [HY_OAS, as_of])["value"].to_list() if table_exists(conn, "macro_series") else [])
    return (vix[0][0] if vix else None), (tuple(oas) or None)


def risk_as_of(conn) -> dt.date | None:
    for sql in ("SELECT max(date) FROM portfolio_history", "SELECT max(date) FROM daily_prices"):
        table = sql.rsplit(" ", 1)[-1]
        if table_exists(conn, table):
            d = conn.execute(sql).fetchall()[0][0]
            if d is not None:
                return d
    return None


def load_risk_inputs(conn, cfg: MeridianConfig, as_of: dt.date, *, halt: HaltRecord | None,
                     previous_log: tuple[dict, ...] = (), stress: bool = True) -> RiskInputs:
    history = (read(conn, "SELECT * FROM portfolio_history WHERE date <= ? ORDER BY date", [as_of])
               if table_exists(conn, "portfolio_history") else pl.DataFrame())
    positions = (read(conn, "SELECT * FROM portfolio_positions ORDER BY ticker")
                 if table_exists(conn, "portfolio_positions") else pl.DataFrame(schema=EMPTY_POSITIONS))
    vix, oas = tail_inputs(conn, as_of)
    if history.is_empty():
        history = pl.DataFrame(schema={"date": pl.Date, "nav": pl.Float64, "beta": pl.Float64})
    tickers = positions["ticker"].to_list()
    model = monitor = None
    long_r = short_r = None
    stress_results: tuple = ()
    if tickers:
        rm = load_risk_model(conn, as_of)
        if rm is not None:
            model = rm.restrict(tickers)
            styles = [f for f in cfg.risk.style_factors if f in rm.factor_names]
            cols = [rm.factor_names.index(f) for f in styles]
            universe = pl.DataFrame({"ticker": list(rm.tickers),
                                     **{f: rm.X[:, c] for f, c in zip(styles, cols)}})
            weights = dict(zip(tickers, positions["market_value"].to_list()))
            monitor = tuple(factor_exposure_z(universe, weights, styles, cfg.risk))
        prices = read(conn, "SELECT date, ticker, adj_close FROM daily_prices WHERE date BETWEEN ? AND ? AND "
                            "ticker IN (SELECT unnest(?))", [as_of - dt.timedelta(days=120), as_of, tickers])
        _, R = returns_matrix(prices, tickers, as_of, cfg.risk.correlation_window_days)
        mv = positions["market_value"].to_numpy()
        long_r = np.nan_to_num(R[:, mv > 0])
        short_r = np.nan_to_num(R[:, mv < 0])
        if stress:
            mom = read(conn, "SELECT ticker, momentum_score AS momentum FROM factor_scores WHERE date = "
                             "(SELECT max(date) FROM factor_scores WHERE date <= ?)", [as_of]) \
                if table_exists(conn, "factor_scores") else pl.DataFrame(schema={"ticker": pl.Utf8,
                                                                               "momentum": pl.Float64})
            book = (positions.select("ticker", "sector", notional="market_value")
                    .join(mom, on="ticker", how="left").with_columns(pl.col("momentum").fill_null(50.0)))
            nav = float(history["nav"][-1]) if history.height else cfg.portfolio.capital_base
            stress_results = tuple(run_stress(book, nav, cfg.risk))
    return RiskInputs(as_of=as_of, history=history, positions=positions, model=model,
                      factor_monitor=monitor or (), long_returns=long_r, short_returns=short_r, vix=vix,
                      hy_oas=oas, stress=stress_results, halt=halt, previous_log=previous_log)
