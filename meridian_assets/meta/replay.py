"""The simulator's line of live versus simulated: the live book's own target books run through the backtest
engine over the same sessions.

On each session the live book rebalanced, the simulation proposes through the *same*
`portfolio.rebalance.propose_rebalance` the live book uses, with that rebalance's target weights
(`target_book.weight`) as the fixed target (method ``sleeves``) and its own simulated book, NAV, breakers and
tail-risk overlay (`backtest._inputs`): turnover budget, whole shares, the cost model's per-trade costs and the
pre-trade veto apply as live. Its PROPOSED trades fill at the next session's open (`book.SimBook`: the venue's
participation cap; commission, spread and impact of the one cost model, `portfolio.costs`, charged on the
filled notional; borrow on shorts) — where the live book sent DAY limit orders in ADV chunks to the simulated
venue. Between rebalances the book is only marked.

So the gap live − simulated is what the execution did differently: fill prices and timing (limit orders, chunks,
partial or missed fills) and vetoes at execution; the simulator's costs and vetoes are reported beside it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import MeridianError
from meridian_assets.meta.backtest import _inputs, _orders, open_session
from meridian_assets.meta.book import SimBook
from meridian_assets.meta.history import MarketHistory
from meridian_assets.portfolio.rebalance import propose_rebalance

SIMULATOR = "backtest engine (meta.replay): the book's targets through the live rebalance code, filled at the next open"
SCHEMA = {"date": pl.Date, "sim_return": pl.Float64, "sim_nav": pl.Float64, "sim_costs": pl.Float64,
          "sim_vetoed": pl.Int64, "rebalance_id": pl.Utf8}


@dataclass(frozen=True)
class Replay:
    """The simulated book's sessions (`SCHEMA`) and its totals."""

    daily: pl.DataFrame
    costs: dict[str, float]  # commission, spread, impact, borrow ($)
    vetoed: int
    deferred: int
    notes: list[str]


def replay_targets(history: MarketHistory, target_book: pl.DataFrame, cfg: MeridianConfig,
                   start: dt.date, end: dt.date) -> Replay:
    """Simulate the rebalances of ``target_book`` (rebalance_id, as_of, ticker, weight) dated in [start, end]
    over the sessions of [start, end] (module docstring)."""
    books = {}
    for (rid,), b in target_book.filter(pl.col("as_of").is_between(start, end)).sort("as_of", "rebalance_id") \
            .group_by("rebalance_id", maintain_order=True):
        books[b["as_of"][0]] = (rid, dict(zip(b["ticker"].to_list(), b["weight"].to_list())))
    venue = cfg.execution.simulated
    refused = set(venue.not_shortable) | set(venue.hard_to_borrow)
    scores = {k[0]: v.drop("date") for k, v in history.scores.select(
        "date", "ticker", "sector", pl.col("composite").alias("score"), "long_flag", "short_flag")
        .partition_by("date", as_dict=True).items()}
    book = SimBook(cash=cfg.portfolio.capital_base)
    pending, nav_history, rows, notes = [], [], [], []
    totals = {"commission": 0.0, "spread": 0.0, "impact": 0.0, "borrow": 0.0}
    vetoed = deferred = 0
    active = None
    for day in history.window(start, end):
        i = history.index[day]
        _, fills, borrow, row, _ = open_session(book, history, day, pending, venue.max_participation, refused,
                                                cfg.meta.borrow_rate)
        pending = []
        nav_history.append(row["nav"])
        cost = sum(f.commission + f.spread + f.impact for f in fills) + borrow
        for f in fills:
            totals["commission"] += f.commission
            totals["spread"] += f.spread
            totals["impact"] += f.impact
        totals["borrow"] += borrow
        day_vetoed = 0
        if day in books and day < end and scores.get(day) is not None:
            rid, target = books[day]
            inputs = _inputs(history, book, i, scores[day], {}, nav_history, cfg, "factor_scores")
            try:
                proposal = propose_rebalance(replace(inputs, fixed_target=target), cfg, "sleeves")
            except MeridianError as err:
                notes.append(f"{day}: no proposal ({type(err).__name__}: {str(err)[:120]}); the book is held")
            else:
                pending, skipped = _orders(proposal, day)
                day_vetoed = sum(r["status"] == "VETOED" for r in skipped)
                vetoed += day_vetoed
                deferred += sum(r["status"] == "DEFERRED" for r in skipped)
                active = rid
        rows.append({"date": day, "sim_return": row["daily_return"], "sim_nav": row["nav"], "sim_costs": cost,
                     "sim_vetoed": day_vetoed, "rebalance_id": active})
    daily = pl.DataFrame(rows, schema=SCHEMA) if rows else pl.DataFrame(schema=SCHEMA)
    return Replay(daily=daily, costs=totals, vetoed=vetoed, deferred=deferred, notes=notes)
