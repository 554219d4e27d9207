"""Ask ULTRON against the loopback LLM stub through the real anthropic client: six-turn memory, the $2
session ceiling, every call archived in `llm_calls` (the desk's chat file, merged into the live table by the
next publish), and no key -> a plain sentence, no call."""

import duckdb
import pytest

from meridian_assets.config import load_config
from meridian_assets.desk.chat import ChatSession
from meridian_assets.serving.publish import chat_calls_path, publish_snapshot
from tests.conftest import fake_credential, query
from tests.stubs.llm_server import LLMStub, Reply

KEY = fake_credential()
CEILING = 0.012


@pytest.fixture
def stub(meridian_home, monkeypatch):
    with LLMStub(api_key=KEY) as s:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.anthropic_url)
        yield s


def session(home) -> ChatSession:
    return ChatSession(load_config(str(home / "meridian.yaml")), context='{"kpis":{"nav":1000000}}')


def test_six_turn_memory_and_every_call_archived(meridian_home, stub):
    chat = session(meridian_home)
    for i in range(8):
        stub.script(Reply.text(f"answer {i}"))
        assert chat.ask(f"question {i}?") == f"answer {i}"
    last = stub.calls()[-1].json()
    prompt = last["messages"][-1]["content"]
    prompt = prompt if isinstance(prompt, str) else "".join(b.get("text", "") for b in prompt)
    assert "question 7?" in prompt and "question 1?" in prompt and "question 0?" not in prompt  # 6 earlier turns
    system = last["system"] if isinstance(last["system"], str) else "".join(b["text"] for b in last["system"])
    assert "the network" in system and '"nav":1000000' in system
    rows = query(chat_calls_path(meridian_home), "SELECT * FROM llm_calls ORDER BY created_at")
    assert rows.height == 8 and set(rows["run_id"]) == {chat.session_id} and set(rows["budget"]) == {"chat"}
    assert rows["cost_usd"].sum() == pytest.approx(chat.spent_usd)
    # the next publish merges the chat's calls into the live llm_calls (once)
    live = meridian_home / "meridian.duckdb"
    for _ in range(2):
        conn = duckdb.connect(str(live))
        publish_snapshot(conn, live, meridian_home)
        conn.close()
    assert query(live, "SELECT count(*) AS n FROM llm_calls")["n"][0] == 8


def test_the_session_ceiling_stops_calls(meridian_home, stub):
    chat = session(meridian_home)
    chat.cfg = chat.cfg.model_copy(update={"analysis": chat.cfg.analysis.model_copy(
        update={"chat_cost_ceiling_usd": CEILING})})
    answers = []
    for i in range(6):
        reply = Reply.text(f"answer {i}")
        reply.output_tokens = 1000  # each answer bills about half a cent
        stub.script(reply)
        answers.append(chat.ask(f"question {i}?"))
    assert answers[0] == "answer 0"
    refused = [a for a in answers if a.startswith("ULTRON could not answer")]
    assert refused and "ceiling" in refused[0].lower(), answers
    assert answers[-1] == refused[-1]  # once reached, every later question is refused without a call
    calls = query(chat_calls_path(meridian_home), "SELECT count(*) AS n, sum(cost_usd) AS usd FROM llm_calls")
    assert calls["usd"][0] <= CEILING + 1e-9 and calls["n"][0] == len(stub.calls()) == 6 - len(refused)


def test_without_a_key_the_chat_says_so_and_calls_nothing(meridian_home, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with LLMStub() as s:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.anthropic_url)
        answer = session(meridian_home).ask("How is the network?")
        assert answer.startswith("ULTRON is offline") and "ANTHROPIC_API_KEY" in answer
        assert s.calls() == []
