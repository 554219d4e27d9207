"""The weekly summary goes through the house-voice check of the commentary and the letter: the real openai and
anthropic SDKs against the loopback stub, through `llm_bridge` and the LLM layer. Flags are recorded with the
summary (never blocking); a summary in the house voice has none."""

from __future__ import annotations

import datetime as dt

import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.reporting import llm_bridge, weekly
from tests.conftest import fake_credential
from tests.stubs.llm_server import LLMStub, Reply

MON, FRI = dt.date(2024, 3, 18), dt.date(2024, 3, 22)
CONTEXT = {"week": {"start": MON.isoformat(), "end": FRI.isoformat(), "sessions": 5},
           "portfolio": {"week_return_bps": -42.0}, "decisions": {"rebalances": 1}}
CLEAN = {"headline": "The network gave back 42 bps in the week.", "bullets": ["One rebalance.", "Gross 150%."],
         "risks": ["VIX above 25."], "actions": ["Review the veto."]}
OFF_VOICE = {"headline": "We believe our book is strong!", "bullets": ["One rebalance.", "Gross 150%."],
             "risks": ["In our view the VIX is high."], "actions": ["Review the veto."]}


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_the_weekly_summary_is_voice_checked_like_the_commentary_and_the_letter(monkeypatch, tmp_path, provider):
    key = fake_credential("test-voice-")
    env = {"anthropic": "ANTHROPIC", "openai": "OPENAI"}[provider]
    cfg = MeridianConfig.model_validate({"reporting": {"commentary_provider": provider,
                                                       "commentary_model": {"anthropic": "claude-sonnet-4-6",
                                                                            "openai": "gpt-4o-mini"}[provider]}})
    with LLMStub(api_key=key) as stub:
        monkeypatch.setenv(f"{env}_API_KEY", key)
        monkeypatch.setenv(f"{env}_BASE_URL", stub.anthropic_url if provider == "anthropic" else stub.openai_url)
        llm, reason = llm_bridge.structured_llm(provider, run_id="run-voice", config=cfg,
                                                database=str(tmp_path / "calls.duckdb"))
        stub.script(Reply.tool(OFF_VOICE), Reply.tool(CLEAN))
        off = weekly.summarize(CONTEXT, cfg, llm, reason, MON, FRI).row(0, named=True)
        clean = weekly.summarize(CONTEXT, cfg, llm, reason, MON, FRI).row(0, named=True)
    # recorded, never blocking: the summary is generated and used, its flags kept with it
    assert off["llm_status"] == "generated" and off["headline"] == OFF_VOICE["headline"]
    note = off["llm_note"] or ""
    assert note.startswith("voice check: ")
    for flag in ("headline: hedge phrase: 'we believe'", "headline: first-person plural: 'our', 'we'",
                 "headline: exclamation mark x1", "risks: hedge phrase: 'in our view'"):
        assert flag in note, note
    assert "bullets" not in note and "actions" not in note
    assert clean["llm_status"] == "generated" and clean["llm_note"] is None
