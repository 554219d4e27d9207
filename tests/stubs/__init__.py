"""Loopback stand-ins for external services, for tests (they serve on 127.0.0.1 only)."""

from .alpaca_server import AlpacaStub, StockBars, StubRequest, StubResponse, generated_bar

__all__ = ["AlpacaStub", "StockBars", "StubRequest", "StubResponse", "generated_bar"]
