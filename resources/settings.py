"""Configuration and data-provider resources."""

from __future__ import annotations

from typing import Optional

import dagster as dg

from meridian_assets.config import MeridianConfig, get_config, load_config
from meridian_assets.ingest.providers import Provider, provider_for


class MeridianSettings(dg.ConfigurableResource):
    """`meridian.yaml`, validated. `config_path` overrides the default lookup (MERIDIAN_CONFIG, project root)."""

    config_path: Optional[str] = None

    def get(self) -> MeridianConfig:
        return load_config(self.config_path) if self.config_path else get_config()


class MarketDataResource(dg.ConfigurableResource):
    """The data providers chosen in `meridian.yaml` (`providers:`), one per kind of data."""

    settings: MeridianSettings

    def provider(self, kind: str) -> Provider:
        return provider_for(kind, self.settings.get())
