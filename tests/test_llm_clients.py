"""The real anthropic and openai SDKs against the loopback stub, through `ask_structured`: the three JSON
shapes and invalid answers, 429 and 529 retries, request shape (cache_control, forced tool, json_schema),
usage and cost, refused keys, and the audit row of every call."""

import json

import polars as pl
import pytest

from meridian_assets.analysis.analyzers.insider import InsiderAnswer
from meridian_assets.analysis.audit import AuditLog
from meridian_assets.analysis.client import build_client
from meridian_assets.analysis.costs import CostTracker
from meridian_assets.analysis.errors import LLMAuthError, LLMCallError
from meridian_assets.analysis.schemas import LLM_CALLS
from meridian_assets.analysis.service import structured_llm
from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.analysis.store import Store
from meridian_assets.analysis.structured import ask_structured
from tests.stubs.llm_server import LLMStub, Reply
from tests.conftest import fake_credential

KEY = fake_credential("test-")
ANSWER = {"signal_strength": "BUY", "confidence": 0.7, "cluster_detected": True, "reasoning": "Three officers bought.",
          "summary": "Cluster buying."}
MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4o-mini"}
PRICING = AnalysisConfig().pricing


@pytest.fixture(scope="module")
def stub():
    with LLMStub(api_key=KEY, echo_key=True) as s:
        yield s


@pytest.fixture
def env(stub, monkeypatch, tmp_path):
    stub.clear()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    store = Store.for_path(tmp_path / "audit.duckdb")
    return stub, AuditLog(store, "run-1"), CostTracker("analysis", 5.0, PRICING)


def client(stub, provider, retries=2):
    url = stub.anthropic_url if provider == "anthropic" else stub.openai_url
    return build_client(provider, MODELS[provider], base_url=url, max_retries=retries)


def ask(llm, tracker, audit, **kw):
    return ask_structured(llm, task="insider", system="You read Form 4s.", user="Transactions: ...",
                          answer_model=kw.pop("answer_model", InsiderAnswer), tracker=tracker, audit=audit,
                          subject="AAA", artifact_id="form4-1", max_tokens=500, **kw)


def archived(audit: AuditLog) -> pl.DataFrame:
    return audit.calls()


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
@pytest.mark.parametrize("shape", ["tool", "raw", "fenced", "prose"])
def test_json_in_every_shape_is_validated_and_archived(env, provider, shape):
    stub, audit, tracker = env
    stub.script(getattr(Reply, shape)(ANSWER, input_tokens=1200, output_tokens=300))
    ans = ask(client(stub, provider), tracker, audit)
    assert ans.ok and isinstance(ans.value, InsiderAnswer) and ans.value.cluster_detected is True
    price = PRICING[MODELS[provider]]
    assert ans.cost_usd == pytest.approx((1200 * price.input + 300 * price.output) / 1e6)
    row = archived(audit).row(0, named=True)
    assert (row["status"], row["task"], row["subject"], row["provider"]) == ("ok", "insider", "AAA", provider)
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (1200, 300, pytest.approx(ans.cost_usd))
    assert row["user_prompt"] == "Transactions: ..." and json.loads(row["params_json"])["max_tokens"] == 500
    assert json.loads(row["output"] if shape == "tool" and provider == "anthropic" else
                      json.dumps(ans.value.model_dump())) == ans.value.model_dump()


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_invalid_answers_are_recorded_as_invalid_never_used(env, provider):
    stub, audit, tracker = env
    stub.script(Reply.text("I would rather not say."), Reply.fenced({**ANSWER, "signal_strength": "MAYBE"}))
    first, second = ask(client(stub, provider), tracker, audit), ask(client(stub, provider), tracker, audit)
    assert (first.status, first.value, second.status, second.value) == ("invalid", None, "invalid", None)
    assert "no JSON object" in first.error and "signal_strength" in second.error
    rows = archived(audit)
    assert rows["status"].to_list() == ["invalid", "invalid"]
    assert rows["output"][0] == "I would rather not say." and "signal_strength" in rows["error"][1]
    assert tracker.calls == 2  # invalid answers are still paid for and counted


def test_anthropic_request_caches_the_system_prompt_and_forces_the_tool(env):
    stub, audit, tracker = env
    stub.script(Reply.tool(ANSWER))
    ask(client(stub, "anthropic"), tracker, audit)
    req = stub.calls("anthropic")[0]
    body = req.json()
    assert body["system"] == [{"type": "text", "text": "You read Form 4s.", "cache_control": {"type": "ephemeral"}}]
    assert body["tool_choice"] == {"type": "tool", "name": "record_insider"}
    assert body["tools"][0]["input_schema"]["properties"]["signal_strength"]["enum"][0] == "STRONG_BUY"
    assert req.header("authorization") == f"Bearer {KEY}"


def test_openai_request_asks_for_the_json_schema(env):
    stub, audit, tracker = env
    stub.script(Reply.raw(ANSWER))
    ask(client(stub, "openai"), tracker, audit)
    body = stub.calls("openai")[0].json()
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "record_insider"
    assert body["messages"][0] == {"role": "system", "content": "You read Form 4s."}
    assert body["max_completion_tokens"] == 500 and body["temperature"] == 0.0


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
@pytest.mark.parametrize("status", [429, 529, 500])
def test_rate_limits_and_overload_are_retried_then_succeed(env, provider, status):
    stub, audit, tracker = env
    stub.script(Reply.error(status), Reply.tool(ANSWER))
    ans = ask(client(stub, provider), tracker, audit)
    assert ans.ok
    reqs = stub.calls(provider)
    assert [r.status for r in reqs] == [status, 200]
    assert reqs[1].header("x-stainless-retry-count") == "1"
    assert archived(audit).height == 1  # one logical call, archived once


def test_overload_that_outlasts_the_retries_fails_typed_and_is_archived(env):
    stub, audit, tracker = env
    stub.script(*[Reply.error(529) for _ in range(3)])
    with pytest.raises(LLMCallError, match="529") as err:
        ask(client(stub, "anthropic", retries=2), tracker, audit)
    assert err.value.retryable and err.value.status == 529
    assert len(stub.calls()) == 3
    row = archived(audit).row(0, named=True)
    assert row["status"] == "error" and "overloaded" in row["error"] and row["cost_usd"] == 0
    assert tracker.spent_usd == 0 and tracker.calls == 0  # nothing billed, the reservation released


def test_a_refused_key_is_an_auth_error_and_never_stored(env, monkeypatch):
    stub, audit, tracker = env
    wrong = fake_credential("test-wrong-")
    monkeypatch.setenv("ANTHROPIC_API_KEY", wrong)
    with pytest.raises(LLMAuthError, match="ANTHROPIC_API_KEY") as err:
        ask(client(stub, "anthropic"), tracker, audit)
    assert wrong not in str(err.value) and "[redacted]" in str(err.value)
    row = archived(audit).row(0, named=True)
    assert row["status"] == "error" and wrong not in row["error"]


def test_prompt_cache_usage_is_priced_at_cache_rates(env):
    stub, audit, tracker = env
    stub.script(Reply.tool(ANSWER, input_tokens=100, output_tokens=50, cache_read=2000, cache_write=0),
                Reply.raw(ANSWER, input_tokens=100, output_tokens=50, cache_read=2000))
    a = ask(client(stub, "anthropic"), tracker, audit)
    assert a.cost_usd == pytest.approx((100 * 3.0 + 50 * 15.0 + 2000 * 0.30) / 1e6)
    o = ask(client(stub, "openai"), tracker, audit)  # OpenAI reports cached tokens inside prompt_tokens
    assert (o.usage.input_tokens, o.usage.cache_read_tokens) == (100, 2000)
    assert tracker.summary()["prompt_cache_hit_rate"] == round(4000 / 4200, 4)


def test_service_callable_for_other_layers(env, tmp_path):
    stub, _, _ = env
    from dataclasses import dataclass

    @dataclass
    class Request:  # the shape the reporting layer sends
        task: str
        provider: str
        model: str
        system: str
        user: str
        schema: dict
        max_tokens: int = 400
        cost_ceiling_usd: float | None = None

    schema = {"type": "object", "required": ["paragraph"], "properties": {"paragraph": {"type": "string"}}}
    stub.script(Reply.fenced({"paragraph": "The network held its course."}), Reply.text("no json"))
    db = tmp_path / "service.duckdb"
    llm = structured_llm("anthropic", run_id="weekly-1", database=db)
    import os

    os.environ["ANTHROPIC_BASE_URL"] = stub.anthropic_url
    try:
        ok = llm(Request("weekly_commentary", "anthropic", "claude-sonnet-4-6", "persona", "{}", schema))
        bad = llm(Request("weekly_commentary", "anthropic", "claude-sonnet-4-6", "persona", "{}", schema))
        capped = llm(Request("weekly_commentary", "anthropic", "claude-sonnet-4-6", "persona", "{}", schema,
                             cost_ceiling_usd=0.0001))
    finally:
        del os.environ["ANTHROPIC_BASE_URL"]
    assert ok.content == {"paragraph": "The network held its course."} and ok.error is None and ok.cost_usd > 0
    assert bad.content is None and "invalid answer" in bad.error
    assert capped.content is None and "cost ceiling" in capped.error and len(stub.calls()) == 2
    rows = AuditLog(Store.for_path(db), "weekly-1").calls()
    assert rows["budget"].to_list() == ["reporting", "reporting"] and rows["status"].to_list() == ["ok", "invalid"]
    assert set(LLM_CALLS.columns) == set(rows.columns)
