"""Form 4 insider transactions: rosters, routine grants/vesting/exercises/sales, rare buys and buying clusters.

Routine activity is drawn per (company, year); the open-market buying clusters (3-5 distinct insiders within
~25 calendar days) come from the engine, which starts them more often where the expected alpha is high and
gives the stock a post-cluster drift. Holdings are tracked in the epoch share basis so splits carry through.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import INSIDER_TRANSACTIONS
from meridian_assets.ingest.synthetic.common import S_INSIDER, accession, local_index, rng

FIRST = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Karen", "Christopher", "Sarah",
         "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Steven", "Emily", "Andrew",
         "Michelle", "Kenneth", "Amanda", "Kevin", "Melissa", "Brian", "Stephanie", "Priya", "Wei", "Carlos",
         "Aisha", "Hiroshi", "Elena", "Rahul", "Sofia", "Omar", "Grace")
LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
        "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
        "Scott", "Hill", "Green", "Adams", "Nelson", "Baker", "Campbell", "Mitchell", "Carter", "Patel", "Chen",
        "Nakamura", "Okafor", "Schmidt", "Rossi", "Novak", "Kowalski", "Sullivan", "Brennan", "Lindqvist")
OFFICER_TITLES = ("Chief Executive Officer", "Chief Financial Officer", "President and Chief Operating Officer",
                  "EVP, General Counsel and Secretary")
CODES_A = {"P", "A", "M"}


def roster(seed: int, company: int, cik: int, n: int) -> list[dict]:
    """The company's insiders: CEO, CFO, 0-2 more officers, directors (the CEO sometimes chairs the board)."""
    g = rng(seed, S_INSIDER, cik)
    n_off = 2 + int(n >= 6) + int(n >= 8)
    used, out = set(), []
    for k in range(n):
        while True:
            nm = f"{g.choice(FIRST)} {chr(65 + int(g.integers(0, 26)))}. {g.choice(LAST)}"
            if nm not in used:
                used.add(nm)
                break
        officer = k < n_off
        title = OFFICER_TITLES[k] if officer else ("Lead Independent Director" if k == n_off else "Director")
        chair = k == 0 and g.random() < 0.4
        if chair:
            title = "Chairman and Chief Executive Officer"
        out.append(dict(name=nm, cik=1_900_000 + 16 * company + k, title=title, officer=officer,
                        director=(not officer) or chair, ceo_cfo=k < 2))
    return out


def _routine(g, people, mcap_scale, lo, hi) -> list[tuple]:
    """(insider k, session t, code, value in USD) for one company-year; 'MS' = exercise and same-day sale."""
    if hi - lo < 40:
        return []
    span = hi - lo
    ev = []
    for k, p in enumerate(people):
        u = g.random(12)
        if p["officer"]:
            grant = (9e6 if k == 0 else 3e6 if k == 1 else 1.6e6) * mcap_scale * np.exp(0.2 * (u[0] - 0.5))
            ev.append((k, lo + int(span * (0.10 + 0.08 * u[1])), "A", grant))
            for j, q in enumerate((0.12, 0.37, 0.62, 0.87)):
                ev.append((k, lo + int(span * (q + 0.02 * u[2 + j])), "F", 0.38 * grant / 4))
            if u[6] < 0.5:
                ev.append((k, lo + int(span * (0.2 + 0.75 * u[7])), "MS", 0.5 * grant * (0.5 + u[8])))
            for _ in range(int(g.poisson(2.0))):
                v = g.random(2)
                ev.append((k, lo + int(span * (0.05 + 0.93 * v[0])), "S", 0.4 * grant * (0.3 + v[1])))
        else:
            ev.append((k, lo + int(span * (0.36 + 0.06 * u[1])), "A", 2.6e5 * np.exp(0.1 * (u[0] - 0.5))))
            if u[6] < 0.4:
                ev.append((k, lo + int(span * (0.05 + 0.93 * u[7])), "S", 3e5 * (0.5 + u[8])))
        if u[9] < (0.025 if p["officer"] else 0.05):
            ev.append((k, lo + int(span * (0.02 + 0.96 * u[10])), "P", 1e5 * (1 + 4 * u[11])))
    return ev


def build_insiders(world) -> dict:
    st, clock, core, bars = world.static, world.clock, world.core, world.bars
    T = clock.T
    dates = clock.dates
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    bounds = [(int(y), int(np.searchsorted(years, y)), int(np.searchsorted(years, y, "right"))) for y in np.unique(years)]
    stop = np.full(st.N, T - 3)
    stop[st.dl] = min(T - 3, clock.index_of(st.dl_announce) - 1)
    clusters: dict[int, list[int]] = {}
    for t, i in core.clusters.tolist():
        clusters.setdefault(i, []).append(t)
    rosters, ev, init = {}, [], {}
    for i in range(st.N):
        people = roster(st.seed, i, int(st.cik[i]), int(st.arr["n_insiders"][i]))
        rosters[i] = people
        scale = (st.mcap0[i] / 30e9) ** 0.3
        for k, p in enumerate(people):
            init[(i, k)] = (40.0 if p["officer"] else 8.0) * (9e6 if k == 0 else 2e6) * scale / st.price0[i]
        for y, lo, hi in bounds:
            ev += [(i, *e) for e in _routine(rng(st.seed, S_INSIDER, int(st.cik[i]), y), people, scale, lo, hi)]
        for t0 in clusters.get(i, []):
            g = rng(st.seed, S_INSIDER, int(st.cik[i]), 10_000 + t0)
            w = np.array([1.5 if p["ceo_cfo"] else (1.0 if p["director"] else 0.6) for p in people])
            who = g.choice(len(people), size=min(int(g.integers(3, 6)), len(people)), replace=False, p=w / w.sum())
            offs = np.concatenate([[0], np.sort(g.integers(1, 19, len(who) - 1))])
            vals = 1.5e5 * np.exp(2.6 * g.random(len(who)))
            ev += [(i, k, t0 + o, "P", v) for k, o, v in zip(who.tolist(), offs.tolist(), vals.tolist())]
    comp, kk, tt, code, val = (np.array(x) for x in zip(*ev))
    comp, kk, tt = comp.astype(np.int64), kk.astype(np.int64), tt.astype(np.int64)
    keep = (tt >= 1) & (tt <= stop[comp])
    comp, kk, tt, code, val = comp[keep], kk[keep], tt[keep], code[keep].astype(object), val[keep].astype(float)
    # an exercise-and-sell becomes two lines: M then S
    ms = code == "MS"
    comp, kk, tt, val = (np.concatenate([x, x[ms]]) for x in (comp, kk, tt, val))
    code = np.concatenate([np.where(ms, "M", code), np.full(int(ms.sum()), "S")]).astype(object)
    rank = np.select([code == "A", code == "M", code == "P", code == "F"], [0, 1, 2, 3], 4)
    order = np.lexsort((rank, tt, kk, comp))
    comp, kk, tt, code, val = comp[order], kk[order], tt[order], code[order], val[order]
    px = bars.close[tt, comp]
    sf = bars.sf[tt, comp]
    shares = np.maximum(np.round(val / px), 1.0)
    acq = np.isin(code, list(CODES_A))
    delta = np.where(acq, shares, -shares) / sf
    # running holdings per insider, in the epoch basis
    first = np.ones(len(tt), dtype=bool)
    first[1:] = (comp[1:] != comp[:-1]) | (kk[1:] != kk[:-1])
    base = np.maximum.accumulate(np.where(first, np.arange(len(tt)), 0))
    cs = np.cumsum(delta)
    start = np.array([init[(c, k)] for c, k in zip(comp[first].tolist(), kk[first].tolist())])
    start_of = np.repeat(start, np.diff(np.concatenate([np.flatnonzero(first), [len(tt)]])))
    after = np.maximum(np.round((start_of + cs - cs[base] + delta[base]) * sf), 0.0)
    price = np.where(code == "M", np.round(px * 0.55, 2), px)
    # one Form 4 per (company, insider, transaction date), known 1-2 sessions later (a cheap hash decides)
    key = (comp * 100 + kk) * 1_000_000 + tt
    _, head, inv = np.unique(key, return_index=True, return_inverse=True)
    line = np.arange(len(tt)) - head[inv] + 1
    cik = st.cik[comp]
    known_t = tt + 1 + (((cik * 7919 + tt * 104_729 + kk * 13) % 10) < 4)
    filed_d = dates[np.minimum(tt + 1, T - 1)]
    hc, hk, ht = comp[head], kk[head], tt[head]
    o = np.lexsort((hk, ht, hc))
    loc = np.empty(len(head), dtype=np.int64)
    loc[o] = local_index([hc[o], ht[o]])
    acc = accession(st.cik[hc], filed_d[head], 10 + loc)[inv]
    ppl = [rosters[c][k] for c, k in zip(comp.tolist(), kk.tolist())]
    known_d = dates[np.minimum(known_t, T - 1)]
    frame = pl.DataFrame(dict(
        ticker=st.ticker_at(comp, known_d), accession_no=acc, line=line,
        insider_name=[p["name"] for p in ppl], insider_cik=[p["cik"] for p in ppl],
        insider_title=[p["title"] for p in ppl], is_director=[p["director"] for p in ppl],
        is_officer=[p["officer"] for p in ppl], transaction_date=dates[tt], code=code,
        acquired_disposed=np.where(np.isin(code, list(CODES_A)), "A", "D"), shares=shares, price=np.round(price, 2),
        value=np.round(shares * price, 2), shares_owned_after=after,
        is_ceo_cfo_buy=(code == "P") & np.array([p["ceo_cfo"] for p in ppl]), known_at=known_d,
    ))
    frame = INSIDER_TRANSACTIONS.conform(frame).sort(["known_at", "ticker", "accession_no", "line"])
    f4 = dict(comp=hc, acc=acc[head], filed=filed_d[head], known=known_d[head], txn=dates[ht])
    return dict(frame=frame, filings=f4, rosters=rosters)
