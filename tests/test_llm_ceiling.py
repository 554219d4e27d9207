"""The hard cost ceiling and the analysis cache against the loopback stub, through the real anthropic and
openai SDKs: a provider that bills more input than a characters-per-token guess (digits, tables, the tool-use
instructions) and answers up to max_tokens never takes a run past its ceiling, and the stop message gives the
final total; a forced re-run whose answer is invalid keeps the earlier valid result."""

from __future__ import annotations

import datetime as dt
import math
import re

import duckdb
import polars as pl
import pytest

from meridian_assets.ingest.schemas import EARNINGS_TRANSCRIPTS
from meridian_assets.analysis.analyzers import EarningsAnalyzer
from meridian_assets.analysis.audit import AuditLog
from meridian_assets.analysis.cache import AnalysisCache
from meridian_assets.analysis.client import Prompt, build_client
from meridian_assets.analysis.costs import CostTracker, price_for, prompt_chars
from meridian_assets.analysis.runner import CEILING, COMPLETED, run_analyzer
from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.analysis.store import Store
from meridian_assets.analysis.structured import answer_schema
from meridian_assets.storage import replace_all
from tests.conftest import fake_credential
from tests.stubs.llm_server import LLMStub, Reply, StubRequest, analyst_responder

KEY = fake_credential("test-ceiling-")
AS_OF = dt.date(2024, 3, 28)
TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4o-mini"}
MAX_TOKENS = 300


def dense_billing(req: StubRequest) -> Reply:
    """A valid answer billed like a dense prompt: one input token per two bytes of the request plus the
    tool-use instructions, and every output token the request allowed."""
    reply = analyst_responder(req)
    body = req.json()
    reply.input_tokens = len(req.body) // 2 + 350
    reply.output_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens"))
    return reply


@pytest.fixture(scope="module")
def stub():
    with LLMStub(api_key=KEY, responder=dense_billing) as s:
        yield s


@pytest.fixture
def world(tmp_path, stub, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    stub.clear()
    db = tmp_path / "m.duckdb"
    # figures-heavy transcripts: digits and tables tokenize far denser than prose
    rows = [{"ticker": t, "event_date": dt.date(2024, 2, 1), "fiscal_period": "2024-Q1", "transcript_id": f"T-{t}",
             "text": f"{t} Corp. Q1: revenue 1,234.5 (+7.9%), EBITDA 456.7, EPS 1.23/1.19, FCF 98.7. " * 30,
             "n_chars": 2400, "known_at": dt.date(2024, 2, 2)} for t in TICKERS]
    conn = duckdb.connect(str(db))
    replace_all(conn, EARNINGS_TRANSCRIPTS, pl.DataFrame(rows))
    conn.close()
    candidates = pl.DataFrame({"ticker": TICKERS, "sector": ["Tech"] * 6, "name": TICKERS,
                               "composite": [90.0, 80, 70, 30, 20, 10]})
    return stub, db, candidates


def analyse(world, provider="anthropic", run_id="run-1", force=False, **cfg_over):
    stub, db, candidates = world
    cfg = AnalysisConfig(max_concurrency=1, max_tokens=MAX_TOKENS, **cfg_over)
    analyzer = EarningsAnalyzer()
    conn = duckdb.connect(str(db), read_only=True)
    inputs = analyzer.load(conn, candidates, AS_OF, cfg)
    conn.close()
    store = Store.for_path(db)
    audit = AuditLog(store, run_id)
    tracker = CostTracker("analysis", cfg.cost_ceiling_usd, cfg.pricing, spent_usd=audit.spent("analysis"))
    url = stub.anthropic_url if provider == "anthropic" else stub.openai_url
    llm = build_client(provider, MODELS[provider], base_url=url, max_retries=0)
    run = run_analyzer(analyzer, inputs, llm=llm, tracker=tracker, audit=audit, cache=AnalysisCache(store, 30),
                       cfg=cfg, as_of=AS_OF, force=force)
    return run, tracker, audit, inputs


def table(db, sql) -> pl.DataFrame:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.sql(sql).pl()
    finally:
        conn.close()


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_the_ceiling_holds_when_the_bill_beats_a_chars_per_token_guess(world, provider):
    stub, db, _ = world
    # what one call really costs here (every subject's prompt has the same length)
    probe, _, probe_audit, inputs = analyse(world, provider, run_id="probe")
    assert probe.status == COMPLETED and probe.ok == len(TICKERS)
    actual = float(probe_audit.calls()["cost_usd"][0])
    # a ceiling that a guess of 3 characters per token would let the third call cross
    system, user = EarningsAnalyzer().prompt(inputs["AAA"])
    price = price_for(AnalysisConfig().pricing, MODELS[provider])
    prompt = Prompt(system, user, MAX_TOKENS, answer_schema(EarningsAnalyzer.answer_model))
    guess = (math.ceil(prompt_chars(prompt) / 3) * max(price.input, price.cache_write)
             + MAX_TOKENS * price.output) / 1e6
    assert guess < actual  # the provider bills more than the guess
    ceiling = 2 * actual + (guess + actual) / 2
    stub.clear()
    run, tracker, audit, _ = analyse(world, provider, run_id="capped", force=True, cost_ceiling_usd=ceiling)
    calls = audit.calls()
    assert run.status == CEILING and 0 < calls.height < len(TICKERS)
    billed = float(calls["cost_usd"].sum())
    assert billed == pytest.approx(tracker.spent_usd) and billed <= ceiling
    assert billed == pytest.approx(calls.height * actual)
    # the stop message gives the final total of the run
    total = re.search(r"\$(\d+\.\d{4}) spent this run in total", run.message)
    assert total and float(total.group(1)) == pytest.approx(billed, abs=1e-4)
    assert tracker.reserved_usd == pytest.approx(0.0, abs=1e-12)  # every unused reservation was released


def test_a_forced_rerun_with_an_invalid_answer_keeps_the_valid_result(world):
    stub, db, _ = world
    first, _, _, _ = analyse(world)
    assert first.ok == len(TICKERS)
    before = table(db, "SELECT result_id, status, call_id, score FROM analysis_results ORDER BY result_id")
    stub.script(*[Reply.text("I cannot score this call.") for _ in TICKERS])
    again, _, audit, _ = analyse(world, run_id="run-2", force=True)
    assert again.invalid == len(TICKERS) and again.ok == 0
    after = table(db, "SELECT result_id, status, call_id, score FROM analysis_results ORDER BY result_id")
    assert after.equals(before) and (after["status"] == "ok").all()
    assert all("earlier valid result is kept" in m for m in again.error_messages)
    # the invalid answers are archived, never used
    assert audit.calls()["status"].to_list() == ["invalid"] * len(TICKERS)
    # an artifact with no valid result yet does keep its invalid row (so it is asked again next time)
    conn = duckdb.connect(str(db))
    conn.execute("DELETE FROM analysis_results WHERE ticker = 'AAA'")
    conn.close()
    stub.script(Reply.text("still no JSON"))
    third, _, _, _ = analyse(world, run_id="run-3")
    assert (third.invalid, third.cache_hits) == (1, len(TICKERS) - 1)
    assert table(db, "SELECT status FROM analysis_results WHERE ticker = 'AAA'")["status"].to_list() == ["invalid"]
