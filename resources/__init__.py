"""Every ConfigurableResource Meridian uses, one module per domain (settings and the DuckDB store are shared)."""

from resources.analysis import AnthropicResource, OpenAIResource
from resources.duckdb import DUCKDB_POOL, DuckDBStore
from resources.execution import BrokerResource
from resources.ingest import MarketDataResource
from resources.settings import MeridianSettings

__all__ = ["DUCKDB_POOL", "AnthropicResource", "BrokerResource", "DuckDBStore", "MarketDataResource",
           "MeridianSettings", "OpenAIResource"]
