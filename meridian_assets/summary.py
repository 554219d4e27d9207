"""The run summary printed at the end of `meridian data` / `make demo` (plain function over DuckDB)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from meridian_assets import dbread
from meridian_assets.config import MeridianConfig
from meridian_assets.ingest.schemas import TABLES

DATE_COLUMNS = ("date", "known_at", "start_date")
SPAN_COLUMNS = {"run_log": "finished_at"}


def table_stats(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, int, str]]:
    """(table, rows, 'first..last' of its date column) for every table in the database."""
    names = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema='main' ORDER BY 1").fetchall()]
    out = []
    for name in names:
        n = conn.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
        schema = TABLES.get(name)
        col = SPAN_COLUMNS.get(name) or (schema.partition_column if schema and schema.partition_column else None)
        if col is None:
            cols = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]).fetchall()}
            col = next((c for c in DATE_COLUMNS if c in cols), None)
        span = ""
        if col and n:
            lo, hi = conn.execute(f'SELECT min("{col}"), max("{col}") FROM "{name}"').fetchall()[0]
            span = f"{lo}..{hi}" if lo is not None else ""
        out.append((name, n, span))
    return out


def render_summary(
    cfg: MeridianConfig, run_id: str | None = None, dagster_home: str | None = None, ok: bool = True,
    ui: str = "make ui",
) -> str:
    db = cfg.database_path()
    lines = ["=== Meridian data refresh complete ===" if ok else "=== Meridian data refresh FAILED (see below) ==="]
    if not db.exists():
        return "\n".join(lines + [f"No database yet at {db}: run `meridian data` or `make demo`."])
    conn = dbread.connect(db)
    try:
        last = None
        if conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name='run_log'").fetchall()[0][0]:
            q = "SELECT * FROM run_log " + ("WHERE run_id = ?" if run_id else "ORDER BY finished_at DESC LIMIT 1")
            rows = conn.execute(q, [run_id] if run_id else []).fetchall()
            cols = [d[0] for d in conn.description]
            last = dict(zip(cols, rows[0])) if rows else None
        if last:
            lines += [
                f"Window:              {last['start_date']}..{last['end_date']}",
                f"Tickers updated:     {last['tickers_updated']:,}",
                f"Price bars added:    {last['price_bars_added']:,}",
                f"Filings cached:      {last['filings_cached']:,}",
                f"Insider txns parsed: {last['insider_txns_parsed']:,}",
                f"Errors:              {last['errors']:,} (table ingest_errors, run {last['run_id'][:8]})",
            ]
        lines += ["", f"{'table':<26}{'rows':>12}  span"]
        for name, n, span in table_stats(conn):
            lines.append(f"{name:<26}{n:>12,}  {span}")
        lines += survivorship_lines(conn)
    finally:
        conn.close()
    lines += [
        "",
        f"Database:        {db}",
        f"Dagster home:    {dagster_home or Path(cfg.home(), 'dagster')}",
        f"Outputs:         {cfg.output_dir()}",
        f"Asset graph, runs, checks and backfills: `{ui}` then http://127.0.0.1:3000",
    ]
    return "\n".join(lines)


def survivorship_lines(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Index members vs members with prices on the first session of each year and the last one (from
    `index_coverage`), and the sessions where some members have no prices; [] when the table is absent."""
    if not conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name='index_coverage'"
                        ).fetchall()[0][0]:
        return []
    rows = conn.execute(
        """SELECT date, members, members_with_prices FROM index_coverage WHERE members > 0 AND (
               date IN (SELECT min(date) FROM index_coverage GROUP BY year(date))
               OR date = (SELECT max(date) FROM index_coverage)) ORDER BY date""").fetchall()
    if not rows:
        return []
    short, total = conn.execute(
        "SELECT count(*) FILTER (WHERE members_with_prices < members), count(*) FROM index_coverage").fetchall()[0]
    lines = ["", f"Survivorship (index_coverage): members with prices on {short:,} of {total:,} sessions "
                 "fall short of the members"]
    lines += [f"  {d}  {w:>4} of {m:>4} members have prices ({w / m:.0%})" for d, m, w in rows]
    if short:
        lines.append("  Members without prices are out of every score, book and backtest on those dates: a price "
                     "source holding today's members only leaves out the names that later left the index.")
    return lines


def render_scoring_summary(cfg: MeridianConfig) -> str:
    """Scores of the latest session and each factor's 21-session information coefficient."""
    db = cfg.database_path()
    conn = dbread.connect(db)
    try:
        has = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "scored_universe" not in has:
            return "No scores yet: run `meridian score`."
        day, n, longs, shorts = conn.execute(
            "SELECT max(date), count(*), sum(long_flag::INT), sum(short_flag::INT) FROM scored_universe"
        ).fetchall()[0]
        lines = ["=== Meridian scoring complete ===",
                 f"Latest session:      {day}: {n} names scored, {longs} LONG, {shorts} SHORT",
                 f"Scores CSV:          {cfg.output_dir() / 'scored_universe_latest.csv'}"]
        if "factor_tearsheet" in has:
            rows = conn.execute(
                """SELECT factor, ic_mean, ic_t_stat, n_independent, quintile_spread_annual FROM factor_tearsheet
                   WHERE horizon_days = 21 AND as_of = (SELECT max(as_of) FROM factor_tearsheet)
                   ORDER BY ic_t_stat DESC""").fetchall()
            # t on non-overlapping 21-session windows (factors/tearsheet.py): overlapping windows overstate it
            lines += ["", f"{'factor (21-session IC)':<24}{'mean IC':>9}{'t (non-overlap.)':>18}{'Q5-Q1 /yr':>11}"]
            lines += [f"{f:<24}{ic:>9.4f}{t:>8.2f} (n={n:<4}){q:>10.1%}" for f, ic, t, n, q in rows
                      if ic is not None and t is not None and q is not None]
            lines.append(f"Charts:              {cfg.output_dir() / 'factor_tearsheet'}")
        return "\n".join(lines)
    finally:
        conn.close()
