"""The analysis runner with the real anthropic SDK against the stub, on a small DuckDB: cache hits on re-run,
--force, TTL eviction, the cost ceiling reached mid-run (clean stop, results kept), the audit archive holding
every call, missing inputs, and a provider that keeps failing."""

import datetime as dt
import re

import duckdb
import polars as pl
import pytest

from meridian_assets.ingest.schemas import EARNINGS_TRANSCRIPTS
from meridian_assets.analysis.analyzers import EarningsAnalyzer
from meridian_assets.analysis.audit import AuditLog, utc_now
from meridian_assets.analysis.cache import AnalysisCache
from meridian_assets.analysis.client import Prompt, build_client
from meridian_assets.analysis.costs import CostTracker
from meridian_assets.analysis.runner import CEILING, COMPLETED, PROVIDER_ERRORS, run_analyzer
from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.analysis.store import Store
from meridian_assets.analysis.structured import answer_schema
from meridian_assets.storage import replace_all
from tests.stubs.llm_server import LLMStub, Reply, analyst_responder
from tests.conftest import fake_credential

KEY = fake_credential("test-runner-")
AS_OF = dt.date(2024, 3, 28)
TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE"]  # EEE has no transcript


@pytest.fixture(scope="module")
def stub():
    with LLMStub(api_key=KEY, responder=analyst_responder) as s:
        yield s


@pytest.fixture
def world(tmp_path, stub, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    stub.clear()
    db = tmp_path / "m.duckdb"
    rows = [{"ticker": t, "event_date": dt.date(2024, 2, 1), "fiscal_period": "2024-Q1", "transcript_id": f"T-{t}",
             "text": f"{t} Corp. earnings call. We delivered a record quarter." * 20, "n_chars": 1000,
             "known_at": dt.date(2024, 2, 2)} for t in TICKERS[:-1]]
    conn = duckdb.connect(str(db))
    replace_all(conn, EARNINGS_TRANSCRIPTS, pl.DataFrame(rows))
    conn.close()
    candidates = pl.DataFrame({"ticker": TICKERS, "sector": ["Tech"] * 5, "name": TICKERS,
                               "composite": [90.0, 80, 70, 20, 10]})
    return stub, db, candidates


def analyse(world, run_id="run-1", cfg=None, force=False, now=None, tracker=None, **cfg_over):
    stub, db, candidates = world
    cfg = cfg or AnalysisConfig(max_concurrency=1, **cfg_over)
    analyzer = EarningsAnalyzer()
    conn = duckdb.connect(str(db), read_only=True)
    inputs = analyzer.load(conn, candidates, AS_OF, cfg)
    conn.close()
    store = Store.for_path(db, flush_seconds=1.0)
    audit = AuditLog(store, run_id)
    tracker = tracker or CostTracker("analysis", cfg.cost_ceiling_usd, cfg.pricing, spent_usd=audit.spent("analysis"))
    llm = build_client("anthropic", "claude-sonnet-4-6", base_url=stub.anthropic_url, max_retries=cfg.max_retries)
    run = run_analyzer(analyzer, inputs, llm=llm, tracker=tracker, audit=audit, cache=AnalysisCache(store, 30),
                       cfg=cfg, as_of=AS_OF, force=force, now=now)
    return run, tracker, audit


def table(db, sql) -> pl.DataFrame:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.sql(sql).pl()
    finally:
        conn.close()


def test_results_are_cached_and_a_rerun_makes_no_call(world):
    stub, db, _ = world
    run, tracker, _ = analyse(world)
    assert (run.status, run.ok, run.no_input, run.cache_hits) == (COMPLETED, 4, 1, 0)
    assert len(stub.calls()) == 4 and tracker.calls == 4
    results = table(db, "SELECT * FROM analysis_results ORDER BY ticker")
    assert results["ticker"].to_list() == TICKERS[:-1] and (results["status"] == "ok").all()
    assert results["artifact_id"].to_list() == [f"T-{t}" for t in TICKERS[:-1]]
    assert results["score"].to_list() == [pytest.approx(100 * (41 / 6 - 1) / 9)] * 4

    again, tracker2, _ = analyse(world, run_id="run-2")
    assert (again.cache_hits, again.ok, tracker2.calls) == (4, 0, 0)
    assert len(stub.calls()) == 4  # zero new calls
    assert again.cache_hit_rate == 1.0

    forced, _, _ = analyse(world, run_id="run-3", force=True)
    assert (forced.cache_hits, forced.ok) == (0, 4) and len(stub.calls()) == 8
    assert table(db, "SELECT count(*) n FROM analysis_results")["n"][0] == 4  # replaced, not duplicated


def test_entries_past_the_ttl_are_evicted_and_asked_again(world):
    stub, db, _ = world
    analyse(world)
    conn = duckdb.connect(str(db))
    conn.execute("UPDATE analysis_results SET created_at = created_at - INTERVAL 31 DAY WHERE ticker IN ('AAA', 'BBB')")
    conn.close()
    cache = AnalysisCache(Store.for_path(db), ttl_days=30)
    assert cache.evict_expired(utc_now()) == 2
    assert sorted(table(db, "SELECT ticker FROM analysis_results")["ticker"].to_list()) == ["CCC", "DDD"]
    stub.clear()
    run, _, _ = analyse(world, run_id="run-2")
    assert (run.cache_hits, run.ok) == (2, 2)
    assert sorted(re.search(r"\((\w+)\)", r.user_text()).group(1) for r in stub.calls()) == ["AAA", "BBB"]
    assert cache.evict_expired(utc_now() + dt.timedelta(days=31)) == 4  # everything, a month on


def test_cost_ceiling_mid_run_stops_cleanly_and_keeps_results(world):
    stub, db, candidates = world
    cfg = AnalysisConfig(max_concurrency=1)
    conn = duckdb.connect(str(db), read_only=True)
    inp = EarningsAnalyzer().load(conn, candidates, AS_OF, cfg)["AAA"]
    conn.close()
    system, user = EarningsAnalyzer().prompt(inp)
    worst = CostTracker("analysis", 1, cfg.pricing).worst_case(
        "claude-sonnet-4-6", Prompt(system, user, cfg.max_tokens, answer_schema(EarningsAnalyzer.answer_model)))
    # each call really costs (1000 * 3 + 200 * 15) / 1e6 = $0.006 << worst case; room for two reservations
    ceiling = 0.012 + worst * 0.99
    run, tracker, audit = analyse(world, cfg=AnalysisConfig(max_concurrency=1, cost_ceiling_usd=ceiling))
    assert run.status == CEILING and "cost ceiling" in run.message
    assert (run.ok, run.not_started, run.no_input) == (2, 2, 1)
    assert len(stub.calls()) == 2 and tracker.spent_usd == pytest.approx(0.012) and tracker.spent_usd <= ceiling
    kept = table(db, "SELECT ticker, status FROM analysis_results ORDER BY ticker")
    assert kept["ticker"].to_list() == ["AAA", "BBB"] and (kept["status"] == "ok").all()
    assert audit.calls()["status"].to_list() == ["ok", "ok"]

    # a later step of the same run starts from what the run spent: the ceiling is per run, not per step
    later, tracker2, _ = analyse(world, cfg=AnalysisConfig(max_concurrency=1, cost_ceiling_usd=ceiling), force=True)
    assert later.status == CEILING and tracker2.prior_usd == pytest.approx(0.012) and len(stub.calls()) == 2


def test_the_audit_archive_holds_every_call_ok_invalid_and_failed(world):
    stub, db, _ = world
    stub.script(analyst_responder_for("record_earnings"), Reply.text("no idea"), Reply.error(529),
                Reply.prose(ANSWER_EARNINGS))
    run, tracker, audit = analyse(world, max_retries=0)
    assert (run.ok, run.invalid, run.errors) == (2, 1, 1)
    calls = audit.calls()
    assert calls.height == 4 == len(stub.calls())
    assert sorted(calls["status"].to_list()) == ["error", "invalid", "ok", "ok"]
    assert calls.filter(pl.col("status") == "error")["cost_usd"][0] == 0
    assert calls["cost_usd"].sum() == pytest.approx(tracker.spent_usd)
    results = table(db, "SELECT * FROM analysis_results")
    invalid = results.filter(pl.col("status") == "invalid").row(0, named=True)
    assert invalid["score"] is None and invalid["result_json"] == "no idea" and "no JSON" in invalid["error"]
    # every kept result points at the archived call that produced it
    assert set(results["call_id"]) <= set(calls["call_id"])


def test_a_provider_that_keeps_failing_stops_the_analyzer(world):
    stub, _, _ = world
    stub.script(*[Reply.error(500) for _ in range(10)])
    run, tracker, _ = analyse(world, max_retries=0, max_consecutive_errors=2)
    assert run.status == PROVIDER_ERRORS and run.errors == 2 and run.not_started == 2
    assert len(stub.calls()) == 2 and tracker.spent_usd == 0


ANSWER_EARNINGS = {"management_confidence": 5, "revenue_guidance": 5, "margin_trajectory": 5,
                   "competitive_position": 5, "risk_factors": 5, "capital_allocation": 5, "bull_case": "b",
                   "bear_case": "b", "key_quotes": [], "summary": "s"}


def analyst_responder_for(tool: str) -> Reply:
    return Reply.tool(ANSWER_EARNINGS if tool == "record_earnings" else {})
