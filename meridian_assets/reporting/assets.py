"""Layer-7 analytics assets: attribution, trade analytics, turnover and tax, the tear sheet, allocation history
and the report charts. Thin wiring over `analytics` (the maths lives in the plain modules).

Each reports as of the latest book session of the run's window (`partitions.run_end`). Without a portfolio
yet, an asset materializes with a clear status and writes nothing, so a full-graph run on a fresh database
does not fail on its reports.
"""

import datetime as dt

import dagster as dg
import polars as pl

from meridian_assets.factors.plots import png_markdown
from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.reporting import allocation, analytics, charts, tearsheet
from meridian_assets.reporting.attribution import upsert_csv
from meridian_assets.reporting.inputs import ReportInputs, latest_factor_exposures, load, report_as_of
from meridian_assets.reporting.partitions import run_end
from meridian_assets.reporting.pdf import render
from meridian_assets.reporting.schemas import (
    BACKTEST_TEAR_SHEET, CAPITAL_MOVEMENT, CVAR_BY_REGIME, DAILY_ATTRIBUTION, LIVE_VS_SIM, POSITION_ATTRIBUTION,
    SECTOR_RELATIVE_ALPHA, TEAR_SHEET, TURNOVER_AND_TAX, WIN_LOSS,
)
from meridian_assets.storage import read, replace_window, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

GROUP = "reporting"
PORTFOLIO = ["portfolio_history", "portfolio_positions", "position_approvals", "target_book"]
NO_BOOK = "no portfolio history yet: nothing to report (materialize the portfolio assets first)"
MD = dg.MetadataValue


def _inputs(context: dg.AssetExecutionContext, db: DuckDBStore, cfg) -> ReportInputs | None:
    with db.connect() as conn:
        as_of = report_as_of(conn, run_end(context))
        if as_of is None:
            context.log.warning(NO_BOOK)
            return None
        return load(conn, cfg, as_of)


def _skipped() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"status": MD.text(NO_BOOK), "rows": MD.int(0)})


def _image(png: bytes, path, alt: str) -> dict:
    return {"png": MD.path(str(path)), "chart": MD.md(png_markdown(png, alt))}


@dg.asset(group_name=GROUP, deps=[*PORTFOLIO, "daily_prices", "factor_returns"], pool=DUCKDB_POOL,
          kinds={"duckdb", "polars", "csv"})
def daily_attribution(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Each session's return split into beta, sector, factor and alpha (they sum to the total), for every
    session of the book up to the run's date; upserted by date here and in output/daily_attribution.csv."""
    require_clean_inputs(context)
    cfg = settings.get()
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    frame = analytics.daily_attribution(inputs, cfg)
    with db.connect() as conn:
        n = replace_window(conn, DAILY_ATTRIBUTION, frame, frame["date"].min(), frame["date"].max())
    csv = cfg.output_dir() / "daily_attribution.csv"
    total_rows = upsert_csv(csv, frame)
    gap = frame.select((pl.col("total_return") - pl.col("beta_return") - pl.col("sector_return")
                        - pl.col("factor_return") - pl.col("alpha_return")).abs().max()).item()
    last = frame.row(-1, named=True)
    recent = frame.tail(10)
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "as_of": MD.text(str(inputs.as_of)), "csv": MD.path(str(csv)),
        "csv_rows": MD.int(total_rows), "max_abs_sum_gap": MD.float(float(gap)),
        **{f"latest_{k}_bps": MD.float(round(last[f"{k}_return"] * 1e4, 2))
           for k in ("total", "beta", "sector", "factor", "alpha")},
        "latest_factor_r2": MD.float(float(last["factor_r2"] or float("nan"))),
        "preview": MD.md(preview_markdown(recent.sort("date", descending=True), n=10)),
        "chart": MD.md(png_markdown(charts.attribution_bars(recent), "attribution, last 10 sessions")),
    })


@dg.asset(group_name=GROUP, deps=PORTFOLIO + ["daily_prices"], pool=DUCKDB_POOL, kinds={"duckdb", "polars"})
def position_attribution(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Open positions marked to market and closed round trips matched last-in-first-out from the executed
    ledger, with the predictive power of the entry score (Spearman with the return, from 5 positions)."""
    require_clean_inputs(context)
    cfg = settings.get()
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    frame = analytics.position_attribution(inputs)
    with db.connect() as conn:
        n = replace_window(conn, POSITION_ATTRIBUTION, frame, inputs.as_of, inputs.as_of)
    power = analytics.predictive_power(frame, cfg)
    opened, closed = frame.filter(pl.col("kind") == "OPEN"), frame.filter(pl.col("kind") == "CLOSED")
    show = ["kind", "ticker", "side", "entry_date", "exit_date", "pnl", "return_pct", "entry_score"]
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "as_of": MD.text(str(inputs.as_of)), "open_positions": MD.int(opened.height),
        "closed_round_trips": MD.int(closed.height), "unrealized_pnl": MD.float(float(opened["pnl"].sum())),
        "realized_pnl": MD.float(float(closed["pnl"].sum())),
        "predictive_power": MD.float(power.rho if power.defined else float("nan")),
        "predictive_power_points": MD.int(power.points),
        "best": MD.md(preview_markdown(frame.sort("pnl", descending=True).select(show), n=5)),
        "worst": MD.md(preview_markdown(frame.sort("pnl").select(show), n=5)),
    })


@dg.asset(group_name=GROUP, deps=[position_attribution], pool=DUCKDB_POOL, kinds={"duckdb", "polars"})
def win_loss(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Win rate and profit/loss ratio of closed round trips by side, holding period, sector, VIX regime at
    entry and entry-score quintile, with the longest and current streaks."""
    require_clean_inputs(context)
    cfg = settings.get()
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    with db.connect() as conn:
        rows = read(conn, "SELECT * FROM position_attribution WHERE as_of = ?", [inputs.as_of]) \
            if table_exists(conn, POSITION_ATTRIBUTION.name) else POSITION_ATTRIBUTION.empty()
        frame = analytics.win_loss(rows, inputs, cfg)
        n = replace_window(conn, WIN_LOSS, frame, inputs.as_of, inputs.as_of)
    everything = frame.filter(pl.col("dimension") == "all")
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "as_of": MD.text(str(inputs.as_of)),
        "trades": MD.int(int(everything["trades"].sum()) if everything.height else 0),
        "win_rate": MD.float(float(everything["win_rate"][0]) if everything.height else float("nan")),
        "pl_ratio": MD.float(float(everything["pl_ratio"][0] or float("nan")) if everything.height else float("nan")),
        "table": MD.md(preview_markdown(frame.drop("as_of"), n=40)),
    })


@dg.asset(group_name=GROUP, deps=PORTFOLIO + ["daily_prices"], pool=DUCKDB_POOL, kinds={"duckdb", "polars"})
def sector_relative_alpha(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Stock-selection alpha within each sector held: side-adjusted return of the picks against the sector
    ETF over 90 days (or since entry), and the gross-weighted total."""
    require_clean_inputs(context)
    cfg = settings.get()
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    frame = analytics.sector_relative(inputs, cfg)
    with db.connect() as conn:
        n = replace_window(conn, SECTOR_RELATIVE_ALPHA, frame, inputs.as_of, inputs.as_of)
    total = frame.filter(pl.col("sector") == "TOTAL")
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "as_of": MD.text(str(inputs.as_of)),
        "total_selection_alpha": MD.float(float(total["selection_alpha"][0]) if total.height else float("nan")),
        "table": MD.md(preview_markdown(frame.select("sector", "positions", "gross_weight", "picks_return",
                                                     "benchmark_return", "selection_alpha"), n=15)),
    })


@dg.asset(group_name=GROUP, deps=["position_approvals", "portfolio_history"], pool=DUCKDB_POOL,
          kinds={"duckdb", "polars"})
def turnover_and_tax(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Turnover over 30 and 90 days and year to date, annualised, against the per-rebalance budget; estimated
    tax on the realized gains of FIFO lots (short-term 37%, long-term 20%)."""
    require_clean_inputs(context)
    cfg = settings.get()
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    frame = analytics.turnover(inputs, cfg)
    with db.connect() as conn:
        n = replace_window(conn, TURNOVER_AND_TAX, frame, inputs.as_of, inputs.as_of)
    r30 = frame.filter(pl.col("period") == frame["period"][0]).row(0, named=True)
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "as_of": MD.text(str(inputs.as_of)),
        "turnover_annualised_first_window": MD.float(float(r30["turnover_annualised"] or float("nan"))),
        "within_budget": MD.bool(bool(frame["within_budget"].all())),
        "estimated_tax_ytd": MD.float(float(frame.filter(pl.col("period") == "ytd")["estimated_tax"][0])),
        "table": MD.md(preview_markdown(frame.drop("as_of"), n=5, max_cols=18)),
    })


@dg.asset(group_name=GROUP, deps=[daily_attribution, win_loss, turnover_and_tax, position_attribution,
                                  "portfolio_factor_exposures"],
          pool=DUCKDB_POOL, kinds={"duckdb", "html", "markdown"})
def tear_sheet(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """The returns tear sheet in 11 sections (header, top line, returns vs SPY, monthly grid, drawdown, rolling
    12-month Sharpe, factor and sector exposures, turnover and tax, win/loss, predictive power): figures in
    `tear_sheet`, HTML and charts in output/reports/tear_sheet/, Markdown at output/tear_sheet_latest.md."""
    require_clean_inputs(context)
    cfg = settings.get()
    rc = cfg.reporting
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    with db.connect() as conn:
        def _at(name, schema):
            return read(conn, f"SELECT * FROM {name} WHERE as_of = ?", [inputs.as_of]) \
                if table_exists(conn, name) else schema.empty()
        positions = _at("position_attribution", POSITION_ATTRIBUTION)
        wl, turnover = _at("win_loss", WIN_LOSS), _at("turnover_and_tax", TURNOVER_AND_TAX)
    book = analytics.book_returns(inputs)
    sheet = tearsheet.build(
        inputs.as_of, rc.fund.name, book, analytics.spy_returns(inputs), positions=analytics.open_positions(inputs),
        factor_exposures=latest_factor_exposures(inputs.factor_exposures), turnover=turnover, win_loss=wl,
        predictive=analytics.predictive_power(positions, cfg), risk_free_rate=rc.risk_free_rate,
        rolling_window=rc.rolling_sharpe_days, confidence=rc.cvar_confidence)
    metrics = sheet.metrics()
    with db.connect() as conn:
        n = replace_window(conn, TEAR_SHEET, metrics, inputs.as_of, inputs.as_of)
    out = cfg.output_dir() / rc.output_subdir / "tear_sheet"
    paths = {name: charts.save(png, out, name) for name, png in sheet.charts.items()}
    html = out / f"tear_sheet_{inputs.as_of.isoformat()}.html"
    html.write_text(render("tear_sheet.html.j2", **sheet.context({k: p.name for k, p in paths.items()})))
    md = cfg.output_dir() / "tear_sheet_latest.md"
    rel = {k: str(p.relative_to(cfg.output_dir())) for k, p in paths.items()}
    md.write_text(render("tear_sheet.md.j2", **sheet.context(rel)))
    top = sheet.topline
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "as_of": MD.text(str(inputs.as_of)), "markdown": MD.path(str(md)),
        "html": MD.path(str(html)), "sharpe": MD.float(top["sharpe"]), "sortino": MD.float(top["sortino"]),
        "max_drawdown": MD.float(top["max_drawdown"]), "cvar95": MD.float(top["cvar95"]),
        "total_return": MD.float(top["total_return"]),
        **{name: MD.md(png_markdown(png, name.replace("_", " "))) for name, png in sheet.charts.items()},
    })


@dg.asset(group_name=GROUP, deps=["target_book", "portfolio_history"], pool=DUCKDB_POOL, kinds={"duckdb"})
def allocation_snapshots(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Append-only allocation history: one snapshot per rebalance (sleeve and position weights, P&L and max
    drawdown to date in bps). Rebalances already snapshotted (by this asset or by the layer that ran them)
    are left alone; nothing is ever rewritten."""
    require_clean_inputs(context)
    cfg = settings.get()
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    appended = []
    with db.connect() as conn:
        for kw in allocation.snapshots_from_target_book(inputs.target_book, inputs.history, inputs.sleeve_weights):
            sid, new = allocation.append_snapshot(conn, **kw)
            if new:
                appended.append(kw["run_id"])
        snaps = allocation.load_snapshots(conn)
    heads = snaps.group_by("snapshot_id", "run_id", "as_of", "method").agg(pl.len().alias("rows")).sort("as_of")
    return dg.MaterializeResult(metadata={
        "appended": MD.int(len(appended)), "snapshots": MD.int(heads.height), "rows": MD.int(snaps.height),
        "appended_run_ids": MD.json(appended[:50]),
        "latest": MD.md(preview_markdown(heads.sort("as_of", descending=True), n=10)),
    })


@dg.asset(group_name=GROUP, deps=[allocation_snapshots], pool=DUCKDB_POOL, kinds={"duckdb", "polars"})
def capital_movement(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Largest weight changes between the first and last of the latest 14 allocation snapshots, at sleeve and
    position level (from, to, delta)."""
    require_clean_inputs(context)
    cfg = settings.get()
    rc = cfg.reporting
    with db.connect() as conn:
        end = report_as_of(conn, run_end(context))
        snaps = allocation.load_snapshots(conn)
        frame = allocation.capital_movement(snaps, rc.capital_movement_snapshots, rc.capital_movement_top_n,
                                            end, as_of=end)
        if frame.height:
            replace_window(conn, CAPITAL_MOVEMENT, frame, frame["as_of"][0], frame["as_of"][0])
    if frame.height == 0:
        return dg.MaterializeResult(metadata={"rows": MD.int(0),
                                              "status": MD.text("insufficient history: fewer than two snapshots")})
    r = frame.row(0, named=True)
    return dg.MaterializeResult(metadata={
        "rows": MD.int(frame.height), "from": MD.text(f"{r['from_run_id']} ({r['from_as_of']})"),
        "to": MD.text(f"{r['to_run_id']} ({r['to_as_of']})"), "snapshots": MD.int(r["snapshots"]),
        "moves": MD.md(preview_markdown(frame.select("level", "rank", "name", "weight_from", "weight_to", "delta"),
                                        n=30)),
    })


def _window(inputs: ReportInputs, cfg) -> tuple[dt.date, dt.date]:
    return analytics.report_window(inputs.as_of, cfg)


def with_simulator(db: DuckDBStore, inputs: ReportInputs, cfg):
    """Set ``inputs.simulated``: the book's traded target books since its first rebalance replayed through the meta
    layer's backtest engine (`meta.replay`); returns the replay (None when the book has no rebalance)."""
    from meridian_assets.meta.history import load_history
    from meridian_assets.meta.replay import replay_targets

    targets = analytics.traded_target_book(inputs)
    if targets.height == 0:
        return None
    start = targets["as_of"].min()
    with db.connect() as conn:
        # the engine proposes from the scored universe: without scores on the first rebalance, no simulator
        if not table_exists(conn, "factor_scores") or not conn.execute(
                "SELECT count(*) FROM factor_scores WHERE date = ?", [start]).fetchall()[0][0]:
            return None
        history = load_history(conn, start, inputs.as_of, cfg)
    replay = replay_targets(history, targets, cfg, start, inputs.as_of)
    inputs.simulated = replay.daily
    return replay


@dg.asset(group_name=GROUP, deps=["portfolio_history", "daily_prices"], pool=DUCKDB_POOL,
          kinds={"duckdb", "matplotlib"})
def cvar_by_regime(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """CVaR95 of daily book returns by VIX regime and market regime (with margins) over the report window
    (the 90 calendar days to the report date), as a table and a heatmap PNG."""
    require_clean_inputs(context)
    cfg = settings.get()
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    start, end = _window(inputs, cfg)
    frame = analytics.cvar_by_regime(inputs, cfg, start, end)
    with db.connect() as conn:
        n = replace_window(conn, CVAR_BY_REGIME, frame, end, end)
    png = charts.cvar_heatmap(frame)
    path = charts.save(png, cfg.output_dir() / cfg.reporting.output_subdir / "charts", f"cvar_by_regime_{end}")
    cell = frame.filter((pl.col("vix_regime") == "ALL") & (pl.col("market_regime") == "ALL"))
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "window": MD.text(f"{start}..{end}"),
        "cvar95_all_bps": MD.float(float(cell["cvar_bps"][0]) if cell.height else float("nan")),
        "sessions": MD.int(int(cell["observations"][0]) if cell.height else 0),
        "table": MD.md(preview_markdown(frame.drop("window_start", "window_end"), n=20)),
        **_image(png, path, "CVaR95 by regime"),
    })


@dg.asset(group_name=GROUP, deps=["portfolio_history", "target_book", "daily_prices"], pool=DUCKDB_POOL,
          kinds={"duckdb", "matplotlib"})
def live_vs_sim(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """The book's realized P&L against the simulator's for the same target books since the book's inception: the
    backtest engine runs the traded targets through the live rebalance code and fills them at the next open
    with the cost model's costs (`meta.replay`); cumulative bps; table and chart PNG."""
    require_clean_inputs(context)
    cfg = settings.get()
    inputs = _inputs(context, db, cfg)
    if inputs is None:
        return _skipped()
    replay = with_simulator(db, inputs, cfg)
    start, end = _window(inputs, cfg)
    frame = analytics.live_vs_simulated(inputs, start, end)
    with db.connect() as conn:
        n = replace_window(conn, LIVE_VS_SIM, frame, end, end)
    png = charts.live_vs_sim(frame, analytics.simulator_legend(inputs))
    path = charts.save(png, cfg.output_dir() / cfg.reporting.output_subdir / "charts", f"live_vs_sim_{end}")
    last = frame.row(-1, named=True) if frame.height else {}
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "window": MD.text(f"{start}..{end}"),
        "live_cum_bps": MD.float(float(last.get("live_cum_bps") or 0.0)),
        "sim_cum_bps": MD.float(float(last.get("sim_cum_bps") or 0.0)),
        "difference_bps": MD.float(float(last.get("difference_bps") or 0.0)),
        "label": MD.text(analytics.simulator_label(inputs)),
        "simulator_costs": MD.json({k: round(v, 2) for k, v in replay.costs.items()} if replay else {}),
        "simulator_vetoed": MD.int(replay.vetoed if replay else 0),
        **_image(png, path, "live vs simulated P&L"),
    })


@dg.asset(group_name=GROUP, deps=["backtest_runs", "backtest_daily", "daily_prices", "index_coverage"],
          pool=DUCKDB_POOL, kinds={"duckdb", "markdown", "matplotlib"})
def backtest_tear_sheet(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """Every sleeve's longest backtest against SPY over its whole window, year by year, with the survivorship
    of the prices behind it (`reporting.backtest_sheet`): table `backtest_tear_sheet`, Markdown at
    output/backtest_tear_sheet_latest.md and a growth-of-$1 chart."""
    from meridian_assets.ingest.schemas import INDEX_COVERAGE
    from meridian_assets.reporting import backtest_sheet
    from meridian_assets.reporting.attribution import SPY, benchmark_returns

    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        if not table_exists(conn, "backtest_runs"):
            return _skipped()
        runs = backtest_sheet.longest_runs(read(conn, "SELECT * FROM backtest_runs"))
        ids = runs["run_id"].to_list()
        daily = read(conn, "SELECT run_id, date, daily_return, nav FROM backtest_daily WHERE list_contains(?, run_id)",
                     [ids])
        spy = read(conn, "SELECT date, ticker, adj_close FROM daily_prices WHERE ticker = ?", [SPY])
        coverage = (read(conn, "SELECT * FROM index_coverage") if table_exists(conn, "index_coverage")
                    else INDEX_COVERAGE.empty())
    rc = cfg.reporting
    sheet = backtest_sheet.build(runs, daily, benchmark_returns(spy, [SPY]).select("date", "ret"), coverage, risk_free_rate=rc.risk_free_rate,
                                 confidence=rc.cvar_confidence)
    if sheet is None:
        return _skipped()
    with db.connect() as conn:
        n = replace_window(conn, BACKTEST_TEAR_SHEET, sheet.rows(), sheet.as_of, sheet.as_of)
    png = charts.growth_of_one(sheet.growth)
    path = charts.save(png, cfg.output_dir() / rc.output_subdir / "charts", f"backtests_vs_spy_{sheet.as_of}")
    md = cfg.output_dir() / "backtest_tear_sheet_latest.md"
    md.write_text(render("backtest_tear_sheet.md.j2", **sheet.context(rc.fund.name, rc.risk_free_rate,
                                                                      str(path.relative_to(md.parent)))))
    return dg.MaterializeResult(metadata={
        "rows": MD.int(n), "window": MD.text(f"{sheet.start}..{sheet.as_of}"), "markdown": MD.path(str(md)),
        "sleeves": MD.md(preview_markdown(sheet.sleeves.select(
            "sleeve", "annualised_return", "sharpe", "max_drawdown", "beta_to_benchmark", "alpha_jensen"), n=20)),
        **_image(png, path, "backtests vs SPY"),
    })


ANALYTICS_ASSETS = [daily_attribution, position_attribution, win_loss, sector_relative_alpha, turnover_and_tax,
                    tear_sheet, allocation_snapshots, capital_movement, cvar_by_regime, live_vs_sim,
                    backtest_tear_sheet]
