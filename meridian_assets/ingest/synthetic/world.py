"""One simulated world per (seed, n_tickers, epoch, horizon year), cached in-process.

The horizon is the end of the requested year plus a ~100-day buffer; every value on a date is identical in
every world that contains the date (day-keyed draws, causal recursions), so which world serves a request
does not matter. Derived tables are built once per world, on first use.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property, lru_cache

import numpy as np

from meridian_assets.ingest.synthetic.common import Clock, all_sessions, make_clock
from meridian_assets.ingest.synthetic.market import Core, simulate
from meridian_assets.ingest.synthetic.prices import Bars, build_bars
from meridian_assets.ingest.synthetic.schedule import Schedule, build_schedule, react_mask
from meridian_assets.ingest.synthetic.universe import Static, build_static


class World:
    def __init__(self, seed: int, n_tickers: int, epoch: dt.date, horizon_year: int):
        self.seed, self.n_tickers, self.horizon_year = seed, n_tickers, horizon_year
        self.static: Static = build_static(seed, n_tickers, epoch)
        self.clock: Clock = make_clock(epoch, horizon_year)
        self.epoch_session: dt.date = self.clock.dates[0].item()
        self.schedule: Schedule = build_schedule(self.static, self.clock, horizon_year)
        react = react_mask(self.schedule, self.clock, self.static.N)
        self.core: Core = simulate(self.static, self.clock.T, react)
        self.bars: Bars = build_bars(self.static, self.clock, self.core, react, horizon_year)

    # ---- derived tables (built lazily, once)
    @cached_property
    def corporate_actions(self):
        from meridian_assets.ingest.synthetic.prices import corporate_actions_frame

        return corporate_actions_frame(self.static, self.clock, self.bars)

    @cached_property
    def fundamentals(self):
        from meridian_assets.ingest.synthetic.fundamentals import build_fundamentals

        return build_fundamentals(self)

    @cached_property
    def estimates(self):
        from meridian_assets.ingest.synthetic.estimates import build_estimates

        return build_estimates(self)

    @cached_property
    def short_interest(self):
        from meridian_assets.ingest.synthetic.estimates import build_short_interest

        return build_short_interest(self)

    @cached_property
    def calendar(self):
        from meridian_assets.ingest.synthetic.estimates import earnings_calendar_frame

        return earnings_calendar_frame(self)

    @cached_property
    def insiders(self):
        from meridian_assets.ingest.synthetic.insiders import build_insiders

        return build_insiders(self)

    @cached_property
    def filings(self):
        from meridian_assets.ingest.synthetic.filings import build_filings

        return build_filings(self)

    @cached_property
    def transcripts(self):
        from meridian_assets.ingest.synthetic.filings import transcript_index

        return transcript_index(self)

    @cached_property
    def macro(self):
        from meridian_assets.ingest.synthetic.macro import build_macro

        return build_macro(self)

    def holdings(self, funds: tuple[tuple[str, int], ...]):
        from meridian_assets.ingest.synthetic.holdings import build_holdings

        key = tuple(funds)
        cache = self.__dict__.setdefault("_holdings", {})
        if key not in cache:
            cache[key] = build_holdings(self, key)
        return cache[key]

    # ---- helpers
    def t_range(self, start: dt.date, end: dt.date) -> tuple[int, int]:
        """Sim indices [lo, hi) of the sessions in [start, end] (clipped to the simulation)."""
        s = all_sessions()
        lo = int(np.searchsorted(s, np.datetime64(start, "D"), "left")) - self.clock.g0
        hi = int(np.searchsorted(s, np.datetime64(end, "D"), "right")) - self.clock.g0
        return max(lo, 0), min(max(hi, 0), self.clock.T)


@lru_cache(maxsize=2)  # a fully derived 500-name world holds ~0.5 GB
def get_world(seed: int, n_tickers: int, epoch: dt.date, horizon_year: int) -> World:
    return World(seed, n_tickers, epoch, horizon_year)
