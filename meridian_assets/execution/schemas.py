"""The Layer-6 tables.

`execution_fills` holds one row per order outcome (a chunk's attempt: FILLED / PARTIAL / CANCELLED /
REJECTED / UNKNOWN) and per trade that never reached the broker (VETOED / SKIPPED / HALTED), keyed by
(rebalance_id, client_order_id): writing the same outcome again replaces its row. The spec's columns are all
there (`alpaca_order_id` holds the broker's order id, Alpaca's or the simulated venue's).

Sign conventions: `shares`/`ordered_shares` are positive, the direction is in `action`; `slippage_bps` is
side-adjusted so positive is adverse: buys +(fill - signal)/signal x 1e4, sells -(fill - signal)/signal x 1e4;
`slippage_dollars` = slippage_bps / 1e4 x signal x shares (positive = cost).
"""

from __future__ import annotations

import polars as pl

from meridian_assets.tables import Bool, Date, Float, Int, Str, TableSchema

Timestamp = pl.Datetime("us")

EXECUTION_FILLS = TableSchema(
    name="execution_fills",
    columns={"rebalance_id": Str, "client_order_id": Str, "ticker": Str, "side": Str, "action": Str,
             "shares": Int, "ordered_shares": Int, "signal_price": Float, "limit_price": Float,
             "fill_price": Float, "slippage_bps": Float, "slippage_dollars": Float, "status": Str,
             "alpaca_order_id": Str, "broker": Str, "chunk": Int, "attempt": Int, "fill_ids": Str,
             "submitted_at": Timestamp, "finished_at": Timestamp, "notes": Str, "run_id": Str,
             "recorded_at": Timestamp},
    key=("rebalance_id", "client_order_id"),
    partition_column=None,
    description="Every execution outcome: one row per order (a chunk's attempt) and per trade stopped before "
                "the broker (veto, short unavailable, halt), with signal/limit/fill prices and side-adjusted "
                "slippage (positive = adverse).",
    not_null=("rebalance_id", "client_order_id", "ticker", "action", "shares", "status"),
)
SHORT_AVAILABILITY = TableSchema(
    name="short_availability",
    columns={"ticker": Str, "shortable": Bool, "easy_to_borrow": Bool, "fetched_at": Timestamp, "broker": Str},
    key=("ticker",),
    partition_column=None,
    description="The broker's shortable and easy-to-borrow flags per ticker, cached for "
                "`execution.short_check_cache_days` days (older rows are refreshed before use and evicted).",
    not_null=("ticker", "shortable", "easy_to_borrow", "fetched_at"),
)
EXECUTION_PLAN = TableSchema(
    name="execution_plan",
    columns={"rebalance_id": Str, "as_of": Date, "ticker": Str, "sector": Str, "action": Str, "side": Str,
             "chunk": Int, "shares": Int, "signal_price": Float, "limit_price": Float, "notional": Float,
             "adv_dollars": Float, "adv_pct": Float, "current_shares": Int, "target_shares": Int, "status": Str,
             "reason": Str, "planned_at": Timestamp},
    key=("rebalance_id", "ticker", "action", "chunk"),
    partition_column=None,
    description="The dry run of a rebalance: each planned DAY limit order (chunk <= 2% of 20-day ADV, limit = "
                "signal x (1 +/- 0.1%)) against the last reconciled positions, or why a trade would not go.",
    not_null=("rebalance_id", "ticker", "status"),
)
EXECUTION_RECONCILIATION = TableSchema(
    name="execution_reconciliation",
    columns={"run_id": Str, "rebalance_id": Str, "phase": Str, "kind": Str, "ticker": Str, "action": Str,
             "local": Str, "broker": Str, "message": Str, "reconciled_at": Timestamp},
    key=("run_id", "phase", "kind", "ticker", "action", "local"),
    partition_column=None,
    description="What each run's reconciliation with the broker changed locally (positions inserted / overwritten "
                "/ removed, orders adopted or recorded), before (phase start) and after (phase end) trading.",
    not_null=("run_id", "phase", "kind", "action", "message"),
)
SLIPPAGE_SUMMARY = TableSchema(
    name="slippage_summary",
    columns={"as_of": Date, "window_days": Int, "window_start": Date, "fills": Int, "shares": Int,
             "avg_bps": Float, "median_bps": Float, "p95_bps": Float, "total_dollars": Float, "worst_fills": Str},
    key=("as_of",),
    partition_column=None,
    description="Rolling execution slippage over the last `execution.slippage_window_days` days: average, median "
                "and 95th percentile in bps (positive = adverse), total $, and the worst fills.",
    not_null=("as_of", "window_days", "fills"),
)
TABLES = {t.name: t for t in (EXECUTION_FILLS, SHORT_AVAILABILITY, EXECUTION_PLAN, EXECUTION_RECONCILIATION,
                              SLIPPAGE_SUMMARY)}
