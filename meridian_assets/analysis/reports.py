"""Per-candidate Markdown research notes and their index, written to ``output/reports_{YYYYMMDD_HHMMSS}/``.

One ``{TICKER}.md`` per candidate: the quant and combined scores, each analyst's findings with the
`llm_calls` id that produced them (so every sentence can be traced to its call), the sector view, upcoming
catalysts (earnings dates announced by the scored date) and the risk flags of every source in one list.
``INDEX.md`` lists the candidates with their scores and links.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from meridian_assets.factors.schemas import PARENTS
from meridian_assets.analysis.analyzers.earnings import DIMENSIONS

TITLES = {"earnings": "Earnings call", "filing": "Financial statements", "risk_factor": "10-K risk factors",
          "insider": "Insider trading"}


def _f(v: object, spec: str = ".1f") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    return format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def _flag(long: object, short: object) -> str:
    return "LONG" if long else "SHORT" if short else "—"


def _answer(row: dict | None) -> dict:
    if not row or not row.get("result_json"):
        return {}
    try:
        return json.loads(row["result_json"])
    except ValueError:
        return {}


def risk_flags(cand: dict, results: dict[str, dict]) -> list[str]:
    """Every warning about a name, from the quant scores and each analyst, one line each."""
    flags = []
    if cand.get("altman_band") == "distress":
        flags.append("Altman Z in the distress zone (quant)")
    if cand.get("piotroski_band") == "weak":
        flags.append("weak Piotroski F-score (quant)")
    filing = _answer(results.get("filing"))
    if filing.get("risk_level") == "HIGH":
        flags.append("financial statements: risk level HIGH")
    flags += [f"financial statements: {f}" for f in filing.get("red_flags", [])]
    risk = _answer(results.get("risk_factor"))
    if risk.get("risk_severity", 0) >= 7:
        flags.append(f"10-K risk severity {_f(risk['risk_severity'])}/10")
    flags += [f"new 10-K risk: {r}" for r in risk.get("new_risks", [])]
    insider = _answer(results.get("insider"))
    if insider.get("signal_strength") in ("SELL", "STRONG_SELL"):
        flags.append(f"insiders: {insider['signal_strength']} (confidence {_f(insider.get('confidence'), '.2f')})")
    earnings = _answer(results.get("earnings"))
    if earnings and earnings.get("risk_factors", 10) <= 3:
        flags.append(f"earnings call: risk factors scored {_f(earnings['risk_factors'])}/10")
    return flags


def _source(row: dict) -> str:
    at = row.get("created_at")
    when = at.strftime("%Y-%m-%d %H:%M UTC") if isinstance(at, dt.datetime) else str(at)
    return (f"_Source: call `{row.get('call_id')}` in `llm_calls` ({row.get('provider')} {row.get('model')}, "
            f"{when}; artifact `{row.get('artifact_id')}`)._")


def _section(analyzer: str, row: dict) -> list[str]:
    a = _answer(row)
    lines = [f"### {TITLES[analyzer]} — sub-score {_f(row.get('score'))}", "", f"{row.get('summary') or ''}", ""]
    if analyzer == "earnings":
        lines += ["| " + " | ".join(DIMENSIONS) + " |", "|" + "---|" * len(DIMENSIONS),
                  "| " + " | ".join(_f(a.get(d), ".0f") for d in DIMENSIONS) + " |", "",
                  f"**Bull case.** {a.get('bull_case', '')}", "", f"**Bear case.** {a.get('bear_case', '')}", ""]
        lines += [f"> {q}" for q in a.get("key_quotes", [])] + ([""] if a.get("key_quotes") else [])
    elif analyzer == "filing":
        lines += [f"Earnings quality {_f(a.get('earnings_quality_score'), '.0f')}/10, revenue quality "
                  f"{_f(a.get('revenue_quality_score'), '.0f')}/10, balance sheet "
                  f"{_f(a.get('balance_sheet_score'), '.0f')}/10; risk level {a.get('risk_level', '—')}.", "",
                  f"Accruals: {a.get('accruals_assessment', '')}", ""]
        lines += [f"- green: {g}" for g in a.get("green_flags", [])] + [f"- red: {r}" for r in a.get("red_flags", [])]
        lines += [""]
    elif analyzer == "risk_factor":
        lines += [f"Severity {_f(a.get('risk_severity'), '.0f')}/10; boilerplate "
                  f"{_f(a.get('boilerplate_percentage'), '.0f')}%.", "", "Material risks:"]
        lines += [f"- {r}" for r in a.get("material_risks", [])]
        if a.get("new_risks"):
            lines += ["", "New since the prior 10-K:"] + [f"- {r}" for r in a["new_risks"]]
        lines += ["", a.get("reasoning", ""), ""]
    elif analyzer == "insider":
        lines += [f"Signal {a.get('signal_strength', '—')}, confidence {_f(a.get('confidence'), '.2f')}, "
                  f"cluster {'yes' if a.get('cluster_detected') else 'no'}.", "", a.get("reasoning", ""), ""]
    return lines + [_source(row), ""]


def ticker_report(cand: dict, combined: dict | None, results: dict[str, dict], sector_row: dict | None,
                  catalysts: list[dict], as_of: dt.date) -> str:
    t = cand["ticker"]
    lines = [f"# {t} — {cand.get('name') or t}", "",
             f"{cand['sector']} · candidate side {cand.get('side', '—')} · scores as of {as_of}", "", "## Scores", "",
             "| quant composite | LLM score | combined | sector rank | quant flag | combined flag |",
             "|---|---|---|---|---|---|"]
    c = combined or {}
    lines.append(f"| {_f(cand.get('composite'))} | {_f(c.get('llm_score'))} | {_f(c.get('combined_score'))} | "
                 f"{_f(c.get('sector_rank'), 'd')} of {_f(c.get('sector_size'), 'd')} | "
                 f"{_flag(cand.get('long_flag'), cand.get('short_flag'))} | "
                 f"{_flag(c.get('long_flag'), c.get('short_flag'))} |")
    lines += ["", "Parent factors: " + ", ".join(f"{p} {_f(cand.get(f'{p}_score'), '.0f')}" for p in PARENTS), "",
              "## Analyst findings", ""]
    found = [a for a in TITLES if a in results]
    for analyzer in found:
        lines += _section(analyzer, results[analyzer])
    if not found:
        lines += ["_No analyst findings (inputs missing, or not analysed yet): the score is 100% quant._", ""]
    if sector_row:
        s = _answer(sector_row)
        mine = next((r for r in s.get("rankings", []) if r.get("ticker") == t), None)
        lines += ["## Sector view", "", f"Outlook {s.get('sector_outlook', '—')}. {s.get('summary', '')}", ""]
        if mine:
            lines += [f"Ranked {mine['rank']} of {len(s.get('rankings', []))}: {mine.get('rationale', '')}", ""]
        lines += [f"Top long idea {s.get('top_long_idea') or '—'}, top short idea {s.get('top_short_idea') or '—'}.",
                  "", _source(sector_row), ""]
    lines += ["## Upcoming catalysts", ""]
    lines += [f"- earnings {e['earnings_date']} ({e.get('session') or '—'}, {e.get('fiscal_period') or '—'}, "
              f"EPS estimate {_f(e.get('eps_estimate'), '.2f')})" for e in catalysts] or ["- none announced"]
    flags = risk_flags(cand, results)
    lines += ["", "## Risk flags", ""] + ([f"- {f}" for f in flags] or ["- none"])
    return "\n".join(lines) + "\n"


def index_report(rows: list[dict], as_of: dt.date, totals: dict) -> str:
    lines = [f"# Analysis reports — scores as of {as_of}", "",
             f"{len(rows)} candidates. This run: {totals.get('calls', 0)} LLM calls, "
             f"${totals.get('cost_usd', 0.0):.4f}.", "",
             "| ticker | sector | side | quant | LLM | combined | flag | analysts | risk flags |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| [{r['ticker']}]({r['ticker']}.md) | {r['sector']} | {r['side']} | {_f(r['composite'])} | "
                     f"{_f(r['llm_score'])} | {_f(r['combined_score'])} | {r['flag']} | {r['n_analyzers']} | "
                     f"{r['n_flags']} |")
    return "\n".join(lines) + "\n"


def write_reports(out_dir: Path, candidates: pl.DataFrame, combined: pl.DataFrame, results: pl.DataFrame,
                  catalysts: pl.DataFrame, as_of: dt.date, totals: dict) -> list[dict]:
    """Write one note per candidate and INDEX.md into ``out_dir``; returns the index rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_ticker = {r["ticker"]: r for r in combined.iter_rows(named=True)} if combined.height else {}
    sector_rows = {r["ticker"]: r for r in results.filter(pl.col("analyzer") == "sector").iter_rows(named=True)} \
        if results.height else {}
    rows = []
    for cand in candidates.iter_rows(named=True):
        t = cand["ticker"]
        mine = {r["analyzer"]: r for r in results.filter(pl.col("ticker") == t).iter_rows(named=True)} \
            if results.height else {}
        cats = catalysts.filter(pl.col("ticker") == t).sort("earnings_date").to_dicts() if catalysts.height else []
        (out_dir / f"{t}.md").write_text(ticker_report(cand, by_ticker.get(t), mine, sector_rows.get(cand["sector"]),
                                                       cats, as_of))
        c = by_ticker.get(t, {})
        rows.append({"ticker": t, "sector": cand["sector"], "side": cand.get("side", "—"),
                     "composite": cand.get("composite"), "llm_score": c.get("llm_score"),
                     "combined_score": c.get("combined_score"), "flag": _flag(c.get("long_flag"), c.get("short_flag")),
                     "n_analyzers": c.get("n_analyzers") or 0, "n_flags": len(risk_flags(cand, mine))})
    (out_dir / "INDEX.md").write_text(index_report(rows, as_of, totals))
    return rows
