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


def _filled(fills: pl.DataFrame | None) -> pl.DataFrame:
    if fills is None or fills.height == 0:
        return pl.DataFrame(schema={"rebalance_id": pl.Utf8, "orders": pl.UInt32, "filled_orders": pl.UInt32,
                                    "notional": pl.Float64, "slippage_dollars": pl.Float64,
                                    "slippage_bps": pl.Float64})
    sent = fills.filter(~pl.col("status").is_in(["SKIPPED", "VETOED", "HALTED"]))
    return sent.group_by("rebalance_id").agg(
        pl.len().alias("orders"), (pl.col("shares") > 0).sum().alias("filled_orders"),
        (pl.col("shares") * pl.col("fill_price")).filter(pl.col("shares") > 0).sum().alias("notional"),
        pl.col("slippage_dollars").fill_null(0.0).sum().alias("slippage_dollars"),
        pl.col("slippage_bps").filter(pl.col("shares") > 0).mean().alias("slippage_bps"))


def _rebalances(inputs: ReportInputs, start: dt.date, end: dt.date) -> list[dict]:
    """The week's rebalances: trades decided by status and, for those sent to the broker, the venue's fills."""
    a = inputs.approvals.filter(pl.col("date").is_between(start, end))
    if a.height == 0:
        return []
    methods = dict(inputs.target_book.group_by("rebalance_id").agg(pl.col("method").first()).iter_rows())
    fills = {r["rebalance_id"]: r for r in _filled(inputs.fills).iter_rows(named=True)}
    out = []
    for (rid,), g in a.sort("rebalance_id").group_by("rebalance_id", maintain_order=True):
        counts = dict(g.group_by("status").len().iter_rows())
        committed = g.filter(pl.col("status") == "EXECUTED")
        f = fills.get(rid, {})
        out.append({"rebalance_id": rid, "date": g["date"].min(), "method": methods.get(rid),
                    "decided": counts.get("EXECUTED", 0) + counts.get("APPROVED", 0),
                    "mode": "venue" if counts.get("APPROVED") else "committed",
                    "orders": f.get("orders", 0), "filled_orders": f.get("filled_orders", 0),
                    "vetoed": counts.get("VETOED", 0), "rejected": counts.get("REJECTED", 0),
                    "slippage_bps": f.get("slippage_bps"),
                    "notional": float(f.get("notional") or 0.0) if counts.get("APPROVED")
                    else float((committed["shares"] * committed["price"]).sum())})
    return out


def _executions(inputs: ReportInputs, start: dt.date, end: dt.date) -> dict:
    """Orders on the venue since inception and in the week: outcomes by status, slippage; book's source."""
    f = inputs.fills
    if f is None or f.height == 0:
        return {"ran": False}
    stamp = pl.coalesce("finished_at", "submitted_at", "recorded_at").cast(pl.Date)
    week = f.filter(stamp.is_between(start, end))
    filled = f.filter(pl.col("shares") > 0)
    by_status = [{"status": s, "all": n, "week": week.filter(pl.col("status") == s).height}
                 for s, n in sorted(f.group_by("status").len().iter_rows())]
    source = inputs.positions["source"].unique().to_list() if "source" in inputs.positions.columns else []
    return {"ran": True, "orders": f.height, "rebalances": f["rebalance_id"].n_unique(), "by_status": by_status,
            "filled": filled.height, "week_filled": week.filter(pl.col("shares") > 0).height,
            "shares": int(filled["shares"].sum()), "notional": float((filled["shares"] * filled["fill_price"]).sum()),
            "slippage_bps": filled["slippage_bps"].mean(), "slippage_dollars": float(
                filled["slippage_dollars"].fill_null(0.0).sum()),
            "first": f.select(stamp.min()).item(), "last": f.select(stamp.max()).item(),
            "positions": inputs.positions.height, "source": ", ".join(sorted(str(x) for x in source if x))}


def _sleeves(inputs: ReportInputs) -> dict:
    """The meta layer: latest decision per sleeve, and the history of its allocations across sleeves."""
    d = inputs.sleeve_decisions
    decisions = d.select("sleeve", "decision", "confidence", "live_sharpe", "backtest_sharpe", "live_drawdown",
                         "reason").to_dicts() if d.height else []
    w = inputs.sleeve_weights
    names = sorted(w["sleeve"].unique().to_list()) if w.height else []
    history = [{"as_of": day, "weights": dict(zip(g["sleeve"].to_list(), g["weight"].to_list()))}
               for (day,), g in w.sort("as_of").group_by("as_of", maintain_order=True)] if w.height else []
    return {"decisions": decisions, "decided_on": d["as_of"][0] if d.height else None, "names": names,
            "history": history}


def report_context(week_start: dt.date, week_end: dt.date, inputs: ReportInputs, cfg: MeridianConfig,
                   summary_row: dict, chart_dir: Path, summary_file: Path | None,
                   replay=None) -> tuple[dict, dict[str, Path]]:
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
        "live_vs_sim": charts.live_vs_sim(lvs, analytics.simulator_legend(inputs)),
        "equity_curve": charts.equity_curve(dates, rr, spy_al),
        "attribution_week": charts.attribution_bars(week_attr),
    }
    paths = {name: charts.save(png, chart_dir, name) for name, png in pngs.items()}
    last_lvs = lvs.row(-1, named=True) if lvs.height else {}
    simulator = {"engine": inputs.simulated is not None, "label": analytics.simulator_label(inputs),
                 "start": lvs["date"].min() if lvs.height else None,
                 "costs": dict(replay.costs) if replay is not None else {},
                 "cost_total": sum(replay.costs.values()) if replay is not None else None,
                 "vetoed": replay.vetoed if replay is not None else None,
                 "deferred": replay.deferred if replay is not None else None,
                 "live": analytics.live_costs(inputs)}
    # the audit names the archived context by its place under the outputs, never a path of this machine
    archived = None
    if summary_file:
        try:
            archived = str(Path(summary_file).relative_to(cfg.output_dir()))
        except ValueError:
            archived = Path(summary_file).name
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
        "lvs": last_lvs, "lvs_rows": lvs.height, "simulator": simulator,
        "executions": _executions(inputs, week_start, week_end), "sleeves": _sleeves(inputs),
        "inception": rc.fund.inception, "annualised": sheet.topline.get("sessions", 0) >= 252,
        "week_attr": week_attr.to_dicts(), "attr_week": ctx.get("attribution_bps", {}),
        "sheet": sheet.context(), "moves_sleeve": moves.filter(pl.col("level") == "sleeve").to_dicts(),
        "moves_position": moves.filter(pl.col("level") == "position").to_dicts(),
        "moves_meta": moves.row(0, named=True) if moves.height else None,
        "charts": {name: image_uri(p) for name, p in paths.items()},
        "audit": {"table": "weekly_change_summary", "week_start": week_start,
                  "context_sha256": summary_row["context_sha256"], "llm_status": summary_row["llm_status"],
                  "model": summary_row.get("model"), "file": archived,
                  "risk_free_rate": rc.risk_free_rate, "sessions": int(np.isfinite(rr).sum())},
    }
    return context, paths


def build_weekly_pdf(week_start: dt.date, week_end: dt.date, inputs: ReportInputs, cfg: MeridianConfig,
                     summary_row: dict, out_dir: Path, summary_file: Path | None = None, replay=None) -> WeeklyReport:
    """Render the week's report to ``out_dir/weekly_report_<week_end>.pdf`` (charts beside it). ``replay``: the
    simulator's run behind ``inputs.simulated`` (`meta.replay.Replay`), for its costs and vetoes."""
    chart_dir = out_dir / f"weekly_{week_end.isoformat()}"
    context, paths = report_context(week_start, week_end, inputs, cfg, summary_row, chart_dir, summary_file, replay)
    html = render("weekly_report.html.j2", **context)
    path = out_dir / f"weekly_report_{week_end.isoformat()}.pdf"
    (chart_dir / "weekly_report.html").write_text(html)
    pages = write_pdf(html, path)
    data = path.read_bytes()
    return WeeklyReport(path=path, pages=pages, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
                        doc_id=context["doc_id"], charts=paths, context=context)
