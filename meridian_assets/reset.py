"""The four reset tiers (plain functions: a plan of what would be removed, then its execution).

| tier    | removes                                                                                  | keeps |
|---------|------------------------------------------------------------------------------------------|-------|
| --halt  | the kill-switch halt lock                                                                | everything else |
| --state | portfolio / risk / execution state tables, risk_state.json, the halt lock, the simulated venue, order journals, letters, commentary, reports, attribution CSV and tear sheet | market data, scores, analysis cache, EDGAR and stress caches |
| --db    | the DuckDB file, risk_state.json, the halt lock, the simulated venue, order journals, output/ but run.log | EDGAR cache, stress cache, output/run.log, the Dagster instance |
| --all   | the whole Meridian home (database, caches, outputs, Dagster run history)                 | nothing |
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from meridian_assets import dbread
from meridian_assets.config import MeridianConfig
from meridian_assets.meta.schemas import STATE_TABLES as META_STATE_TABLES
from meridian_assets.reporting.schemas import TABLES as REPORTING_TABLES

Tier = Literal["halt", "state", "db", "all"]

STATE_TABLES = (
    "target_book", "rebalance_trades", "portfolio_positions", "portfolio_history", "position_approvals",
    "portfolio_factor_exposures", "risk_state", "execution_fills", "short_availability", *REPORTING_TABLES,
    *META_STATE_TABLES,  # the versioned sleeve configs and the config change log survive a state reset
)
STATE_OUTPUTS = ("letters", "commentary", "reports", "reports_*", "daily_attribution.csv", "tear_sheet_latest.md")


@dataclass(frozen=True)
class Action:
    kind: Literal["delete_file", "delete_dir", "drop_table"]
    target: str

    def describe(self) -> str:
        verb = {"delete_file": "delete file", "delete_dir": "delete folder", "drop_table": "drop table"}[self.kind]
        return f"{verb} {self.target}"


def _existing_tables(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with dbread.read_only(db) as conn:
        return {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def reset_plan(tier: Tier, cfg: MeridianConfig) -> list[Action]:
    """What a reset of ``tier`` would remove, listing only what exists."""
    home, out, db = cfg.home(), cfg.output_dir(), cfg.database_path()
    lock, risk_state = cfg.halt_lock_path(), home / cfg.paths.risk_state
    actions: list[Action] = []

    def file(p: Path) -> None:
        if p.exists():
            actions.append(Action("delete_dir" if p.is_dir() else "delete_file", str(p)))

    if tier == "halt":
        file(lock)
    elif tier == "state":
        tables = _existing_tables(db)
        actions += [Action("drop_table", t) for t in STATE_TABLES if t in tables]
        file(risk_state)
        file(lock)
        file(home / "broker")  # the simulated venue's orders and positions
        file(home / "execution")  # order journals: a dead run's journal would otherwise replay into the new state
        for pattern in STATE_OUTPUTS:
            for p in sorted(out.glob(pattern)) if out.exists() else []:
                file(p)
    elif tier == "db":
        file(db)
        file(db.with_suffix(db.suffix + ".wal"))
        file(risk_state)
        file(lock)
        file(home / "broker")
        file(home / "execution")
        if out.exists():
            for p in sorted(out.iterdir()):
                if p.name != "run.log":
                    file(p)
    elif tier == "all":
        file(home)
    else:
        raise ValueError(f"unknown reset tier {tier!r}")
    return actions


def execute(actions: list[Action], cfg: MeridianConfig) -> None:
    drops = [a.target for a in actions if a.kind == "drop_table"]
    if drops:
        conn = dbread.connect(cfg.database_path(), read_only=False)
        try:
            for t in drops:
                conn.execute(f'DROP TABLE IF EXISTS "{t}"')
        finally:
            conn.close()
    for a in actions:
        p = Path(a.target)
        if a.kind == "delete_dir":
            shutil.rmtree(p, ignore_errors=True)
        elif a.kind == "delete_file":
            p.unlink(missing_ok=True)
