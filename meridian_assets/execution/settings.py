"""The `execution` block of meridian.yaml: the broker, how calls to it are retried, the executor's order
slicing and the simulated venue.

What a trade costs is not here: the simulated venue prices its fills with the one transaction-cost model of
the `portfolio` block (`portfolio.commission_bps`, `spread_fraction_of_range`, `impact_coefficient`; see
`portfolio/costs.py`), the same model the optimizer plans with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from meridian_assets.config_base import Block


class RetryConfig(Block):
    """Retries of a broker call that failed transiently (timeout, 5xx, dropped connection)."""

    max_attempts: int = Field(3, ge=1, le=20)  # tries in all, the first included
    backoff_base_seconds: float = Field(1.0, ge=0, le=600)  # wait before the 2nd try; doubles each time (jittered)
    backoff_max_seconds: float = Field(30.0, ge=0, le=3600)  # longest wait between two tries


class ExecutorConfig(Block):
    """How the executor turns a trade into limit orders (executor.py)."""

    limit_offset_pct: float = Field(0.001, ge=0, lt=0.1)  # limit = signal price x (1 +/- this): buys pay up
    chunk_max_adv_pct: float = Field(0.02, gt=0, le=1)  # each order <= this fraction of 20-day ADV (USD)
    time_in_force_seconds: int = Field(120, gt=0)  # an order still open after this is cancelled
    poll_seconds: int = Field(5, gt=0)  # how often an open order's status is read
    max_retries: int = Field(3, ge=0)  # re-submits of a chunk that timed out with nothing filled


class SimulatedVenueConfig(Block):
    """The simulated venue (`execution.broker: simulated`): its starting cash, borrow list and fill rules.

    A limit order trades against the embedded market's next bar, at a price the transaction-cost model of the
    `portfolio` block gives (`portfolio/costs.py`); at most `max_participation` of the bar's volume fills.
    Fills arrive in `fill_slices` equal slices, the first `fill_delay_seconds` after acceptance and the last
    `fill_duration_seconds` later (0 and 0: filled at acceptance).

    With `virtual_time` the venue and the executor share a simulated clock: polling, fill delays and the
    time in force elapse in simulated seconds, so a run takes seconds of wall time with the same behaviour.
    """

    starting_cash: float = Field(10_000_000.0, gt=0)  # USD in the venue's account when its state is created
    max_participation: float = Field(0.10, gt=0, le=1)  # share of the bar's volume an order can fill
    fill_delay_seconds: float = Field(5.0, ge=0)  # acceptance to the first fill slice
    fill_duration_seconds: float = Field(20.0, ge=0)  # first to last fill slice
    fill_slices: int = Field(2, ge=1)  # fills an order's quantity arrives in
    not_shortable: tuple[str, ...] = ()  # tickers a short sale of is refused
    hard_to_borrow: tuple[str, ...] = ()  # tickers not easy to borrow: a short sale is refused
    virtual_time: bool = True  # polling and time in force run on a simulated clock (no real waiting)


class ExecutionConfig(Block):
    """Layer 6: paper or live, which broker, retries, the executor and the simulated venue."""

    mode: Literal["paper", "live"] = "paper"  # live also needs the operator's typed confirmation for the run
    broker: Literal["simulated", "alpaca"] = "simulated"  # who fills orders: the simulated venue, or Alpaca
    sync_on_startup: bool = True  # reconcile orders, fills and positions with the broker before trading
    retries: RetryConfig = RetryConfig()  # transient broker errors (the only retry policy of the config)
    # 429s are ridden out longer than other transient errors (they say "slow down", not "broken")
    rate_limit_retries: int = Field(10, ge=0)
    # lookups by client order id that settle an ambiguous submit (timeout, 5xx, dropped connection)
    order_lookup_attempts: int = Field(5, ge=1)
    request_timeout_seconds: float = Field(10.0, gt=0)  # one HTTP call to the broker
    short_check_cache_days: int = Field(7, ge=0, le=365)  # age (days) after which shortability is re-read
    executor: ExecutorConfig = ExecutorConfig()
    max_requests_per_minute: int = Field(200, ge=1, le=200)  # Alpaca's limit, over any 60 seconds
    slippage_window_days: int = Field(30, ge=1, le=3660)  # calendar days of fills in the slippage summary
    slippage_worst_n: int = Field(5, ge=0, le=1000)  # worst fills listed in the slippage summary
    simulated: SimulatedVenueConfig = SimulatedVenueConfig()
