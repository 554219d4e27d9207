"""The risk-model tables (as of one session each; the latest estimate feeds the MVO)."""

from __future__ import annotations

from meridian_assets.tables import Bool, Date, Float, Str, TableSchema

RISK_EXPOSURES = TableSchema(
    name="risk_exposures",
    columns={"as_of": Date, "ticker": Str, "factor": Str, "exposure": Float},
    key=("as_of", "ticker", "factor"),
    partition_column="as_of",
    description="Each stock's exposure to the market, its industry and the standardised style factors.",
    not_null=("as_of", "ticker", "factor", "exposure"),
)
RISK_FACTOR_COVARIANCE = TableSchema(
    name="risk_factor_covariance",
    columns={"as_of": Date, "factor_a": Str, "factor_b": Str, "covariance": Float},
    key=("as_of", "factor_a", "factor_b"),
    partition_column="as_of",
    description="Annualised factor covariance F from the daily cross-sectional regressions.",
    not_null=("as_of", "factor_a", "factor_b", "covariance"),
)
RISK_SPECIFIC_VARIANCE = TableSchema(
    name="risk_specific_variance",
    columns={"as_of": Date, "ticker": Str, "specific_variance": Float},
    key=("as_of", "ticker"),
    partition_column="as_of",
    description="Annualised specific (idiosyncratic) variance per stock.",
    not_null=("as_of", "ticker", "specific_variance"),
)
RISK_FACTOR_RETURNS = TableSchema(
    name="risk_factor_returns",
    columns={"as_of": Date, "date": Date, "factor": Str, "factor_return": Float},
    key=("as_of", "date", "factor"),
    partition_column="as_of",
    description="Daily factor returns of the regressions behind each estimate.",
    not_null=("as_of", "date", "factor"),
)
TABLES = {t.name: t for t in (RISK_EXPOSURES, RISK_FACTOR_COVARIANCE, RISK_SPECIFIC_VARIANCE, RISK_FACTOR_RETURNS)}
RISK_STATE = TableSchema(
    name="risk_state",
    columns={"as_of": Date, "trading_state": Str, "halted": Bool, "nav": Float, "daily_return": Float,
             "weekly_return": Float, "drawdown": Float, "gross": Float, "net": Float, "beta": Float,
             "ex_ante_vol": Float, "actions": Str, "alerts": Str, "state_json": Str},
    key=("as_of",),
    partition_column="as_of",
    description="The daily risk state: trading state, losses and drawdown, exposures, ex-ante risk, breaker "
                "actions and alerts, with the whole risk_state.json document.",
    not_null=("as_of", "trading_state", "halted"),
)
TABLES[RISK_STATE.name] = RISK_STATE
