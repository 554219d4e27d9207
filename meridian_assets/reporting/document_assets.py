"""Layer-7 document assets: the weekly change summary, the weekly PDF, the weekly commentary (weekly
partitions) and the letter to limited partners.

The LLM is reached only through `llm_bridge.structured_llm` (an injectable callable); without a key the
documents say plainly that no LLM text was generated. Every LLM answer is archived with its exact context,
prompts, model and usage in the document's table.
"""

import datetime as dt
import json
from typing import Optional

import dagster as dg
import polars as pl

from meridian_assets.gates import require_clean_inputs
from meridian_assets.reporting import analytics, letters, llm_bridge, regimes, weekly
from meridian_assets.reporting.assets import NO_BOOK, allocation_snapshots, daily_attribution, with_simulator
from meridian_assets.reporting.inputs import load, read_table, report_as_of
from meridian_assets.reporting.partitions import run_end, week_of, weekly_partitions
from meridian_assets.reporting.pdf import render, write_pdf
from meridian_assets.reporting.schemas import (
    DAILY_ATTRIBUTION, LP_LETTER, WEEKLY_CHANGE_SUMMARY, WEEKLY_COMMENTARY, WEEKLY_REPORT_PDF,
)
from meridian_assets.reporting.weekly_report import build_weekly_pdf
from meridian_assets.storage import read, replace_window, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

GROUP = "reporting"
SINGLE_RUN = dg.BackfillPolicy.single_run()
MD = dg.MetadataValue


def _weeks(context: dg.AssetExecutionContext) -> list[tuple[dt.date, dt.date]]:
    return [week_of(k) for k in context.partition_keys]


def _sleeve_decisions(conn, week_start: dt.date, week_end: dt.date) -> pl.DataFrame | None:
    """The meta layer's sleeve decisions of the week as (name, decision); None while there is no meta layer."""
    if not table_exists(conn, "sleeve_decisions"):
        return None
    return read(conn, "SELECT sleeve AS name, decision FROM sleeve_decisions WHERE as_of BETWEEN ? AND ?",
                [week_start, week_end])


def _week_inputs(conn, cfg, inputs, week_start: dt.date, week_end: dt.date) -> weekly.WeekInputs:
    rc = cfg.reporting
    fills = inputs.fills
    return weekly.WeekInputs(
        history=inputs.history,
        attribution=read_table(conn, DAILY_ATTRIBUTION, "WHERE date <= ?", [week_end]),
        snapshots=inputs.snapshots, approvals=inputs.approvals,
        vix=regimes.vix_regimes(inputs.prices, rc.vix_low, rc.vix_high),
        market=regimes.market_regimes(cfg, week_start - dt.timedelta(days=7), week_end),
        fills=fills, meta_decisions=_sleeve_decisions(conn, week_start, week_end),
    )


def _summary_file(cfg, week_end: dt.date):
    return cfg.output_dir() / cfg.reporting.output_subdir / "weekly" / f"weekly_change_summary_{week_end}.json"


@dg.asset(group_name=GROUP, partitions_def=weekly_partitions, backfill_policy=SINGLE_RUN,
          deps=[allocation_snapshots, daily_attribution, "position_approvals", "portfolio_history"],
          pool=DUCKDB_POOL, kinds={"duckdb", "json"})
def weekly_change_summary(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """What changed this week: the deterministic context (allocation moves, P&L start and end, attribution,
    decisions, regime and multiplier, method) stored with its SHA-256, and, when an LLM is configured, its
    structured answer (headline, bullets, risks, actions) archived with the exact prompts, model and usage.
    Also output/reports/weekly/weekly_change_summary_<week end>.json."""
    require_clean_inputs(context)
    cfg = settings.get()
    llm, note = llm_bridge.structured_llm(cfg.reporting.commentary_provider, run_id=context.run_id, config=cfg,
                                          database=db.database)
    done = []
    for week_start, week_end in _weeks(context):
        with db.connect() as conn:
            as_of = report_as_of(conn, week_end)
            inputs = load(conn, cfg, as_of or week_end)
            ctx = weekly.build_context(week_start, week_end, _week_inputs(conn, cfg, inputs, week_start, week_end),
                                       cfg)
        row = weekly.summarize(ctx, cfg, llm, note, week_start, week_end)
        with db.connect() as conn:
            replace_window(conn, WEEKLY_CHANGE_SUMMARY, row, week_start, week_start)
        r = row.row(0, named=True)
        path = _summary_file(cfg, week_end)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"context": ctx, "context_sha256": r["context_sha256"], "llm": {
            k: r[k] for k in ("llm_status", "llm_note", "provider", "model", "system_prompt", "user_prompt",
                              "response_json", "input_tokens", "output_tokens", "cost_usd")}}, indent=2, default=str))
        if r["llm_status"] != "generated":
            context.log.info(f"week {week_start}: no LLM summary ({r['llm_status']}: {r['llm_note']})")
        done.append((week_start, r, path))
    week_start, r, path = done[-1]
    return dg.MaterializeResult(metadata={
        "weeks": MD.int(len(done)), "week_start": MD.text(str(week_start)), "context_sha256": MD.text(r["context_sha256"]),
        "llm_status": MD.text(r["llm_status"]), "llm_note": MD.text(r["llm_note"] or ""),
        "model": MD.text(r["model"] or ""), "file": MD.path(str(path)),
        "headline": MD.text(r["headline"] or "no LLM summary was generated"),
        "context": MD.md("```json\n" + json.dumps(json.loads(r["context_json"]), indent=1)[:6000] + "\n```"),
    })


@dg.asset(group_name=GROUP, partitions_def=weekly_partitions, backfill_policy=SINGLE_RUN,
          deps=[weekly_change_summary, "portfolio_history", "target_book", "daily_prices"],
          pool=DUCKDB_POOL, kinds={"duckdb", "pdf"})
def weekly_report_pdf(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """The weekly report for limited partners as a PDF (WeasyPrint): executive summary, decisions, top
    allocations, CVaR heatmap by regime, what changed this week, live vs simulated P&L, tear-sheet highlights,
    capital-movement appendix and an audit footer naming the stored context it was built from."""
    require_clean_inputs(context)
    cfg = settings.get()
    out = cfg.output_dir() / cfg.reporting.output_subdir / "weekly"
    built = []
    for week_start, week_end in _weeks(context):
        with db.connect() as conn:
            summary = read_table(conn, WEEKLY_CHANGE_SUMMARY, "WHERE week_start = ?", [week_start])
            as_of = report_as_of(conn, week_end)
            inputs = load(conn, cfg, as_of) if as_of else None
        if summary.height == 0:
            raise dg.Failure(f"weekly_report_pdf {week_start}: no weekly_change_summary for the week; materialize it "
                             "first", allow_retries=False)
        if inputs is None:
            context.log.warning(f"week {week_start}: {NO_BOOK}")
            continue
        row = summary.row(0, named=True)
        replay = with_simulator(db, inputs, cfg)
        report = build_weekly_pdf(week_start, week_end, inputs, cfg, row, out, _summary_file(cfg, week_end),
                                  replay=replay)
        record = WEEKLY_REPORT_PDF.conform(pl.DataFrame([{
            "week_start": week_start, "week_end": week_end, "doc_id": report.doc_id, "path": str(report.path),
            "sha256": report.sha256, "pages": report.pages, "bytes": report.bytes,
            "context_sha256": row["context_sha256"], "llm_status": row["llm_status"],
            "created_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)}]))
        with db.connect() as conn:
            replace_window(conn, WEEKLY_REPORT_PDF, record, week_start, week_start)
        built.append(report)
    if not built:
        return dg.MaterializeResult(metadata={"status": MD.text(NO_BOOK), "pdfs": MD.int(0)})
    last = built[-1]
    return dg.MaterializeResult(metadata={
        "pdfs": MD.int(len(built)), "path": MD.path(str(last.path)), "pages": MD.int(last.pages),
        "bytes": MD.int(last.bytes), "sha256": MD.text(last.sha256), "doc_id": MD.text(last.doc_id),
        **{f"chart_{k}": MD.path(str(p)) for k, p in last.charts.items()},
    })


@dg.asset(group_name=GROUP, partitions_def=weekly_partitions, backfill_policy=SINGLE_RUN,
          deps=[weekly_change_summary], pool=DUCKDB_POOL, kinds={"duckdb", "markdown"})
def weekly_commentary(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """The week's commentary: one paragraph of 3-6 sentences in the house voice from the week's stored
    context (at most 4 KB), written by the LLM when configured, else a placeholder saying none was generated;
    voice-check flags recorded, never blocking. output/commentary/weekly_<week end>.md."""
    require_clean_inputs(context)
    cfg = settings.get()
    fund = cfg.reporting.fund
    llm, note = llm_bridge.structured_llm(cfg.reporting.commentary_provider, run_id=context.run_id, config=cfg,
                                          database=db.database)
    for week_start, week_end in _weeks(context):
        with db.connect() as conn:
            summary = read_table(conn, WEEKLY_CHANGE_SUMMARY, "WHERE week_start = ?", [week_start])
        if summary.height == 0:
            raise dg.Failure(f"weekly_commentary {week_start}: no weekly_change_summary for the week; materialize "
                             "it first", allow_retries=False)
        ctx = json.loads(summary["context_json"][0])
        body = letters.write_body("commentary", ctx, cfg, llm, note)
        for flag in body.flags:
            context.log.warning(f"weekly_commentary {week_end} voice check: {flag}")
        doc = letters.doc_id(fund.doc_id_prefix, week_end)
        path = cfg.output_dir() / "commentary" / f"weekly_{week_end}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render("commentary.md.j2", fund=fund, week_start=week_start, week_end=week_end, doc_id=doc,
                               stamp=letters.STAMP, paragraphs=body.paragraphs, source=body.source,
                               model=body.model, flags=body.flags,
                               week_return_bps=ctx["portfolio"].get("week_return_bps"),
                               pnl_end_bps=ctx["portfolio"].get("pnl_end_bps")))
        row = WEEKLY_COMMENTARY.conform(pl.DataFrame([{
            "week_start": week_start, "week_end": week_end, **letters.document_row(body, doc, str(path), ctx)}]))
        with db.connect() as conn:
            replace_window(conn, WEEKLY_COMMENTARY, row, week_start, week_start)
    return dg.MaterializeResult(metadata={
        "path": MD.path(str(path)), "doc_id": MD.text(doc), "source": MD.text(body.source),
        "note": MD.text(body.note or ""), "voice_flags": MD.json(body.flags), "body": MD.md(body.text),
    })


class LetterConfig(dg.Config):
    """Run options of `lp_letter` (`meridian report --letter --force`)."""

    force: bool = False  # write the letter again even if today's exists
    as_of: Optional[str] = None  # YYYY-MM-DD; default: the latest book session of the run


@dg.asset(group_name=GROUP, deps=[allocation_snapshots, daily_attribution, "portfolio_history"], pool=DUCKDB_POOL,
          kinds={"duckdb", "markdown", "pdf"})
def lp_letter(context: dg.AssetExecutionContext, config: LetterConfig, db: DuckDBStore, settings: MeridianSettings):
    """The letter to limited partners for the latest session: letterhead (fund, domicile, inception, AUM,
    document id MCP-IM-YYYY-MMDD), confidential stamp, a 3-4 paragraph body from the LLM when configured (else a
    placeholder), signature block and compliance footer, as Markdown and PDF in output/letters/. Written once
    per date; `force` rewrites it."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        end = dt.date.fromisoformat(config.as_of) if config.as_of else run_end(context)
        as_of = report_as_of(conn, end)
        if as_of is None:
            return dg.MaterializeResult(metadata={"status": MD.text(NO_BOOK)})
        existing = read_table(conn, LP_LETTER, "WHERE as_of = ?", [as_of])
        inputs = load(conn, cfg, as_of)
        monday = as_of - dt.timedelta(days=as_of.weekday())
        week_inputs = _week_inputs(conn, cfg, inputs, monday, as_of)
    md_path = cfg.output_dir() / "letters" / f"letter_{as_of}.md"
    if existing.height and md_path.exists() and not config.force:
        r = existing.row(0, named=True)
        return dg.MaterializeResult(metadata={"cached": MD.bool(True), "doc_id": MD.text(r["doc_id"]),
                                              "path": MD.path(r["path"]), "source": MD.text(r["source"])})
    ctx = weekly.build_context(monday, as_of, week_inputs, cfg)
    sheet = analytics.book_returns(inputs)
    ctx["since_inception"] = {"first_session": str(sheet["date"].min()), "sessions": sheet.height}
    llm, note = llm_bridge.structured_llm(cfg.reporting.commentary_provider, run_id=context.run_id, config=cfg,
                                          database=db.database)
    body = letters.write_body("letter", ctx, cfg, llm, note)
    for flag in body.flags:
        context.log.warning(f"lp_letter {as_of} voice check: {flag}")
    aum = float(inputs.history["nav"][-1]) if inputs.history.height else None
    doc_context = letters.letter_context(as_of, cfg, aum, body)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(render("letter.md.j2", **doc_context))
    pdf_path = md_path.with_suffix(".pdf")
    pages = write_pdf(render("letter.html.j2", **doc_context), pdf_path)
    row = LP_LETTER.conform(pl.DataFrame([{"as_of": as_of, **letters.document_row(body, doc_context["doc_id"],
                                                                                  str(md_path), ctx)}]))
    with db.connect() as conn:
        replace_window(conn, LP_LETTER, row, as_of, as_of)
    return dg.MaterializeResult(metadata={
        "cached": MD.bool(False), "doc_id": MD.text(doc_context["doc_id"]), "path": MD.path(str(md_path)),
        "pdf": MD.path(str(pdf_path)), "pages": MD.int(pages), "source": MD.text(body.source),
        "note": MD.text(body.note or ""), "voice_flags": MD.json(body.flags), "body": MD.md(body.text),
    })


WEEKLY_ASSETS = [weekly_change_summary, weekly_report_pdf, weekly_commentary]
DOCUMENT_ASSETS = [*WEEKLY_ASSETS, lp_letter]
