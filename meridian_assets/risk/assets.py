"""Layer-5 assets: the factor risk model (as of the latest scored session) and the daily risk state."""

import datetime as dt
import json

import dagster as dg
import numpy as np
import polars as pl

from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.risk.descriptors import SIZE_PROXY_DAYS, model_as_of
from meridian_assets.risk.factor_model import RiskModelError
from meridian_assets.risk.halt_lock import HaltLock
from meridian_assets.risk.inputs import load_risk_inputs, risk_as_of
from meridian_assets.risk.schemas import (
    RISK_EXPOSURES, RISK_FACTOR_COVARIANCE, RISK_FACTOR_RETURNS, RISK_SPECIFIC_VARIANCE, RISK_STATE,
)
from meridian_assets.risk.state import build_risk_state, write_json_atomic
from meridian_assets.ingest.partitions import tagged_window
from meridian_assets.storage import read, replace_window, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

GROUP = "risk"
NO_FUNDAMENTALS = pl.DataFrame(schema={"ticker": pl.Utf8, "period_end": pl.Date, "known_at": pl.Date,
                                       "shares_outstanding": pl.Float64})
RISK_MODEL_KEYS = [t.name for t in (RISK_EXPOSURES, RISK_FACTOR_COVARIANCE, RISK_SPECIFIC_VARIANCE, RISK_FACTOR_RETURNS)]


def _has_column(conn, table: str, column: str) -> bool:
    sql = "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?"
    return bool(conn.execute(sql, [table, column]).fetchall()[0][0])


def _as_of(context: dg.AssetExecutionContext, conn) -> dt.date:
    """The latest scored session, within the run's window when it has one."""
    window = tagged_window(context.run.tags)
    sql, params = "SELECT max(date) FROM factor_scores", []
    if window:
        sql, params = sql + " WHERE date <= ?", [window[1]]
    as_of = conn.execute(sql, params).fetchall()[0][0] if table_exists(conn, "factor_scores") else None
    if as_of is None:
        raise dg.Failure("risk_model: no factor scores yet; materialize factor_scores first", allow_retries=False)
    return as_of


@dg.multi_asset(
    specs=[
        dg.AssetSpec(t.name, group_name=GROUP, kinds={"duckdb", "numpy"}, description=t.description,
                     deps=["daily_prices", "factor_scores", "fundamentals_raw"])
        for t in (RISK_EXPOSURES, RISK_FACTOR_COVARIANCE, RISK_SPECIFIC_VARIANCE, RISK_FACTOR_RETURNS)
    ],
    pool=DUCKDB_POOL,
    name="risk_model",
)
def risk_model(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Barra-style factor risk model as of the latest scored session: daily cross-sectional WLS of stock
    returns on market, industry and style exposures known the session before each return, over
    `risk.factor_lookback_days` sessions (industry returns constrained cap-weighted to zero), the annualised
    factor covariance and specific variances. Bars follow each company across ticker changes. Without shares
    outstanding, size is a market-cap estimate from dollar volume; a style with no data is left out; the
    exposures' metadata names both (`exposure_sources`)."""
    require_clean_inputs(context)
    cfg = settings.get()
    lookback = cfg.risk.factor_lookback_days
    with db.connect() as conn:
        as_of = _as_of(context, conn)
        # bars for the lookback plus the beta (and dollar-volume) window before its first day (exposures known
        # the day before)
        window = max(cfg.portfolio.beta_lookback_days, SIZE_PROXY_DAYS)
        start = as_of - dt.timedelta(days=int((lookback + window) * 1.6) + 30)
        cols = "date, ticker, close, adj_close, volume" + (
            ", security_id" if _has_column(conn, "daily_prices", "security_id") else "")
        prices = read(conn, f"SELECT {cols} FROM daily_prices WHERE date BETWEEN ? AND ?", [start, as_of])
        scores = read(conn, "SELECT * FROM factor_scores WHERE date BETWEEN ? AND ?",
                      [as_of - dt.timedelta(days=int(lookback * 1.6) + 30), as_of])
        # without fundamentals (e.g. a prices-only files provider) size is estimated from dollar volume
        fundamentals = (read(conn, "SELECT ticker, period_end, known_at, shares_outstanding FROM fundamentals_raw "
                                   "WHERE known_at <= ?", [as_of]) if table_exists(conn, "fundamentals_raw")
                        else NO_FUNDAMENTALS)
    try:
        model, dates, tickers, sources = model_as_of(prices, scores, fundamentals, as_of, lookback=lookback,
                                                     styles=tuple(cfg.risk.style_factors),
                                                     beta_days=cfg.portfolio.beta_lookback_days)
    except RiskModelError as err:
        raise dg.Failure(f"risk_model {as_of}: {err}", allow_retries=False) from None
    for style, source in sources.items():
        if "proxy" in source or "left out" in source:
            context.log.warning(f"risk_model {as_of}: {style}: {source}")
    names = list(model.factor_names)
    expo = pl.DataFrame({
        "as_of": [as_of] * (len(tickers) * len(names)),
        "ticker": np.repeat(tickers, len(names)), "factor": names * len(tickers),
        "exposure": model.X.ravel(),
    })
    cov = pl.DataFrame({"as_of": [as_of] * len(names) ** 2, "factor_a": np.repeat(names, len(names)),
                        "factor_b": names * len(names), "covariance": model.F.ravel()})
    spec = pl.DataFrame({"as_of": [as_of] * len(tickers), "ticker": tickers, "specific_variance": model.D})
    fret = pl.DataFrame({"as_of": [as_of] * (len(dates) * len(names)),
                         "date": pl.Series([d for d in dates for _ in names], dtype=pl.Date),
                         "factor": names * len(dates), "factor_return": model.factor_returns.ravel()})
    with db.connect() as conn:
        for schema, frame in ((RISK_EXPOSURES, expo), (RISK_FACTOR_COVARIANCE, cov),
                              (RISK_SPECIFIC_VARIANCE, spec), (RISK_FACTOR_RETURNS, fret)):
            replace_window(conn, schema, frame, as_of, as_of)
    vols = pl.DataFrame({"factor": names, "annual_vol": np.sqrt(np.diag(model.F))}).sort("annual_vol",
                                                                                      descending=True)
    ew = np.full(len(tickers), 1.0 / len(tickers))
    d = model.decompose(ew)
    common = {"as_of": dg.MetadataValue.text(str(as_of)), "stocks": dg.MetadataValue.int(len(tickers)),
              "factors": dg.MetadataValue.int(len(names)), "sessions": dg.MetadataValue.int(len(dates))}
    yield dg.MaterializeResult(asset_key=RISK_EXPOSURES.name, metadata={
        **common, "rows": expo.height,
        "exposure_sources": dg.MetadataValue.json(sources),
        "proxies": dg.MetadataValue.text(", ".join(s for s, v in sources.items() if "proxy" in v) or "none"),
        "styles_left_out": dg.MetadataValue.text(
            ", ".join(s for s, v in sources.items() if v.startswith("left out")) or "none")})
    yield dg.MaterializeResult(asset_key=RISK_FACTOR_COVARIANCE.name, metadata={
        **common, "factor_vols": dg.MetadataValue.md(preview_markdown(vols, n=len(names))),
        "equal_weight_vol": dg.MetadataValue.float(float(d.sigma)),
        "equal_weight_factor_share": dg.MetadataValue.float(float(d.factor_variance / d.total_variance)),
    })
    yield dg.MaterializeResult(asset_key=RISK_SPECIFIC_VARIANCE.name, metadata={
        **common, "median_specific_vol": dg.MetadataValue.float(float(np.median(np.sqrt(model.D))))})
    yield dg.MaterializeResult(asset_key=RISK_FACTOR_RETURNS.name, metadata={**common, "rows": fret.height})



class RiskStateConfig(dg.Config):
    """Run options of `risk_state` (the `meridian risk` flags)."""

    stress: bool = True  # run the six stress scenarios


def _previous_log(path) -> tuple[dict, ...]:
    try:
        return tuple(json.loads(path.read_text()).get("breaker_log", []))
    except (OSError, ValueError, AttributeError):
        return ()


@dg.asset(group_name=GROUP, deps=["portfolio_positions", "portfolio_history", *RISK_MODEL_KEYS, "macro_series"],
          pool=DUCKDB_POOL, kinds={"duckdb", "json"})
def risk_state(context: dg.AssetExecutionContext, config: RiskStateConfig, db: DuckDBStore,
               settings: MeridianSettings):
    """The book's risk state today — losses, drawdown, circuit breakers and trading state, exposures, ex-ante
    risk with MCTR, factor / correlation / tail-risk monitors and stress — also written to risk_state.json.
    Its metadata is what the kill_switch_sensor reads."""
    require_clean_inputs(context)
    cfg = settings.get()
    path = cfg.risk_state_path()
    lock = HaltLock(cfg.halt_lock_path())
    with db.connect() as conn:
        as_of = risk_as_of(conn)
        if as_of is None:
            raise dg.Failure("risk_state: no prices and no book yet; load data first", allow_retries=False)
        halt = lock.read() if lock.is_halted() else None
        inputs = load_risk_inputs(conn, cfg, as_of, halt=halt, previous_log=_previous_log(path),
                                  stress=config.stress)
        doc, _ = build_risk_state(inputs, cfg.risk)
        exp, dec = doc["exposures"], doc.get("decomposition", {})
        row = pl.DataFrame([{
            "as_of": as_of, "trading_state": doc["trading_state"], "halted": doc["halted"], "nav": doc.get("nav"),
            "daily_return": doc.get("daily_return"), "weekly_return": doc.get("weekly_return"),
            "drawdown": doc.get("drawdown"), "gross": exp["gross"], "net": exp["net"], "beta": exp["beta"],
            "ex_ante_vol": dec.get("sigma"), "actions": ",".join(doc["breakers"]["actions"]),
            "alerts": "\n".join(doc["alerts"]), "state_json": json.dumps(doc, default=str)}])
        replace_window(conn, RISK_STATE, row, as_of, as_of)
    write_json_atomic(path, doc)
    actions = doc["breakers"]["actions"]
    for a in doc["alerts"]:
        context.log.warning(f"risk {as_of}: {a}")
    metadata = {
        "as_of": dg.MetadataValue.text(str(as_of)), "trading_state": dg.MetadataValue.text(doc["trading_state"]),
        "halted": dg.MetadataValue.bool(doc["halted"]), "actions": dg.MetadataValue.text(",".join(actions)),
        "kill_switch": dg.MetadataValue.bool("KILL_SWITCH" in actions),
        "close_all_today": dg.MetadataValue.bool("CLOSE_ALL_TODAY" in actions),
        "gross": dg.MetadataValue.float(exp["gross"]), "net": dg.MetadataValue.float(exp["net"]),
        "positions": exp["positions"], "risk_state_json": dg.MetadataValue.path(str(path)),
        "alerts": dg.MetadataValue.md("\n".join(f"- {a}" for a in doc["alerts"]) or "none"),
    }
    for key in ("nav", "drawdown", "daily_return", "weekly_return"):
        if doc.get(key) is not None:
            metadata[key] = dg.MetadataValue.float(float(doc[key]))
    if exp["beta"] is not None:
        metadata["beta"] = dg.MetadataValue.float(float(exp["beta"]))
    if dec:
        metadata["ex_ante_vol"] = dg.MetadataValue.float(dec["sigma"])
        metadata["factor_risk_share"] = dg.MetadataValue.float(dec["factor_share"])
    if doc["stress"]:
        metadata["stress"] = dg.MetadataValue.md(preview_markdown(
            pl.DataFrame(doc["stress"]).select("scenario", "long_pct", "short_pct", "total_pct", "total_pnl"), n=10))
    return dg.MaterializeResult(metadata=metadata)


RISK_ASSETS = [risk_model, risk_state]
