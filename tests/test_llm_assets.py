"""Wiring: the Layer-3 assets materialized on the 40-name embedded market (ingested with a year of history,
scored on its last session) with the real anthropic SDK pointed at the loopback stub. Without a key the layer
is skipped and the book stays quant; with one the analysts blend and write reports; a re-run is free; the
ceiling stops a run cleanly; no key ever reaches the database, the logs or the metadata; the CLI estimate
makes no call."""

import argparse
import datetime as dt
import logging
import re

import dagster as dg
import polars as pl
import pytest

from meridian_assets.definitions import build_resources
from meridian_assets.factors.assets import factor_scores
from meridian_assets.analysis.assets import ANALYSIS_ASSETS
from resources.analysis import AnthropicResource, OpenAIResource
from tests.conftest import fake_credential, materialize_ingest, query, range_tags, table_names, write_config
from tests.stubs.llm_server import LLMStub, analyst_responder

KEY = fake_credential("test-anthropic-")
INGEST = (dt.date(2023, 1, 3), dt.date(2024, 3, 28))
AS_OF = INGEST[1]
TICKER_ASSETS = ("earnings_analysis", "filing_analysis", "risk_factor_analysis", "insider_analysis")
ANALYSIS = {"candidates_long": 5, "candidates_short": 5, "max_concurrency": 2}


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    home = tmp_path_factory.mktemp("llm_market")
    mp = pytest.MonkeyPatch()
    mp.setenv("MERIDIAN_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir()
    cfg = write_config(home, analysis=ANALYSIS)
    mp.setenv("MERIDIAN_CONFIG", str(cfg))
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        mp.delenv(var, raising=False)
    res = build_resources(str(cfg), str(home / "meridian.duckdb"))
    assert materialize_ingest(res, *INGEST).success
    assert dg.materialize([factor_scores], resources=res, tags=range_tags(AS_OF, AS_OF),
                          instance=dg.DagsterInstance.ephemeral()).success
    with LLMStub(api_key=KEY, responder=analyst_responder, echo_key=True) as stub:
        yield home, res, stub, mp
    mp.undo()


def materialize(market, *, key: str | None, run_config: dict | None = None, config_path=None,
                base_url: str | None = None):
    home, res, stub, mp = market
    if key:
        mp.setenv("ANTHROPIC_API_KEY", key)
    else:
        mp.delenv("ANTHROPIC_API_KEY", raising=False)
    resources = dict(res)
    if config_path is not None:
        resources.update(build_resources(str(config_path), str(home / "meridian.duckdb")))
    resources.update(anthropic=AnthropicResource(base_url=base_url or stub.anthropic_url),
                     openai=OpenAIResource(base_url=stub.openai_url))
    return dg.materialize([*ANALYSIS_ASSETS], resources=resources, run_config=run_config,
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def metadata(result) -> dict[str, dict]:
    return {e.event_specific_data.materialization.asset_key.to_user_string():
            {k: v.value for k, v in e.event_specific_data.materialization.metadata.items()}
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def force(*assets: str) -> dict:
    return {"ops": {a: {"config": {"force": True}} for a in assets or (*TICKER_ASSETS, "sector_analysis")}}


def test_without_a_key_the_layer_is_skipped_and_the_book_stays_quant(market):
    home, _, stub, _ = market
    before = len(stub.calls())
    result = materialize(market, key=None)
    assert result.success
    md = metadata(result)
    for asset in (*TICKER_ASSETS, "sector_analysis", "analysis_reports"):
        assert md[asset]["status"] == "skipped" and "ANTHROPIC_API_KEY is not set" in md[asset]["reason"]
    assert md["combined_scores"]["status"].startswith("quant only") and md["combined_scores"]["analyzed"] == 0
    assert len(stub.calls()) == before
    db = home / "meridian.duckdb"
    combined = query(db, f"SELECT * FROM combined_scores WHERE date = '{AS_OF}'")
    quant = query(db, f"SELECT ticker, composite, long_flag, short_flag FROM factor_scores WHERE date = '{AS_OF}'")
    both = combined.join(quant, on="ticker", suffix="_q")
    assert both.height == quant.height == 40 and not both["analyzed"].any()
    assert (both["combined_score"] == both["composite_q"]).all()
    assert (both["long_flag"] == both["long_flag_q"]).all() and (both["short_flag"] == both["short_flag_q"]).all()


def test_analysts_blend_into_the_composite_and_write_traceable_reports(market):
    home, _, stub, _ = market
    before = len(stub.calls())
    result = materialize(market, key=KEY, run_config=force())
    assert result.success
    md = metadata(result)
    db = home / "meridian.duckdb"
    calls = query(db, f"SELECT * FROM llm_calls WHERE run_id = '{result.run_id}'")
    assert calls.height == len(stub.calls()) - before > 0 and (calls["status"] == "ok").all()
    for asset in TICKER_ASSETS:
        m = md[asset]
        assert m["status"] == "completed" and m["subjects"] == 10
        assert m["calls"] == m["ok"] == 10 - m["no_input"] > 0
        for figure in ("input_tokens", "output_tokens", "cache_read_tokens", "prompt_cache_hit_rate", "cost_usd",
                       "analysis_cache_hit_rate", "run_cost_usd", "ceiling_usd"):
            assert figure in m, (asset, figure)
    run = md["analysis_reports"]  # the last step: the whole run's calls, tokens and dollars
    assert run["run_calls"] == calls.height and run["run_cost_usd"] == pytest.approx(calls["cost_usd"].sum())
    assert run["run_input_tokens"] == calls["input_tokens"].sum() and "run_prompt_cache_hit_rate" in run
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert checks and all(c.passed for c in checks)

    combined = query(db, f"SELECT * FROM combined_scores WHERE date = '{AS_OF}'")
    analysed = combined.filter(pl.col("analyzed"))
    assert analysed.height == 10  # every candidate has at least one analyst sub-score
    blended = analysed.select((pl.col("combined_score") - (0.6 * pl.col("composite") + 0.4 * pl.col("llm_score")))
                              .abs().max()).item()
    assert blended < 1e-9
    risk_prompts = [r for r in stub.calls()[before:] if r.tool_name() == "record_risk_factor"]
    assert any("Prior 10-K filed" in r.user_text() for r in risk_prompts)  # diffed against the prior 10-K

    index = home / "output" / md["analysis_reports"]["index"].split("/output/")[1]
    text = index.read_text()
    assert text.count(".md)") == 10
    note = (index.parent / f"{analysed['ticker'][0]}.md").read_text()
    cited = set(re.findall(r"call `([0-9a-f]{32})`", note))
    all_ids = set(query(db, "SELECT call_id FROM llm_calls")["call_id"].to_list())
    assert cited and cited <= all_ids  # every finding traces to an archived call


def test_a_rerun_of_the_same_artifacts_makes_no_call(market):
    home, _, stub, _ = market
    if "analysis_results" not in table_names(home / "meridian.duckdb"):
        materialize(market, key=KEY)  # when run on its own
    before = len(stub.calls())
    result = materialize(market, key=KEY)
    assert result.success and len(stub.calls()) == before
    md = metadata(result)
    for asset in (*TICKER_ASSETS, "sector_analysis"):
        m = md[asset]
        assert m["calls"] == 0 and m["analysis_cache_hits"] == m["subjects"] - m["no_input"]
        assert m["analysis_cache_hit_rate"] == 1.0
    assert md["combined_scores"]["analyzed"] == 10


def test_the_cost_ceiling_stops_the_run_cleanly_and_keeps_what_was_done(market):
    home, _, stub, _ = market
    cfg = write_config(home, analysis={**ANALYSIS, "max_concurrency": 1, "cost_ceiling_usd": 0.1})
    before = len(stub.calls())
    result = materialize(market, key=KEY, run_config=force(), config_path=cfg)
    write_config(home, analysis=ANALYSIS)
    assert result.success  # a clean stop, not a failure
    md = metadata(result)
    statuses = [md[a]["status"] for a in (*TICKER_ASSETS, "sector_analysis")]
    assert "ceiling_reached" in statuses
    made = len(stub.calls()) - before
    db = home / "meridian.duckdb"
    calls = query(db, f"SELECT * FROM llm_calls WHERE run_id = '{result.run_id}'")
    kept = query(db, f"SELECT * FROM analysis_results WHERE run_id = '{result.run_id}'")
    assert 0 < made == calls.height == kept.height == sum(md[a]["ok"] for a in (*TICKER_ASSETS, "sector_analysis"))
    assert calls["cost_usd"].sum() <= 0.1
    assert md["combined_scores"]["run_cost_usd"] <= 0.1 and md["combined_scores"]["rows"] == 40


def test_no_key_in_the_database_logs_or_metadata(market, caplog, capfd):
    home, _, stub, _ = market
    caplog.set_level(logging.DEBUG)
    ok = materialize(market, key=KEY, run_config=force("insider_analysis"))
    # a wrong key, which the stub quotes back in its 401: the failure is reported without it
    wrong = fake_credential("test-wrong-")
    refused = materialize(market, key=wrong, run_config=force("insider_analysis"))
    assert ok.success and not refused.success
    failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
    assert "refused the API key" in failure.event_specific_data.error.message
    seen = [r.header("authorization") or "" for r in stub.calls()]
    assert any(KEY in h for h in seen) and any(wrong in h for h in seen)  # both keys really were sent
    out, err = capfd.readouterr()
    texts = [out, err, caplog.text]
    texts += [str(e) for r in (ok, refused) for e in r.all_events]
    for path in home.rglob("*"):
        if path.is_file() and path.suffix in (".duckdb", ".wal", ".md", ".csv", ".yaml", ".json"):
            texts.append(path.read_bytes().decode("latin-1"))
    for secret in (KEY, wrong):
        leaks = [t[max(0, t.find(secret) - 80):t.find(secret) + 40] for t in texts if secret in t]
        assert not leaks, leaks
    archived = query(home / "meridian.duckdb", f"SELECT error FROM llm_calls WHERE run_id = '{refused.run_id}'")
    assert archived.height and all("[redacted]" in e for e in archived["error"])


def test_cli_estimate_cost_makes_no_call(market, capsys):
    from meridian_assets.cli import analyze

    _, _, stub, mp = market
    mp.setenv("ANTHROPIC_API_KEY", KEY)
    before = len(stub.calls())
    args = argparse.Namespace(estimate_cost=True, ticker=None, sector=None, force=True)
    assert analyze.run(args) == 0
    out = capsys.readouterr().out
    assert len(stub.calls()) == before
    assert "no calls made" in out and re.search(r"Total ≈ \$\d+\.\d\d for \d+ calls", out)
    assert re.search(r"earnings\s+claude-sonnet-4-6\s+10\s+0\s+0\s+10", out)


def test_cli_analyze_one_ticker_runs_the_job_and_prints_the_bill(market, capsys):
    from meridian_assets.cli import analyze

    home, _, stub, mp = market
    mp.setenv("ANTHROPIC_API_KEY", KEY)
    mp.setenv("ANTHROPIC_BASE_URL", stub.anthropic_url)
    ticker = query(home / "meridian.duckdb", f"SELECT ticker FROM factor_scores WHERE date = '{AS_OF}' "
                                            "ORDER BY composite DESC, ticker LIMIT 1")["ticker"][0]
    parser = argparse.ArgumentParser(prog="meridian")
    analyze.add_parser(parser.add_subparsers(dest="command"))
    before = len(stub.calls())
    try:
        assert analyze.run(parser.parse_args(["analyze", "--ticker", ticker.lower(), "--force"])) == 0
    finally:
        mp.delenv("ANTHROPIC_BASE_URL")
    out = capsys.readouterr().out
    made = len(stub.calls()) - before
    assert made >= 1 and f"Analysing 1 names as of {AS_OF} (cache bypassed)" in out
    assert re.search(rf"Run: {made} calls, [\d,]+ input \+ [\d,]+ output tokens, prompt-cache hit rate \d+%, \$", out)
    assert "Reports: " in out and "INDEX.md" in out


def test_a_blend_that_fails_its_check_publishes_nothing(market, monkeypatch):
    """combined_scores is audited before it publishes: a blend with a score outside [0, 100] is refused with the
    check's message and the previously published rows stay exactly as they were."""
    from meridian_assets.analysis import assets as llm_assets

    home, _, _, _ = market
    db = home / "meridian.duckdb"
    assert materialize(market, key=None).success
    before = query(db, "SELECT * FROM combined_scores ORDER BY date, ticker").write_csv()
    real_blend = llm_assets.blend
    monkeypatch.setattr(llm_assets, "blend", lambda *a, **k: real_blend(*a, **k).with_columns(
        combined_score=pl.col("combined_score") + 150.0))
    result = materialize(market, key=None)
    assert not result.success
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
              and e.event_specific_data.asset_key.to_user_string() == "combined_scores"]
    assert len(checks) == 1 and not checks[0].passed and "combined_scores" in checks[0].description
    assert "combined_scores" not in metadata(result)
    assert query(db, "SELECT * FROM combined_scores ORDER BY date, ticker").write_csv() == before
