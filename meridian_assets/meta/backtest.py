"""A simulation of a sleeve over a date range, through the live book's own code path.

The book rebalances on the live book's cadence: the first session of [start, end] and every
``meta.rebalance_every_sessions``-th session after it (5: weekly); the sessions between only fill the last
rebalance's orders at the open, charge borrow and mark the book. On a rebalance session, at the close: the
sleeve's scores of that session, the market statistics, the return history, earnings dates, VIX / HY OAS and risk model known by then (`history.MarketHistory`, read once
and sliced), the book as the simulation holds it, and the trading state of the circuit breakers on the
simulation's own NAV (`risk.breakers`) and of the tail-risk monitor (`risk.monitors`) go into the *same*
`portfolio.rebalance.propose_rebalance` the live book uses — books, MVO or conviction-tilt, risk overlays,
turnover budget, whole shares, per-trade costs and the pre-trade veto. Its PROPOSED trades are filled at the
next session's open (`book.SimBook`: the simulated venue's participation cap and short-sale rule, the fill
priced by the one transaction-cost model the proposal planned with — `portfolio.costs`, the same model the
simulated venue fills with — and borrow on shorts); VETOED and DEFERRED trades are recorded with their reasons.
The last session of the range only marks the book.

Why fill at the open and charge the costs apart rather than at the venue's price (`execution.simulated.fill_price`,
which is the open plus the same model's half-spread and impact): the cost stays broken down by type, as a
backtest must report it. The venue's participation cap and its short-sale rule (not shortable / hard to borrow:
refused) are applied as it applies them.

Differences from live, on purpose: the prior score is the sleeve's own score at the previous rebalance (live: the
quant composite of the previous rebalance); a kill-switch halt (drawdown beyond `risk.drawdown_kill`) lasts until
the next rebalance, as if an operator cleared the lock then (live: until an operator clears it), and the breakers'
drawdown is measured from the NAV at that release on, as an operator resuming a book re-bases it (otherwise the
drawdown of the old peak fires the kill switch again at every rebalance and the book, unable to trade, drifts);
the halts are counted in the warnings. Sessions without scores of the sleeve's source (e.g. ``combined_scores``
before Layer 3 ran) hold the book. A book whose NAV reaches zero is wiped out: the simulation stops that
session and says so.

Several sleeves over one window run in parallel processes: `meta.sweep.run_sweep`.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from dataclasses import replace

import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import MeridianError
from meridian_assets.factors.scoring import pct_within
from meridian_assets.factors.weights import reweighted_expr
from meridian_assets.meta.book import Order, OrderOutcome, SimBook
from meridian_assets.meta.history import MarketHistory
from meridian_assets.meta.results import BacktestResult
from meridian_assets.meta.schemas import BACKTEST_DAILY, BACKTEST_RUNS, BACKTEST_TRADES
from meridian_assets.meta.sleeves import Sleeve, content_hash
from meridian_assets.portfolio.ledger import SIGN
from meridian_assets.portfolio.mvo_program import compile_seconds
from meridian_assets.portfolio.rebalance import Proposal, RebalanceInputs, propose_rebalance
from meridian_assets.risk.breakers import BreakerReport, evaluate_breakers
from meridian_assets.risk.monitors import tail_risk
from meridian_assets.risk.states import TradingState
from meridian_assets.storage import replace_where

_TRADE_SCHEMA = {"as_of": pl.Date, "date": pl.Date, "ticker": pl.Utf8, "sector": pl.Utf8, "action": pl.Utf8,
                 "ordered_shares": pl.Int64, "shares": pl.Int64, "signal_price": pl.Float64, "price": pl.Float64,
                 "notional": pl.Float64, "commission": pl.Float64, "spread": pl.Float64, "impact": pl.Float64,
                 "cost_bps": pl.Float64, "score": pl.Float64, "status": pl.Utf8, "reason": pl.Utf8}

_DAILY_SCHEMA = {c: t for c, t in BACKTEST_DAILY.columns.items() if c not in ("run_id", "sleeve")}


def reweighted_scores(scores: pl.DataFrame, weights: dict[str, float], quintile: float) -> pl.DataFrame:
    """A composite from the parent scores with other weights: ``Σ w_p · {p}_score / Σ w_p`` over the parents
    present in the row (`factors.weights.reweighted_expr`; an absent parent is null, never 50) re-ranked within
    (date, sector) to 0–100 (`factors.scoring.pct_within`), and the LONG/SHORT flags by the scoring's quintile
    rule. A row with none of the weighted parents present is not ranked."""
    g = ["date", "sector"]
    f = (scores.with_columns(raw=reweighted_expr(weights)).filter(pl.col("raw").is_not_null())
         .with_columns(score=pct_within(pl.col("raw"), g))
         .sort(["date", "sector", "score", "ticker"], descending=[False, False, True, False])
         .with_columns(rank=pl.int_range(1, pl.len() + 1).over(g), n=pl.len().over(g)))
    n = pl.col("n")
    k = pl.min_horizontal(pl.max_horizontal((n.cast(pl.Float64) * quintile + 1e-9).floor().cast(pl.Int64),
                                            pl.lit(1)), n // 2)
    return f.select("date", "ticker", "sector", "score", long_flag=(n >= 2) & (pl.col("rank") <= k),
                    short_flag=(n >= 2) & (pl.col("rank") > n - k)).sort("date", "ticker")


def sleeve_scores(history: MarketHistory, sleeve: Sleeve, cfg: MeridianConfig) -> dict[dt.date, pl.DataFrame]:
    """(ticker, sector, score, long_flag, short_flag) per session from the sleeve's score source."""
    if sleeve.score_source == "combined_scores":
        f = history.combined.select("date", "ticker", "sector", pl.col("combined_score").alias("score"),
                                    "long_flag", "short_flag")
    elif sleeve.factor_weights is None:
        f = history.scores.select("date", "ticker", "sector", pl.col("composite").alias("score"),
                                  "long_flag", "short_flag")
    else:
        f = reweighted_scores(history.scores, sleeve.factor_weights, cfg.scoring.quintile)
    return {k[0]: v.drop("date") for k, v in f.partition_by("date", as_dict=True).items()}


def run_id_for(sleeve: Sleeve, cfg: MeridianConfig, start: dt.date, end: dt.date, purpose: str = "") -> str:
    """Deterministic in the sleeve, the configuration it trades with, the window and the purpose."""
    c = sleeve.config(cfg)
    doc = {"sleeve": sleeve.doc(), "purpose": purpose, "portfolio": c.portfolio.model_dump(mode="json"),
           "risk": c.risk.model_dump(mode="json"), "borrow": cfg.meta.borrow_rate,
           "venue": cfg.execution.simulated.model_dump(mode="json"), "quintile": cfg.scoring.quintile,
           "rebalance_every": cfg.meta.rebalance_every_sessions}
    return f"bt-{sleeve.name}-{start:%Y%m%d}-{end:%Y%m%d}-{content_hash(doc)[:8]}"


def _fill_row(f: OrderOutcome) -> dict:
    o = f.order
    notional = abs(f.shares) * f.price if f.price else 0.0
    return {"as_of": o.as_of, "date": f.date, "ticker": o.ticker, "sector": o.sector, "action": o.action,
            "ordered_shares": o.shares, "shares": f.shares, "signal_price": o.signal_price, "price": f.price,
            "notional": notional, "commission": f.commission, "spread": f.spread, "impact": f.impact,
            "cost_bps": 1e4 * f.cost / notional if notional else 0.0, "score": o.score, "status": f.status,
            "reason": f.reason}


def _forward_returns(history: MarketHistory, trades: pl.DataFrame, sessions: int) -> pl.DataFrame:
    """Side-adjusted adj_close return of each trade's name over ``sessions`` after its decision (analysis only)."""
    if trades.is_empty():
        return trades.with_columns(fwd_return=pl.lit(None, pl.Float64))
    i = np.array([history.index[d] for d in trades["as_of"].to_list()])
    c = np.array([history.col.get(t, -1) for t in trades["ticker"].to_list()])
    j = i + sessions
    ok = (c >= 0) & (j < len(history.sessions))
    a0 = np.where(ok, history.adj_close[i, np.maximum(c, 0)], np.nan)
    a1 = np.where(ok, history.adj_close[np.minimum(j, len(history.sessions) - 1), np.maximum(c, 0)], np.nan)
    sign = np.array([SIGN.get(a, 0) for a in trades["action"].to_list()], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        fwd = sign * (a1 / a0 - 1.0)
    return trades.with_columns(fwd_return=pl.Series(fwd, dtype=pl.Float64).fill_nan(None))


def open_session(book: SimBook, history: MarketHistory, day: dt.date, pending: list[Order], max_participation: float,
                 refused: set[str], borrow_rate: float):
    """One session of the simulated book before its rebalance: corporate actions known by ``day``, yesterday's
    orders filled at today's open, borrow charged, the book marked at the close. Returns (the last-price lookup,
    fills, borrow, the marked row, P&L by sector)."""
    i = history.index[day]

    def last(t: str) -> float | None:
        c = history.col.get(t)
        p = history.price[i, c] if c is not None else np.nan
        return float(p) if np.isfinite(p) else None

    book.start_session()
    pending = book.corporate_actions(day, history.actions_on(day), last, pending)
    fills = _fill(book, pending, history, i, day, max_participation, refused)
    borrow = book.borrow(last, lambda t: borrow_rate)
    row, pnl = book.mark(day, last)
    return last, fills, borrow, row, pnl


def run_backtest(history: MarketHistory, sleeve: Sleeve, base: MeridianConfig, start: dt.date, end: dt.date, *,
                 version: int = 0, purpose: str = "backtest") -> BacktestResult:
    """Simulate ``sleeve`` over the sessions of [start, end] (module docstring)."""
    t_run = time.perf_counter()
    cfg = sleeve.config(base)
    venue = base.execution.simulated
    refused = set(venue.not_shortable) | set(venue.hard_to_borrow)
    scores = sleeve_scores(history, sleeve, cfg)
    sessions = history.window(start, end)
    every = base.meta.rebalance_every_sessions
    book = SimBook(cash=cfg.portfolio.capital_base)
    pending: list[Order] = []
    prior: dict[str, float] = {}
    nav_history: list[float] = []
    since, killed = 0, False  # the breakers read nav_history[since:] (re-based after a kill-switch halt)
    daily, trades, notes = [], [], collections.Counter()
    sector_pnl: dict[str, float] = collections.defaultdict(float)
    target = pl.DataFrame(schema={"ticker": pl.Utf8, "sector": pl.Utf8, "weight": pl.Float64})
    for k, day in enumerate(sessions):
        t0 = time.perf_counter() - compile_seconds()  # the session's wall time, less optimizer compilation
        i = history.index[day]
        last, fills, borrow, row, pnl = open_session(book, history, day, pending, venue.max_participation, refused,
                                                     base.meta.borrow_rate)
        pending = []
        for s, v in pnl.items():
            sector_pnl[s or "Unknown"] += v
        nav_history.append(row["nav"])
        if not (np.isfinite(row["nav"]) and row["nav"] > 0):
            notes[f"wiped out on {day}: NAV {row['nav']:,.0f}; the simulation stops"] += 1
            row.update(traded_notional=0.0, turnover=0.0, borrow=borrow, commission=0.0, spread=0.0, impact=0.0,
                       trades=0, vetoed=0, deferred=0, trading_state=TradingState.HALTED.value,
                       gross_multiplier=None, method=None, seconds=_elapsed(t0))
            daily.append(row)
            break
        traded = sum(abs(f.shares) * f.price for f in fills if f.price)
        row.update(traded_notional=traded, turnover=traded / row["nav"], borrow=borrow,
                   commission=sum(f.commission for f in fills), spread=sum(f.spread for f in fills),
                   impact=sum(f.impact for f in fills), trades=sum(1 for f in fills if f.shares),
                   vetoed=0, deferred=0, trading_state=None, gross_multiplier=None, method=None)
        trades.extend(_fill_row(f) for f in fills)
        today = scores.get(day)
        if k % every or k == len(sessions) - 1:
            pass  # between rebalances (and on the last session) the book is only marked
        elif today is None:
            notes[f"no {sleeve.score_source} rows: the book is held"] += 1
        else:
            if killed:  # the operator clears the kill-switch lock at the next rebalance and re-bases the drawdown
                since = len(nav_history) - 1
                killed = False
            breakers = evaluate_breakers(nav_history[since:], book.unrealized(), cfg.risk)
            inputs = _inputs(history, book, i, today, prior, nav_history[since:], cfg, sleeve.score_source,
                             breakers)
            row.update(trading_state=inputs.trading_state.value, gross_multiplier=inputs.gross_multiplier)
            if breakers.persistent_halt:
                killed = True
                notes["kill-switch halt (drawdown beyond the limit): no trade until the next rebalance, the "
                      "drawdown then re-based"] += 1
            try:
                proposal = propose_rebalance(inputs, cfg, cfg.portfolio.optimize_method)
            except MeridianError as err:
                notes[f"no proposal ({type(err).__name__}: {str(err)[:120]}): the book is held"] += 1
            else:
                for w in proposal.warnings:
                    notes[w.split(";")[0][:140]] += 1
                pending, rows = _orders(proposal, day)
                trades.extend(rows)
                row.update(method=proposal.method, vetoed=sum(r["status"] == "VETOED" for r in rows),
                           deferred=sum(r["status"] == "DEFERRED" for r in rows))
                target = proposal.target.select("ticker", "sector", "weight")
            prior = dict(zip(today["ticker"].to_list(), today["score"].to_list()))
        row["seconds"] = _elapsed(t0)
        daily.append(row)
    frame = pl.DataFrame(trades, schema=_TRADE_SCHEMA) if trades else pl.DataFrame(schema=_TRADE_SCHEMA)
    frame = _forward_returns(history, frame, base.meta.forward_sessions)
    return BacktestResult(
        run_id=run_id_for(sleeve, base, start, end, purpose), sleeve=sleeve, sleeve_version=version, purpose=purpose,
        start=start, end=end, capital=cfg.portfolio.capital_base,
        daily=pl.DataFrame(daily, schema=_DAILY_SCHEMA),
        trades=frame, final_target=target, sector_pnl=dict(sector_pnl),
        warnings=[f"{n}x {w}" for w, n in notes.most_common()] + book.events[:20],
        seconds=time.perf_counter() - t_run)


def _elapsed(t0: float) -> float:
    return time.perf_counter() - compile_seconds() - t0


def _fill(book: SimBook, orders: list[Order], history: MarketHistory, i: int, day: dt.date, participation: float,
          refused: set[str]) -> list[OrderOutcome]:
    """Fill the orders at session ``i``'s open; shorts of names the venue refuses stay unfilled (a sale down to
    flat still goes through)."""
    fills = []
    for o in orders:
        c = history.col.get(o.ticker)
        held_long = max(book.holdings[o.ticker].shares, 0) if o.ticker in book.holdings else 0
        if o.shares < 0 and o.ticker in refused and -o.shares > held_long:
            if held_long == 0:
                fills.append(OrderOutcome(o, day, 0, None, 0.0, 0.0, 0.0, "UNFILLED", "short refused by the venue"))
                continue
            o = replace(o, shares=-held_long)
        bar = (history.open[i, c], history.volume[i, c]) if c is not None else (None, None)
        fills.append(book.fill(o, day, bar[0], bar[1], participation))
    return fills


def _inputs(history: MarketHistory, book: SimBook, i: int, scores: pl.DataFrame, prior: dict[str, float],
            nav_history: list[float], cfg: MeridianConfig, source: str,
            breakers: BreakerReport | None = None) -> RebalanceInputs:
    """What `load_rebalance_inputs` gives the live book, for session ``i`` of the simulation: the candidates, the
    book, the return history, the risk model, and the overlays of the breakers (on the simulated NAV) and of the
    tail-risk monitor (VIX and HY OAS known by then)."""
    day = history.sessions[i]
    if breakers is None:
        breakers = evaluate_breakers(nav_history, book.unrealized(), cfg.risk)
    tail = tail_risk(history.vix_on(i), history.hy_oas_known(day), cfg.risk)
    held = book.positions()
    return RebalanceInputs(
        as_of=day, nav=nav_history[-1],
        candidates=history.candidates(i, scores, {t: book.holdings[t].sector for t in held}, prior),
        positions=pl.DataFrame({"ticker": list(held), "shares": list(held.values())},
                               schema={"ticker": pl.Utf8, "shares": pl.Int64}),
        risk_model=history.risk_model(day), returns=history.returns_window(i), trading_state=breakers.state,
        gross_multiplier=breakers.size_multiplier * tail.gross_multiplier, force_close=tuple(breakers.force_close),
        score_source=source)


def _orders(proposal: Proposal, day: dt.date) -> tuple[list[Order], list[dict]]:
    """Orders for the PROPOSED trades (each with its name's cost model); table rows for the VETOED and DEFERRED
    ones."""
    orders, rows = [], []
    for r in proposal.trades.iter_rows(named=True):
        if r["status"] == "PROPOSED" and r["delta_shares"]:
            orders.append(Order(day, r["ticker"], r["sector"], r["action"], int(r["delta_shares"]), float(r["price"]),
                                r["score"], proposal.costs_of(r["ticker"])))
        elif r["status"] in ("VETOED", "DEFERRED"):
            rows.append({"as_of": day, "date": None, "ticker": r["ticker"], "sector": r["sector"],
                         "action": r["action"], "ordered_shares": int(r["delta_shares"] or 0), "shares": 0,
                         "signal_price": float(r["price"]), "price": None, "notional": float(r["notional"] or 0.0),
                         "commission": 0.0, "spread": 0.0, "impact": 0.0, "cost_bps": float(r["cost_bps"] or 0.0),
                         "score": r["score"], "status": r["status"], "reason": r["reason"]})
    return orders, rows


def write_results(conn, results: list[BacktestResult]) -> int:
    """Replace each run's rows in backtest_runs / backtest_daily / backtest_trades (idempotent by run_id)."""
    for r in results:
        replace_where(conn, BACKTEST_RUNS, r.run_row(), "run_id", r.run_id)
        replace_where(conn, BACKTEST_DAILY, r.daily_rows(), "run_id", r.run_id)
        replace_where(conn, BACKTEST_TRADES, r.trade_rows(), "run_id", r.run_id)
    return len(results)
