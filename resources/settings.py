"""The configuration resource: `meridian.yaml`, validated, for every other resource and asset."""

from __future__ import annotations

from typing import Optional

import dagster as dg

from meridian_assets.config import MeridianConfig, get_config, load_config


class MeridianSettings(dg.ConfigurableResource):
    """`meridian.yaml`, validated. `config_path` overrides the default lookup (MERIDIAN_CONFIG, project root)."""

    config_path: Optional[str] = None

    def get(self) -> MeridianConfig:
        return load_config(self.config_path) if self.config_path else get_config()
