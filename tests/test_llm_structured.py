"""The maths and parsing of the LLM layer, directly: JSON extraction, answer validation, pricing and the hard
ceiling, redaction, the 10-K diff, analyzer sub-scores and the candidate selection."""

import datetime as dt
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from meridian_assets.errors import DataError
from meridian_assets.analysis import prompts
from meridian_assets.analysis.analyzers.earnings import EarningsAnswer, EarningsAnalyzer
from meridian_assets.analysis.analyzers.insider import InsiderAnalyzer, InsiderAnswer
from meridian_assets.analysis.analyzers.risk_factor import RiskFactorAnalyzer, RiskFactorAnswer, diff_risk_factors
from meridian_assets.analysis.analyzers.sector import SectorAnalyzer, SectorAnswer
from meridian_assets.analysis.candidates import select_candidates
from meridian_assets.analysis.client import Completion, Prompt, Usage
from meridian_assets.analysis.costs import REQUEST_OVERHEAD_TOKENS, CostTracker, call_cost, price_for
from meridian_assets.analysis.errors import CostCeilingReached, PricingMissing
from meridian_assets.analysis.extract import extract_json, json_candidates
from meridian_assets.analysis.schema_check import schema_problems
from meridian_assets.analysis.secrets import redact
from meridian_assets.analysis.settings import AnalysisConfig, ModelPrice
from meridian_assets.analysis.structured import answer_schema, parse_answer
from tests.conftest import fake_credential

PRICING = AnalysisConfig().pricing


class Tiny(BaseModel):
    score: float = Field(ge=1, le=10)
    summary: str


def completion(text: str = "", structured: dict | None = None, stop: str = "end_turn") -> Completion:
    return Completion(text=text, structured=structured, usage=Usage(), model="m", stop_reason=stop)


# ------------------------------------------------------------------------------------------ extraction
@pytest.mark.parametrize("text", [
    '{"score": 7, "summary": "ok"}',
    'Here you go:\n```json\n{"score": 7, "summary": "ok"}\n```\nThanks.',
    "```\n{\"score\": 7, \"summary\": \"ok\"}\n```",
    'My view, as JSON: {"score": 7, "summary": "ok"} — that is all.',
])
def test_json_is_found_bare_fenced_or_in_prose(text):
    assert extract_json(text) == {"score": 7, "summary": "ok"}


def test_nested_objects_are_not_offered_twice_and_order_is_kept():
    text = 'First {"a": {"b": 1}} then {"c": 2} and a broken {"d": }'
    assert json_candidates(text) == [{"a": {"b": 1}}, {"c": 2}]
    assert json_candidates("no json here") == [] and json_candidates(None) == []


def test_parse_answer_prefers_tool_input_and_falls_back_to_a_later_valid_candidate():
    status, value, _ = parse_answer(completion(structured={"score": 3, "summary": "tool"}), Tiny)
    assert status == "ok" and value.summary == "tool"
    text = 'Draft {"score": 42, "summary": "too high"} final {"score": 4, "summary": "fine"}'
    status, value, _ = parse_answer(completion(text), Tiny)
    assert status == "ok" and value.score == 4


def test_an_invalid_answer_says_why_and_has_no_value():
    status, value, error = parse_answer(completion('{"score": 11}'), Tiny)
    assert status == "invalid" and value is None
    assert "score" in error and "summary" in error
    status, value, error = parse_answer(completion("I cannot answer that.", stop="max_tokens"), Tiny)
    assert status == "invalid" and "no JSON object" in error and "max_tokens" in error


def test_cross_field_check_makes_an_answer_invalid():
    status, _, error = parse_answer(completion('{"score": 5, "summary": "x"}'), Tiny,
                                    check=lambda v: ["score must be even"] if v.score % 2 else [])
    assert status == "invalid" and error == "score must be even"


def test_json_schema_answers_are_checked_too():
    schema = {"type": "object", "required": ["headline", "bullets"],
              "properties": {"headline": {"type": "string", "minLength": 1},
                             "bullets": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                             "tone": {"enum": ["calm", "alarmed"]}}}
    assert schema_problems({"headline": "h", "bullets": ["a"]}, schema) == []
    problems = schema_problems({"headline": "", "bullets": ["a", 2, "c"], "tone": "giddy"}, schema)
    assert any("headline" in p for p in problems) and any("bullets[1]" in p for p in problems)
    assert any("more than 2" in p for p in problems) and any("giddy" in p for p in problems)
    status, value, _ = parse_answer(completion('ok: {"headline": "h", "bullets": []}'), None, json_schema=schema)
    assert status == "ok" and value == {"headline": "h", "bullets": []}


def test_tool_schemas_are_self_contained():
    schema = answer_schema(SectorAnswer)
    assert "$ref" not in json.dumps(schema) and "$defs" not in schema
    assert schema["properties"]["rankings"]["items"]["properties"]["rank"]["minimum"] == 1


# ------------------------------------------------------------------------------------------ costs
def test_price_of_a_call_by_hand():
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=500, cache_write_tokens=100)
    # sonnet: (1000 * 3 + 200 * 15 + 100 * 3.75 + 500 * 0.30) / 1e6
    assert call_cost(price_for(PRICING, "claude-sonnet-4-6"), usage) == pytest.approx(0.006525)
    assert price_for(PRICING, "claude-sonnet-4-6-20260301") == PRICING["claude-sonnet-4-6"]
    with pytest.raises(PricingMissing, match="gpt-9"):
        price_for(PRICING, "gpt-9")


def test_reservation_refuses_a_call_that_could_cross_the_ceiling():
    prompt = Prompt(system="s" * 300, user="u" * 2700, max_tokens=1000)
    tracker = CostTracker("analysis", 1.0, PRICING)
    worst = tracker.worst_case("claude-sonnet-4-6", prompt)
    # 3000 bytes + 1000 tokens of request overhead at max(3.0, 3.75) + 1000 output tokens at 15 -> 0.03
    assert worst == pytest.approx(((3000 + REQUEST_OVERHEAD_TOKENS) * 3.75 + 1000 * 15) / 1e6)
    tracker = CostTracker("analysis", 2.5 * worst, PRICING)
    held = [tracker.reserve("claude-sonnet-4-6", prompt), tracker.reserve("claude-sonnet-4-6", prompt)]
    with pytest.raises(CostCeilingReached, match=r"analysis cost ceiling \$0\.07"):
        tracker.reserve("claude-sonnet-4-6", prompt)
    tracker.settle(held[0], Usage(input_tokens=900, output_tokens=100))
    tracker.release(held[1])
    assert tracker.calls == 1 and tracker.spent_usd == pytest.approx((900 * 3 + 100 * 15) / 1e6)
    tracker.reserve("claude-sonnet-4-6", prompt)  # room again once the actual cost is known


@settings(max_examples=60, deadline=None)
@given(ceiling=st.floats(0.001, 0.5), calls=st.lists(st.tuples(st.integers(0, 40_000), st.integers(16, 4096),
                                                                 st.floats(0, 1), st.floats(0, 1)), max_size=40))
def test_spend_never_crosses_the_ceiling(ceiling, calls):
    tracker = CostTracker("analysis", ceiling, PRICING)
    for chars, max_tokens, used_in, used_out in calls:
        prompt = Prompt(system="", user="x" * chars, max_tokens=max_tokens)
        try:
            r = tracker.reserve("claude-sonnet-4-6", prompt)
        except CostCeilingReached:
            continue
        # a provider bills at most a token per byte sent plus its own framing, and max_tokens of output
        usage = Usage(input_tokens=int((chars + REQUEST_OVERHEAD_TOKENS) * used_in),
                      output_tokens=int(max_tokens * used_out))
        tracker.settle(r, usage)
        assert tracker.spent_usd <= ceiling + 1e-12


def test_redact_replaces_provider_keys(monkeypatch):
    key = fake_credential("test-")
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    assert redact(f"HTTP 401: bad key {key} given") == "HTTP 401: bad key [redacted] given"
    assert redact(None) is None


# ------------------------------------------------------------------------------------------ analyzers
def test_risk_factor_diff_classifies_paragraphs():
    prior = "Item 1A.\n\nWe face competition.\n\nIn fiscal 2022, 40% of revenue was cyclical.\n\nOld risk gone."
    current = ("Item 1A.\n\nWe face   competition.\n\nIn fiscal 2023, 42% of revenue was cyclical.\n\n"
               "A cyber attack could disrupt our operations and expose customer data.")
    d = diff_risk_factors(current, prior)
    assert d.total == 4 and d.unchanged == 2
    assert d.modified == [("In fiscal 2022, 40% of revenue was cyclical.", "In fiscal 2023, 42% of revenue was cyclical.")]
    assert d.added == ["A cyber attack could disrupt our operations and expose customer data."]
    assert d.removed == ["Old risk gone."]
    assert diff_risk_factors(current, None).unchanged == 0


def test_sub_scores_are_oriented_for_a_long():
    base = dict(bull_case="b", bear_case="b", summary="s")
    best = EarningsAnswer(**{d: 10 for d in ("management_confidence", "revenue_guidance", "margin_trajectory",
                                             "competitive_position", "risk_factors", "capital_allocation")}, **base)
    assert EarningsAnalyzer().score(best) == 100.0
    mixed = best.model_copy(update={"management_confidence": 1, "revenue_guidance": 1, "margin_trajectory": 1})
    assert EarningsAnalyzer().score(mixed) == pytest.approx(50.0)
    risk = RiskFactorAnswer(material_risks=["x"], boilerplate_percentage=50, risk_severity=10, reasoning="r",
                            summary="s")
    assert RiskFactorAnalyzer().score(risk) == 0.0
    assert RiskFactorAnalyzer().score(risk.model_copy(update={"risk_severity": 1})) == 100.0
    sell = InsiderAnswer(signal_strength="strong sell", confidence=0.5, cluster_detected=False, reasoning="r",
                         summary="s")
    assert sell.signal_strength == "STRONG_SELL" and InsiderAnalyzer().score(sell) == 25.0


def test_sector_answer_may_only_name_the_sectors_candidates():
    from meridian_assets.analysis.analyzers.base import AnalyzerInput

    inp = AnalyzerInput("Energy", "Energy", "a", {"tickers": ["AAA", "BBB"]})
    ok = SectorAnswer(rankings=[{"ticker": "aaa", "rank": 1, "rationale": "r"}, {"ticker": "BBB", "rank": 2,
                                                                                  "rationale": "r"}],
                      top_long_idea="AAA", top_short_idea="BBB", sector_outlook="neutral", summary="s")
    assert SectorAnalyzer().check(ok, inp) == []
    bad = ok.model_copy(update={"top_long_idea": "ZZZ", "rankings": [*ok.rankings, ok.rankings[0]]})
    problems = SectorAnalyzer().check(bad, inp)
    assert any("ZZZ" in p for p in problems) and any("more than once" in p for p in problems)


def test_user_templates_refuse_missing_variables():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        prompts.render("earnings", ticker="AAA")
    assert prompts.prompt_version("earnings") == prompts.prompt_version("earnings")


# ------------------------------------------------------------------------------------------ candidates
def _scores() -> pl.DataFrame:
    rows = []
    for i, t in enumerate("ABCDEFGH"):
        rows.append({"date": dt.date(2024, 3, 28), "ticker": t, "sector": "S1" if i < 4 else "S2",
                     "composite": float(100 - 12 * i), "composite_raw": float(50 - i), "sector_rank": i % 4 + 1,
                     "long_flag": i in (0, 4), "short_flag": i in (3, 7)})
    return pl.DataFrame(rows)


def test_candidates_are_the_flagged_names_topped_up_by_composite():
    c = select_candidates(_scores(), 3, 3)
    assert c.filter(pl.col("side") == "LONG")["ticker"].to_list() == ["A", "E", "B"]
    assert c.filter(pl.col("side") == "SHORT")["ticker"].to_list() == ["H", "D", "G"]  # flagged, lowest first
    assert select_candidates(_scores(), 1, 0, tickers=["e"])["ticker"].to_list() == ["E"]
    assert select_candidates(_scores(), 1, 0, sector="S2")["ticker"].to_list() == ["E", "F", "G", "H"]
    with pytest.raises(DataError, match="ZZZ"):
        select_candidates(_scores(), 1, 1, tickers=["ZZZ"])
    with pytest.raises(DataError, match="sectors are: S1, S2"):
        select_candidates(_scores(), 1, 1, sector="Nope")


def test_config_names_a_priced_model_for_every_task():
    cfg = AnalysisConfig()
    assert {"earnings", "filing", "risk_factor", "insider", "sector", "chat"} <= set(cfg.tasks)
    assert all(cfg.price_key(t.model) for t in cfg.tasks.values())
    assert cfg.chat_cost_ceiling_usd == 2.0 and cfg.cost_ceiling_usd == 25.0
    assert isinstance(cfg.pricing["claude-haiku-4-5"], ModelPrice)


def test_answers_that_are_merely_long_are_clipped_not_rejected():
    dims = {d: 5 for d in ("management_confidence", "revenue_guidance", "margin_trajectory", "competitive_position",
                           "risk_factors", "capital_allocation")}
    a = EarningsAnswer(**dims, bull_case="b", bear_case="b", key_quotes=[f"q{i}" for i in range(9)], summary="x" * 900)
    assert a.key_quotes == [f"q{i}" for i in range(6)] and len(a.summary) == 600 and a.summary.endswith("…")
    assert InsiderAnswer(signal_strength="Strong-Buy", confidence=70, cluster_detected=True, reasoning="r",
                         summary="s").confidence == 0.7
    with pytest.raises(ValueError):
        EarningsAnswer(**{**dims, "margin_trajectory": 11}, bull_case="b", bear_case="b", summary="s")
