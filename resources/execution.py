"""The broker resource: the simulated venue (default) or Alpaca, chosen by `execution.broker`.

Alpaca trades on the **paper** account unless both gates are open (`execution.live_gate`): the config says
`execution.mode: live` *and* the operator typed ``YES I UNDERSTAND THE RISKS`` at `meridian execute`, which
leaves a one-time confirmation for that run id; `client(run_id=..., rebalance_id=...)` consumes it. No run
config, sensor or schedule can open the second gate. Without it a live client still reads and cancels (the
kill switch must always be able to cancel) but refuses every submit. A paper client refuses any trading URL
that is not the paper host or loopback (a URL override would otherwise win over ``paper=True``).

Keys come only from ``ALPACA_API_KEY`` / ``ALPACA_SECRET_KEY``, read when a client is built, never logged.
``ALPACA_TRADING_URL`` / ``ALPACA_DATA_URL`` (or ``alpaca_url``) point the clients elsewhere (tests, proxies).
"""

import os
import random
from pathlib import Path
from typing import Any, Optional

import dagster as dg

from meridian_assets.config import meridian_home
from meridian_assets.errors import ConfigError
from meridian_assets.execution.clock import Clock, SystemClock
from meridian_assets.execution.gateway import SafeBroker
from meridian_assets.execution.live_gate import LIVE_CONFIRMATION, LiveConfirmations, check_paper_endpoint
from meridian_assets.execution.throttle import WindowLimiter
from resources.settings import MeridianSettings

KEY_ENV, SECRET_ENV = "ALPACA_API_KEY", "ALPACA_SECRET_KEY"
TRADING_URL_ENV, DATA_URL_ENV = "ALPACA_TRADING_URL", "ALPACA_DATA_URL"


class BrokerResource(dg.ConfigurableResource):
    """`client()` returns a `Broker` (wrapped in `SafeBroker`: retries, backoff, safe submits)."""

    settings: MeridianSettings
    # The simulated venue's state folder (default: $MERIDIAN_HOME/broker).
    state_dir: Optional[str] = None
    # Alpaca trading API base URL override (default: ALPACA_TRADING_URL, else Alpaca's paper/live URL).
    alpaca_url: Optional[str] = None

    def kind(self) -> str:
        return self.settings.get().execution.broker

    def is_live(self) -> bool:
        """True when orders would go to a live (real-money) account."""
        ex = self.settings.get().execution
        return ex.broker == "alpaca" and ex.mode == "live"

    def venue_dir(self) -> Path:
        return Path(self.state_dir) if self.state_dir else meridian_home() / "broker"

    def confirmations(self) -> LiveConfirmations:
        """Where `meridian execute` leaves the operator's one-time live confirmations."""
        return LiveConfirmations(meridian_home() / "execution" / "live_confirmations")

    def client(self, *, run_id: Optional[str] = None, rebalance_id: Optional[str] = None, bars: Any = None,
               clock: Optional[Clock] = None, faults: Any = None, rng: Optional[random.Random] = None) -> SafeBroker:
        """A broker for this run. On a live account, submits are allowed only when the operator confirmed
        ``run_id`` for ``rebalance_id`` (consumed here, once). ``bars``: the simulated venue's market (a
        `market.BarSource`; None: orders rest unfilled); ``clock``: injectable time; ``faults``: a
        `faults.FaultPlan` for the simulated venue."""
        cfg = self.settings.get()
        ex = cfg.execution
        clock = clock or SystemClock()
        if ex.broker == "simulated":
            from meridian_assets.execution.simulated import SimulatedBroker
            from meridian_assets.portfolio.costs import CostModel

            venue = SimulatedBroker(self.venue_dir(), ex.simulated, bars=bars, clock=clock, faults=faults,
                                    costs=CostModel.from_config(cfg.portfolio))
            return SafeBroker(venue, ex, sleep=clock.sleep, rng=rng)
        return self._alpaca(run_id, rebalance_id, clock, rng)

    def _alpaca(self, run_id: Optional[str], rebalance_id: Optional[str], clock: Clock,
                rng: Optional[random.Random]) -> SafeBroker:
        from alpaca.data.historical import StockHistoricalDataClient
        from alpaca.trading.client import TradingClient

        from meridian_assets.execution.alpaca import AlpacaBroker, add_timeout

        ex = self.settings.get().execution
        key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
        if not key or not secret:
            raise ConfigError(f"execution.broker is alpaca but {KEY_ENV} / {SECRET_ENV} are not set: export both "
                              "(paper keys from app.alpaca.markets), or set execution.broker: simulated")
        live = ex.mode == "live"
        url = self.alpaca_url or os.environ.get(TRADING_URL_ENV) or None
        if not live:
            check_paper_endpoint(url)
        trading = TradingClient(key, secret, paper=not live, url_override=url)
        data = StockHistoricalDataClient(key, secret, url_override=os.environ.get(DATA_URL_ENV) or None)
        for c in (trading, data):
            add_timeout(c, ex.request_timeout_seconds)
        limiter = WindowLimiter(ex.max_requests_per_minute, 60.0, clock=clock.time, sleep=clock.sleep)
        inner = AlpacaBroker(trading, limiter, data_client=data, secrets=(key, secret))
        allow, why = True, ""
        if live:
            allow, why = (self.confirmations().consume(run_id, rebalance_id) if run_id and rebalance_id
                          else (False, f"no run was confirmed with '{LIVE_CONFIRMATION}' at `meridian execute --execute` "
                                 "(reads and cancels only)"))
        return SafeBroker(inner, ex, sleep=clock.sleep, rng=rng, allow_submit=allow,
                          refusal=f"execution.mode is live and {why}")
