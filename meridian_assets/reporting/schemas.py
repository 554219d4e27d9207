"""The Layer-7 tables: attribution, trade analytics, the tear-sheet metrics, allocation history, the report
charts' numbers and the audited weekly documents.

Conventions: returns are fractions of NAV (0.0123 = 1.23%), P&L in the allocation history and the charts'
tables in basis points of NAV; weights are signed (short < 0). `allocation_snapshots` is the one table that
is appended to and never rewritten (see `allocation.py`).
"""

from __future__ import annotations

import polars as pl

from meridian_assets.tables import Bool, Date, Float, Int, Str, TableSchema

Timestamp = pl.Datetime("us")

DAILY_ATTRIBUTION = TableSchema(
    name="daily_attribution",
    columns={"date": Date, "total_return": Float, "beta_return": Float, "sector_return": Float,
             "factor_return": Float, "alpha_return": Float, "net_beta": Float, "spy_return": Float,
             "factor_r2": Float, "factor_observations": Int, "nav": Float},
    key=("date",),
    partition_column="date",
    description="Each session's book return split into beta (net beta x SPY), sector (net sector weight x sector "
                "ETF excess over SPY), factor (OLS factor betas over the previous 60 sessions x the day's factor "
                "returns) and alpha (the rest); the four sum to the total. Also output/daily_attribution.csv.",
    not_null=("date", "total_return", "beta_return", "sector_return", "factor_return", "alpha_return"),
)
POSITION_ATTRIBUTION = TableSchema(
    name="position_attribution",
    columns={"as_of": Date, "kind": Str, "ticker": Str, "sector": Str, "side": Str, "entry_date": Date,
             "exit_date": Date, "shares": Int, "entry_price": Float, "exit_price": Float, "entry_score": Float,
             "pnl": Float, "return_pct": Float, "price_return": Float, "holding_days": Int, "rebalance_id": Str},
    key=("as_of", "kind", "ticker", "entry_date", "exit_date", "rebalance_id"),
    partition_column="as_of",
    description="Open positions marked to market (kind OPEN) and closed round trips matched last-in-first-out "
                "from the executed trade ledger (kind CLOSED): P&L in dollars, side-adjusted return, the stock's "
                "own price return and the composite score at entry.",
    not_null=("as_of", "kind", "ticker", "side", "shares", "entry_price", "pnl"),
)
WIN_LOSS = TableSchema(
    name="win_loss",
    columns={"as_of": Date, "dimension": Str, "bucket": Str, "trades": Int, "wins": Int, "losses": Int,
             "win_rate": Float, "avg_win": Float, "avg_loss": Float, "pl_ratio": Float, "total_pnl": Float},
    key=("as_of", "dimension", "bucket"),
    partition_column="as_of",
    description="Win rate and profit/loss ratio of closed round trips by side, holding period, sector, VIX regime "
                "at entry and entry-score quintile; dimension 'streak' holds the longest and current streaks "
                "(length in `trades`).",
    not_null=("as_of", "dimension", "bucket", "trades"),
)
SECTOR_RELATIVE_ALPHA = TableSchema(
    name="sector_relative_alpha",
    columns={"as_of": Date, "sector": Str, "etf": Str, "positions": Int, "gross_weight": Float,
             "net_weight": Float, "picks_return": Float, "etf_return": Float, "benchmark_return": Float,
             "selection_alpha": Float, "window_days": Int},
    key=("as_of", "sector"),
    partition_column="as_of",
    description="Stock selection within each sector held: the side-adjusted return of the picks against the "
                "sector ETF over the same spans (shorts win when they fall more than the ETF); the row 'TOTAL' "
                "weights each sector's alpha by its gross exposure.",
    not_null=("as_of", "sector"),
)
TURNOVER_AND_TAX = TableSchema(
    name="turnover_and_tax",
    columns={"as_of": Date, "period": Str, "window_days": Int, "traded_notional": Float, "average_nav": Float,
             "turnover": Float, "turnover_annualised": Float, "rebalances": Int, "max_rebalance_turnover": Float,
             "budget_per_rebalance": Float, "budget_utilisation": Float, "within_budget": Bool,
             "closed_lots": Int, "short_term_gain": Float, "long_term_gain": Float, "short_term_tax": Float,
             "long_term_tax": Float, "estimated_tax": Float},
    key=("as_of", "period"),
    partition_column="as_of",
    description="Turnover over 30 and 90 days (and year to date) from the executed ledger, annualised, against "
                "the per-rebalance turnover budget; realized gains of the lots closed in each window matched "
                "first-in-first-out, short-term (< 365 days) at 37% and long-term at 20%.",
    not_null=("as_of", "period"),
)
TEAR_SHEET = TableSchema(
    name="tear_sheet",
    columns={"as_of": Date, "section": Str, "metric": Str, "value": Float, "benchmark": Float, "unit": Str},
    key=("as_of", "section", "metric"),
    partition_column="as_of",
    description="The tear sheet's figures (top line, returns vs SPY, drawdown, rolling Sharpe, turnover, "
                "win/loss, predictive power) as of a session; the document itself is HTML and Markdown.",
    not_null=("as_of", "section", "metric"),
)
BACKTEST_TEAR_SHEET = TableSchema(
    name="backtest_tear_sheet",
    columns={"as_of": Date, "start": Date, "sleeve": Str, "run_id": Str, "total_return": Float,
             "annualised_return": Float, "annualised_volatility": Float, "sharpe": Float, "max_drawdown": Float,
             "cvar95": Float, "beta_to_benchmark": Float, "alpha_jensen": Float, "correlation": Float,
             "excess_annualised_return": Float, "annual_turnover": Float, "cost_bps": Float},
    key=("as_of", "sleeve"),
    partition_column="as_of",
    description="Each sleeve's longest backtest against SPY over its whole window (and SPY's own row): returns, "
                "risk, beta, Jensen alpha, excess return, turnover and costs; the document is Markdown.",
    not_null=("as_of", "sleeve"),
)
ALLOCATION_SNAPSHOTS = TableSchema(
    name="allocation_snapshots",
    columns={"snapshot_id": Str, "created_at": Timestamp, "as_of": Date, "run_id": Str, "method": Str,
             "level": Str, "name": Str, "weight": Float, "pnl_bps": Float, "max_drawdown_bps": Float},
    key=("snapshot_id", "level", "name"),
    partition_column=None,
    description="Append-only allocation history: one snapshot per rebalance or meta run (weights per sleeve and "
                "per position, book P&L and max drawdown to date in bps). Never rewritten; a run id is "
                "snapshotted once.",
    not_null=("snapshot_id", "created_at", "as_of", "run_id", "level", "name", "weight"),
)
CAPITAL_MOVEMENT = TableSchema(
    name="capital_movement",
    columns={"as_of": Date, "level": Str, "rank": Int, "name": Str, "weight_from": Float, "weight_to": Float,
             "delta": Float, "from_run_id": Str, "to_run_id": Str, "from_as_of": Date, "to_as_of": Date,
             "snapshots": Int},
    key=("as_of", "level", "name"),
    partition_column="as_of",
    description="Largest weight changes between the first and the last of the latest allocation snapshots, at "
                "sleeve and position level (from, to, delta).",
    not_null=("as_of", "level", "name", "delta"),
)
CVAR_BY_REGIME = TableSchema(
    name="cvar_by_regime",
    columns={"window_start": Date, "window_end": Date, "vix_regime": Str, "market_regime": Str,
             "observations": Int, "cvar_bps": Float, "var_bps": Float, "mean_bps": Float},
    key=("window_end", "vix_regime", "market_regime"),
    partition_column="window_end",
    description="CVaR95 (mean of the worst 5% of daily book returns, bps) by VIX regime and market regime over "
                "a window of dates; 'ALL' rows are the margins.",
    not_null=("window_start", "window_end", "vix_regime", "market_regime", "observations"),
)
LIVE_VS_SIM = TableSchema(
    name="live_vs_sim",
    columns={"window_end": Date, "date": Date, "live_return": Float, "sim_return": Float,
             "live_cum_bps": Float, "sim_cum_bps": Float, "difference_bps": Float, "rebalance_id": Str},
    key=("window_end", "date"),
    partition_column="window_end",
    description="The book's realized daily return against the simulator's for the same target books since "
                "inception (the backtest engine: the live rebalance code, next-open fills, the cost model's costs; "
                "without scores, target weights marked to market with no costs), cumulative bps.",
    not_null=("window_end", "date"),
)
WEEKLY_CHANGE_SUMMARY = TableSchema(
    name="weekly_change_summary",
    columns={"week_start": Date, "week_end": Date, "context_json": Str, "context_sha256": Str, "llm_status": Str,
             "llm_note": Str, "provider": Str, "model": Str, "system_prompt": Str, "user_prompt": Str,
             "response_json": Str, "headline": Str, "bullets_json": Str, "risks_json": Str, "actions_json": Str,
             "input_tokens": Int, "output_tokens": Int, "cost_usd": Float, "created_at": Timestamp},
    key=("week_start",),
    partition_column="week_start",
    description="What changed this week: the deterministic context (allocation deltas, P&L start/end, regime "
                "multipliers, method, decisions) and, when an LLM is configured, its structured answer archived "
                "with the exact prompt, model and usage.",
    not_null=("week_start", "week_end", "context_json", "context_sha256", "llm_status"),
)
_DOCUMENT = {"doc_id": Str, "path": Str, "body": Str, "source": Str, "llm_note": Str, "provider": Str,
             "model": Str, "system_prompt": Str, "user_prompt": Str, "context_json": Str, "input_tokens": Int,
             "output_tokens": Int, "cost_usd": Float, "voice_flags": Str, "created_at": Timestamp}
WEEKLY_COMMENTARY = TableSchema(
    name="weekly_commentary",
    columns={"week_start": Date, "week_end": Date, **_DOCUMENT},
    key=("week_start",),
    partition_column="week_start",
    description="The weekly commentary paragraph (LLM-written in the house voice when configured, else a "
                "placeholder), its prompt, context and usage, and the voice-check flags.",
    not_null=("week_start", "doc_id", "path", "source"),
)
LP_LETTER = TableSchema(
    name="lp_letter",
    columns={"as_of": Date, **_DOCUMENT},
    key=("as_of",),
    partition_column="as_of",
    description="The letter to limited partners for a date (letterhead, doc id, body, signature, compliance "
                "footer), with the body's prompt, context and usage, and the voice-check flags.",
    not_null=("as_of", "doc_id", "path", "source"),
)
WEEKLY_REPORT_PDF = TableSchema(
    name="weekly_report_pdf",
    columns={"week_start": Date, "week_end": Date, "doc_id": Str, "path": Str, "sha256": Str, "pages": Int,
             "bytes": Int, "context_sha256": Str, "llm_status": Str, "created_at": Timestamp},
    key=("week_start",),
    partition_column="week_start",
    description="The weekly PDF for limited partners: where it is, its hash and page count, and the hash of the "
                "stored context it was built from.",
    not_null=("week_start", "week_end", "path", "sha256"),
)
TABLES = {t.name: t for t in (
    BACKTEST_TEAR_SHEET, DAILY_ATTRIBUTION, POSITION_ATTRIBUTION, WIN_LOSS, SECTOR_RELATIVE_ALPHA, TURNOVER_AND_TAX, TEAR_SHEET,
    ALLOCATION_SNAPSHOTS, CAPITAL_MOVEMENT, CVAR_BY_REGIME, LIVE_VS_SIM, WEEKLY_CHANGE_SUMMARY, WEEKLY_COMMENTARY,
    LP_LETTER, WEEKLY_REPORT_PDF,
)}
