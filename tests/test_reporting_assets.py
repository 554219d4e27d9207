"""Wiring: the Layer-7 assets on a hand-built book over the 40-name embedded market, in tmp_path.

One module fixture loads prices, writes a book (Layer-4 tables) and factor returns, materializes the daily
reports as of Friday 2024-03-22 and the weekly documents for the week of 2024-03-18 with no LLM configured.
The weekly PDF is opened and read back.
"""

import datetime as dt
import json

import dagster as dg
import duckdb
import polars as pl
import pytest
from pypdf import PdfReader

from meridian_assets import calendar
from meridian_assets.definitions import build_resources
from meridian_assets.reporting import formatting as fmt
from meridian_assets.reporting import llm_bridge
from meridian_assets.reporting.assets import ANALYTICS_ASSETS, allocation_snapshots, daily_attribution
from meridian_assets.reporting.document_assets import DOCUMENT_ASSETS, WEEKLY_ASSETS, lp_letter, weekly_change_summary
from meridian_assets.reporting.llm_bridge import LLMAnswer
from meridian_assets.reporting.partitions import REPORT_AS_OF_TAG
from meridian_assets.reporting.weekly_report import SECTION_TITLES
from tests.conftest import materialize_ingest, module_home, query, write_config
from tests.test_reporting_book import build_book, factor_returns_frame, write_book

AS_OF = dt.date(2024, 3, 22)
WEEK = "2024-03-18"
TAGS = {REPORT_AS_OF_TAG: AS_OF.isoformat()}


def _mats(result) -> dict:
    return {e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def _materialize(res, assets, **kw):
    return dg.materialize([*ANALYTICS_ASSETS, *DOCUMENT_ASSETS], selection=assets, resources=res,
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, **kw)


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    no_keys = pytest.MonkeyPatch()
    for key in llm_bridge.KEY_ENV.values():
        no_keys.delenv(key, raising=False)
    with module_home(tmp_path_factory, "reporting") as (home, _, res):
        assert materialize_ingest(res, dt.date(2023, 6, 1), dt.date(2024, 3, 28),
                                  selection=["universe", "daily_prices"]).success
        conn = duckdb.connect(str(home / "meridian.duckdb"))
        prices, universe = conn.sql("SELECT * FROM daily_prices").pl(), conn.sql("SELECT * FROM universe").pl()
        sessions = calendar.sessions(dt.date(2023, 8, 1), dt.date(2024, 3, 28))
        write_book(conn, build_book(prices, universe, sessions[::10]), factor_returns_frame(sessions))
        conn.close()
        daily = _materialize(res, [*ANALYTICS_ASSETS, lp_letter], tags=TAGS)
        weekly = _materialize(res, WEEKLY_ASSETS, partition_key=WEEK)
        yield home, res, daily, weekly
    no_keys.undo()


def test_daily_and_weekly_reports_materialize(reported):
    home, _, daily, weekly = reported
    assert daily.success and weekly.success
    db = home / "meridian.duckdb"
    for table in ("daily_attribution", "position_attribution", "win_loss", "sector_relative_alpha", "turnover_and_tax",
                  "tear_sheet", "allocation_snapshots", "capital_movement", "cvar_by_regime", "live_vs_sim",
                  "lp_letter", "weekly_change_summary", "weekly_report_pdf", "weekly_commentary"):
        assert query(db, f"SELECT count(*) n FROM {table}")["n"][0] > 0, table
    assert query(db, "SELECT max(date) d FROM daily_attribution")["d"][0] == AS_OF


def test_attribution_components_sum_to_the_book_return_and_the_csv_is_upserted(reported, tmp_path):
    home, res, _, _ = reported
    db = home / "meridian.duckdb"
    a = query(db, "SELECT * FROM daily_attribution ORDER BY date")
    h = query(db, "SELECT date, daily_return FROM portfolio_history WHERE date <= '2024-03-22' ORDER BY date")
    gap = a.select((pl.col("beta_return") + pl.col("sector_return") + pl.col("factor_return") + pl.col("alpha_return")
                    - pl.col("total_return")).abs().max()).item()
    assert gap < 1e-12
    assert a["total_return"].to_list() == pytest.approx(h["daily_return"].to_list(), abs=1e-15)
    assert (a["factor_observations"].max() or 0) > 0  # factor betas were estimated once 20 sessions existed
    csv = pl.read_csv(home / "output" / "daily_attribution.csv", try_parse_dates=True)
    assert csv.height == a.height and csv["date"].n_unique() == csv.height
    again = _materialize(res, [daily_attribution], tags=TAGS)
    assert again.success
    assert pl.read_csv(home / "output" / "daily_attribution.csv").height == csv.height
    assert query(db, "SELECT count(*) n FROM daily_attribution")["n"][0] == a.height


def test_allocation_snapshots_are_append_only_and_idempotent(reported):
    home, res, daily, _ = reported
    db = home / "meridian.duckdb"
    before = query(db, "SELECT * FROM allocation_snapshots ORDER BY snapshot_id, level, name")
    rebalances = query(db, "SELECT count(DISTINCT rebalance_id) n FROM target_book WHERE as_of <= '2024-03-22'")["n"][0]
    assert before["run_id"].n_unique() == rebalances
    assert _mats(daily)["allocation_snapshots"].metadata["appended"].value == rebalances
    again = _materialize(res, [allocation_snapshots], tags={REPORT_AS_OF_TAG: "2024-03-28"})
    assert _mats(again)["allocation_snapshots"].metadata["appended"].value == 0  # no rebalance after the 22nd
    after = query(db, "SELECT * FROM allocation_snapshots ORDER BY snapshot_id, level, name")
    assert after.equals(before)
    sleeves = after.filter(pl.col("level") == "sleeve")
    assert sleeves["name"].unique().to_list() == ["core"] and (sleeves["weight"] == 1.0).all()


def test_chart_assets_write_pngs_and_show_them_in_metadata(reported):
    _, _, daily, _ = reported
    mats = _mats(daily)
    for key in ("cvar_by_regime", "live_vs_sim"):
        md = mats[key].metadata
        assert md["chart"].value.startswith("![") and "data:image/png;base64," in md["chart"].value
        from pathlib import Path

        assert Path(md["png"].value).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "simulated" in mats["live_vs_sim"].metadata["label"].value
    for chart in ("equity_curve", "drawdown", "rolling_sharpe", "monthly_returns"):
        assert "base64," in mats["tear_sheet"].metadata[chart].value


def test_tear_sheet_markdown_has_the_eleven_sections(reported):
    home, *_ = reported
    from meridian_assets.reporting.tearsheet import SECTIONS

    md = (home / "output" / "tear_sheet_latest.md").read_text()
    headings = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)
    sharpe = query(home / "meridian.duckdb", "SELECT value FROM tear_sheet WHERE metric = 'sharpe' "
                                             "AND section = 'Top-line'")["value"][0]
    assert f"| Sharpe | {fmt.num(sharpe)} |" in md


def test_weekly_pdf_has_every_section_and_the_assets_numbers(reported):
    home, _, _, weekly = reported
    db = home / "meridian.duckdb"
    record = query(db, "SELECT * FROM weekly_report_pdf").row(0, named=True)
    text = " ".join((page.extract_text() or "") for page in PdfReader(record["path"]).pages)
    text = " ".join(text.split())
    for title in SECTION_TITLES:
        assert title in text, title
    summary = query(db, "SELECT * FROM weekly_change_summary").row(0, named=True)
    ctx = json.loads(summary["context_json"])
    assert summary["llm_status"] == "not_configured"
    assert "No LLM summary was generated" in text and "ANTHROPIC_API_KEY is not set" in text
    assert fmt.bps(ctx["portfolio"]["week_return_bps"], 1) in text
    assert fmt.bps(ctx["portfolio"]["pnl_end_bps"], 1) in text
    cvar = query(db, "SELECT * FROM cvar_by_regime WHERE vix_regime = 'ALL' AND market_regime = 'ALL'")
    assert fmt.bps(cvar["cvar_bps"][0], 0) in text
    move = query(db, "SELECT * FROM capital_movement WHERE level = 'position' AND rank = 1").row(0, named=True)
    assert move["name"] in text and fmt.weight(move["delta"]) in text
    lvs = query(db, "SELECT * FROM live_vs_sim ORDER BY date").row(-1, named=True)
    assert fmt.bps(lvs["difference_bps"], 1) in text
    assert summary["context_sha256"] in text and record["doc_id"] == "MCP-IM-2024-0322" and record["doc_id"] in text
    assert "Page 1 of" in text and record["pages"] == len(PdfReader(record["path"]).pages)
    assert _mats(weekly)["weekly_report_pdf"].metadata["sha256"].value == record["sha256"]


def test_documents_without_an_llm_say_so_plainly(reported):
    home, *_ = reported
    db = home / "meridian.duckdb"
    letter = query(db, "SELECT * FROM lp_letter").row(0, named=True)
    assert letter["doc_id"] == "MCP-IM-2024-0322" and letter["source"] == "placeholder"
    md = (home / "output" / "letters" / "letter_2024-03-22.md").read_text()
    for part in ("CONFIDENTIAL • LIMITED PARTNERS ONLY", "Dear Limited Partners,", "No letter body was generated",
                 "ANTHROPIC_API_KEY is not set", "Respectfully,", "not an offer to sell"):
        assert part in md, part
    assert (home / "output" / "letters" / "letter_2024-03-22.pdf").read_bytes()[:5] == b"%PDF-"
    commentary = query(db, "SELECT * FROM weekly_commentary").row(0, named=True)
    assert commentary["source"] == "placeholder" and "No commentary was generated" in commentary["body"]


class FakeLLM:
    """Answers every structured request with a fixed object in the shape asked for, recording the requests."""

    def __init__(self):
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        if "paragraphs" in request.schema["properties"]:
            content = {"paragraphs": ["The network gained this week!", "Executions were orderly.",
                                      "We believe risk is contained."]}
        elif "paragraph" in request.schema["properties"]:
            content = {"paragraph": "The network held its exposures. Executions were light. Risk stayed inside limits."}
        else:
            content = {"headline": "The network rotated its book.", "bullets": ["One rebalance."],
                       "risks": ["Concentration."], "actions": ["Review vetoes."]}
        return LLMAnswer(content=content, model="fake-model-1", provider=request.provider, raw=json.dumps(content),
                         input_tokens=321, output_tokens=45, cost_usd=0.0012)


def test_llm_answers_are_archived_with_the_exact_context_prompt_model_and_usage(reported, monkeypatch):
    home, res, _, _ = reported
    db = home / "meridian.duckdb"
    first = query(db, "SELECT * FROM weekly_change_summary").row(0, named=True)
    fake = FakeLLM()
    monkeypatch.setattr(llm_bridge, "structured_llm", lambda provider, **kw: (fake, ""))
    result = _materialize(res, [weekly_change_summary], partition_key=WEEK)
    assert result.success
    row = query(db, "SELECT * FROM weekly_change_summary").row(0, named=True)
    assert row["context_sha256"] == first["context_sha256"]  # the context is deterministic
    assert row["llm_status"] == "generated" and row["headline"] == "The network rotated its book."
    assert row["model"] == "fake-model-1" and row["input_tokens"] == 321 and row["output_tokens"] == 45
    assert row["system_prompt"] == fake.requests[0].system and row["user_prompt"] == fake.requests[0].user
    assert json.loads(row["user_prompt"])["context"] == json.loads(row["context_json"])
    letter = _materialize(res, [lp_letter], tags=TAGS,
                          run_config={"ops": {"lp_letter": {"config": {"force": True}}}})
    md = _mats(letter)["lp_letter"].metadata
    assert md["source"].value == "llm" and md["cached"].value is False
    flags = md["voice_flags"].value
    assert any("exclamation" in f for f in flags) and any("we believe" in f for f in flags)  # flagged, not blocked
    stored = query(db, "SELECT * FROM lp_letter").row(0, named=True)
    assert stored["model"] == "fake-model-1" and "Executions were orderly." in stored["body"]
    cached = _materialize(res, [lp_letter], tags=TAGS)
    assert _mats(cached)["lp_letter"].metadata["cached"].value is True and len(fake.requests) == 2


def test_reports_on_a_database_without_a_book_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    cfg = write_config(tmp_path)
    res = build_resources(str(cfg), str(tmp_path / "empty.duckdb"))
    result = _materialize(res, [daily_attribution, lp_letter])
    assert result.success
    for md in _mats(result).values():
        assert "no portfolio history yet" in md.metadata["status"].value
    weekly = _materialize(res, WEEKLY_ASSETS, partition_key=WEEK)
    assert weekly.success
    mats = _mats(weekly)
    assert "no portfolio history yet" in mats["weekly_report_pdf"].metadata["status"].value
    assert mats["weekly_commentary"].metadata["source"].value == "placeholder"
    ctx = json.loads(query(tmp_path / "empty.duckdb", "SELECT context_json FROM weekly_change_summary")["context_json"][0])
    assert ctx["portfolio"]["nav_end"] is None and ctx["week"] == {"start": WEEK, "end": "2024-03-22", "sessions": 0}


def _code_location(monkeypatch):
    """`build_definitions` with the reporting definitions in it (added here when the code location lacks them)."""
    import meridian_assets.definitions as location
    from meridian_assets.reporting.definitions import defs as reporting_defs

    real = location.build_definitions

    def build(config_path=None, database=None, loggers=None):
        d = real(config_path=config_path, database=database, loggers=loggers)
        if any(j.name == "reporting_job" for j in d.get_repository_def().get_all_jobs()):
            return d
        return dg.Definitions.merge(reporting_defs(), dg.Definitions(
            resources=build_resources(config_path, database), loggers=loggers))

    monkeypatch.setattr(location, "build_definitions", build)


def test_cli_report_commands(reported, monkeypatch, capsys):
    import argparse

    from meridian_assets.cli import report

    home, *_ = reported
    _code_location(monkeypatch)
    parser = argparse.ArgumentParser(prog="meridian")
    report.add_parser(parser.add_subparsers(dest="command"))
    assert report.run(parser.parse_args(["report", "--tearsheet"])) == 0
    out = capsys.readouterr().out
    assert "as of 2024-03-28" in out and f"tear_sheet: {home / 'output' / 'tear_sheet_latest.md'}" in out
    assert report.run(parser.parse_args(["report", "--weekly"])) == 0
    out = capsys.readouterr().out
    assert "weekly_report_pdf:" in out and (home / "output" / "reports" / "weekly" / "weekly_report_2024-03-28.pdf").exists()
    assert report.run(parser.parse_args(["report", "--letter", "--force", "--as-of", "2024-03-22"])) == 0
    assert "lp_letter:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "--daily", "--weekly"])
