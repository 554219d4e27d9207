"""What a rebalance reads from DuckDB, as of one session: scores, market statistics, the book, the risk model.

Point in time: scores of ``as_of`` (the combined Layer-3 score when `combined_scores` has that session, else the
quant composite; or a scored CSV given by the user), bars dated ≤ ``as_of``, earnings dates known by ``as_of``,
the latest risk-model estimate dated ≤ ``as_of``, and the book replayed from the ledger up to ``as_of``. The
breakers and tail-risk overlay are evaluated on that replayed NAV and on VIX / HY OAS known by ``as_of``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import DataError
from meridian_assets.factors.schemas import PARENTS
from meridian_assets.ingest.identity import as_of_labels
from meridian_assets.portfolio.ledger import Replay, replay
from meridian_assets.portfolio.market import market_stats
from meridian_assets.portfolio.rebalance import RebalanceInputs
from meridian_assets.portfolio.schemas import POSITION_APPROVALS
from meridian_assets.risk.breakers import evaluate_breakers, unrealized_pnl
from meridian_assets.risk.descriptors import BENCHMARK, returns_matrix
from meridian_assets.risk.inputs import load_risk_model, tail_inputs
from meridian_assets.risk.monitors import tail_risk
from meridian_assets.risk.states import TradingState
from meridian_assets.storage import read, table_exists

PRICE_DAYS = 200  # calendar days of bars: 120 sessions of covariance plus slack


@dataclass
class BookContext:
    """The inputs plus what the assets report beside them (parent scores, earnings dates, replay)."""

    inputs: RebalanceInputs
    parents: pl.DataFrame
    next_earnings: dict[str, dt.date]
    book: Replay
    breaker_state: str


def latest_scored_date(conn: duckdb.DuckDBPyConnection, on_or_before: dt.date | None = None) -> dt.date | None:
    if not table_exists(conn, "factor_scores"):
        return None
    sql, params = "SELECT max(date) FROM factor_scores", []
    if on_or_before:
        sql, params = sql + " WHERE date <= ?", [on_or_before]
    return conn.execute(sql, params).fetchall()[0][0]


def scores_for(conn, as_of: dt.date, scored_csv: str | None = None) -> tuple[pl.DataFrame, str]:
    """ticker, sector, score, long_flag, short_flag for ``as_of`` and the name of their source."""
    if scored_csv:
        path = Path(scored_csv)
        if not path.exists():
            raise DataError("scored_csv", f"{path} does not exist", field="path")
        df = pl.read_csv(path, try_parse_dates=True)
        col = next((c for c in ("combined_score", "composite") if c in df.columns), None)
        missing = {"ticker", "sector"} - set(df.columns)
        if col is None or missing:
            raise DataError("scored_csv", f"{path} needs ticker, sector and composite or combined_score columns",
                            field=", ".join(sorted(missing)) or "composite")
        flags = {f: pl.col(f).cast(pl.Boolean) if f in df.columns else pl.lit(None, pl.Boolean)
                 for f in ("long_flag", "short_flag")}
        return df.select("ticker", "sector", score=pl.col(col).cast(pl.Float64), **flags), f"csv:{path.name}"
    if table_exists(conn, "combined_scores"):
        combined = read(conn, "SELECT ticker, sector, combined_score AS score, long_flag, short_flag "
                              "FROM combined_scores WHERE date = ?", [as_of])
        if combined.height:
            return combined, "combined_scores"
    quant = read(conn, "SELECT ticker, sector, composite AS score, long_flag, short_flag FROM factor_scores "
                       "WHERE date = ?", [as_of])
    return quant, "factor_scores"


LEDGER_COLUMNS = ("rebalance_id", "date", "ticker", "sector", "action", "shares", "price", "score")


def ledger_until(conn, as_of: dt.date) -> pl.DataFrame:
    """Every trade the book has made up to ``as_of``: the simulated commits (`position_approvals` EXECUTED) and
    the broker's fills (`execution_fills` with shares filled, dated by when they finished, at their average
    price). A rebalance is either committed or executed, never both, so the two never count a trade twice;
    replaying both keeps the book, the NAV history and the risk state right in either mode."""
    parts = []
    if table_exists(conn, "position_approvals"):
        parts.append(read(conn, "SELECT " + ", ".join(LEDGER_COLUMNS) + " FROM position_approvals "
                                "WHERE status = 'EXECUTED' AND date <= ?", [as_of]))
    if table_exists(conn, "execution_fills"):
        parts.append(read(conn, """
            SELECT f.rebalance_id, CAST(f.finished_at AS DATE) AS date, f.ticker, u.sector, f.action, f.shares,
                   f.fill_price AS price, CAST(NULL AS DOUBLE) AS score
            FROM execution_fills f
            LEFT JOIN (SELECT ticker, any_value(sector) AS sector FROM universe GROUP BY ticker) u USING (ticker)
            WHERE f.shares > 0 AND f.fill_price IS NOT NULL AND CAST(f.finished_at AS DATE) <= ?""", [as_of])
            if table_exists(conn, "universe") else pl.DataFrame())
    parts = [p.select(LEDGER_COLUMNS) for p in parts if p.height]
    if not parts:
        return POSITION_APPROVALS.empty().select(LEDGER_COLUMNS)
    return pl.concat([p.cast(POSITION_APPROVALS.empty().select(LEDGER_COLUMNS).schema) for p in parts])


def replay_book(conn, as_of: dt.date, cfg: MeridianConfig, betas: dict[str, float] | None = None) -> Replay:
    ledger = ledger_until(conn, as_of)
    if ledger.is_empty():
        return replay(ledger, pl.DataFrame(), pl.DataFrame(), cfg.portfolio.capital_base, as_of)
    start = ledger["date"].min()
    tickers = ledger["ticker"].unique().to_list()
    actions = read(conn, "SELECT date, ticker, action, ratio, new_ticker FROM corporate_actions "
                         "WHERE date BETWEEN ? AND ? AND known_at <= ?", [start, as_of, as_of]) \
        if table_exists(conn, "corporate_actions") else pl.DataFrame(
            schema={"date": pl.Date, "ticker": pl.Utf8, "action": pl.Utf8, "ratio": pl.Float64, "new_ticker": pl.Utf8})
    renamed = actions.filter(pl.col("action") == "ticker_change")["new_ticker"].drop_nulls().to_list()
    prices = read(conn, "SELECT date, ticker, close FROM daily_prices WHERE date BETWEEN ? AND ? AND ticker IN "
                        "(SELECT unnest(?))", [start, as_of, tickers + renamed])
    return replay(ledger, prices, actions, cfg.portfolio.capital_base, as_of, betas)


def _window_by_security(conn, tickers: list[str], start: dt.date, as_of: dt.date) -> pl.DataFrame:
    """Bars of the companies trading as ``tickers`` on ``as_of`` over [start, as_of], under those tickers:
    the join follows ``security_id``, so a window spanning a ticker change (FB -> META) has no gap."""
    cols = "date, ticker, open, high, low, close, adj_close, volume"
    has_id = conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'daily_prices' "
                          "AND column_name = 'security_id'").fetchall()[0][0]
    if not has_id:
        return read(conn, f"SELECT {cols} FROM daily_prices WHERE date BETWEEN ? AND ? AND ticker IN "
                          "(SELECT unnest(?))", [start, as_of, tickers])
    px = read(conn, f"""SELECT {cols}, security_id FROM daily_prices WHERE date BETWEEN ? AND ? AND (
                          ticker IN (SELECT unnest(?)) OR security_id IN (
                            SELECT DISTINCT security_id FROM daily_prices
                            WHERE date BETWEEN ? AND ? AND ticker IN (SELECT unnest(?))))""",
              [start, as_of, tickers, start, as_of, tickers])
    return as_of_labels(px, as_of).filter(pl.col("ticker").is_in(tickers)).drop("security_id")


def overlays(conn, as_of: dt.date, book: Replay, cfg: MeridianConfig) -> tuple[TradingState, float, tuple[str, ...]]:
    """(trading state, gross multiplier, names to force-close) from the breakers on the replayed NAV and the
    tail-risk monitor on VIX / HY OAS known by ``as_of``."""
    state, mult, force = TradingState.ACTIVE, 1.0, ()
    if book.history.height:
        nav = book.history.filter(pl.col("date") <= as_of)["nav"].to_list()
        report = evaluate_breakers(nav, unrealized_pnl(book.positions), cfg.risk)
        state, mult, force = report.state, report.size_multiplier, report.force_close
    vix, oas = tail_inputs(conn, as_of)
    tail = tail_risk(vix, oas, cfg.risk)
    return state, mult * tail.gross_multiplier, tuple(force)


def _latest(conn, table: str, as_of: dt.date) -> dt.date | None:
    if not table_exists(conn, table):
        return None
    return conn.execute(f"SELECT max(as_of) FROM {table} WHERE as_of <= ?", [as_of]).fetchall()[0][0]


def sleeve_target(conn, as_of: dt.date) -> dict[str, float] | None:
    """The meta layer's combined sleeve target as of its latest allocation on or before ``as_of``.

    ``{}`` (a book of cash) when that allocation gives every sleeve zero capital (all killed or retired): it
    writes no target rows, and the previous allocation's target must not stand in for it. None when there is
    no target for the latest allocation (the meta layer has not run, or its target book was not written)."""
    allocated, targeted = _latest(conn, "sleeve_allocation", as_of), _latest(conn, "meta_target_book", as_of)
    if allocated is not None and (targeted is None or targeted < allocated):
        capital = conn.execute("SELECT coalesce(sum(abs(weight)), 0) FROM sleeve_allocation WHERE as_of = ?",
                               [allocated]).fetchall()[0][0]
        return {} if capital == 0 else None
    if targeted is None:
        return None
    rows = read(conn, "SELECT ticker, weight FROM meta_target_book WHERE as_of = ?", [targeted])
    return dict(rows.iter_rows())


def load_rebalance_inputs(conn, as_of: dt.date, cfg: MeridianConfig, *, scored_csv: str | None = None,
                          halted: bool = False) -> BookContext:
    scores, source = scores_for(conn, as_of, scored_csv)
    if scores.is_empty():
        raise DataError("factor_scores", "no scores for this session; run `meridian score` first", date=as_of)
    book = replay_book(conn, as_of, cfg)
    held = book.positions["ticker"].to_list()
    tickers = sorted(set(scores["ticker"]) | set(held))
    prices = _window_by_security(conn, [*tickers, BENCHMARK], as_of - dt.timedelta(days=PRICE_DAYS), as_of)
    stats = market_stats(prices, tickers, as_of, adv_days=cfg.portfolio.adv_lookback_days,
                         beta_days=cfg.portfolio.beta_lookback_days)
    prev = conn.execute("SELECT max(as_of) FROM target_book WHERE as_of < ?", [as_of]).fetchall()[0][0] \
        if table_exists(conn, "target_book") else None
    prior = (read(conn, "SELECT ticker, composite AS prior_score FROM factor_scores WHERE date = ?", [prev])
             if prev else pl.DataFrame(schema={"ticker": pl.Utf8, "prior_score": pl.Float64}))
    earnings = read(conn, "SELECT ticker, min(earnings_date) AS next_earnings FROM earnings_calendar "
                          "WHERE earnings_date >= ? AND known_at <= ? GROUP BY ticker", [as_of, as_of]) \
        if table_exists(conn, "earnings_calendar") else pl.DataFrame(
            schema={"ticker": pl.Utf8, "next_earnings": pl.Date})
    held_info = book.positions.select("ticker", held_sector="sector")
    candidates = (pl.DataFrame({"ticker": tickers}).join(scores, on="ticker", how="left")
                  .join(held_info, on="ticker", how="left")
                  .with_columns(sector=pl.coalesce("sector", "held_sector")).drop("held_sector")
                  .join(stats, on="ticker", how="left").join(prior, on="ticker", how="left")
                  .join(earnings, on="ticker", how="left")
                  .with_columns(days_to_earnings=(pl.col("next_earnings") - pl.lit(as_of)).dt.total_days()))
    parents = read(conn, "SELECT ticker, " + ", ".join(f"{p}_score AS {p}" for p in PARENTS)
                   + " FROM factor_scores WHERE date = ?", [as_of])
    names, R = tickers, returns_matrix(prices, tickers, as_of, cfg.portfolio.covariance_lookback_days)[1]
    state, mult, force = overlays(conn, as_of, book, cfg)
    nav = float(book.history["nav"][-1]) if book.history.height else cfg.portfolio.capital_base
    positions = book.positions.select("ticker", "shares")
    inputs = RebalanceInputs(as_of=as_of, nav=nav, candidates=candidates, positions=positions,
                             fixed_target=sleeve_target(conn, as_of),
                             risk_model=load_risk_model(conn, as_of), returns=(tuple(names), R), trading_state=state,
                             halted=halted, gross_multiplier=mult, force_close=force, score_source=source)
    next_earnings = dict(zip(candidates["ticker"], candidates["next_earnings"]))
    return BookContext(inputs, parents, next_earnings, book, state.value)
