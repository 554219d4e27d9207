"""13-F holdings of the tracked funds: who holds what each quarter, with the change since the prior quarter.

Positions enter and exit at random (a Markov chain per fund and name, keyed by the fund's CIK and the
quarter), so the institutional data carry no planted signal. Concentrated funds hold few names and trade
little; broad (quant / multi-manager) funds hold many and rebalance often.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import INSTITUTIONAL_HOLDINGS
from meridian_assets.ingest.synthetic.common import S_HOLD, accession, all_sessions, rng, to_d64

# name keyword -> (share of the universe held, quarterly exit probability, equity book in USD)
PROFILES = {
    "Berkshire": (0.08, 0.04, 2.6e11), "Pershing": (0.02, 0.08, 1.0e10), "Bridgewater": (0.45, 0.15, 1.6e10),
    "Renaissance": (0.65, 0.20, 6.0e10), "Citadel": (0.70, 0.18, 5.0e10), "Two Sigma": (0.60, 0.18, 3.0e10),
    "Shaw": (0.65, 0.15, 8.0e10), "Millennium": (0.70, 0.22, 6.0e10), "AQR": (0.60, 0.12, 4.0e10),
}


def cusip(seed: int, cik: int) -> str:
    g = rng(seed, S_HOLD, cik)
    chars = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
    base = "".join(chars[int(k)] for k in g.integers(0, len(chars), 6)) + "10"
    total = 0
    for pos, ch in enumerate(base):
        v = int(ch) if ch.isdigit() else ord(ch) - 55
        if pos % 2 == 1:
            v *= 2
        total += v // 10 + v % 10
    return base + str((10 - total % 10) % 10)


def _profile(name: str, cik: int) -> tuple[float, float, float]:
    for key, prof in PROFILES.items():
        if key.lower() in name.lower():
            return prof
    u = (cik * 2654435761 % 1000) / 1000.0
    return (0.2 + 0.5 * u, 0.15, 2e10 * (1 + 3 * u))


def build_holdings(world, funds: tuple[tuple[str, int], ...]) -> pl.DataFrame:
    st, clock, bars = world.static, world.clock, world.bars
    s = all_sessions()
    T, N = bars.close.shape
    m0 = (clock.dates[0].astype("datetime64[M]").astype(np.int64) // 3) * 3 - 3  # quarter before the epoch's
    m1 = clock.dates[-1].astype("datetime64[M]").astype(np.int64)
    qends = [np.datetime64(m + 3, "M").astype("datetime64[D]") - 1 for m in range(m0, m1, 3)]
    cus = np.array([cusip(st.seed, int(c)) for c in st.cik], dtype=object)
    frames = []
    dl_d = to_d64(st.dl_date)
    for fname, fcik in funds:
        frac, p_exit, book = _profile(fname, int(fcik))
        p_enter = p_exit * frac / (1 - frac)
        conc = frac < 0.2
        held = np.zeros(N, dtype=bool)
        econ = np.zeros(N)
        seeded = False  # the first reported quarter sizes the book held before the epoch
        for qe in qends:
            t = int(np.searchsorted(s, qe, "right")) - 1 - clock.g0
            qkey = int(qe.astype("datetime64[M]").astype(np.int64))
            g = rng(st.seed, S_HOLD, int(fcik), qkey)
            u = g.random((3, N))
            z = g.standard_normal(N)
            listed = np.ones(N, dtype=bool)
            listed[st.dl] = qe <= dl_d
            if t < 0:
                held = (u[0] < frac) & listed
                seeded = True
                continue
            if t >= T:
                break
            px = bars.close[t]
            sf = bars.sf[t]
            mcap = bars.shares[t] * px
            prior = econ * sf  # last quarter's holding in today's share basis
            stay = held & (u[0] >= p_exit) & listed
            enter = ~held & (u[1] < p_enter) & listed
            w = np.exp(0.8 * z) * mcap ** 0.3 if conc else mcap ** 0.7
            new_sh = np.round(book * w / max(w[held | enter].sum(), 1.0) / px)
            if seeded:
                prior = np.where(stay, new_sh, 0.0)
            if conc:
                changed = np.where(u[2] < 0.5, prior, np.round(prior * np.exp(0.12 * z)))
            else:
                changed = np.round(prior * np.exp(0.25 * z))
            sh = np.maximum(np.where(enter, new_sh, np.where(stay, changed, 0.0)), 0.0)
            now = (stay | enter) & (sh > 0)
            prior_rep = np.where(enter, 0.0, prior)
            seeded = False
            lag = 33 + int(g.integers(0, 13))
            kg = int(np.searchsorted(s, qe + lag, "right")) - 1  # filed 30-45 days after the quarter end
            if s[kg] - qe < 30:
                kg += 1
            known = s[kg]
            idx = np.flatnonzero(now)
            if len(idx):
                frames.append(pl.DataFrame(dict(
                    fund_name=np.full(len(idx), fname, dtype=object), fund_cik=np.full(len(idx), int(fcik)),
                    ticker=st.ticker_at(idx, np.full(len(idx), known)), cusip=cus[idx],
                    report_period=np.full(len(idx), qe), shares=sh[idx], value_usd=np.round(sh[idx] * px[idx], 0),
                    prior_shares=prior_rep[idx], change_shares=sh[idx] - prior_rep[idx],
                    is_new_position=prior_rep[idx] == 0,
                    accession_no=np.full(len(idx), accession(np.array([int(fcik)]), np.array([known]), np.array([0]))[0]),
                    known_at=np.full(len(idx), known),
                )))
            held = now
            econ = np.where(now, sh / sf, 0.0)
    if not frames:
        return INSTITUTIONAL_HOLDINGS.empty()
    return INSTITUTIONAL_HOLDINGS.conform(pl.concat(frames)).sort(["known_at", "fund_cik", "ticker"])
