"""The meta layer's tables: sleeve backtests, versioned configs and their change log, allocation, decisions,
diagnostics and the config-change proposals.

Conventions: returns and weights are fractions (0.0123 = 1.23%), costs in dollars unless the column says bps,
``*_json`` columns hold canonical JSON (sorted keys). A backtest is identified by ``run_id`` =
``bt-{sleeve}-{start:%Y%m%d}-{end:%Y%m%d}-{hash}`` (deterministic in the sleeve's config hash and the window), so
re-running it replaces its rows. `meta_config_versions` and `config_change_log` are append-only.
"""

from __future__ import annotations

import polars as pl

from meridian_assets.tables import Bool, Date, Float, Int, Str, TableSchema

Timestamp = pl.Datetime("us")

BACKTEST_RUNS = TableSchema(
    name="backtest_runs",
    columns={"run_id": Str, "sleeve": Str, "sleeve_version": Int, "config_hash": Str, "config_json": Str,
             "purpose": Str, "start": Date, "end": Date, "sessions": Int, "created_at": Timestamp,
             "final_nav": Float, "total_return": Float, "annual_return": Float, "annual_volatility": Float,
             "sharpe": Float, "max_drawdown": Float, "cvar_95": Float, "avg_turnover": Float,
             "annual_turnover": Float, "commission": Float, "spread": Float, "impact": Float, "borrow": Float,
             "cost_bps": Float, "trades": Int, "vetoed": Int, "deferred": Int, "unfilled": Int,
             "reducing_sessions": Int, "halted_sessions": Int, "seconds": Float, "seconds_per_day": Float,
             "metrics_json": Str, "warnings": Str},
    key=("run_id",),
    partition_column=None,
    description="One row per sleeve backtest: its config (hash and JSON), window, returns, Sharpe, drawdown, CVaR, "
                "turnover, each cost type in dollars (commission, spread, impact, borrow), veto and breaker counts "
                "and the wall time per simulated day.",
    not_null=("run_id", "sleeve", "config_hash", "start", "end", "sessions"),
)
BACKTEST_DAILY = TableSchema(
    name="backtest_daily",
    columns={"run_id": Str, "sleeve": Str, "date": Date, "nav": Float, "cash": Float, "long_value": Float,
             "short_value": Float, "gross": Float, "net": Float, "daily_return": Float, "drawdown": Float,
             "traded_notional": Float, "turnover": Float, "commission": Float, "spread": Float, "impact": Float,
             "borrow": Float, "positions": Int, "trades": Int, "vetoed": Int, "deferred": Int,
             "trading_state": Str, "gross_multiplier": Float, "method": Str, "seconds": Float},
    key=("run_id", "date"),
    partition_column=None,
    description="Each simulated session of a backtest: the book marked at the close, the trades filled at that "
                "session's open, the costs and borrow charged that day, the proposal's vetoes and deferrals, the "
                "trading state from the breakers, and the wall time of the session.",
    not_null=("run_id", "sleeve", "date", "nav"),
)
BACKTEST_TRADES = TableSchema(
    name="backtest_trades",
    columns={"run_id": Str, "sleeve": Str, "as_of": Date, "date": Date, "ticker": Str, "sector": Str,
             "action": Str, "ordered_shares": Int, "shares": Int, "signal_price": Float, "price": Float,
             "notional": Float, "commission": Float, "spread": Float, "impact": Float, "cost_bps": Float,
             "score": Float, "status": Str, "reason": Str, "fwd_return": Float},
    key=("run_id", "as_of", "ticker"),
    partition_column=None,
    description="Every trade a backtest's proposals asked for: decided at the close of `as_of`, filled (whole "
                "shares, at most the venue's participation of the bar's volume) at the open of `date`; VETOED and "
                "DEFERRED ones with their reasons. `fwd_return` is the side-adjusted return over the next sessions "
                "(analysis only, never an input of a decision).",
    not_null=("run_id", "sleeve", "as_of", "ticker", "action", "status"),
)
META_CONFIG_VERSIONS = TableSchema(
    name="meta_config_versions",
    columns={"config_key": Str, "version": Int, "kind": Str, "name": Str, "config_json": Str, "config_hash": Str,
             "created_at": Timestamp, "created_by": Str, "change_id": Str, "note": Str},
    key=("config_key", "version"),
    partition_column=None,
    description="Every version of every sleeve and allocation config (append-only): the content and its SHA-256. "
                "The highest version of a key is the one in force.",
    not_null=("config_key", "version", "kind", "name", "config_json", "config_hash", "created_at"),
)
CONFIG_CHANGE_LOG = TableSchema(
    name="config_change_log",
    columns={"change_id": Str, "proposal_id": Str, "config_key": Str, "target_type": Str, "target_id": Str,
             "action": Str, "from_version": Int, "to_version": Int, "before_json": Str, "after_json": Str,
             "before_hash": Str, "after_hash": Str, "changed_by": Str, "applied_by": Str, "changed_at": Timestamp,
             "note": Str},
    key=("change_id",),
    partition_column=None,
    description="Who changed which config when, from what to what (APPLY, REVERT or SEED), and the proposal it "
                "came from. Append-only.",
    not_null=("change_id", "config_key", "action", "to_version", "after_json", "changed_by", "changed_at"),
)
META_PROPOSALS = TableSchema(
    name="meta_controller_config_proposals",
    columns={"proposal_id": Str, "batch_id": Str, "created_at": Timestamp, "rule": Str, "target_type": Str,
             "target_id": Str, "config_key": Str, "current_version": Int, "current_config_snapshot_json": Str,
             "current_config_hash": Str, "proposed_config_json": Str, "proposed_config_hash": Str,
             "rationale_text": Str, "rationale_source": Str, "llm_call_id": Str, "evidence_json": Str,
             "confidence": Float, "data_sufficient": Bool, "auto_eligible": Bool, "status": Str,
             "decided_at": Timestamp, "decided_by": Str, "applied_at": Timestamp, "applied_by": Str,
             "applied_version": Int, "reverted_at": Timestamp, "reverted_by": Str, "note": Str},
    key=("proposal_id",),
    partition_column=None,
    description="Config-change proposals from rules over the diagnostics, each with the backtest of the proposed "
                "config against the current one on the same window as evidence, a confidence, and a revert "
                "snapshot. Status PENDING, APPROVED, REJECTED, APPLIED or REVERTED; applied_by AUTO or HUMAN.",
    not_null=("proposal_id", "batch_id", "created_at", "target_type", "target_id", "status"),
)
SLEEVE_DECISIONS = TableSchema(
    name="sleeve_decisions",
    columns={"as_of": Date, "sleeve": Str, "sleeve_version": Int, "decision": Str, "reason": Str,
             "confidence": Float, "data_sufficient": Bool, "live_sessions": Int, "live_sharpe": Float,
             "backtest_sharpe": Float, "live_drawdown": Float, "backtest_drawdown": Float, "current_regime": Str,
             "regime_sharpe": Float, "evidence_json": Str, "run_id": Str},
    key=("as_of", "sleeve"),
    partition_column="as_of",
    description="PROMOTE, KEEP, KILL or RETIRE per sleeve from its live window against its backtest, its "
                "drawdown and its behaviour in the current regime, with the evidence.",
    not_null=("as_of", "sleeve", "decision", "reason"),
)
SLEEVE_ALLOCATION = TableSchema(
    name="sleeve_allocation",
    columns={"as_of": Date, "sleeve": Str, "weight": Float, "method": Str, "decision": Str, "volatility": Float,
             "risk_contribution": Float, "cvar": Float, "cvar_contribution": Float, "observations": Int,
             "run_id": Str},
    key=("as_of", "sleeve"),
    partition_column="as_of",
    description="Capital weights across sleeves (risk parity on their covariance with a CVaR penalty) with each "
                "sleeve's volatility, share of the combined risk and of the combined CVaR.",
    not_null=("as_of", "sleeve", "weight", "method"),
)
META_TARGET_BOOK = TableSchema(
    name="meta_target_book",
    columns={"as_of": Date, "ticker": Str, "sector": Str, "weight": Float, "sleeves_json": Str, "run_id": Str},
    key=("as_of", "ticker"),
    partition_column="as_of",
    description="The live book as the capital-weighted combination of the sleeves' targets: signed weight per "
                "name and each sleeve's contribution.",
    not_null=("as_of", "ticker", "weight"),
)
META_PERFORMANCE = TableSchema(
    name="meta_performance",
    columns={"as_of": Date, "dimension": Str, "sleeve": Str, "bucket": Str, "observations": Int,
             "mean_bps": Float, "volatility_bps": Float, "sharpe": Float, "cvar_bps": Float, "hit_rate": Float,
             "pnl": Float},
    key=("as_of", "dimension", "sleeve", "bucket"),
    partition_column="as_of",
    description="Performance by dimension: vix_regime and market_regime (daily returns), sector (P&L), sleeve "
                "(whole window) and score_bucket (forward return of the trades by entry-score quintile), per sleeve "
                "and for the live book.",
    not_null=("as_of", "dimension", "sleeve", "bucket"),
)
META_LIVE_VS_BACKTEST = TableSchema(
    name="meta_live_vs_backtest",
    columns={"as_of": Date, "date": Date, "sleeve": Str, "live_return": Float, "backtest_return": Float,
             "live_cum_bps": Float, "backtest_cum_bps": Float, "gap_bps": Float},
    key=("as_of", "date", "sleeve"),
    partition_column="as_of",
    description="The live book's daily return against the backtest of the sleeve it follows over the same "
                "sessions, compounded; gap = live - backtest.",
    not_null=("as_of", "date", "sleeve"),
)
META_RISK_EVENTS = TableSchema(
    name="meta_risk_events",
    columns={"as_of": Date, "source": Str, "sleeve": Str, "kind": Str, "reason": Str, "events": Int,
             "frequency": Float, "notional": Float, "impact_bps": Float},
    key=("as_of", "source", "sleeve", "kind", "reason"),
    partition_column="as_of",
    description="How often pre-trade vetoes (by reason code) and circuit breakers (by trading state) acted, and "
                "their impact: the forward P&L of the vetoed trades, or the book's return on breaker sessions, in "
                "bps of NAV.",
    not_null=("as_of", "source", "sleeve", "kind", "reason", "events"),
)
META_INFORMATION = TableSchema(
    name="meta_information",
    columns={"as_of": Date, "measure": Str, "subject": Str, "bucket": Str, "value": Float, "normalized": Float,
             "samples": Int, "p_value": Float, "bins": Int},
    key=("as_of", "measure", "subject", "bucket"),
    partition_column="as_of",
    description="Information measures: the entropy of daily returns by regime (per sleeve), and the mutual "
                "information between each config knob and the outcome across sleeve runs, with a permutation "
                "p-value, so it shows which knobs move performance.",
    not_null=("as_of", "measure", "subject", "bucket"),
)
TABLES = {t.name: t for t in (
    BACKTEST_RUNS, BACKTEST_DAILY, BACKTEST_TRADES, META_CONFIG_VERSIONS, CONFIG_CHANGE_LOG, META_PROPOSALS,
    SLEEVE_DECISIONS, SLEEVE_ALLOCATION, META_TARGET_BOOK, META_PERFORMANCE, META_LIVE_VS_BACKTEST,
    META_RISK_EVENTS, META_INFORMATION,
)}
# What `meridian reset --state` should drop: results and proposals. The config versions and their change log are
# configuration history and survive a state reset.
STATE_TABLES = tuple(t for t in TABLES if t not in (META_CONFIG_VERSIONS.name, CONFIG_CHANGE_LOG.name))
