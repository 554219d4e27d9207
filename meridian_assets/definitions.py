"""The Meridian code location: merges each domain's Definitions and binds the resources."""

from __future__ import annotations

import dagster as dg

from meridian_assets import gates
from meridian_assets.config import get_config, load_config
from meridian_assets.execution import definitions as execution
from meridian_assets.factors import definitions as factors
from meridian_assets.ingest import definitions as ingest
from meridian_assets.analysis import definitions as analysis
from meridian_assets.meta import definitions as meta
from meridian_assets.jobs import main_job
from meridian_assets.portfolio import definitions as portfolio
from meridian_assets.reporting import definitions as reporting
from meridian_assets.risk import definitions as risk
from meridian_assets.serving import definitions as serving
from resources import AnthropicResource, BrokerResource, DuckDBStore, MarketDataResource, MeridianSettings, OpenAIResource
from schedules import SCHEDULES
from sensors import SENSORS


# Runs launched from the UI, schedules, sensors and backfills execute their steps in the run's own process.
# Every asset writes DuckDB and so holds the one-slot `duckdb` pool: steps run one at a time whatever the
# executor, and the multiprocess executor's fresh interpreter per step would only add its start-up (a full import
# of this code location) to each step while it waits for or holds the slot. Pool limits are still claimed per
# step by the in-process executor (tests/test_executor.py). Parallel work that pays (sleeve backtest sweeps) uses
# its own process pool inside a step (meta/sweep.py).
RUN_EXECUTOR = dg.in_process_executor


def build_resources(config_path: str | None = None, database: str | None = None) -> dict:
    cfg = load_config(config_path) if config_path else get_config()
    settings = MeridianSettings(config_path=config_path)
    return {
        "settings": settings,
        "db": DuckDBStore(database=database or str(cfg.database_path())),
        "market": MarketDataResource(settings=settings),
        "broker": BrokerResource(settings=settings),
        "anthropic": AnthropicResource(),
        "openai": OpenAIResource(),
    }


def build_definitions(
    config_path: str | None = None, database: str | None = None, loggers: dict | None = None
) -> dg.Definitions:
    return dg.Definitions.merge(
        ingest.defs(),
        factors.defs(),
        analysis.defs(),
        portfolio.defs(),
        risk.defs(),
        execution.defs(),
        reporting.defs(),
        meta.defs(),
        serving.defs(),
        dg.Definitions(jobs=[main_job], schedules=SCHEDULES, sensors=SENSORS, executor=RUN_EXECUTOR,
                       resources=build_resources(config_path, database), loggers=loggers),
    )


defs = build_definitions()
gates.use_code_location(defs)
