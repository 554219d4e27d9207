"""Sleeve configs and their versions: validation, content hashes, seeding, apply -> revert restoring the exact
previous config, stale proposals refused, and the auto-apply policy."""

import datetime as dt
import json

import duckdb
import polars as pl
import pytest

from meridian_assets.config import MeridianConfig
from meridian_assets.errors import ConfigError
from meridian_assets.meta import changes, proposals
from meridian_assets.meta import config_store as store
from meridian_assets.meta.rationale import Rationale, template, write
from meridian_assets.meta.schemas import META_PROPOSALS
from meridian_assets.meta.settings import MetaConfig
from meridian_assets.meta.sleeves import AllocationPolicy, Sleeve, builtin_sleeves, content_hash, parse_sleeve
from meridian_assets.storage import replace_where

EVIDENCE = {"sessions": 80, "start": "2024-01-02", "end": "2024-04-30", "t_stat": 2.5, "confidence": 0.99,
            "data_sufficient": True, "supported": True, "current": {"total_return": 0.01, "sharpe": 0.5},
            "proposed": {"total_return": 0.02, "sharpe": 0.9}}


@pytest.fixture
def conn(tmp_path):
    c = duckdb.connect(str(tmp_path / "meta.duckdb"))
    store.seed(c)
    yield c
    c.close()


def test_sleeves_validate_and_hash_their_content():
    names = [s.name for s in builtin_sleeves()]
    assert names == ["core", "momentum_tilt", "quality_value_tilt", "conviction", "combined_llm"]
    core = builtin_sleeves()[0]
    assert core.hash == content_hash(core.doc()) == parse_sleeve(json.dumps(core.doc())).hash
    assert core.model_copy(update={"risk_aversion": 2.0}).hash != core.hash
    with pytest.raises(ValueError, match="sum to 1"):
        Sleeve(name="x", factor_weights={"momentum": 0.5})
    with pytest.raises(ValueError, match="factor_scores"):
        Sleeve(name="x", score_source="combined_scores", factor_weights={"momentum": 1.0})
    with pytest.raises(ConfigError, match="bogus: Extra inputs are not permitted"):
        parse_sleeve({"name": "x", "bogus": 1})


def test_core_trades_the_portfolio_block_and_a_tilt_only_what_it_sets():
    base = MeridianConfig()
    core, mom, conv = builtin_sleeves()[0], builtin_sleeves()[1], builtin_sleeves()[3]
    assert core.portfolio(base.portfolio) == base.portfolio
    assert mom.portfolio(base.portfolio) == base.portfolio and mom.factor_weights["momentum"] == 0.40
    pc = conv.portfolio(base.portfolio)
    assert (pc.optimize_method, pc.num_longs, pc.num_shorts, pc.turnover_budget) == ("conviction", 15, 15, 0.30)
    knobs = Sleeve(name="x", long_exposure=0.6, short_exposure=0.5).knobs(base)
    assert knobs["long_exposure"] == 0.6 and knobs["weight_momentum"] == base.scoring.composite_weights["momentum"]
    assert Sleeve(name="x", long_exposure=0.6, short_exposure=0.5).portfolio(base.portfolio).gross_exposure == 1.1


def test_seeding_writes_version_one_once(conn):
    cur = store.current(conn)
    assert set(cur) == {f"sleeve:{s.name}" for s in builtin_sleeves()} | {store.ALLOCATION_KEY}
    assert all(v.version == 1 and v.hash == content_hash(v.doc) for v in cur.values())
    assert store.seed(conn) == []
    log = store.change_log(conn)
    assert log.height == len(cur) and set(log["action"]) == {"SEED"}


def _propose(conn, key: str, new_doc: dict, target_type="STRATEGY_CONFIG", confidence=0.99, sufficient=True,
             batch="batch-1") -> str:
    cur = store.current(conn)[key]
    cand = proposals.Candidate("test_rule", "Because.", target_type, cur.name, cur, new_doc, {"x": 1})
    ev = {**EVIDENCE, "confidence": confidence, "data_sufficient": sufficient}
    row = proposals.row(batch, store.now(), cand, ev, Rationale(template(proposals.context_for_rationale(cand, ev)),
                                                                "template"), MeridianConfig())
    replace_where(conn, META_PROPOSALS, proposals.frame([row]), "batch_id", batch)
    return row["proposal_id"]


def test_apply_then_revert_restores_the_exact_previous_config(conn):
    key = "sleeve:core"
    before = store.current(conn)[key]
    pid = _propose(conn, key, {**before.doc, "risk_aversion": 2.5, "turnover_budget": 0.2})
    out = changes.decide(conn, pid, "approve", by="alice", applied_by=changes.HUMAN, cfg=MetaConfig())
    after = store.current(conn)[key]
    assert (out.status, out.from_version, out.to_version) == ("APPLIED", 1, 2)
    assert after.doc["risk_aversion"] == 2.5 and after.hash != before.hash
    row = changes.load(conn, pid).row(0, named=True)
    assert (row["status"], row["applied_by"], row["decided_by"], row["applied_version"]) == ("APPLIED", "HUMAN",
                                                                                               "alice", 2)
    back = changes.decide(conn, pid, "revert", by="bob", applied_by=changes.HUMAN, cfg=MetaConfig())
    restored = store.current(conn)[key]
    assert (back.status, restored.version) == ("REVERTED", 3)
    assert restored.json == before.json and restored.hash == before.hash
    log = store.change_log(conn).filter(pl.col("config_key") == key).sort("to_version")
    assert log["action"].to_list() == ["SEED", "APPLY", "REVERT"]
    apply_row, revert_row = log.row(1, named=True), log.row(2, named=True)
    assert (apply_row["before_json"], apply_row["after_json"], apply_row["changed_by"]) == (before.json, after.json,
                                                                                          "alice")
    assert (revert_row["before_json"], revert_row["after_json"], revert_row["changed_by"]) == (after.json,
                                                                                             before.json, "bob")
    assert isinstance(apply_row["changed_at"], dt.datetime)
    with pytest.raises(changes.ProposalError, match="REVERTED"):
        changes.decide(conn, pid, "revert", by="bob", applied_by=changes.HUMAN, cfg=MetaConfig())


def test_a_stale_proposal_is_refused_and_a_moved_config_is_not_reverted(conn):
    key = "sleeve:momentum_tilt"
    doc = store.current(conn)[key].doc
    first = _propose(conn, key, {**doc, "turnover_budget": 0.2}, batch="b1")
    second = _propose(conn, key, {**doc, "turnover_budget": 0.25}, batch="b2")
    changes.decide(conn, first, "approve", by="a", applied_by=changes.HUMAN, cfg=MetaConfig())
    with pytest.raises(changes.ProposalError, match="stale"):
        changes.decide(conn, second, "approve", by="a", applied_by=changes.HUMAN, cfg=MetaConfig())
    third = _propose(conn, key, {**store.current(conn)[key].doc, "turnover_budget": 0.15}, batch="b3")
    changes.decide(conn, third, "approve", by="a", applied_by=changes.HUMAN, cfg=MetaConfig())
    with pytest.raises(changes.ProposalError, match="moved on"):
        changes.decide(conn, first, "revert", by="a", applied_by=changes.HUMAN, cfg=MetaConfig())
    assert changes.decide(conn, second, "reject", by="a", applied_by=changes.HUMAN, cfg=MetaConfig()).status == \
        "REJECTED"


@pytest.mark.parametrize("target,confidence,sufficient,allowed", [
    ("ALLOCATION_CONFIG", 0.99, True, True),
    ("ALLOCATION_CONFIG", 0.90, True, False),   # below the confidence threshold
    ("ALLOCATION_CONFIG", 0.99, False, False),  # insufficient data: never automatic
    ("STRATEGY_CONFIG", 0.99, True, False),     # target type not allowed by default
])
def test_auto_apply_policy_is_honoured(conn, target, confidence, sufficient, allowed):
    key = store.ALLOCATION_KEY if target == "ALLOCATION_CONFIG" else "sleeve:core"
    doc = store.current(conn)[key].doc
    new = {**doc, "excluded": ["conviction"]} if target == "ALLOCATION_CONFIG" else {**doc, "risk_aversion": 3.0}
    pid = _propose(conn, key, new, target_type=target, confidence=confidence, sufficient=sufficient)
    row = changes.load(conn, pid).row(0, named=True)
    assert row["auto_eligible"] is allowed
    if allowed:
        assert changes.decide(conn, pid, "approve", by="sensor", applied_by=changes.AUTO,
                              cfg=MetaConfig()).status == "APPLIED"
        assert store.policy_in_force(conn)[0] == AllocationPolicy(excluded=("conviction",))
    else:
        with pytest.raises(changes.ProposalError, match="stays PENDING"):
            changes.decide(conn, pid, "approve", by="sensor", applied_by=changes.AUTO, cfg=MetaConfig())
        assert changes.load(conn, pid)["status"][0] == "PENDING" and store.current(conn)[key].version == 1
    wider = MetaConfig(auto_apply_target_types=("ALLOCATION_CONFIG", "STRATEGY_CONFIG"), auto_apply_min_confidence=0.5)
    assert changes.auto_apply_allowed(target, confidence, sufficient, wider)[0] is sufficient


def test_rationale_comes_from_the_llm_callable_else_the_template():
    ctx = {"rule": "cost_drag", "rule_text": "Costs are high.", "target_type": "RISK_CONFIG", "target_id": "core",
           "changes": {"turnover_budget": {"from": None, "to": 0.22}}, "diagnostics": {}, "evidence": EVIDENCE,
           "confidence": 0.9, "data_sufficient": False}
    seen = []

    class Answer:
        content = {"rationale": "Lower the budget: costs eat a third of the gross."}
        extra = {"call_id": "call-1"}

    def ask(request):
        seen.append(request)
        return Answer()

    r = write(ctx, ask, provider="anthropic", model="claude-haiku-4-5", ceiling_usd=1.0)
    assert (r.source, r.call_id, r.text) == ("llm", "call-1", Answer.content["rationale"])
    assert seen[0].cost_ceiling_usd == 1.0 and '"cost_drag"' in seen[0].user and seen[0].schema["required"]
    failed = write(ctx, lambda req: (_ for _ in ()).throw(RuntimeError("down")), provider="anthropic",
                   model="m", ceiling_usd=1.0)
    assert failed.source == "template" and "down" in failed.note and "insufficient" in failed.text
    assert write(ctx, None, provider="anthropic", model="m", ceiling_usd=1.0).text == template(ctx)


def test_rationale_through_the_llm_layer_is_archived_with_its_context(tmp_path, monkeypatch):
    """The real anthropic client against the loopback stub, through the LLM layer's structured-call helper:
    the rationale comes back and the call is archived in llm_calls with the proposal's context as its prompt."""
    from meridian_assets.meta.proposal_assets import _llm
    from tests.conftest import fake_credential, query
    from tests.stubs.llm_server import LLMStub, Reply

    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    ctx = {"rule": "cost_drag", "rule_text": "Costs are high.", "target_type": "RISK_CONFIG", "target_id": "core",
           "changes": {"turnover_budget": {"from": 0.3, "to": 0.22, "inherited": True}}, "diagnostics": {},
           "evidence": EVIDENCE, "confidence": 0.9, "data_sufficient": True}
    cfg = MeridianConfig()
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert _llm(cfg, "run-1") is None  # no key: the template writes
    key = fake_credential("test-")
    with LLMStub(api_key=key) as stub:
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.anthropic_url)
        stub.script(Reply.tool({"rationale": "Trim the turnover budget: costs take the edge."}))
        r = write(ctx, _llm(cfg, "run-1"), provider="anthropic", model=cfg.meta.rationale_model, ceiling_usd=1.0)
    assert (r.source, r.text) == ("llm", "Trim the turnover budget: costs take the edge.") and r.call_id
    call = query(cfg.database_path(), "SELECT * FROM llm_calls").row(0, named=True)
    assert (call["call_id"], call["run_id"], call["task"], call["status"]) == (r.call_id, "run-1", "meta_rationale",
                                                                                "ok")
    assert '"rule": "cost_drag"' in call["user_prompt"] and key not in json.dumps(call, default=str)
