"""Which names go in the books: 20 LONG / 20 SHORT from the scores, topped up when fewer are flagged.

LONG = names flagged long, best score first; when fewer than ``num_longs`` are flagged the book is topped up
with the highest-scored remaining names. SHORT likewise from the short flags and the lowest scores. A name is
never in both books, and a name without a price or volume that session is not tradable and is left out.

Two rules keep the books tradable from one session to the next:

* **Held names keep their slot while still flagged** (``held``: ticker → signed shares). The flags are the
  score's top / bottom quintile within each sector, and the book takes the best 20 of ~80 flagged names, so the
  cut falls among names one or two sector ranks apart; without this rule a few of them swap every session and
  the book chases a target it never reaches (the turnover budget spent every day, half the book in transit).
  A long still flagged long (a short still flagged short) stays; the free slots are filled best score first.
* **The books can be beta-neutral** (``beta_room``). A long book of low-beta names and a short book of
  high-beta ones (a low-volatility tilt does exactly that) cannot reach ``|βᵀw| ≤ max_beta`` at the exposure
  targets within the position bounds, and the optimizer is then infeasible. `net_beta_range` gives the
  reachable range exactly (box and budget constraints of each side); while it misses the band, the name whose
  beta is furthest the wrong way is replaced by the flagged name of the same side that moves the range closest
  to the band (ties: better score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Books:
    longs: tuple[str, ...]
    shorts: tuple[str, ...]
    topped_up_long: int
    topped_up_short: int
    untradable: tuple[str, ...]
    beta_swaps: int = 0  # names replaced so that the books can be beta-neutral


@dataclass(frozen=True)
class BetaRoom:
    """What the optimizer will ask of the books: side exposures (fractions of NAV, both positive), the position
    bounds of a name (``min_position`` ≤ |w| ≤ ``max_position``) and the net-beta band ``|βᵀw| ≤ max_beta``."""

    long_exposure: float
    short_exposure: float
    min_position: float
    max_position: float
    max_beta: float
    max_sector_net: float = 1.0  # |long − short| within one sector
    max_sector_side: float = 1.0  # long (short) book within one sector


def _side_range(beta: np.ndarray, exposure: float, lo: float, hi: float) -> tuple[float, float] | None:
    """(min, max) of Σ β_i w_i over lo ≤ w_i ≤ hi, Σ w_i = exposure; None if the bounds cannot sum to it."""
    n = len(beta)
    if n == 0 or exposure < n * lo - 1e-12 or exposure > n * hi + 1e-12:
        return None
    spare = exposure - n * lo
    b = np.sort(beta)
    extra = np.minimum(np.maximum(spare - (hi - lo) * np.arange(n), 0.0), hi - lo)  # greedy: largest β first
    top = lo * b.sum() + float(extra @ b[::-1])
    bottom = lo * b.sum() + float(extra @ b)
    return bottom, top


def net_beta_range(beta_long, beta_short, room: BetaRoom) -> tuple[float, float] | None:
    """The net beta ``Σ_L β w − Σ_S β |w|`` the books can reach (exact), or None if the exposures cannot be met
    within the position bounds at all."""
    lr = _side_range(np.asarray(beta_long, dtype=float), room.long_exposure, room.min_position, room.max_position)
    sr = _side_range(np.asarray(beta_short, dtype=float), room.short_exposure, room.min_position, room.max_position)
    if lr is None or sr is None:
        return None
    return lr[0] - sr[1], lr[1] - sr[0]


def _miss(rng: tuple[float, float] | None, band: float) -> float:
    """Distance from the reachable range to the band [-band, band] (0: the books can be beta-neutral)."""
    if rng is None:
        return float("inf")
    return max(rng[0] - band, -band - rng[1], 0.0)


def tradable(candidates: pl.DataFrame) -> pl.Expr:
    return (pl.col("price").is_not_null() & (pl.col("price") > 0) & pl.col("adv_dollars").is_not_null()
            & (pl.col("adv_dollars") > 0) & pl.col("score").is_not_null())


def _pick(pool: pl.DataFrame, k: int, descending: bool, held: set[str]) -> list[str]:
    """Up to ``k`` names of ``pool``: held ones first (best score first), then the rest, best score first."""
    ranked = pool.sort(["score", "ticker"], descending=[descending, False])["ticker"].to_list()
    kept = [t for t in ranked if t in held][:k]
    chosen = set(kept + [t for t in ranked if t not in kept][:k - len(kept)])
    return [t for t in ranked if t in chosen]


def select_books(candidates: pl.DataFrame, num_longs: int, num_shorts: int, held: Mapping[str, int] | None = None,
                 beta_room: BetaRoom | None = None) -> Books:
    """``candidates``: ticker, score, long_flag, short_flag, price, adv_dollars (one row per scored name), and
    beta when ``beta_room`` is given (null counts as 1.0). ``held``: the book's signed shares (module docstring)."""
    held = held or {}
    ok = candidates.filter(tradable(candidates))
    untradable = tuple(sorted(set(candidates["ticker"]) - set(ok["ticker"])))
    held_long = {t for t, s in held.items() if s > 0}
    held_short = {t for t, s in held.items() if s < 0}
    flagged_long = ok.filter(pl.col("long_flag").fill_null(False))
    longs = _pick(flagged_long, num_longs, True, held_long)
    topped_long = 0
    if len(longs) < num_longs:
        rest = (ok.filter(~pl.col("ticker").is_in(longs), ~pl.col("short_flag").fill_null(False))
                .sort(["score", "ticker"], descending=[True, False])["ticker"].head(num_longs - len(longs)).to_list())
        topped_long = len(rest)
        longs += rest
    flagged_short = ok.filter(pl.col("short_flag").fill_null(False), ~pl.col("ticker").is_in(longs))
    shorts = _pick(flagged_short, num_shorts, False, held_short)
    topped_short = 0
    if len(shorts) < num_shorts:
        rest = (ok.filter(~pl.col("ticker").is_in(longs + shorts)).sort(["score", "ticker"])["ticker"]
                .head(num_shorts - len(shorts)).to_list())
        topped_short = len(rest)
        shorts += rest
    swaps = 0
    if beta_room is not None and longs and shorts:
        longs, shorts, swaps = _beta_feasible(ok, flagged_long, flagged_short, longs, shorts, beta_room)
    return Books(tuple(longs), tuple(shorts), topped_long, topped_short, untradable, swaps)


def beta_miss(beta_long, beta_short, sector_long, sector_short, room: BetaRoom) -> float:
    """How far the books' net beta must stay from the band ``|βᵀw| ≤ max_beta`` at best, signed: 0 when the books
    can be beta-neutral, < 0 when even the highest reachable net beta is below −max_beta (the books must gain
    beta), > 0 when the lowest is above +max_beta; ±inf when the books cannot meet the exposures, position bounds
    and sector limits (net and side) at all. One small LP over the books' weights (the optimizer's constraints
    without its objective)."""
    from scipy.optimize import linprog

    bl, bs = np.asarray(beta_long, dtype=float), np.asarray(beta_short, dtype=float)
    nl, ns = len(bl), len(bs)
    m = nl + ns
    sectors = np.asarray(list(sector_long) + list(sector_short), dtype=object)
    is_long = np.arange(m) < nl
    rows, rhs = [], []
    for sec in dict.fromkeys(sectors.tolist()):
        a = (sectors == sec).astype(float)
        rows += [a, -a, a * is_long, -a * ~is_long]
        rhs += [room.max_sector_net, room.max_sector_net, room.max_sector_side, room.max_sector_side]
    b = np.r_[bl, bs]
    A = np.c_[np.array(rows), np.zeros(len(rows))]
    A = np.vstack([A, np.r_[b, -1.0], np.r_[-b, -1.0]])
    ub = np.r_[rhs, room.max_beta, room.max_beta]
    eq = np.vstack([np.r_[is_long.astype(float), 0.0], np.r_[(~is_long).astype(float), 0.0]])
    bounds = ([(room.min_position, room.max_position)] * nl + [(-room.max_position, -room.min_position)] * ns
              + [(0, None)])
    res = linprog(np.r_[np.zeros(m), 1.0], A_ub=A, b_ub=ub, A_eq=eq, b_eq=[room.long_exposure, -room.short_exposure],
                  bounds=bounds, method="highs")
    if res.status != 0:
        return float("inf")
    t = float(res.x[-1])
    if t <= 1e-9:
        return 0.0
    return t if float(b @ res.x[:m]) > 0 else -t


SWAP_TRIALS = 6  # swaps tried exactly (one LP each) per step, the largest beta moves first


def _beta_feasible(ok: pl.DataFrame, flagged_long: pl.DataFrame, flagged_short: pl.DataFrame, longs: list[str],
                   shorts: list[str], room: BetaRoom) -> tuple[list[str], list[str], int]:
    """Swap names until the books can be beta-neutral (module docstring); (longs, shorts, swaps). A swap replaces a
    book name by a flagged name of the same side and sector (the sector limits stay as they were), the one that
    brings the books closest to the band; stops when none brings them closer."""
    f = ok.select("ticker", "score", pl.col("beta").cast(pl.Float64).fill_null(1.0).fill_nan(1.0),
                  pl.col("sector").fill_null("Unknown"))
    beta = dict(zip(f["ticker"].to_list(), f["beta"].to_list()))
    score = dict(zip(f["ticker"].to_list(), f["score"].to_list()))
    sector = dict(zip(f["ticker"].to_list(), f["sector"].to_list()))
    pools = {"long": flagged_long["ticker"].to_list(), "short": flagged_short["ticker"].to_list()}

    def miss(ls: list[str], ss: list[str]) -> float:
        return beta_miss([beta[t] for t in ls], [beta[t] for t in ss], [sector[t] for t in ls],
                         [sector[t] for t in ss], room)

    swaps, now = 0, miss(longs, shorts)
    for _ in range(len(longs) + len(shorts)):
        if now == 0.0 or not np.isfinite(now):
            break
        up = 1.0 if now < 0 else -1.0  # +1: the books must gain beta (longs up, shorts down)
        taken = set(longs) | set(shorts)
        moves = []  # (beta move, side, out, in)
        for side, book, sign in (("long", longs, up), ("short", shorts, -up)):
            for t in pools[side]:
                if t in taken:
                    continue
                for out in book:
                    gain = sign * (beta[t] - beta[out])
                    if sector[out] == sector[t] and gain > 0:
                        moves.append((gain, side, out, t))
        moves.sort(key=lambda x: (-x[0], x[1], x[2], x[3]))
        best = None
        for _, side, out, t in moves[:SWAP_TRIALS]:
            ls = [t if x == out else x for x in longs] if side == "long" else longs
            ss = [t if x == out else x for x in shorts] if side == "short" else shorts
            m = miss(ls, ss)
            key = (abs(m), -(score[t] if side == "long" else -score[t]), t)
            if abs(m) < abs(now) - 1e-12 and (best is None or key < best[0]):
                best = (key, ls, ss, m)
        if best is None:
            break
        longs, shorts, now = best[1], best[2], best[3]
        swaps += 1
    if swaps:  # in score order, as the books are listed everywhere else
        longs = sorted(longs, key=lambda t: (-score[t], t))
        shorts = sorted(shorts, key=lambda t: (score[t], t))
    return longs, shorts, swaps
