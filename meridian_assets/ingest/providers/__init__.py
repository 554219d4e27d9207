"""Data providers, chosen per kind of data in `meridian.yaml` (`providers:` block).

- `synthetic` (default): the embedded deterministic market, no network.
- `files`: a folder of CSV/Parquet in the documented schema (docs/files_provider.md).
- `alpaca`: daily bars through alpaca-py (keys from ALPACA_API_KEY / ALPACA_SECRET_KEY).
- `edgar`: filings, Form 4, 13-F and XBRL financials through edgartools (SEC_USER_AGENT_EMAIL).
"""

from __future__ import annotations

import logging
from typing import Any

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import ProviderUnavailable
from meridian_assets.ingest.providers.base import FetchError, FetchResult, Provider

__all__ = ["FetchError", "FetchResult", "Provider", "make_provider", "provider_for"]

log = logging.getLogger(__name__)


def make_provider(name: str, cfg: MeridianConfig) -> Provider:
    """Build the named provider from configuration (imports lazily: real SDKs load only when chosen)."""
    if name == "synthetic":
        from meridian_assets.ingest.providers.synthetic import SyntheticProvider

        s = cfg.synthetic
        funds = [(f.name, f.cik) for f in cfg.sec.tracked_funds]
        return SyntheticProvider(seed=s.seed, n_tickers=s.n_tickers, epoch=s.epoch, funds=funds)
    if name == "files":
        from meridian_assets.ingest.providers.files import FilesProvider

        f = cfg.files
        return FilesProvider(
            root=cfg.files_root(),
            prices=f.prices,
            benchmarks=f.benchmarks,
            constituents=f.constituents,
            constituents_history=f.constituents_history,
            benchmark_tickers=cfg.benchmarks,
        )
    if name == "alpaca":
        from meridian_assets.ingest.providers.alpaca_data import AlpacaDataProvider

        return AlpacaDataProvider()
    if name == "edgar":
        from meridian_assets.ingest.providers.edgar import EdgarProvider

        return EdgarProvider(sec=cfg.sec)
    raise ValueError(f"unknown provider '{name}'")


class FallbackProvider:
    """Serves from ``primary``; when it is unavailable (no key, no network) logs why and uses ``fallback``."""

    def __init__(self, primary: Provider, fallback: Provider) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = f"{primary.name}->{fallback.name}"

    def __getattr__(self, method: str) -> Any:
        primary_fn = getattr(self.primary, method)
        fallback_fn = getattr(self.fallback, method)

        def call(*args, **kwargs):
            try:
                return primary_fn(*args, **kwargs)
            except ProviderUnavailable as err:
                log.warning("%s unavailable (%s); falling back to %s", self.primary.name, err, self.fallback.name)
                return fallback_fn(*args, **kwargs)

        return call


def provider_for(kind: str, cfg: MeridianConfig) -> Provider:
    """The provider configured for one kind of data (universe, prices, fundamentals, filings, ...)."""
    name = getattr(cfg.providers, kind)
    provider = make_provider(name, cfg)
    if name != "synthetic" and cfg.providers.on_unavailable == "fallback_synthetic":
        return FallbackProvider(provider, make_provider("synthetic", cfg))  # type: ignore[return-value]
    return provider
