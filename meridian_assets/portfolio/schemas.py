"""The Layer-4 tables: proposals (`target_book`, `rebalance_trades`) and the portfolio state.

A rebalance is identified by `rebalance_id` = ``rb-{as_of:%Y%m%d}-{method}-{hash}``, deterministic in its
inputs, so re-running the same proposal replaces its rows instead of adding new ones.

Sign conventions: weights and shares are signed (short < 0); `notional` and `shares` in the approval ledger
are positive with the direction in `action` (BUY / SELL / SHORT / COVER).
"""

from __future__ import annotations

import polars as pl

from meridian_assets.tables import Bool, Date, Float, Int, Str, TableSchema

Timestamp = pl.Datetime("us")

TARGET_BOOK = TableSchema(
    name="target_book",
    columns={"rebalance_id": Str, "as_of": Date, "ticker": Str, "sector": Str, "side": Str, "score": Float,
             "expected_return": Float, "weight": Float, "target_shares": Int, "price": Float, "beta": Float,
             "adv_dollars": Float, "method": Str, "mctr": Float, "mctr_flag": Bool},
    key=("rebalance_id", "ticker"),
    partition_column="as_of",
    description="The optimizer's target book for a rebalance: signed weights and whole-share targets.",
    not_null=("rebalance_id", "as_of", "ticker", "side", "weight", "target_shares", "price", "method"),
)
REBALANCE_TRADES = TableSchema(
    name="rebalance_trades",
    columns={"rebalance_id": Str, "as_of": Date, "ticker": Str, "sector": Str, "action": Str, "side": Str,
             "current_shares": Int, "target_shares": Int, "delta_shares": Int, "price": Float, "notional": Float,
             "current_weight": Float, "target_weight": Float, "score": Float, "score_change": Float,
             "cost_bps": Float, "commission_bps": Float, "spread_bps": Float, "impact_bps": Float,
             "cost_dollars": Float, "status": Str, "reason": Str, "sequence": Int},
    key=("rebalance_id", "ticker"),
    partition_column="as_of",
    description="Trades from the current book to the target within the turnover budget, with cost estimates and "
                "the pre-trade decision (status PROPOSED, DEFERRED by the budget, or VETOED with its reason); "
                "`sequence` is the order they were checked in, the order to execute them.",
    not_null=("rebalance_id", "as_of", "ticker", "action", "delta_shares", "price", "status"),
)
PORTFOLIO_POSITIONS = TableSchema(
    name="portfolio_positions",
    columns={"ticker": Str, "sector": Str, "side": Str, "shares": Int, "avg_cost": Float, "entry_date": Date,
             "entry_score": Float, "last_price": Float, "market_value": Float, "weight": Float,
             "updated_at": Timestamp, "source": Str},
    key=("ticker",),
    partition_column=None,
    description="Positions held now (signed shares), from the simulated book or reconciled with the broker.",
    not_null=("ticker", "side", "shares", "avg_cost", "entry_date"),
)
PORTFOLIO_HISTORY = TableSchema(
    name="portfolio_history",
    columns={"date": Date, "nav": Float, "cash": Float, "long_value": Float, "short_value": Float,
             "gross": Float, "net": Float, "beta": Float, "daily_return": Float, "drawdown": Float,
             "positions": Int, "rebalance_id": Str},
    key=("date",),
    partition_column="date",
    description="The book marked to market each session: NAV, exposures as fractions of NAV, net beta, "
                "daily return and drawdown from the running peak.",
    not_null=("date", "nav"),
)
POSITION_APPROVALS = TableSchema(
    name="position_approvals",
    columns={"rebalance_id": Str, "date": Date, "ticker": Str, "sector": Str, "action": Str, "shares": Int,
             "price": Float, "score": Float, "status": Str, "reason": Str, "decided_at": Timestamp,
             "decided_by": Str},
    key=("rebalance_id", "ticker", "action"),
    partition_column=None,
    description="The decision ledger: each proposed trade APPROVED, EXECUTED, VETOED or REJECTED, who decided "
                "and when; executed rows are the trades the simulated book is built from.",
    not_null=("rebalance_id", "date", "ticker", "action", "shares", "status"),
)
PORTFOLIO_FACTOR_EXPOSURES = TableSchema(
    name="portfolio_factor_exposures",
    columns={"rebalance_id": Str, "as_of": Date, "factor": Str, "long_exposure": Float, "short_exposure": Float,
             "spread": Float, "history_mean": Float, "history_std": Float, "z": Float, "flagged": Bool},
    key=("rebalance_id", "factor"),
    partition_column="as_of",
    description="Weighted-average parent-factor score of each book and the long-minus-short spread, flagged when "
                "more than 1σ from the spreads of earlier rebalances (needs 3).",
    not_null=("rebalance_id", "as_of", "factor"),
)
TABLES = {t.name: t for t in (TARGET_BOOK, REBALANCE_TRADES, PORTFOLIO_POSITIONS, PORTFOLIO_HISTORY,
                              POSITION_APPROVALS, PORTFOLIO_FACTOR_EXPOSURES)}
