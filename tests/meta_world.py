"""Test helpers for the meta layer: the 40-name embedded market straight from the synthetic provider (prices,
factor scores, earnings dates, corporate actions, HY OAS), in memory or written to a DuckDB file with the
Layer-1/2 schemas, and a test configuration whose books fit a 40-name universe."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl
import yaml

from meridian_assets.config import MeridianConfig
from meridian_assets.factors.schemas import FACTOR_SCORES
from meridian_assets.ingest.schemas import CORPORATE_ACTIONS, DAILY_PRICES, EARNINGS_CALENDAR, MACRO_SERIES
from meridian_assets.meta.history import MarketHistory
from meridian_assets.storage import replace_window

N = 40
SCORE_START, END = dt.date(2024, 1, 2), dt.date(2024, 3, 28)
# 10/10 books of at most 10% in a 40-name universe (the default 20/20 at 5% would hold every name)
OVERRIDES = {
    "synthetic": {"n_tickers": N},
    "history": {"years": 1, "end_date": END.isoformat()},
    "portfolio": {"num_longs": 10, "num_shorts": 10, "max_sector_net_pct": 0.10},
    "risk": {"max_position_pct": 0.10, "max_sector_side_pct": 0.35},
    "meta": {"backtest_sessions": 14, "evidence_sessions": 12, "min_evidence_sessions": 10, "live_sessions": 6,
             "min_live_sessions": 5, "regime_min_sessions": 3, "workers": 1, "mi_permutations": 20,
             "rebalance_every_sessions": 1},  # short windows: a proposal every session, not weekly
}


def config(**blocks) -> MeridianConfig:
    raw = {k: dict(v) for k, v in OVERRIDES.items()}
    for block, values in blocks.items():
        raw.setdefault(block, {}).update(values)
    return MeridianConfig.model_validate(raw)


def write_yaml(home: Path, **blocks) -> Path:
    raw = {k: dict(v) for k, v in OVERRIDES.items()}
    for block, values in blocks.items():
        raw.setdefault(block, {}).update(values)
    path = home / "meridian.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@lru_cache(maxsize=1)
def frames() -> dict[str, pl.DataFrame]:
    """The embedded market's frames for the 40 names (computed once per test process)."""
    from meridian_assets.factors.inputs import inputs_from_provider
    from meridian_assets.factors.scoring import score_history
    from meridian_assets.ingest.providers.synthetic import SyntheticProvider

    cfg = config()
    p = SyntheticProvider(seed=cfg.synthetic.seed, n_tickers=N, epoch=cfg.synthetic.epoch)
    inputs = inputs_from_provider(p, SCORE_START, END)
    return {
        "prices": inputs.prices.filter(pl.col("date") >= SCORE_START - dt.timedelta(days=200)),
        "scores": score_history(inputs, None, cfg.scoring).frame,
        "earnings": p.earnings_calendar(None, SCORE_START, END + dt.timedelta(days=120)).frame,
        "actions": inputs.corporate_actions.filter(pl.col("date") >= SCORE_START),
        "macro": p.macro_series(["BAMLH0A0HYM2"], SCORE_START - dt.timedelta(days=400), END).frame,
    }


def history(cfg: MeridianConfig | None = None, **replaced: pl.DataFrame) -> MarketHistory:
    f = {**frames(), **replaced}
    return MarketHistory.from_frames(f["prices"], f["scores"], cfg or config(), earnings=f["earnings"],
                                     actions=f["actions"], hy_oas=f["macro"])


def write_db(path: Path) -> Path:
    """The frames as the Layer-1/2 tables of a DuckDB file."""
    f = frames()
    conn = duckdb.connect(str(path))
    try:
        for schema, frame, col in ((DAILY_PRICES, f["prices"], "date"), (FACTOR_SCORES, f["scores"], "date"),
                                   (EARNINGS_CALENDAR, f["earnings"], EARNINGS_CALENDAR.partition_column),
                                   (CORPORATE_ACTIONS, f["actions"], CORPORATE_ACTIONS.partition_column),
                                   (MACRO_SERIES, f["macro"], MACRO_SERIES.partition_column)):
            conformed = schema.conform(frame)
            if conformed.height:
                replace_window(conn, schema, conformed, conformed[col].min(), conformed[col].max())
    finally:
        conn.close()
    return path
