"""Layer-4 assets: the rebalance proposal (what-if), the decision ledger and the simulated book.

    rebalance_proposal  →  target_book, rebalance_trades, portfolio_factor_exposures   (what-if: commits nothing)
    position_approvals      commit (simulated fill) | approve (for the broker) | reject a proposal
    portfolio_book      →  portfolio_positions, portfolio_history                     (replayed from the ledger)

Thin wiring: `inputs` reads DuckDB point in time, `rebalance.propose_rebalance` decides, `ledger.replay` marks
the book to market. A proposal is rebalance-scoped (its rows are replaced by id), the book is rebuilt whole.
"""

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl

from meridian_assets.factors.schemas import PARENTS
from meridian_assets.gates import require_clean_inputs
from meridian_assets.ingest.loading import preview_markdown
from meridian_assets.ingest.partitions import tagged_window
from meridian_assets.portfolio.exposure import exposure_spreads, rebalance_advisories
from meridian_assets.portfolio.inputs import latest_scored_date, load_rebalance_inputs, replay_book
from meridian_assets.portfolio.ledger import SIGN
from meridian_assets.portfolio.rebalance import propose_rebalance
from meridian_assets.portfolio.schemas import (
    PORTFOLIO_FACTOR_EXPOSURES, PORTFOLIO_HISTORY, PORTFOLIO_POSITIONS, POSITION_APPROVALS, REBALANCE_TRADES,
    TARGET_BOOK,
)
from meridian_assets.risk.breakers import breaker_inputs
from meridian_assets.risk.halt_lock import HaltLock
from meridian_assets.risk.states import VetoReason
from meridian_assets.storage import read, replace_all, replace_where, table_exists
from resources import DUCKDB_POOL, DuckDBStore, MeridianSettings

GROUP = "portfolio"


class RebalanceConfig(dg.Config):
    """Run options of a rebalance proposal (the `meridian portfolio` flags)."""

    optimize_method: str = ""  # mvo | conviction | sleeves (the meta layer's combined target); default config
    scored_csv: str = ""  # score the book from this CSV instead of the database
    as_of: str = ""  # session to rebalance on; default the latest scored session (within the run's window)


class DecisionConfig(dg.Config):
    """What to do with a proposal: `commit` fills it in the simulated book, `approve` releases it to the
    broker (the approved_rebalance_sensor launches execution), `reject` records a refusal."""

    rebalance_id: str = ""  # default: the latest proposal
    decision: str = "commit"  # commit | approve | reject
    decided_by: str = "operator"
    rejected_tickers: list[str] = []  # candidates refused within a commit or approval: their trades are REJECTED


def _as_of(context, conn, config: RebalanceConfig) -> dt.date:
    if config.as_of:
        return dt.date.fromisoformat(config.as_of)
    window = tagged_window(context.run.tags)
    as_of = latest_scored_date(conn, window[1] if window else None)
    if as_of is None:
        raise dg.Failure("rebalance: no factor scores yet; run `meridian score` first", allow_retries=False)
    return as_of


def _decomposition(ctx, target: pl.DataFrame):
    """Ex-ante risk of the target from the Layer-5 model (None when it does not cover the book)."""
    rm = ctx.inputs.risk_model
    if rm is None or target.is_empty():
        return None
    model = rm.restrict(target["ticker"].to_list())
    return model.decompose(target["weight"].to_numpy()) if model is not None else None


@dg.multi_asset(
    specs=[dg.AssetSpec(t.name, group_name=GROUP, kinds={"duckdb", "cvxpy"}, description=t.description,
                        deps=["factor_scores", "daily_prices", "earnings_calendar", "corporate_actions",
                              "risk_exposures", "risk_factor_covariance", "risk_specific_variance"])
           for t in (TARGET_BOOK, REBALANCE_TRADES, PORTFOLIO_FACTOR_EXPOSURES)],
    pool=DUCKDB_POOL,
    name="rebalance_proposal",
)
def rebalance_proposal(context: dg.AssetExecutionContext, config: RebalanceConfig, db: DuckDBStore,
                       settings: MeridianSettings):
    """Propose a rebalance on the latest scored session: 20/20 books, MVO (or conviction-tilt), risk overlays,
    30% turnover budget, whole shares, per-trade cost estimate and the pre-trade veto. Commits nothing."""
    cfg = settings.get()
    require_clean_inputs(context, "rebalance_proposal")
    method = config.optimize_method or None
    if method not in (None, "mvo", "conviction", "sleeves"):
        raise dg.Failure(f"optimize_method must be mvo, conviction or sleeves, got {method!r}", allow_retries=False)
    halted = HaltLock(cfg.halt_lock_path()).is_halted()
    with db.connect() as conn:
        as_of = _as_of(context, conn, config)
        ctx = load_rebalance_inputs(conn, as_of, cfg, scored_csv=config.scored_csv or None, halted=halted)
        proposal = propose_rebalance(ctx.inputs, cfg, method)
        history = (read(conn, "SELECT factor, spread FROM portfolio_factor_exposures WHERE as_of < ? AND "
                              "rebalance_id <> ?", [as_of, proposal.rebalance_id])
                   if table_exists(conn, PORTFOLIO_FACTOR_EXPOSURES.name) else None)
    for w in proposal.warnings:
        context.log.warning(f"rebalance {as_of}: {w}")
    d = _decomposition(ctx, proposal.target)
    target = proposal.target.with_columns(
        mctr=pl.Series(d.mctr if d is not None else [None] * proposal.target.height, dtype=pl.Float64),
        mctr_flag=pl.Series(d.flagged if d is not None else [None] * proposal.target.height, dtype=pl.Boolean))
    book = target.select("ticker", "weight").join(ctx.parents, on="ticker", how="left")
    spreads = exposure_spreads(book, PARENTS, history).with_columns(
        rebalance_id=pl.lit(proposal.rebalance_id), as_of=pl.lit(as_of))
    advisories = rebalance_advisories(as_of, {t: ctx.next_earnings.get(t) for t in target["ticker"]},
                                      cfg.portfolio)
    rid = proposal.rebalance_id
    with db.connect() as conn:
        replace_where(conn, TARGET_BOOK, target, "rebalance_id", rid)
        replace_where(conn, REBALANCE_TRADES, proposal.trades, "rebalance_id", rid)
        replace_where(conn, PORTFOLIO_FACTOR_EXPOSURES, spreads, "rebalance_id", rid)
    f = proposal.figures
    common = {"rebalance_id": dg.MetadataValue.text(rid), "as_of": dg.MetadataValue.text(str(as_of)),
              "method": dg.MetadataValue.text(proposal.method)}
    risk = {} if d is None else {
        "ex_ante_vol": dg.MetadataValue.float(d.sigma),
        "factor_risk_share": dg.MetadataValue.float(d.factor_variance / d.total_variance),
        "mctr_flagged": dg.MetadataValue.text(", ".join(map(str, d.flagged_tickers())) or "none")}
    yield dg.MaterializeResult(asset_key=TARGET_BOOK.name, metadata={
        **common, **risk, "requested_method": dg.MetadataValue.text(proposal.requested_method),
        "score_source": dg.MetadataValue.text(ctx.inputs.score_source),
        "trading_state": dg.MetadataValue.text(ctx.breaker_state),
        "longs": f["longs"], "shorts": f["shorts"],
        "gross": dg.MetadataValue.float(f["target_gross"]), "net": dg.MetadataValue.float(f["target_net"]),
        "beta": dg.MetadataValue.float(f["target_beta"]), "nav": dg.MetadataValue.float(f["nav"]),
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in proposal.warnings) or "none"),
        "advisories": dg.MetadataValue.md("\n".join(f"- {a}" for a in advisories) or "none"),
        "preview": dg.MetadataValue.md(preview_markdown(
            target.sort("weight", descending=True).select("ticker", "sector", "side", "score", "weight",
                                                          "target_shares", "beta", "mctr"), n=10)),
        **{k: v for k, v in f.items() if k in ("solver", "solve_ms", "covariance")}})
    trades = proposal.trades
    yield dg.MaterializeResult(asset_key=REBALANCE_TRADES.name, metadata={
        **common, "trades": f["trades"], "vetoed": f["vetoed"], "deferred": f["deferred"],
        "turnover": dg.MetadataValue.float(f["turnover"]),
        "turnover_budget": dg.MetadataValue.float(f["turnover_budget"]),
        "est_cost_dollars": dg.MetadataValue.float(f["est_cost_dollars"]),
        "vetoes": dg.MetadataValue.md(preview_markdown(
            trades.filter(pl.col("status") == "VETOED").select("ticker", "action", "delta_shares", "reason"),
            n=10, max_chars=160)),
        "preview": dg.MetadataValue.md(preview_markdown(
            trades.sort("notional", descending=True).select("ticker", "action", "delta_shares", "price",
                                                            "notional", "cost_bps", "status"), n=10))})
    yield dg.MaterializeResult(asset_key=PORTFOLIO_FACTOR_EXPOSURES.name, metadata={
        **common, "flagged": dg.MetadataValue.text(", ".join(spreads.filter("flagged")["factor"]) or "none"),
        "spreads": dg.MetadataValue.md(preview_markdown(
            spreads.select("factor", "long_exposure", "short_exposure", "spread", "z", "flagged"), n=len(PARENTS)))})


def decide(trades: pl.DataFrame, decision: str, decided_by: str, halted: bool = False,
           rejected: frozenset[str] = frozenset()) -> pl.DataFrame:
    """Ledger rows for a decision on a proposal's trades (pure). ``commit`` executes every PROPOSED trade at
    its price moved by the estimated cost (buys pay up, sells mark down); VETOED trades are recorded as such.
    A trade that crosses zero becomes two rows (e.g. SELL to flat, then SHORT). With ``halted`` (the halt lock
    is active when the decision is taken, whenever the proposal was made) a commit or an approval records
    every trade VETOED with TRADING_HALTED: nothing is filled or released. A PROPOSED trade of a ticker in
    ``rejected`` (candidates the PM refused) is recorded REJECTED: the rest of the proposal goes ahead without it,
    and neither the simulated book nor the execution plan trades it."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    status = {"commit": "EXECUTED", "approve": "APPROVED", "reject": "REJECTED"}[decision]
    rows = []
    for r in trades.filter(pl.col("status").is_in(["PROPOSED", "VETOED"])).iter_rows(named=True):
        cur, delta = r["current_shares"], r["delta_shares"]
        legs = [(r["action"], abs(delta))]
        if cur != 0 and np.sign(cur + delta) == -np.sign(cur):  # crossing zero
            legs = [("SELL" if cur > 0 else "COVER", abs(cur)), ("SHORT" if cur > 0 else "BUY", abs(cur + delta))]
        for action, shares in legs:
            slip = SIGN[action] * r["cost_bps"] / 1e4 if decision == "commit" else 0.0
            refused = r["status"] == "PROPOSED" and r["ticker"] in rejected
            stopped = halted and decision != "reject" and r["status"] == "PROPOSED" and not refused
            row_status = ("REJECTED" if refused else status if r["status"] == "PROPOSED" and not stopped
                          else "VETOED")
            reason = (f"rejected by {decided_by}" if refused else VetoReason.TRADING_HALTED.value if stopped
                      else (r["reason"] or None))
            rows.append({"rebalance_id": r["rebalance_id"], "date": r["as_of"], "ticker": r["ticker"],
                         "sector": r["sector"], "action": action, "shares": shares,
                         "price": r["price"] * (1 + (0.0 if refused else slip)), "score": r["score"],
                         "status": row_status, "reason": reason, "decided_at": now, "decided_by": decided_by})
    return POSITION_APPROVALS.conform(pl.DataFrame(rows)) if rows else POSITION_APPROVALS.empty()


def _latest_proposal(context) -> str:
    """The rebalance id of the latest `target_book` materialization (this run's, when it proposed one)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(TARGET_BOOK.name))
    rid = event and event.asset_materialization.metadata.get("rebalance_id")
    if rid is None:
        raise dg.Failure("position_approvals: no proposal yet; run `meridian portfolio --whatif`", allow_retries=False)
    return rid.value


@dg.asset(group_name=GROUP, deps=[REBALANCE_TRADES.name], pool=DUCKDB_POOL, kinds={"duckdb"})
def position_approvals(context: dg.AssetExecutionContext, config: DecisionConfig, db: DuckDBStore,
                       settings: MeridianSettings):
    """The decision ledger. Commit (simulated fill), approve (release to the broker) or reject a proposal;
    re-deciding the same rebalance replaces its rows. A commit older than the latest committed rebalance is
    refused, so the book is never rewritten out of order."""
    if config.decision not in ("commit", "approve", "reject"):
        raise dg.Failure(f"decision must be commit, approve or reject, got {config.decision!r}", allow_retries=False)
    if config.decision != "reject":  # rejecting builds nothing
        require_clean_inputs(context)
    with db.connect() as conn:
        if not table_exists(conn, REBALANCE_TRADES.name):
            raise dg.Failure("position_approvals: no proposal yet; run `meridian portfolio --whatif`",
                             allow_retries=False)
        rid = config.rebalance_id or _latest_proposal(context)
        trades = read(conn, "SELECT * FROM rebalance_trades WHERE rebalance_id = ?", [rid])
        if trades.is_empty():
            raise dg.Failure(f"position_approvals: unknown rebalance {rid!r}", allow_retries=False)
        as_of = trades["as_of"][0]
        unknown = sorted(set(config.rejected_tickers) - set(trades["ticker"]))
        if unknown:
            raise dg.Failure(f"position_approvals: rejected_tickers {', '.join(unknown)} have no trade in {rid}",
                             allow_retries=False)
        if config.decision == "commit" and table_exists(conn, POSITION_APPROVALS.name):
            later = conn.execute("SELECT max(date) FROM position_approvals WHERE status = 'EXECUTED' AND "
                                 "rebalance_id <> ?", [rid]).fetchall()[0][0]
            if later is not None and later > as_of:
                raise dg.Failure(f"position_approvals: {rid} is dated {as_of} but the book already has trades on "
                                 f"{later}; propose a new rebalance", allow_retries=False)
        # the lock is read when the decision is taken: a proposal made before a halt is not released by it
        halted = config.decision != "reject" and HaltLock(settings.get().halt_lock_path()).is_halted()
        rows = decide(trades, config.decision, config.decided_by, halted=halted,
                      rejected=frozenset(config.rejected_tickers))
        replace_where(conn, POSITION_APPROVALS, rows, "rebalance_id", rid)
    if halted:
        context.log.warning(f"{rid}: trading is halted; every trade recorded VETOED (TRADING_HALTED)")
    status = {"commit": "EXECUTED", "approve": "APPROVED", "reject": "REJECTED"}[config.decision]
    context.log.info(f"{rid}: {rows.filter(pl.col('status') == status).height} trades {status}")
    return dg.MaterializeResult(metadata={
        "rebalance_id": dg.MetadataValue.text(rid), "status": dg.MetadataValue.text(status),
        "approved_by": dg.MetadataValue.text(config.decided_by), "as_of": dg.MetadataValue.text(str(as_of)),
        "trades": rows.filter(pl.col("status") == status).height,
        "vetoed": rows.filter(pl.col("status") == "VETOED").height,
        "rejected_tickers": dg.MetadataValue.text(", ".join(sorted(config.rejected_tickers)) or "none"),
        "preview": dg.MetadataValue.md(preview_markdown(rows.select("ticker", "action", "shares", "price", "status"),
                                                       n=10))})


@dg.multi_asset(
    specs=[dg.AssetSpec(t.name, group_name=GROUP, kinds={"duckdb", "polars"}, description=t.description,
                        deps=[POSITION_APPROVALS.name, "daily_prices", "corporate_actions"])
           for t in (PORTFOLIO_POSITIONS, PORTFOLIO_HISTORY)],
    pool=DUCKDB_POOL,
    name="portfolio_book",
)
def portfolio_book(context: dg.AssetExecutionContext, db: DuckDBStore, settings: MeridianSettings):
    """The book: every trade made — simulated commits and the broker's fills — replayed through splits, ticker
    changes, dividends and delistings and marked to market every session up to the latest bar."""
    require_clean_inputs(context)
    cfg = settings.get()
    with db.connect() as conn:
        end = conn.execute("SELECT max(date) FROM daily_prices").fetchall()[0][0]
        if table_exists(conn, "execution_fills"):  # a broker fill today, before today's bar is loaded
            last_fill = conn.execute("SELECT CAST(max(finished_at) AS DATE) FROM execution_fills "
                                     "WHERE shares > 0").fetchall()[0][0]
            end = max(end, last_fill) if last_fill else end
        betas = (dict(read(conn, "SELECT ticker, last(beta ORDER BY as_of) AS beta FROM target_book "
                                 "GROUP BY ticker").iter_rows()) if table_exists(conn, "target_book") else {})
        book = replay_book(conn, end, cfg, betas)
        brokered = table_exists(conn, "execution_fills") and conn.execute(
            "SELECT count(*) FROM execution_fills WHERE shares > 0").fetchall()[0][0] > 0
        replace_all(conn, PORTFOLIO_POSITIONS, book.positions.with_columns(
            updated_at=pl.lit(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)),
            source=pl.lit("broker" if brokered else "simulated")))
        replace_all(conn, PORTFOLIO_HISTORY, book.history)
    for e in book.events:
        context.log.info(e)
    h = book.history
    last = h.row(-1, named=True) if h.height else {}
    figures = {k: dg.MetadataValue.float(float(last[k])) for k in ("nav", "gross", "net", "beta", "drawdown")
               if last.get(k) is not None}
    yield dg.MaterializeResult(asset_key=PORTFOLIO_POSITIONS.name, metadata={
        **figures, "positions": book.positions.height,
        "corporate_actions": dg.MetadataValue.md("\n".join(f"- {e}" for e in book.events) or "none"),
        "preview": dg.MetadataValue.md(preview_markdown(book.positions.sort("weight", descending=True).select(
            "ticker", "side", "shares", "avg_cost", "last_price", "weight", "entry_date"), n=10))})
    # the breakers' inputs, read by the kill_switch_sensor from the event log (no DuckDB step in between)
    breakers = {k: dg.MetadataValue.float(v) for k, v in breaker_inputs(h["nav"].to_list()).items()} if h.height else {}
    yield dg.MaterializeResult(asset_key=PORTFOLIO_HISTORY.name, metadata={
        **figures, **breakers, "sessions": h.height, "as_of": dg.MetadataValue.text(str(last.get("date", "")))})


PORTFOLIO_ASSETS = [rebalance_proposal, position_approvals, portfolio_book]
