"""Ingestion: the full ~500-name × 3-year backfill of Layer 1 as one Dagster run, on the embedded market.

Baseline in the same run: the same provider calls written straight into DuckDB with no Dagster (so the
ratio is the cost of the orchestration, checks and metadata). Targets: under 60 s and under 2 GB.
"""

from __future__ import annotations

import tempfile

from benchmarks.harness import Result, measure

FULL_BACKFILL = """
import os, datetime as dt
from meridian_assets.cli.data import select_assets
from meridian_assets.ingest.partitions import history_window
from meridian_assets.cli.runner import prepare_instance, run_assets
from meridian_assets.config import get_config
from meridian_assets.definitions import build_definitions
cfg = get_config()
start, end = history_window(cfg)
from meridian_assets.cli.runner import progress_logger
res = run_assets(build_definitions(loggers={"progress": progress_logger}), "ingest_job", select_assets(False, False, None), start, end,
                 op_config={"universe": {"force": True}}, instance=prepare_instance(), log_level="WARNING")
assert res.success, "ingest run failed"
"""

PLAIN_BASELINE = """
import datetime as dt, duckdb
from meridian_assets.ingest.partitions import history_window
from meridian_assets.config import get_config
from meridian_assets.ingest import schemas as S
from meridian_assets.ingest.providers import provider_for
from meridian_assets.storage import replace_all, replace_window
cfg = get_config()
start, end = history_window(cfg)
p = provider_for("prices", cfg)
conn = duckdb.connect(os.environ["MERIDIAN_HOME"] + "/plain.duckdb")
u = p.universe(end); replace_all(conn, S.UNIVERSE, u)
stocks = u.filter(~u["is_benchmark"])["ticker"].to_list(); allt = u["ticker"].to_list()
calls = [(S.DAILY_PRICES, p.daily_prices(allt, start, end)), (S.CORPORATE_ACTIONS, p.corporate_actions(stocks, start, end)),
         (S.FUNDAMENTALS_RAW, p.fundamentals(stocks, start, end)),
         (S.SEC_FILINGS, p.sec_filings(stocks, start, end, list(cfg.sec.forms))),
         (S.INSIDER_TRANSACTIONS, p.insider_transactions(stocks, start, end)),
         (S.INSTITUTIONAL_HOLDINGS, p.institutional_holdings([(f.name, f.cik) for f in cfg.sec.tracked_funds], stocks, start, end)),
         (S.SHORT_INTEREST, p.short_interest(stocks, start, end)), (S.ANALYST_ESTIMATES, p.analyst_estimates(stocks, start, end)),
         (S.EARNINGS_CALENDAR, p.earnings_calendar(stocks, start, end)), (S.EARNINGS_TRANSCRIPTS, p.earnings_transcripts(stocks, start, end)),
         (S.MACRO_SERIES, p.macro_series(list(cfg.macro_series), start, end))]
for schema, r in calls:
    replace_window(conn, schema, r.frame, start, end)
conn.close()
"""


def run() -> Result:
    with tempfile.TemporaryDirectory() as home:
        env = {"MERIDIAN_HOME": home, "DAGSTER_HOME": f"{home}/dagster"}
        plain = measure("import os\n" + PLAIN_BASELINE, env)
    with tempfile.TemporaryDirectory() as home:
        env = {"MERIDIAN_HOME": home, "DAGSTER_HOME": f"{home}/dagster"}
        full = measure(FULL_BACKFILL, env)
    targets = {"wall_seconds": 60.0, "peak_rss_mb": 2048.0}
    return Result(
        name="ingest_backfill",
        description="Layer-1 backfill, ~500 names x 3 years, embedded market, one Dagster run vs plain provider+DuckDB",
        measurements={"dagster_backfill": vars(full), "plain_provider_to_duckdb": vars(plain)},
        targets=targets,
        passed={"wall_seconds": full.wall_seconds < targets["wall_seconds"],
                "peak_rss_mb": full.peak_rss_mb < targets["peak_rss_mb"]},
        ratios={"dagster_over_plain_wall": round(full.wall_seconds / plain.wall_seconds, 2)
                if plain.wall_seconds == plain.wall_seconds and plain.wall_seconds > 0 else float("nan")},
    )
