"""Every ConfigurableResource Meridian uses."""

from resources.broker import BrokerResource
from resources.duckdb import DUCKDB_POOL, DuckDBStore
from resources.llm import AnthropicResource, OpenAIResource
from resources.settings import MarketDataResource, MeridianSettings

__all__ = ["DUCKDB_POOL", "AnthropicResource", "BrokerResource", "DuckDBStore", "MarketDataResource",
           "MeridianSettings", "OpenAIResource"]
