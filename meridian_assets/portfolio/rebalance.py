"""A rebalance proposal: books → optimizer → turnover budget → whole shares → costs → pre-trade veto.

`propose_rebalance(inputs, cfg, method)` is pure: it reads nothing and writes nothing, so the what-if and the
commit path (and a backtest) run the same code.

1. Books: `selection.select_books` (20 LONG / 20 SHORT, topped up).
2. Target weights over the books plus every held name (held names outside the books go to zero):
   * ``mvo``: `mvo_program.solve_mvo` (the program compiled once per shape and re-solved with this session's
     numbers) with μ from the score, Σ from the Layer-5 factor model (``risk.feed_to_mvo`` and every name
     covered) else the 120-day Ledoit–Wolf sample covariance, costs in the objective. The target is the spec's
     optimum (``portfolio.mvo_turnover_mode="off"``): the budget step below ramps to it, largest score changes
     first; ``"soft"`` / ``"hard"`` put the budget into the program instead. Infeasible or a solver failure ⇒
     warning + conviction-tilt.
   * ``conviction``: `conviction.conviction_tilt` (tilts, sector-neutral, NAV / ADV / earnings caps, beta).
   * ``sleeves``: the meta layer's capital-weighted combination of the sleeves' targets (`meta_target_book`)
     is the target; overlays, budget and veto below apply to it as to any other.
3. Risk overlays from the trading state: the gross multiplier (breaker SIZE_DOWN × tail risk) scales the
   target; names the breakers force-close target zero.
4. `turnover.apply_turnover_budget`: largest |score change| first (within each direction, interleaved so the
   ramp's net exposure tracks the target's: `turnover.balanced_order`), the crossing trade partially filled,
   the rest DEFERRED (still in the target book, traded at a later rebalance).
5. Whole shares toward zero (never more than the weight asks), cost per trade (commission + spread + impact, bps);
   a trade smaller than ``min_trade_pct`` of NAV that does not close a position is left for later.
6. Pre-trade veto on every trade as the budget reaches it, against the book as the trades accepted before it
   leave it. A vetoed trade keeps its reasons and uses none of the budget.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meridian_assets.config import MeridianConfig
from meridian_assets.portfolio.conviction import conviction_tilt
from meridian_assets.portfolio.costs import TransactionCost
from meridian_assets.portfolio.errors import NumericalSolverError, ProgramInfeasible
from meridian_assets.portfolio.market import sample_covariance
from meridian_assets.portfolio.mvo import expected_returns
from meridian_assets.portfolio.mvo_program import solve_mvo
from meridian_assets.portfolio.selection import BetaRoom, Books, select_books, tradable
from meridian_assets.portfolio.turnover import apply_turnover_budget, balanced_order
from meridian_assets.risk.factor_model import FactorModel
from meridian_assets.risk.pre_trade import BookState, MarketInfo, Trade, check_trade
from meridian_assets.risk.states import TradingState

NEUTRAL_SCORE = 50.0


@dataclass(frozen=True)
class RebalanceInputs:
    """Everything a proposal reads, as of ``as_of``.

    ``candidates``: one row per scored (or held) name: ticker, sector, score, prior_score, long_flag, short_flag,
    price, adv_dollars, avg_range_pct, daily_vol, beta, days_to_earnings. ``positions``: ticker, shares (signed).
    ``returns``: (tickers, T × n daily returns) for the sample-covariance fallback.
    """

    as_of: dt.date
    nav: float
    candidates: pl.DataFrame
    positions: pl.DataFrame
    risk_model: FactorModel | None = None
    returns: tuple[tuple[str, ...], np.ndarray] | None = None
    trading_state: TradingState = TradingState.ACTIVE
    halted: bool = False
    gross_multiplier: float = 1.0
    force_close: tuple[str, ...] = ()
    score_source: str = "factor_scores"
    fixed_target: dict[str, float] | None = None  # method "sleeves": the meta layer's combined target weights


@dataclass
class Proposal:
    rebalance_id: str
    as_of: dt.date
    method: str
    requested_method: str
    target: pl.DataFrame
    trades: pl.DataFrame
    warnings: list[str] = field(default_factory=list)
    figures: dict[str, float | int | str] = field(default_factory=dict)
    # the cost model the trades were estimated with, over `cost_names` (a fill of a trade is priced with it)
    cost_model: TransactionCost | None = None
    cost_names: tuple[str, ...] = ()

    def costs_of(self, ticker: str) -> TransactionCost | None:
        """The cost model of one name of the proposal (None if it was not in the proposal)."""
        if self.cost_model is None or ticker not in self.cost_names:
            return None
        return self.cost_model.subset([self.cost_names.index(ticker)])


def _action(current: int, delta: int) -> str:
    if delta > 0:
        return "COVER" if current < 0 else "BUY"
    return "SELL" if current > 0 else "SHORT"


def _covariance(inputs: RebalanceInputs, tickers: list[str], cfg: MeridianConfig, notes: list[str]):
    rm = inputs.risk_model
    if cfg.risk.feed_to_mvo and rm is not None:
        pos = {t: i for i, t in enumerate(rm.tickers)}
        missing = [t for t in tickers if t not in pos]
        if not missing:
            idx = [pos[t] for t in tickers]
            return (rm.X[idx], rm.F, rm.D[idx]), "factor_model"
        notes.append(f"risk model lacks {len(missing)} names ({', '.join(missing[:5])}); sample covariance used")
    if inputs.returns is None:
        raise ProgramInfeasible("no covariance: neither a risk model nor return history for the book")
    names, R = inputs.returns
    pos = {t: i for i, t in enumerate(names)}
    cols = np.array([R[:, pos[t]] if t in pos else np.full(R.shape[0], np.nan) for t in tickers]).T
    return sample_covariance(cols[-cfg.portfolio.covariance_lookback_days:]), "sample_covariance"


@dataclass(frozen=True)
class _Columns:
    """The columns of the proposal's universe ``u`` as numpy arrays, nulls filled once (one polars pass)."""

    tickers: list[str]
    score: np.ndarray  # null -> neutral 50
    prior: np.ndarray  # null -> neutral 50
    beta: np.ndarray  # null/NaN -> 1.0
    sector: np.ndarray  # null -> "Unknown"
    adv: np.ndarray  # null -> 0
    avg_range: np.ndarray  # null -> 0.02
    daily_vol: np.ndarray  # null -> 0.02
    price: np.ndarray
    days_to_earnings: list[int | None]

    @classmethod
    def of(cls, u: pl.DataFrame) -> "_Columns":
        f = u.select(
            score=pl.col("score").cast(pl.Float64).fill_null(NEUTRAL_SCORE),
            prior=pl.col("prior_score").cast(pl.Float64).fill_null(NEUTRAL_SCORE),
            beta=pl.col("beta").cast(pl.Float64).fill_null(1.0).fill_nan(1.0),
            sector=pl.col("sector").fill_null("Unknown"), adv=pl.col("adv_dollars").cast(pl.Float64).fill_null(0.0),
            avg_range=pl.col("avg_range_pct").cast(pl.Float64).fill_null(0.02),
            daily_vol=pl.col("daily_vol").cast(pl.Float64).fill_null(0.02), price=pl.col("price").cast(pl.Float64))
        return cls(u["ticker"].to_list(), *(f[c].to_numpy() for c in ("score", "prior", "beta")),
                   f["sector"].to_numpy(), *(f[c].to_numpy() for c in ("adv", "avg_range", "daily_vol", "price")),
                   u["days_to_earnings"].to_list())

    def cost_model(self, nav: float, pc) -> TransactionCost:
        return TransactionCost.from_market(self.avg_range, self.daily_vol, np.maximum(self.adv, 1.0), nav, pc)


def _target_weights(inputs, c: _Columns, L, S, cur, cfg: MeridianConfig, method: str, notes: list[str]):
    """(weights over the universe, method used, optimizer figures)."""
    pc = cfg.portfolio
    figures: dict = {}
    if method == "mvo":
        try:
            sigma, source = _covariance(inputs, c.tickers, cfg, notes)
            mu = expected_returns(c.score, pc.expected_return_range)
            res = solve_mvo(mu, sigma, c.beta, c.sector, cur, c.cost_model(inputs.nav, pc), pc, L, S,
                            turnover_mode=pc.mvo_turnover_mode, turnover_budget=pc.turnover_budget,
                            turnover_penalty=pc.mvo_turnover_penalty, limits=cfg.risk)
            figures = {"solver": res.solver, "solve_ms": round(res.solve_seconds * 1e3, 2), "covariance": source,
                       "ex_ante_vol": res.volatility, "expected_return": res.expected_return,
                       "est_cost_bps_nav": 1e4 * res.costs["total"]}
            return res.weights, "mvo", figures
        except (ProgramInfeasible, NumericalSolverError) as err:
            notes.append(f"MVO failed ({type(err).__name__}: {err}); fell back to conviction-tilt")
    days = np.array([np.nan if d is None else float(d) for d in c.days_to_earnings])
    res = conviction_tilt(c.score, L, S, c.sector, c.beta, c.adv, pc, nav=inputs.nav, days_to_earnings=days,
                          limits=cfg.risk)
    figures = {"beta_before_neutralisation": res.beta_before, "short_scale": res.short_scale,
               "earnings_halved": int(res.earnings_halved.sum()), "capped": int(res.capped.sum())}
    return res.weights, "conviction", figures


def _sleeve_books(inputs: RebalanceInputs) -> Books:
    """The meta layer's capital-weighted combination of sleeve targets, as the books (method ``sleeves``)."""
    if inputs.fixed_target is None:
        raise ProgramInfeasible("method 'sleeves' needs the meta layer's meta_target_book for this session; "
                                "run meta_proposal_job (sleeve_allocation) first")
    # {}: the meta layer gave every sleeve zero capital; the books are empty and every held name is closed
    ok = set(inputs.candidates.filter(tradable(inputs.candidates))["ticker"])
    target = {t: w for t, w in inputs.fixed_target.items() if w != 0}
    longs = tuple(sorted((t for t in target if target[t] > 0 and t in ok), key=lambda t: -target[t]))
    shorts = tuple(sorted((t for t in target if target[t] < 0 and t in ok), key=lambda t: target[t]))
    return Books(longs, shorts, 0, 0, tuple(sorted(set(target) - ok)))


def rebalance_id(as_of: dt.date, method: str, target: dict[str, int], current: dict[str, int]) -> str:
    h = hashlib.sha256(repr((sorted(target.items()), sorted(current.items()))).encode()).hexdigest()[:8]
    return f"rb-{as_of:%Y%m%d}-{method}-{h}"


def propose_rebalance(inputs: RebalanceInputs, cfg: MeridianConfig, method: str | None = None) -> Proposal:
    pc = cfg.portfolio
    requested = method or pc.optimize_method
    notes: list[str] = []
    held = {t: int(s) for t, s in zip(inputs.positions["ticker"], inputs.positions["shares"]) if int(s) != 0}
    if requested == "sleeves":
        books = _sleeve_books(inputs)
    else:
        # the MVO's own exposure, position and beta constraints: books it can solve (selection module docstring)
        room = (BetaRoom(pc.long_exposure, pc.short_exposure, pc.min_position_pct, cfg.risk.max_position_pct,
                         cfg.risk.max_beta, pc.max_sector_net_pct, cfg.risk.max_sector_side_pct)
                if requested == "mvo" else None)
        books = select_books(inputs.candidates, pc.num_longs, pc.num_shorts, held, room)
    if books.untradable:
        notes.append(f"{len(books.untradable)} names without a price/volume/score left out")
    names = list(books.longs) + list(books.shorts) + sorted(set(held) - set(books.longs) - set(books.shorts))
    u = pl.DataFrame({"ticker": names}, schema={"ticker": pl.Utf8}).join(inputs.candidates, on="ticker",
                                                                       how="left")
    c = _Columns.of(u)
    price = c.price
    if np.isnan(price).any():
        stale = [t for t, p in zip(names, price) if np.isnan(p)]
        raise ProgramInfeasible(f"held names have no price on {inputs.as_of}: {', '.join(stale)}")
    cur_sh = np.array([held.get(t, 0) for t in names])
    cur = cur_sh * price / inputs.nav
    L = list(range(len(books.longs)))
    S = list(range(len(books.longs), len(books.longs) + len(books.shorts)))
    if requested == "sleeves":
        w = np.array([inputs.fixed_target.get(t, 0.0) for t in names])
        used, figures = "sleeves", {"sleeve_names": len(inputs.fixed_target)}
        if not inputs.fixed_target:
            notes.append("the meta layer allocates no capital to any sleeve: the target is cash")
    else:
        w, used, figures = _target_weights(inputs, c, L, S, cur, cfg, requested, notes)
    if inputs.gross_multiplier < 1.0:
        notes.append(f"risk overlay: target gross scaled by {inputs.gross_multiplier:.2f}")
        w = w * inputs.gross_multiplier
    for t in inputs.force_close:
        if t in names:
            w[names.index(t)] = 0.0
            notes.append(f"{t}: force-closed by the single-position breaker")
    target_sh = np.trunc(w * inputs.nav / price).astype(int)

    score, beta = c.score, c.beta
    change = score - c.prior
    market = MarketInfo(
        sector=dict(zip(names, c.sector.tolist())), beta=dict(zip(names, beta.tolist())),
        adv_usd=dict(zip(names, c.adv.tolist())),
        days_to_earnings={t: int(d) for t, d in zip(names, c.days_to_earnings) if d is not None})
    row = {t: i for i, t in enumerate(names)}
    book = {t: held[t] * float(price[row[t]]) for t in held}
    attempted = np.zeros(len(names), dtype=int)
    status, reason = ["HOLD"] * len(names), [""] * len(names)

    def veto(i: int, executed_w: float) -> bool:
        """Pre-trade check of the whole-share trade against the book as the accepted trades leave it."""
        wanted = int(target_sh[i] - cur_sh[i])
        full = step_target[i] - cur[i]
        fill = executed_w / full if full else 0.0
        t, qty = names[i], (wanted if fill >= 1.0 - 1e-12 else int(np.trunc(wanted * fill)))
        attempted[i] = qty
        closing = cur_sh[i] + qty == 0
        if qty == 0:
            return False
        if not closing and abs(qty * price[i]) < pc.min_trade_pct * inputs.nav:
            attempted[i] = 0
            reason[i] = f"below the minimum trade ({pc.min_trade_pct:.2%} of NAV): waits for a later rebalance"
            return False
        decision = check_trade(Trade(t, float(qty * price[i])),
                               BookState(inputs.nav, dict(book), inputs.trading_state), market, cfg.risk,
                               inputs.halted)
        if decision.accepted:
            book[t] = book.get(t, 0.0) + float(qty * price[i])
            status[i] = "PROPOSED"
        else:
            status[i], reason[i] = "VETOED", "; ".join(d.message for d in decision.denials)
        return decision.accepted

    step_target = target_sh * price / inputs.nav
    tv = apply_turnover_budget(cur, step_target, change, pc.turnover_budget, names,
                               order=balanced_order(cur, step_target, change), accept=veto)
    delta = np.where(np.array(status) == "PROPOSED", attempted, 0)
    for tr in tv.trades:
        i = tr.index
        if status[i] == "PROPOSED" and tr.fill < 1.0:
            reason[i] = f"partial: {tr.fill:.0%} of the wanted trade within the turnover budget"
        elif status[i] == "HOLD" and target_sh[i] != cur_sh[i]:
            status[i] = "DEFERRED"
            reason[i] = reason[i] or f"turnover budget: {target_sh[i] - cur_sh[i]:+d} shares wait for a later rebalance"
    step_sh = cur_sh + delta
    sequence = np.full(len(names), len(names), dtype=int)
    for k, tr in enumerate(tv.trades):
        sequence[tr.index] = k
    shown = np.where(np.array(status) == "VETOED", attempted, delta)
    model = c.cost_model(inputs.nav, pc)
    est = model.estimate(shown * price / inputs.nav)
    notional = np.abs(shown * price)

    target_map = {t: int(s) for t, s in zip(names, target_sh) if s != 0}
    rid = rebalance_id(inputs.as_of, used, target_map, held)
    side = np.where(w > 0, "LONG", np.where(w < 0, "SHORT", "FLAT"))
    raw = u.select("ticker", "sector", "score", "beta", "adv_dollars", "price")
    keep = np.flatnonzero(target_sh != 0)
    k = len(keep)
    target = raw[keep].hstack([
        pl.Series("rebalance_id", [rid] * k, pl.Utf8), pl.Series("as_of", [inputs.as_of] * k, pl.Date),
        pl.Series("side", side[keep], pl.Utf8),
        pl.Series("expected_return", expected_returns(score, pc.expected_return_range)[keep], pl.Float64),
        pl.Series("weight", w[keep], pl.Float64), pl.Series("target_shares", target_sh[keep], pl.Int64),
        pl.Series("method", [used] * k, pl.Utf8)])
    st = np.array(status)
    rows = np.flatnonzero(st != "HOLD")
    rows = rows[np.argsort(sequence[rows], kind="stable")]
    k = len(rows)
    action = [_action(int(cur_sh[i]), int(shown[i]) if shown[i] else int(target_sh[i] - cur_sh[i])) for i in rows]
    trades = pl.DataFrame({
        "rebalance_id": [rid] * k, "as_of": [inputs.as_of] * k, "ticker": [names[i] for i in rows],
        "sector": raw["sector"][rows], "action": action, "side": side[rows], "current_shares": cur_sh[rows],
        "target_shares": step_sh[rows], "delta_shares": shown[rows], "price": price[rows], "notional": notional[rows],
        "current_weight": cur[rows], "target_weight": (step_sh * price / inputs.nav)[rows], "score": score[rows],
        "score_change": change[rows], "cost_bps": est.bps[rows],
        "commission_bps": _bps(est.commission_frac, est.trade)[rows],
        "spread_bps": _bps(est.spread_frac, est.trade)[rows], "impact_bps": _bps(est.impact_frac, est.trade)[rows],
        "cost_dollars": est.dollars[rows], "status": st[rows], "reason": [reason[i] for i in rows],
        "sequence": sequence[rows],
    }, schema_overrides=_TRADE_TYPES)
    accepted = rows[st[rows] == "PROPOSED"]
    long_w, short_w = float(w[w > 0].sum()), float(-w[w < 0].sum())
    figures.update({
        "longs": len(books.longs), "shorts": len(books.shorts), "topped_up_long": books.topped_up_long,
        "topped_up_short": books.topped_up_short, "beta_swaps": books.beta_swaps, "target_gross": long_w + short_w, "target_net": long_w - short_w,
        "target_beta": float(beta @ w), "trades": len(accepted),
        "vetoed": int((st == "VETOED").sum()), "deferred": int((st == "DEFERRED").sum()),
        "turnover": float(np.abs(delta * price).sum() / inputs.nav), "turnover_budget": pc.turnover_budget,
        "est_cost_dollars": float(est.dollars[accepted].sum()), "nav": inputs.nav,
    })
    return Proposal(rid, inputs.as_of, used, requested, target, trades, notes, figures, model, tuple(names))


_TRADE_TYPES = {"rebalance_id": pl.Utf8, "as_of": pl.Date, "ticker": pl.Utf8, "sector": pl.Utf8, "action": pl.Utf8,
                "side": pl.Utf8, "current_shares": pl.Int64, "target_shares": pl.Int64, "delta_shares": pl.Int64,
                "status": pl.Utf8, "reason": pl.Utf8, "sequence": pl.Int64}


def _bps(frac: np.ndarray, trade: np.ndarray) -> np.ndarray:
    notional = np.abs(trade)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(notional > 0, 1e4 * frac / notional, 0.0)
