"""Market history for backtests: read once, kept in memory as session × ticker matrices, sliced per session.

`load_history(conn, start, end, cfg)` reads what a rebalance on any session of [start, end] may use — bars from
``start − 200`` calendar days (the live loader's `PRICE_DAYS`), scores of the window, earnings dates, corporate
actions, HY OAS and every risk-model estimate — in a handful of queries; `MarketHistory.from_frames` builds the
same object from frames (tests, benchmarks). Per session, `candidates` and `returns_window` give exactly what
`portfolio.inputs.load_rebalance_inputs` would read from DuckDB on that day, and nothing dated later:

* market statistics as `portfolio.market.market_stats` defines them — price (last close), 20-bar ADV and
  average range, 60-return volatility (rolling over each ticker's own bars, computed once for all sessions,
  then carried forward over sessions without a bar) and the 60-session OLS beta on SPY (≥ 20 common returns),
  computed per session over the window;
* the 120-session adj_close return matrix of `risk.descriptors.returns_matrix`;
* days to the next earnings date known by the session; VIX and HY OAS known by the session; the latest
  risk-model estimate dated on or before it.

Every rolling window ends at the session, so changing data after a session changes nothing before it.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.factors.schemas import PARENTS
from meridian_assets.portfolio.inputs import PRICE_DAYS
from meridian_assets.portfolio.market import MIN_BETA_SESSIONS
from meridian_assets.risk.descriptors import BENCHMARK
from meridian_assets.risk.factor_model import FactorModel
from meridian_assets.risk.inputs import HY_OAS, load_risk_model
from meridian_assets.storage import read, table_exists

MACRO_DAYS = 400  # calendar days of HY OAS before the window: the credit monitor's 252-value baseline
VIX = "^VIX"
SCORE_COLUMNS = ("date", "ticker", "sector", "composite", "long_flag", "short_flag",
                 *(f"{p}_score" for p in PARENTS))
_CANDIDATE_SCHEMA = {"ticker": pl.Utf8, "sector": pl.Utf8, "score": pl.Float64, "long_flag": pl.Boolean,
                     "short_flag": pl.Boolean, "price": pl.Float64, "adv_dollars": pl.Float64,
                     "avg_range_pct": pl.Float64, "daily_vol": pl.Float64, "beta": pl.Float64,
                     "prior_score": pl.Float64, "days_to_earnings": pl.Int64}


def _matrices(frame: pl.DataFrame, values: tuple[str, ...], rows: pl.DataFrame, cols: pl.DataFrame,
              shape) -> dict[str, np.ndarray]:
    """Each of ``values`` of a long (date, ticker) frame scattered into a sessions × tickers matrix (NaN
    elsewhere); the rows' positions are found once for all of them."""
    idx = frame.join(rows, on="date").join(cols, on="ticker").select(
        "r", "c", *(pl.col(v).cast(pl.Float64).fill_null(np.nan) for v in values))
    r, c = idx["r"].to_numpy(), idx["c"].to_numpy()
    out = {}
    for v in values:
        m = np.full(shape, np.nan)
        m[r, c] = idx[v].to_numpy()
        out[v] = m
    return out


def _sorted(frame: pl.DataFrame, *by: str) -> pl.DataFrame:
    """``frame`` sorted by the columns ``by``; as it is when its rows already are in that order (`load_history`
    has DuckDB sort them, in parallel), which one pass checks: a sort is most of building a history otherwise."""
    if frame.height < 2:
        return frame
    in_order = pl.lit(False)
    for k in reversed(range(len(by))):
        c, prev = pl.col(by[k]), pl.col(by[k]).shift(1)
        ties_before = pl.all_horizontal([pl.col(b) == pl.col(b).shift(1) for b in by[:k]] or [pl.lit(True)])
        in_order = in_order | (ties_before & ((c > prev) | ((c == prev) & (k == len(by) - 1))))
    if frame.select(in_order.slice(1).fill_null(False).all()).item():
        return frame
    return frame.sort(*by)


def _ffill(m: np.ndarray) -> np.ndarray:
    """Carry each column's last finite value forward (NaN before the first)."""
    ok = np.isfinite(m)
    idx = np.where(ok, np.arange(m.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = m[idx, np.arange(m.shape[1])]
    seen = np.maximum.accumulate(ok, axis=0)
    return np.where(seen, out, np.nan)


@dataclass
class MarketHistory:
    """Sessions × tickers matrices and the point-in-time frames a backtest reads (module docstring)."""

    sessions: list[dt.date]
    tickers: list[str]
    open: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray
    price: np.ndarray  # last close on or before the session
    adv_dollars: np.ndarray
    avg_range_pct: np.ndarray
    daily_vol: np.ndarray
    returns: np.ndarray  # adj_close returns on the session grid (NaN without both bars)
    vix: np.ndarray  # last ^VIX close on or before the session
    scores: pl.DataFrame  # factor_scores columns of SCORE_COLUMNS
    combined: pl.DataFrame  # combined_scores (date, ticker, sector, combined_score, long_flag, short_flag)
    earnings: pl.DataFrame  # ticker, earnings_date, known_at
    actions: pl.DataFrame  # date, ticker, action, ratio, new_ticker, known_at
    hy_oas: pl.DataFrame  # date, value, known_at (by date)
    risk_models: list[tuple[dt.date, FactorModel]] = field(default_factory=list)
    adv_days: int = 20
    beta_days: int = 60
    covariance_days: int = 120

    def __post_init__(self) -> None:
        self.col = {t: j for j, t in enumerate(self.tickers)}
        self.index = {d: i for i, d in enumerate(self.sessions)}
        self._oas_dates = self.hy_oas["known_at"].to_numpy() if self.hy_oas.height else np.array([], "datetime64[D]")
        self._oas_values = self.hy_oas["value"].to_numpy().astype(float) if self.hy_oas.height else np.zeros(0)
        self._model_dates = [d for d, _ in self.risk_models]
        # Per-session lookups answered from arrays built once, not a polars query per session (a backtest asks
        # every session): earnings sorted by ticker then date, so a ticker's first row still in the future is its
        # next date; corporate actions grouped by effective date, in ticker order.
        e = (self.earnings.drop_nulls(["ticker", "earnings_date", "known_at"])
             .sort("ticker", "earnings_date", maintain_order=True))
        self._earn_codes = {t: k for k, t in enumerate(e["ticker"].unique(maintain_order=True).to_list())}
        self._earn_ticker = np.array([self._earn_codes[t] for t in e["ticker"].to_list()], dtype=np.int64)
        self._earn_date = e["earnings_date"].to_numpy().astype("datetime64[D]")
        self._earn_known = e["known_at"].to_numpy().astype("datetime64[D]")
        self._actions_by_date: dict[dt.date, list[tuple]] = {}
        for day, *row in (self.actions.filter(pl.col("date").is_not_null()).sort("date", "ticker", maintain_order=True)
                          .select("date", "ticker", "action", "ratio", "new_ticker", "known_at").iter_rows()):
            self._actions_by_date.setdefault(day, []).append(tuple(row))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_frames(cls, prices: pl.DataFrame, scores: pl.DataFrame, cfg: MeridianConfig, *,
                    combined: pl.DataFrame | None = None, earnings: pl.DataFrame | None = None,
                    actions: pl.DataFrame | None = None, hy_oas: pl.DataFrame | None = None,
                    risk_models: list[tuple[dt.date, FactorModel]] | None = None) -> MarketHistory:
        """``prices``: daily_prices rows (stocks, SPY, ^VIX); ``scores``: factor_scores rows; the rest optional."""
        pc = cfg.portfolio
        px = _sorted(prices.filter(pl.col("close").is_not_null()), "ticker", "date")
        sessions = sorted(px["date"].unique().to_list())
        tickers = sorted(px["ticker"].unique().to_list())
        rows = pl.DataFrame({"date": sessions, "r": np.arange(len(sessions))}, schema={"date": pl.Date, "r": pl.Int64})
        cols = pl.DataFrame({"ticker": tickers, "c": np.arange(len(tickers))},
                            schema={"ticker": pl.Utf8, "c": pl.Int64})
        shape = (len(sessions), len(tickers))
        ret = pl.col("adj_close") / pl.col("adj_close").shift(1).over("ticker") - 1
        rolled = px.with_columns(dv=pl.col("close") * pl.col("volume"),
                                 rng=(pl.col("high") - pl.col("low")) / pl.col("close"), ret=ret).with_columns(
            adv=pl.col("dv").rolling_mean(pc.adv_lookback_days, min_samples=1).over("ticker"),
            avg_range=pl.col("rng").rolling_mean(pc.adv_lookback_days, min_samples=1).over("ticker"),
            vol=pl.col("ret").rolling_std(pc.beta_lookback_days, min_samples=2).over("ticker"))
        m = _matrices(rolled, ("open", "close", "adj_close", "volume", "adv", "avg_range", "vol"), rows, cols, shape)
        levels = m["adj_close"]
        returns = np.full(shape, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            returns[1:] = levels[1:] / levels[:-1] - 1.0
        vix = _ffill(m["close"][:, [tickers.index(VIX)]])[:, 0] if VIX in tickers else np.full(len(sessions), np.nan)
        empty = {"earnings": pl.DataFrame(schema={"ticker": pl.Utf8, "earnings_date": pl.Date, "known_at": pl.Date}),
                 "actions": pl.DataFrame(schema={"date": pl.Date, "ticker": pl.Utf8, "action": pl.Utf8,
                                                 "ratio": pl.Float64, "new_ticker": pl.Utf8, "known_at": pl.Date}),
                 "hy_oas": pl.DataFrame(schema={"date": pl.Date, "value": pl.Float64, "known_at": pl.Date}),
                 "combined": pl.DataFrame(schema={"date": pl.Date, "ticker": pl.Utf8, "sector": pl.Utf8,
                                                  "combined_score": pl.Float64, "long_flag": pl.Boolean,
                                                  "short_flag": pl.Boolean})}
        return cls(
            sessions=sessions, tickers=tickers, open=m["open"], close=m["close"], adj_close=levels,
            volume=m["volume"], price=_ffill(m["close"]), adv_dollars=_ffill(m["adv"]),
            avg_range_pct=_ffill(m["avg_range"]), daily_vol=_ffill(m["vol"]), returns=returns, vix=vix,
            scores=_sorted(scores.select([c for c in SCORE_COLUMNS if c in scores.columns]), "date", "ticker"),
            combined=_sorted(combined.select(empty["combined"].columns), "date", "ticker") if combined is not None
            and combined.height else empty["combined"],
            earnings=earnings.select("ticker", "earnings_date", "known_at") if earnings is not None
            and earnings.height else empty["earnings"],
            actions=actions.select(empty["actions"].columns) if actions is not None and actions.height
            else empty["actions"],
            hy_oas=hy_oas.select("date", "value", "known_at").drop_nulls("value").sort("date")
            if hy_oas is not None and hy_oas.height else empty["hy_oas"],
            risk_models=sorted(risk_models or [], key=lambda x: x[0]),
            adv_days=pc.adv_lookback_days, beta_days=pc.beta_lookback_days, covariance_days=pc.covariance_lookback_days)

    # ------------------------------------------------------------------ per session
    def window(self, start: dt.date, end: dt.date) -> list[dt.date]:
        return [d for d in self.sessions if start <= d <= end]

    def betas(self, i: int, cols: np.ndarray) -> np.ndarray:
        """60-session OLS beta on SPY of each column as of session ``i`` (NaN with < 20 common returns)."""
        out = np.full(len(cols), np.nan)
        spy = self.col.get(BENCHMARK)
        if spy is None or i < 1:
            return out
        lo = max(1, i - self.beta_days + 1)
        y = self.returns[lo:i + 1][:, cols]
        x = self.returns[lo:i + 1, spy][:, None]
        ok = np.isfinite(y) & np.isfinite(x)
        n = ok.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx = np.where(ok, x, 0.0).sum(axis=0) / n
            my = np.where(ok, y, 0.0).sum(axis=0) / n
            dx, dy = np.where(ok, x - mx, 0.0), np.where(ok, y - my, 0.0)
            var = (dx * dx).sum(axis=0) / (n - 1)
            beta = (dx * dy).sum(axis=0) / (n - 1) / var
        good = (n >= MIN_BETA_SESSIONS) & (var > 0)
        out[good] = beta[good]
        return out

    def returns_window(self, i: int) -> tuple[tuple[str, ...], np.ndarray]:
        """The last ``covariance_days`` return rows up to session ``i`` over every ticker."""
        return tuple(self.tickers), self.returns[max(1, i - self.covariance_days + 1):i + 1]

    def days_to_earnings(self, day: dt.date, tickers: list[str]) -> list[int | None]:
        """Calendar days from ``day`` to each ticker's next earnings date known by ``day`` (None: none known)."""
        d = np.datetime64(day, "D")
        live = (self._earn_date >= d) & (self._earn_known <= d)
        codes, first = np.unique(self._earn_ticker[live], return_index=True)
        days = dict(zip(codes.tolist(), (self._earn_date[live][first] - d).astype(np.int64).tolist()))
        return [days.get(self._earn_codes.get(t, -1)) for t in tickers]

    def candidates(self, i: int, scores: pl.DataFrame, held_sectors: dict[str, str | None],
                   prior: dict[str, float]) -> pl.DataFrame:
        """The candidates frame of `RebalanceInputs` on session ``i``: scored names plus held names."""
        day = self.sessions[i]
        tickers = sorted(set(scores["ticker"].to_list()) | set(held_sectors))
        cols = np.array([self.col.get(t, -1) for t in tickers])
        known = cols >= 0
        safe = np.where(known, cols, 0)

        def pick(m: np.ndarray) -> np.ndarray:
            return np.where(known, m[i, safe], np.nan)

        beta = np.where(known, self.betas(i, safe), np.nan)
        base = pl.DataFrame({
            "ticker": tickers, "price": pick(self.price), "adv_dollars": pick(self.adv_dollars),
            "avg_range_pct": pick(self.avg_range_pct), "daily_vol": pick(self.daily_vol), "beta": beta,
            "prior_score": [prior.get(t) for t in tickers],
            "days_to_earnings": self.days_to_earnings(day, tickers),
        }, schema_overrides={"prior_score": pl.Float64, "days_to_earnings": pl.Int64}).with_columns(
            pl.col("price", "adv_dollars", "avg_range_pct", "daily_vol", "beta").fill_nan(None))
        held = pl.DataFrame({"ticker": list(held_sectors), "held_sector": list(held_sectors.values())},
                            schema={"ticker": pl.Utf8, "held_sector": pl.Utf8})
        out = (base.join(scores.select("ticker", "sector", "score", "long_flag", "short_flag"), on="ticker", how="left")
               .join(held, on="ticker", how="left")
               .with_columns(sector=pl.coalesce("sector", "held_sector")).drop("held_sector"))
        return out.select([pl.col(c).cast(t) for c, t in _CANDIDATE_SCHEMA.items()])

    def vix_on(self, i: int) -> float | None:
        v = float(self.vix[i])
        return v if np.isfinite(v) else None

    def hy_oas_known(self, day: dt.date) -> list[float] | None:
        if not len(self._oas_values):
            return None
        values = self._oas_values[self._oas_dates <= np.datetime64(day, "D")]
        return values.tolist() or None

    def risk_model(self, day: dt.date) -> FactorModel | None:
        k = bisect.bisect_right(self._model_dates, day)
        return self.risk_models[k - 1][1] if k else None

    def actions_on(self, day: dt.date) -> list[tuple]:
        """(ticker, action, ratio, new_ticker) effective ``day`` and known by then, in ticker order."""
        return [(t, a, r, n) for t, a, r, n, known in self._actions_by_date.get(day, ()) if known is None or known <= day]


def load_history(conn: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date, cfg: MeridianConfig) -> MarketHistory:
    """Everything a backtest of [start, end] reads, in one pass over DuckDB (module docstring)."""
    first = start - dt.timedelta(days=PRICE_DAYS)
    prices = read(conn, "SELECT date, ticker, open, high, low, close, adj_close, volume FROM daily_prices "
                        "WHERE date BETWEEN ? AND ? ORDER BY ticker, date", [first, end])
    cols = ", ".join(SCORE_COLUMNS)
    scores = read(conn, f"SELECT {cols} FROM factor_scores WHERE date BETWEEN ? AND ? ORDER BY date, ticker",
                  [start, end])
    combined = (read(conn, "SELECT date, ticker, sector, combined_score, long_flag, short_flag FROM combined_scores "
                           "WHERE date BETWEEN ? AND ? ORDER BY date, ticker", [start, end])
                if table_exists(conn, "combined_scores") else None)
    earnings = (read(conn, "SELECT ticker, earnings_date, known_at FROM earnings_calendar WHERE earnings_date >= ? "
                           "AND known_at <= ?", [start, end]) if table_exists(conn, "earnings_calendar") else None)
    actions = (read(conn, "SELECT date, ticker, action, ratio, new_ticker, known_at FROM corporate_actions "
                          "WHERE date BETWEEN ? AND ?", [start, end])
               if table_exists(conn, "corporate_actions") else None)
    oas = (read(conn, "SELECT date, value, known_at FROM macro_series WHERE series_id = ? AND date BETWEEN ? AND ?",
                [HY_OAS, start - dt.timedelta(days=MACRO_DAYS), end]) if table_exists(conn, "macro_series") else None)
    models: list[tuple[dt.date, FactorModel]] = []
    if table_exists(conn, "risk_exposures"):
        for (as_of,) in conn.execute("SELECT DISTINCT as_of FROM risk_exposures WHERE as_of <= ? ORDER BY 1",
                                     [end]).fetchall():
            model = load_risk_model(conn, as_of)
            if model is not None:
                models.append((as_of, model))
    return MarketHistory.from_frames(prices, scores, cfg, combined=combined, earnings=earnings, actions=actions,
                                     hy_oas=oas, risk_models=models)
