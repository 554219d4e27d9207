"""The weekly report for limited partners: figures, charts and the stored summary, rendered to one PDF.

Pages (`templates/reports/weekly_report.html.j2`): executive summary with the key figures and the summary's
headline (or the plain statement that no LLM summary was generated); decisions; top allocations; tail risk
by regime (CVaR95 heatmap); what changed this week; live versus simulated P&L; tear-sheet highlights; the
capital-movement appendix; and an audit footer naming the stored context (table, week, SHA-256, file) the
report was built from. Every figure is computed by the same functions as the Layer-7 tables, as of the last
session of the week.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.reporting import analytics, charts, tearsheet
from meridian_assets.reporting.allocation import capital_movement, latest_allocation
from meridian_assets.reporting.inputs import ReportInputs, latest_factor_exposures
from meridian_assets.reporting.letters import STAMP, doc_id
from meridian_assets.reporting.pdf import image_uri, render, write_pdf
from meridian_assets.reporting.weekly import summary_text

SECTION_TITLES = ("Executive summary", "Decisions", "Top allocations", "Tail risk by regime",
                  "What changed this week", "Live vs simulated P&L", "Tear-sheet highlights",
                  "Appendix: capital movement", "Audit")


@dataclass(frozen=True)
class WeeklyReport:
    path: Path
    pages: int
    sha256: str
    bytes: int
    doc_id: str
    charts: dict[str, Path]
    context: dict


def _period_return(book: pl.DataFrame, start: dt.date, end: dt.date) -> float | None:
    r = book.filter(pl.col("date").is_between(start, end))["ret"]
    return float((r + 1).product() - 1) if r.len() else None


def _top_allocations(snapshots: pl.DataFrame, target_book: pl.DataFrame, end: dt.date, n: int) -> dict:
    snap = latest_allocation(snapshots, end)
    pos = snap.filter(pl.col("level") == "position")
    if pos.height == 0:
        return {"run_id": None, "as_of": None, "method": None, "longs": [], "shorts": [], "sleeves": []}
    rid = snap["run_id"][0]
    sectors = target_book.filter(pl.col("rebalance_id") == rid).select("ticker", "sector", "score")
    pos = pos.join(sectors.rename({"ticker": "name"}), on="name", how="left")
    longs = pos.filter(pl.col("weight") > 0).sort("weight", descending=True).head(n)
    shorts = pos.filter(pl.col("weight") < 0).sort("weight").head(n)
    return {"run_id": rid, "as_of": snap["as_of"][0], "method": snap["method"][0], "longs": longs.to_dicts(),
            "shorts": shorts.to_dicts(), "sleeves": snap.filter(pl.col("level") == "sleeve").to_dicts(),
            "long_total": float(pos.filter(pl.col("weight") > 0)["weight"].sum()),
            "short_total": float(pos.filter(pl.col("weight") < 0)["weight"].sum()), "names": pos.height}


def _rebalances(inputs: ReportInputs, start: dt.date, end: dt.date) -> list[dict]:
    a = inputs.approvals.filter(pl.col("date").is_between(start, end))
    if a.height == 0:
        return []
    methods = dict(inputs.target_book.group_by("rebalance_id").agg(pl.col("method").first()).iter_rows())
    out = []
    for (rid,), g in a.sort("rebalance_id").group_by("rebalance_id", maintain_order=True):
        counts = dict(g.group_by("status").len().iter_rows())
        out.append({"rebalance_id": rid, "date": g["date"].min(), "method": methods.get(rid),
                    "executed": counts.get("EXECUTED", 0), "approved": counts.get("APPROVED", 0),
                    "vetoed": counts.get("VETOED", 0), "rejected": counts.get("REJECTED", 0),
                    "notional": float((g.filter(pl.col("status") == "EXECUTED")["shares"]
                                       * g.filter(pl.col("status") == "EXECUTED")["price"]).sum())})
    return out


def report_context(week_start: dt.date, week_end: dt.date, inputs: ReportInputs, cfg: MeridianConfig,
                   summary_row: dict, chart_dir: Path, summary_file: Path | None) -> tuple[dict, dict[str, Path]]:
    """Everything the template renders, and the chart files written for it."""
    rc = cfg.reporting
    as_of = inputs.as_of
    ctx = json.loads(summary_row["context_json"])
    book = analytics.book_returns(inputs)
    returns = book
    spy = analytics.spy_returns(inputs)
    positions = analytics.position_attribution(inputs)
    predictive = analytics.predictive_power(positions, cfg)
    sheet = tearsheet.build(
        as_of, rc.fund.name, returns, spy, positions=analytics.open_positions(inputs),
        factor_exposures=latest_factor_exposures(inputs.factor_exposures),
        turnover=analytics.turnover(inputs, cfg), win_loss=analytics.win_loss(positions, inputs, cfg),
        predictive=predictive, risk_free_rate=rc.risk_free_rate, rolling_window=rc.rolling_sharpe_days,
        confidence=rc.cvar_confidence, with_charts=False)
    w_start, w_end = analytics.report_window(as_of, cfg)
    cvar = analytics.cvar_by_regime(inputs, cfg, w_start, w_end)
    lvs = analytics.live_vs_simulated(inputs, w_start, w_end)
    attribution = analytics.daily_attribution(inputs, cfg)
    week_attr = attribution.filter(pl.col("date").is_between(week_start, week_end))
    moves = capital_movement(inputs.snapshots, rc.capital_movement_snapshots, rc.capital_movement_top_n, week_end)
    r = returns.filter(pl.col("date") <= as_of)
    dates, rr = r["date"].to_list(), r["ret"].to_numpy()
    spy_al = r.select("date").join(spy, on="date", how="left")["ret"].fill_null(0.0).to_numpy()
    pngs = {
        "cvar_heatmap": charts.cvar_heatmap(cvar),
        "live_vs_sim": charts.live_vs_sim(lvs),
        "equity_curve": charts.equity_curve(dates, rr, spy_al),
        "attribution_week": charts.attribution_bars(week_attr),
    }
    paths = {name: charts.save(png, chart_dir, name) for name, png in pngs.items()}
    last_lvs = lvs.row(-1, named=True) if lvs.height else {}
    all_cell = cvar.filter((pl.col("vix_regime") == "ALL") & (pl.col("market_regime") == "ALL"))
    hist_last = inputs.history.row(-1, named=True) if inputs.history.height else {}
    context = {
        "titles": SECTION_TITLES, "fund": rc.fund, "stamp": STAMP, "doc_id": doc_id(rc.fund.doc_id_prefix, week_end),
        "week_start": week_start, "week_end": week_end, "as_of": as_of,
        "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kpi": {
            "nav": hist_last.get("nav"), "week_return": _period_return(book, week_start, week_end),
            "mtd": _period_return(book, as_of.replace(day=1), as_of),
            "ytd": _period_return(book, dt.date(as_of.year, 1, 1), as_of),
            "inception": sheet.topline.get("total_return"), "sharpe": sheet.topline.get("sharpe"),
            "max_drawdown": sheet.topline.get("max_drawdown"), "cvar95": sheet.topline.get("cvar95"),
            "gross": hist_last.get("gross"), "net": hist_last.get("net"), "beta": hist_last.get("beta"),
            "positions": hist_last.get("positions"),
        },
        "summary": summary_text(summary_row), "ctx": ctx,
        "rebalances": _rebalances(inputs, week_start, week_end),
        "top": _top_allocations(inputs.snapshots, inputs.target_book, week_end, rc.top_allocations),
        "cvar": cvar.to_dicts(), "cvar_all": all_cell.row(0, named=True) if all_cell.height else None,
        "window_start": w_start, "window_end": w_end, "vix_low": rc.vix_low, "vix_high": rc.vix_high,
        "lvs": last_lvs, "lvs_rows": lvs.height,
        "week_attr": week_attr.to_dicts(), "attr_week": ctx.get("attribution_bps", {}),
        "sheet": sheet.context(), "moves_sleeve": moves.filter(pl.col("level") == "sleeve").to_dicts(),
        "moves_position": moves.filter(pl.col("level") == "position").to_dicts(),
        "moves_meta": moves.row(0, named=True) if moves.height else None,
        "charts": {name: image_uri(p) for name, p in paths.items()},
        "audit": {"table": "weekly_change_summary", "week_start": week_start,
                  "context_sha256": summary_row["context_sha256"], "llm_status": summary_row["llm_status"],
                  "model": summary_row.get("model"), "file": str(summary_file) if summary_file else None,
                  "risk_free_rate": rc.risk_free_rate, "sessions": int(np.isfinite(rr).sum())},
    }
    return context, paths


def build_weekly_pdf(week_start: dt.date, week_end: dt.date, inputs: ReportInputs, cfg: MeridianConfig,
                     summary_row: dict, out_dir: Path, summary_file: Path | None = None) -> WeeklyReport:
    """Render the week's report to ``out_dir/weekly_report_<week_end>.pdf`` (charts beside it)."""
    chart_dir = out_dir / f"weekly_{week_end.isoformat()}"
    context, paths = report_context(week_start, week_end, inputs, cfg, summary_row, chart_dir, summary_file)
    html = render("weekly_report.html.j2", **context)
    path = out_dir / f"weekly_report_{week_end.isoformat()}.pdf"
    (chart_dir / "weekly_report.html").write_text(html)
    pages = write_pdf(html, path)
    data = path.read_bytes()
    return WeeklyReport(path=path, pages=pages, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
                        doc_id=context["doc_id"], charts=paths, context=context)
