"""Layer-6 executor overhead: a 500-order basket on the simulated venue with instant fills.

In a child process: 500 trades (250 buys, 250 short sales, one chunk each, $20-300 names) through the whole
per-trade flow — pre-trade veto on the running book, legs, ADV chunking, limit price, client order id, the
`SafeBroker` gateway, fill ledger and outcome records — against a `SimulatedBroker` (SQLite books, fills at
acceptance) on a manual clock. Time inside the venue is measured separately, so
``executor_overhead_seconds`` = run time - venue time is the executor's own cost (veto + chunking +
bookkeeping). Three repetitions on fresh venues; medians reported.

Baseline in the same run: the same 500 orders sent straight to the venue (no veto, no gateway, no ledger, no
records) — the floor any executor pays; the ratio is what the safety and bookkeeping cost on top.
Target: executor overhead < 1 s for the basket.
"""

from __future__ import annotations

from benchmarks.harness import Result, measure_stages

CHILD = r'''
import json, os, random, statistics, tempfile, time
from pathlib import Path
from meridian_assets.config import MeridianConfig
from meridian_assets.execution.settings import SimulatedVenueConfig
from meridian_assets.execution.broker import OrderRequest, client_order_id
from meridian_assets.execution.clock import ManualClock
from meridian_assets.execution.executor import ExecutionContext, Executor
from meridian_assets.execution.gateway import SafeBroker
from meridian_assets.execution.market import StaticBars
from meridian_assets.execution.planning import TradeIntent, legs, limit_price
from meridian_assets.execution.simulated import SimulatedBroker
from meridian_assets.risk.pre_trade import MarketInfo

N = 500
cfg = MeridianConfig()
venue_cfg = SimulatedVenueConfig(starting_cash=1e9, fill_delay_seconds=0, fill_duration_seconds=0, fill_slices=1)
rng = random.Random(42)
tickers = [f"T{i:03d}" for i in range(N)]
prices = {t: round(rng.uniform(20, 300), 2) for t in tickers}
intents = [TradeIntent(t, 0, (1 if i % 2 == 0 else -1) * rng.randint(100, 800), prices[t], 5e9, f"S{i % 11}", 1.0)
           for i, t in enumerate(tickers)]
market = MarketInfo(sector={i.ticker: i.sector for i in intents}, beta={t: 1.0 for t in tickers},
                    adv_usd={t: 5e9 for t in tickers})
RID = "rb-20240328-mvo-0a1b2c3d"

class Timed:
    """Wraps the venue and adds up the time spent inside it."""
    def __init__(self, inner):
        self.inner, self.name, self.seconds = inner, inner.name, 0.0
    def __getattr__(self, name):
        fn = getattr(self.inner, name)
        if not callable(fn):
            return fn
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds += time.perf_counter() - t
        return timed

def venue(tmp):
    clock = ManualClock()
    return SimulatedBroker(Path(tmp), venue_cfg, bars=StaticBars(prices, volume=5e7), clock=clock), clock

runs, venue_s, orders, statuses = [], [], [], None
for rep in range(3):
    with tempfile.TemporaryDirectory() as tmp:
        raw, clock = venue(tmp)
        timed = Timed(raw)
        broker = SafeBroker(timed, cfg.execution, sleep=clock.sleep, rng=random.Random(1))
        ctx = ExecutionContext(RID, 1e9, {}, market, cfg.risk)
        t = time.perf_counter()
        report = Executor(broker, cfg.execution, clock=clock).run(intents, ctx)
        runs.append(time.perf_counter() - t)
        venue_s.append(timed.seconds)
        orders.append(report.submitted)
        statuses = report.counts()
        raw.close()

naive = []
for rep in range(3):
    with tempfile.TemporaryDirectory() as tmp:
        raw, clock = venue(tmp)
        t = time.perf_counter()
        for i in intents:
            leg = legs(i.current, i.target)[0]
            raw.submit_order(OrderRequest(client_order_id(RID, i.ticker, 0, 0), i.ticker, leg.action.side, leg.qty,
                                          limit_price(i.price, leg.action.side, 0.001)))
        naive.append(time.perf_counter() - t)
        raw.close()

overhead = [r - v for r, v in zip(runs, venue_s)]
json.dump(dict(
    orders=orders[0], outcomes=statuses, run_median_seconds=statistics.median(runs),
    venue_median_seconds=statistics.median(venue_s), executor_overhead_seconds=statistics.median(overhead),
    overhead_per_order_ms=statistics.median(overhead) / N * 1e3, naive_submit_median_seconds=statistics.median(naive),
), open(os.environ["BENCH_OUT"], "w"))
'''


def run() -> Result:
    whole, stages = measure_stages(CHILD)
    nan = float("nan")
    overhead = stages.get("executor_overhead_seconds", nan)
    targets = {"executor_overhead_seconds": 1.0}
    return Result(
        name="execution_basket",
        description="Layer-6 executor, 500-order basket on the simulated venue with instant fills: veto + chunking "
                    "+ gateway + bookkeeping (venue time excluded); baseline: the same orders sent straight to the venue",
        measurements={"child_process": vars(whole), "stages": stages},
        targets=targets,
        passed={"executor_overhead_seconds": overhead <= targets["executor_overhead_seconds"],
                "every_order_filled": stages.get("outcomes", {}).get("FILLED") == stages.get("orders") == 500},
        ratios={"executor_run_over_naive_submits": round(stages.get("run_median_seconds", nan)
                                                         / stages.get("naive_submit_median_seconds", nan), 2)},
    )
