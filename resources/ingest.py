"""The ingest domain's resource: the data providers chosen in `meridian.yaml`."""

from __future__ import annotations

import dagster as dg

from meridian_assets.ingest.providers import Provider, provider_for
from resources.settings import MeridianSettings


class MarketDataResource(dg.ConfigurableResource):
    """The data providers chosen in `meridian.yaml` (`providers:`), one per kind of data."""

    settings: MeridianSettings

    def provider(self, kind: str) -> Provider:
        return provider_for(kind, self.settings.get())
