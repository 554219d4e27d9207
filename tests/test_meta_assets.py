"""Wiring: the weekly meta job on the 40-name embedded market in tmp_path (every decision a materialization with
metadata), the proposal sensor on an ephemeral instance (one apply run per new batch, eligible proposals only),
the apply job auto-applying under the policy, and the `meridian meta` / `meridian backtest` commands."""

import argparse
import json

import dagster as dg
import duckdb
import polars as pl
import pytest

from meridian_assets.config import MeridianConfig, load_config
from meridian_assets.meta import config_store as store
from meridian_assets.meta import proposals
from meridian_assets.meta.definitions import defs as meta_defs
from meridian_assets.meta.jobs import WEEKLY
from meridian_assets.meta.rationale import Rationale
from meridian_assets.meta.schemas import META_PROPOSALS
from sensors.meta import proposal_sensor
from meridian_assets.meta.sleeves import builtin_sleeves
from meridian_assets.storage import replace_where
from resources import DuckDBStore, MeridianSettings
from tests import meta_world as w
from tests.conftest import query

MD = dg.MetadataValue


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    cfg = w.write_yaml(tmp_path, meta={**w.OVERRIDES["meta"], "backtest_sessions": 22, "cost_drag_max": 0.01})
    monkeypatch.setenv("MERIDIAN_CONFIG", str(cfg))
    w.write_db(tmp_path / "meridian.duckdb")
    return tmp_path


def definitions(home, loggers: dict | None = None) -> dg.Definitions:
    resources = {"db": DuckDBStore(database=str(home / "meridian.duckdb")),
                 "settings": MeridianSettings(config_path=str(home / "meridian.yaml"))}
    return dg.Definitions.merge(meta_defs(), dg.Definitions(resources=resources, loggers=loggers))


def metadata(result, key: str) -> dict:
    ev = next(e for e in result.get_asset_materialization_events()
              if e.event_specific_data.materialization.asset_key == dg.AssetKey(key))
    return {k: getattr(v, "value", v) for k, v in ev.event_specific_data.materialization.metadata.items()}


def _only(home, *enabled: str) -> None:
    """Disable every shipped sleeve but ``enabled`` (a manual config change, logged)."""
    conn = duckdb.connect(str(home / "meridian.duckdb"))
    try:
        store.seed(conn)
        for s in builtin_sleeves():
            if s.name not in enabled:
                cur = store.current(conn)[f"sleeve:{s.name}"]
                with store.transaction(conn):
                    store.write_change(conn, key=cur.key, doc={**cur.doc, "enabled": False}, action="MANUAL",
                                       by="test", applied_by="HUMAN", expect_version=cur.version)
    finally:
        conn.close()


def test_weekly_meta_job_materializes_every_decision_with_metadata(home):
    _only(home, "core", "conviction", "combined_llm")
    result = definitions(home).resolve_job_def("meta_proposal_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    keys = {e.event_specific_data.materialization.asset_key.to_user_string()
            for e in result.get_asset_materialization_events()}
    assert set(WEEKLY) <= keys
    db = home / "meridian.duckdb"
    runs = query(db, "SELECT * FROM backtest_runs ORDER BY sleeve")
    sweep = runs.filter(pl.col("purpose") == "sweep")
    assert sweep["sleeve"].to_list() == ["conviction", "core"] and (sweep["sessions"] == 22).all()
    assert (sweep["spread"] > 0).all() and (sweep["borrow"] > 0).all() and (sweep["seconds_per_day"] > 0).all()
    bt = metadata(result, "backtest_runs")
    assert "combined_llm: combined_scores has no rows" in bt["skipped"]
    decisions = metadata(result, "sleeve_decisions")["decisions"]
    assert set(decisions) == {"conviction", "core"}
    alloc = metadata(result, "sleeve_allocation")
    assert alloc["method"] == "risk_parity_cvar" and alloc["snapshot_appended"] is True
    live = {s for s, d in decisions.items() if d["decision"] not in ("KILL", "RETIRE")}
    assert sum(alloc["weights"].values()) == pytest.approx(1.0 if live else 0.0)
    snaps = query(db, "SELECT * FROM allocation_snapshots WHERE level = 'sleeve'")
    assert set(snaps["name"]) == {"conviction", "core"} and snaps["run_id"].n_unique() == 1
    book = query(db, "SELECT * FROM meta_target_book")
    assert book.height > 0 and book["weight"].abs().sum() > 0
    for table in ("meta_performance", "meta_risk_events", "meta_information"):
        assert query(db, f"SELECT count(*) n FROM {table}")["n"][0] > 0, table
    perf = query(db, "SELECT DISTINCT dimension FROM meta_performance")["dimension"].to_list()
    assert {"sleeve", "vix_regime", "market_regime", "sector", "score_bucket"} <= set(perf)
    prop = metadata(result, "meta_controller_config_proposals")
    assert prop["batch_id"].startswith("batch-20240328-")
    listed = prop["proposals_json"]
    rows = query(db, "SELECT * FROM meta_controller_config_proposals")
    assert len(listed) == rows.height and set(rows["status"]) <= {"PENDING"}
    assert rows.height == 1  # cost_drag_max 0.01: core's costs take more than 1% of its gross P&L
    r = rows.row(0, named=True)
    ev = json.loads(r["evidence_json"])
    assert (r["rule"], r["target_type"], r["target_id"]) == ("cost_drag", "RISK_CONFIG", "core")
    assert json.loads(r["proposed_config_json"])["turnover_budget"] == 0.22 and r["current_version"] == 1
    assert ev["sessions"] == 12 and set(ev["run_ids"]) == {"current", "proposed"} and ev["supported"]
    assert ev["changes"] == {"turnover_budget": {"from": 0.3, "to": 0.22, "inherited": True}}
    assert r["rationale_source"] == "template" and "turnover_budget: 0.3 (inherited) -> 0.22" in r["rationale_text"]
    assert not r["auto_eligible"] and "not auto-applied" in r["note"]
    assert runs.filter(pl.col("run_id") == ev["run_ids"]["proposed"])["purpose"][0] == "evidence"


def _insert(home, target_type: str, key: str, change: dict, confidence: float, sufficient: bool, batch: str) -> str:
    conn = duckdb.connect(str(home / "meridian.duckdb"))
    try:
        store.seed(conn)
        cur = store.current(conn)[key]
        cand = proposals.Candidate("test_rule", "Because.", target_type, cur.name, cur, {**cur.doc, **change})
        ev = {"sessions": 80, "confidence": confidence, "data_sufficient": sufficient, "supported": True}
        row = proposals.row(batch, store.now(), cand, ev, Rationale("text", "template"), load_config())
        existing = conn.sql(f"SELECT * FROM {META_PROPOSALS.name} WHERE batch_id = ?", params=[batch]).pl() \
            if store.table_exists(conn, META_PROPOSALS.name) else META_PROPOSALS.empty()
        replace_where(conn, META_PROPOSALS, pl.concat([existing, proposals.frame([row])], how="diagonal_relaxed"),
                      "batch_id", batch)
        return row["proposal_id"]
    finally:
        conn.close()


def _report(instance, batch: str, rows: list[dict]) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "meta_controller_config_proposals", metadata={"batch_id": MD.text(batch), "proposals_json": MD.json(rows)}))


def test_proposal_sensor_launches_one_apply_run_per_new_batch_and_the_policy_holds(home):
    good = _insert(home, "ALLOCATION_CONFIG", store.ALLOCATION_KEY, {"excluded": ["conviction"]}, 0.99, True, "b1")
    human = _insert(home, "STRATEGY_CONFIG", "sleeve:core", {"risk_aversion": 3.0}, 0.99, True, "b1")
    instance = dg.DagsterInstance.ephemeral()
    ctx = lambda cursor: dg.build_sensor_context(instance=instance, cursor=cursor)  # noqa: E731
    assert proposal_sensor.evaluate_tick(ctx(None)).skip_message == "no new proposal batch"
    _report(instance, "b1", [{"proposal_id": good, "auto_eligible": True},
                             {"proposal_id": human, "auto_eligible": False}])
    tick = proposal_sensor.evaluate_tick(ctx(None))
    assert len(tick.run_requests) == 1
    req = tick.run_requests[0]
    cfg = req.run_config["ops"]["config_change_log"]["config"]
    assert req.run_key == "b1" and cfg["proposal_ids"] == [good] and cfg["applied_by"] == "AUTO"
    again = proposal_sensor.evaluate_tick(ctx(tick.cursor))
    assert not again.run_requests  # the same batch is looked at once
    _report(instance, "b2", [{"proposal_id": "mp-x", "auto_eligible": False}])
    none = proposal_sensor.evaluate_tick(ctx(tick.cursor))
    assert not none.run_requests and "none eligible" in none.skip_message
    result = definitions(home).resolve_job_def("meta_apply_job").execute_in_process(
        run_config=req.run_config, instance=instance)
    md = metadata(result, "config_change_log")
    assert [o["proposal_id"] for o in md["outcomes"]] == [good] and md["applied_by"] == "AUTO"
    rows = query(home / "meridian.duckdb", "SELECT proposal_id, status, applied_by FROM "
                                           "meta_controller_config_proposals ORDER BY proposal_id")
    assert dict(zip(rows["proposal_id"], rows["status"])) == {good: "APPLIED", human: "PENDING"}
    forced = definitions(home).resolve_job_def("meta_apply_job").execute_in_process(
        run_config={"ops": {"config_change_log": {"config": {"proposal_ids": [human], "action": "approve",
                                                             "decided_by": "sensor", "applied_by": "AUTO"}}}},
        instance=instance)
    assert "not applied automatically" in metadata(forced, "config_change_log")["refused"][human]


def test_meta_and_backtest_commands(home, monkeypatch, capsys):
    from meridian_assets.cli import meta as cli
    from meridian_assets.cli.runner import progress_logger

    monkeypatch.setattr(cli, "definitions", lambda: definitions(home, {"progress": progress_logger}))
    parser = argparse.ArgumentParser(prog="meridian")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))

    def run(*argv) -> tuple[int, str]:
        code = cli.run(parser.parse_args(list(argv)))
        return code, capsys.readouterr().out

    pid = _insert(home, "RISK_CONFIG", "sleeve:conviction", {"turnover_budget": 0.2}, 0.7, True, "b9")
    code, out = run("meta", "proposals")
    assert code == 0 and pid in out and "PENDING" in out
    code, out = run("meta", "approve", pid, "--by", "alice")
    assert code == 0 and f"{pid} APPLIED by alice: sleeve:conviction v1 -> v2" in out
    code, out = run("meta", "revert", pid, "--by", "alice")
    assert code == 0 and "REVERTED" in out
    conn = duckdb.connect(str(home / "meridian.duckdb"), read_only=True)
    try:
        versions = store.versions(conn, "sleeve:conviction")
    finally:
        conn.close()
    assert versions["config_hash"].to_list()[0] == versions["config_hash"].to_list()[-1]
    code, out = run("backtest", "--sleeve", "conviction", "--start", "2024-03-11", "--end", "2024-03-22")
    assert code == 0 and "=== conviction v3 2024-03-11..2024-03-22 (10 sessions)" in out
    assert "costs: commission $0" in out and "ms per simulated session" in out
    with pytest.raises(SystemExit):
        parser.parse_args(["backtest"])
    assert isinstance(MeridianConfig(), MeridianConfig)


def test_weekly_schedule_is_stopped_unless_deployed(monkeypatch):
    import datetime as dt
    import importlib
    from zoneinfo import ZoneInfo

    import schedules.meta as mod

    assert mod.meta_proposal_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert mod.meta_proposal_schedule.cron_schedule == "0 9 * * 6"
    tick = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2024, 3, 9, 9, 0,
                                                                          tzinfo=ZoneInfo("America/New_York")))
    assert [r.run_key for r in mod.meta_proposal_schedule.evaluate_tick(tick).run_requests] == ["meta-2024-03-09"]
    monkeypatch.setenv("MERIDIAN_PROFILE", "deployment")
    try:
        assert importlib.reload(mod).meta_proposal_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    finally:
        monkeypatch.delenv("MERIDIAN_PROFILE")
        importlib.reload(mod)


def test_proposal_evidence_fans_out_and_the_proposals_read_it_back(home):
    """Evidence as research partitions: `research_plan` with `evidence` plans this week's candidates' current
    and proposed configs over the evidence window; the fanned-out run publishes them (purpose evidence); the
    proposals asset then reads them back, computing none, and the evidence equals the in-step computation's."""
    from meridian_assets.meta import proposal_assets as pa
    from meridian_assets.meta.fanout_assets import RESEARCH_SLEEVES, research_run_tags
    from meridian_assets.meta.history import load_history

    _only(home, "core", "conviction", "combined_llm")
    defs, instance = definitions(home), dg.DagsterInstance.ephemeral()
    weekly = defs.resolve_job_def("meta_proposal_job")
    before = [dg.AssetKey(k) for k in WEEKLY if k != "meta_controller_config_proposals"]
    assert weekly.execute_in_process(instance=instance, asset_selection=before).success
    planned = defs.resolve_job_def("meta_research_plan_job").execute_in_process(
        instance=instance, run_config={"ops": {"research_plan": {"config": {"evidence": True}}}})
    assert planned.success
    keys = instance.get_dynamic_partitions(RESEARCH_SLEEVES.name)
    assert {k.split("~")[0] for k in keys} == {"conviction@1", "conviction@2", "core@1", "core@2"}
    assert sorted(k.split("~")[1].split("=")[0] for k in keys if "~" in k) == ["proposed", "proposed"]
    assert metadata(planned, "research_plan")["purpose"] == "evidence"
    assert defs.resolve_job_def("meta_research_sleeves_job").execute_in_process(
        instance=instance, tags=research_run_tags(instance)).success
    db = home / "meridian.duckdb"
    evidence = query(db, "SELECT run_id, sleeve, sleeve_version, sessions FROM backtest_runs "
                         "WHERE purpose = 'evidence' ORDER BY sleeve, sleeve_version")
    assert evidence.select("sleeve", "sleeve_version").rows() == [("conviction", 1), ("conviction", 2), ("core", 1),
                                                                   ("core", 2)]
    assert (evidence["sessions"] == 12).all()

    # Read back, the published evidence gives the very evidence a computation here gives.
    cfg = load_config(str(home / "meridian.yaml"))
    conn = duckdb.connect(str(db), read_only=True)
    try:
        inputs = pa.proposal_inputs(conn, cfg)
        jobs = pa.evidence_backtests(inputs.cands)
        published = pa.published_evidence(conn, jobs, cfg, inputs.window, inputs.runs["created_at"].max())
        assert sorted(published) == sorted(evidence["run_id"])
        assert pa.published_evidence(conn, jobs, cfg, inputs.window, query(
            db, "SELECT max(created_at) t FROM backtest_runs")["t"][0]) == {}  # none written since: none read
        history = load_history(conn, *inputs.window, cfg)
    finally:
        conn.close()
    returns = {s: f.select("date", "ret") for s, f in inputs.returns.items()}
    decided = dict(zip(inputs.dec["sleeve"].to_list(), inputs.dec["decision"].to_list()))
    read_back, computed_none = pa._evidence(inputs.cands, None, cfg, inputs.window, returns, decided, published)
    own, computed = pa._evidence(inputs.cands, history, cfg, inputs.window, returns, decided)
    assert computed_none == [] and len(computed) == 4 and read_back == own

    result = weekly.execute_in_process(instance=instance,
                                       asset_selection=[dg.AssetKey("meta_controller_config_proposals")])
    assert result.success
    prop = metadata(result, "meta_controller_config_proposals")
    assert (prop["evidence_backtests"], prop["evidence_published"], prop["proposals"]) == (4, 4, 1)
    row = query(db, "SELECT * FROM meta_controller_config_proposals").row(0, named=True)
    core = next(ev for c, ev in zip(inputs.cands, own) if c.target_id == "core")
    stored = json.loads(row["evidence_json"])  # the evidence, with the proposal's changes and diagnostics
    assert row["target_id"] == "core" and {k: stored[k] for k in core} == json.loads(json.dumps(core))
    assert set(core["run_ids"].values()) < set(evidence["run_id"])


def test_an_evidence_plan_takes_no_sleeves_or_grid_and_needs_a_sweep(home):
    job, instance = definitions(home).resolve_job_def("meta_research_plan_job"), dg.DagsterInstance.ephemeral()

    def failure(config: dict) -> str:
        r = job.execute_in_process(instance=instance, raise_on_error=False,
                                   run_config={"ops": {"research_plan": {"config": config}}})
        assert not r.success
        (event,) = [e for e in r.all_events if e.is_step_failure]
        return event.step_failure_data.user_failure_data.description

    assert "leave sleeves, grid, start, end and purpose empty" in failure(
        {"evidence": True, "grid": {"risk_aversion": ["2"]}})
    assert "leave sleeves" in failure({"evidence": True, "sleeves": ["core"]})
    assert "materialize sleeve_backtests first" in failure({"evidence": True})  # no sweep to propose from yet
    assert not instance.get_dynamic_partitions("research_sleeves")
