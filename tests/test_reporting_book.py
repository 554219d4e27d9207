"""A small long/short book built by hand on real-looking prices, for the reporting tests and benchmark.

`build_book` trades a few longs and shorts at the close of each rebalance date (one trade per rebalance is
vetoed), and writes the Layer-4 tables exactly as the portfolio layer defines them: `target_book`,
`position_approvals` (the EXECUTED ledger), `portfolio_history` (NAV marked at each close) and
`portfolio_positions`. The tests below check the book is self-consistent, so the reporting tests that use it
test the reports, not the fixture.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl

from meridian_assets.factors.schemas import FACTOR_RETURNS
from meridian_assets.portfolio.schemas import (
    PORTFOLIO_HISTORY, PORTFOLIO_POSITIONS, POSITION_APPROVALS, TARGET_BOOK,
)
from meridian_assets.storage import replace_all, replace_window

PARENT_FACTORS = ("momentum", "value", "quality", "growth", "revisions", "short_interest", "insider",
                  "institutional")


def _tradable(prices: pl.DataFrame) -> list[str]:
    """Stocks with a price on every session of the frame and a close/adj_close ratio moving < 3% (no split)."""
    sessions = prices["date"].n_unique()
    k = prices.with_columns((pl.col("close") / pl.col("adj_close")).alias("k")).group_by("ticker").agg(
        (pl.col("k").max() / pl.col("k").min()).alias("spread"), pl.col("date").n_unique().alias("n"))
    return sorted(k.filter((pl.col("spread") < 1.03) & (pl.col("n") == sessions))["ticker"].to_list())


def build_book(prices: pl.DataFrame, universe: pl.DataFrame, rebalance_dates: list[dt.date], *, n_long: int = 6,
               n_short: int = 6, capital: float = 10_000_000.0, seed: int = 7, method: str = "conviction"
               ) -> dict[str, pl.DataFrame]:
    """The four Layer-4 tables of a book traded at the close on ``rebalance_dates``."""
    rng = np.random.default_rng(seed)
    stocks = universe.filter(~pl.col("is_benchmark")).select("ticker", "sector")
    sector = dict(stocks.iter_rows())
    px = prices.filter(pl.col("ticker").is_in(list(sector)))
    names = [t for t in _tradable(px) if t in sector]
    half = len(names) // 2
    long_pool, short_pool = names[:half], names[half:]
    close = {(d, t): c for d, t, c in px.select("date", "ticker", "close").iter_rows()}
    dates = sorted(d for d in px["date"].unique().to_list() if d >= rebalance_dates[0])
    shares: dict[str, int] = {}
    cost: dict[str, float] = {}
    entry: dict[str, tuple[dt.date, float]] = {}
    cash, peak = capital, capital
    targets, approvals, history = [], [], []
    nav_prev = capital
    rid = None
    for d in dates:
        if d in rebalance_dates:
            nav = cash + sum(s * close[(d, t)] for t, s in shares.items())
            rid = f"rb-{d:%Y%m%d}-{method}-" + hashlib.sha256(f"{d}{seed}".encode()).hexdigest()[:8]
            longs = list(rng.choice(long_pool, n_long, replace=False))
            shorts = list(rng.choice(short_pool, n_short, replace=False))
            want = {t: 0.80 / n_long for t in longs} | {t: -0.70 / n_short for t in shorts}
            scores = {t: float(rng.uniform(60, 100)) for t in longs} | {t: float(rng.uniform(0, 40)) for t in shorts}
            for t, w in want.items():
                targets.append({"rebalance_id": rid, "as_of": d, "ticker": t, "sector": sector[t],
                                "side": "LONG" if w > 0 else "SHORT", "score": scores[t], "expected_return": 0.0,
                                "weight": w, "target_shares": int(round(w * nav / close[(d, t)])),
                                "price": close[(d, t)], "beta": 1.0, "adv_dollars": 1e8, "method": method,
                                "mctr": 0.0, "mctr_flag": False})
            target_shares = {t: int(round(w * nav / close[(d, t)])) for t, w in want.items()}
            trades = sorted(set(shares) | set(target_shares))
            vetoed = trades[int(rng.integers(len(trades)))] if len(trades) > 3 else None
            for t in trades:
                cur, tgt = shares.get(t, 0), target_shares.get(t, 0)
                if cur == tgt:
                    continue
                legs = []
                if cur > 0 and tgt < cur:
                    legs.append(("SELL", cur - max(tgt, 0)))
                if cur < 0 and tgt > cur:
                    legs.append(("COVER", min(tgt, 0) - cur))
                if tgt > 0 and tgt > max(cur, 0):
                    legs.append(("BUY", tgt - max(cur, 0)))
                if tgt < 0 and tgt < min(cur, 0):
                    legs.append(("SHORT", min(cur, 0) - tgt))
                for action, n in legs:
                    status = "VETOED" if t == vetoed else "EXECUTED"
                    approvals.append({"rebalance_id": rid, "date": d, "ticker": t, "sector": sector[t],
                                      "action": action, "shares": n, "price": close[(d, t)],
                                      "score": scores.get(t), "status": status,
                                      "reason": "pre-trade: max position" if status == "VETOED" else None,
                                      "decided_at": dt.datetime.combine(d, dt.time(16, 30)),
                                      "decided_by": "test"})
                    if status != "EXECUTED":
                        continue
                    signed = n if action in ("BUY", "COVER") else -n
                    before = shares.get(t, 0)
                    after = before + signed
                    if before == 0 or np.sign(before) != np.sign(after):
                        entry[t] = (d, scores.get(t))
                        cost[t] = close[(d, t)]
                    elif abs(after) > abs(before):
                        cost[t] = (cost[t] * abs(before) + close[(d, t)] * n) / abs(after)
                    shares[t] = after
                    cash -= signed * close[(d, t)]
                    if after == 0:
                        shares.pop(t)
                        cost.pop(t, None)
                        entry.pop(t, None)
        mv = {t: s * close[(d, t)] for t, s in shares.items()}
        nav = cash + sum(mv.values())
        peak = max(peak, nav)
        long_v = sum(v for v in mv.values() if v > 0)
        short_v = -sum(v for v in mv.values() if v < 0)
        history.append({"date": d, "nav": nav, "cash": cash, "long_value": long_v, "short_value": short_v,
                        "gross": (long_v + short_v) / nav, "net": (long_v - short_v) / nav,
                        "beta": (long_v - short_v) / nav, "daily_return": nav / nav_prev - 1 if history else 0.0,
                        "drawdown": nav / peak - 1, "positions": len(shares), "rebalance_id": rid})
        nav_prev = nav
    last = dates[-1]
    positions = [{"ticker": t, "sector": sector[t], "side": "LONG" if s > 0 else "SHORT", "shares": s,
                  "avg_cost": cost[t], "entry_date": entry[t][0], "entry_score": entry[t][1],
                  "last_price": close[(last, t)], "market_value": s * close[(last, t)],
                  "weight": s * close[(last, t)] / history[-1]["nav"],
                  "updated_at": dt.datetime.combine(last, dt.time(17)), "source": "simulated"}
                 for t, s in sorted(shares.items())]
    return {"target_book": TARGET_BOOK.conform(pl.DataFrame(targets)),
            "position_approvals": POSITION_APPROVALS.conform(pl.DataFrame(approvals)),
            "portfolio_history": PORTFOLIO_HISTORY.conform(pl.DataFrame(history)),
            "portfolio_positions": PORTFOLIO_POSITIONS.conform(pl.DataFrame(positions))}


def factor_returns_frame(dates: list[dt.date], seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"date": d, "factor": f, "long_short_return": float(rng.normal(0, 0.004)), "n_long": 8, "n_short": 8}
            for d in dates for f in (*PARENT_FACTORS, "composite")]
    return FACTOR_RETURNS.conform(pl.DataFrame(rows))


def write_book(conn, book: dict[str, pl.DataFrame], factor_returns: pl.DataFrame | None = None) -> None:
    from meridian_assets.portfolio.schemas import TABLES

    for name, frame in book.items():
        schema = TABLES[name]
        if schema.partition_column is None:
            replace_all(conn, schema, frame)
        else:
            col = schema.partition_column
            replace_window(conn, schema, frame, frame[col].min(), frame[col].max())
    if factor_returns is not None and factor_returns.height:
        replace_window(conn, FACTOR_RETURNS, factor_returns, factor_returns["date"].min(),
                       factor_returns["date"].max())


# ------------------------------------------------------------------------------------------ the fixture's own tests
def _toy_market() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(0)
    dates = [d for d in (dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)) if d.weekday() < 5]
    tickers = [f"S{i:02d}" for i in range(20)]
    rows = []
    for j, t in enumerate(tickers):
        p = 50 + j
        for d in dates:
            p *= 1 + rng.normal(0, 0.01)
            rows.append({"date": d, "ticker": t, "close": p, "adj_close": p})
    universe = pl.DataFrame({"ticker": tickers, "sector": ["Energy", "Utilities"] * 10, "is_benchmark": [False] * 20})
    return pl.DataFrame(rows), universe


def test_nav_is_cash_plus_marked_positions_and_ledger_rebuilds_the_positions():
    prices, universe = _toy_market()
    dates = sorted(prices["date"].unique().to_list())
    book = build_book(prices, universe, [dates[0], dates[10], dates[25]], n_long=4, n_short=4)
    hist, ledger, pos = book["portfolio_history"], book["position_approvals"], book["portfolio_positions"]
    assert hist["date"].to_list() == dates and abs(hist["nav"][0] - 10_000_000) < 1e-6
    ex = ledger.filter(pl.col("status") == "EXECUTED").with_columns(
        pl.when(pl.col("action").is_in(["BUY", "COVER"])).then(pl.col("shares")).otherwise(-pl.col("shares"))
        .alias("signed"))
    net = ex.group_by("ticker").agg(pl.col("signed").sum()).filter(pl.col("signed") != 0).sort("ticker")
    assert net["ticker"].to_list() == pos["ticker"].to_list()
    assert net["signed"].to_list() == pos["shares"].to_list()
    assert ledger.filter(pl.col("status") == "VETOED").height >= 1
    # NAV = cash + Σ shares × close, every session
    last = prices.filter(pl.col("date") == dates[-1])
    mv = pos.join(last, on="ticker").select((pl.col("shares") * pl.col("close")).sum()).item()
    assert abs(hist["nav"][-1] - (hist["cash"][-1] + mv)) < 1e-6
