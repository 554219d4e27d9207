"""The daily engine: regimes, the factor model, fat tails, volatility clustering and the planted alphas.

Per company the log total return of a day is ``dF + dM``:

* ``F`` — fundamental value: beta * market + gamma * sector + style loadings * style factors + news
  (Student-t, GARCH-scaled, 3x on earnings-reaction days) + the quality premium. Fundamentals follow F.
* ``M`` — mispricing: mean-reverting (the value premium), pushed by the momentum drift ``D``, the post-revision
  drift, the short-interest drag, the insider-cluster bump and a small noise. Fundamentals do not follow M,
  so earnings/FCF yields reveal it.

All latent states are exogenous OU processes drawn day by day from ``rng(seed, t, S_CORE)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meridian_assets.ingest.synthetic.common import S_CORE, S_CRISIS, rng, t_std
from meridian_assets.ingest.synthetic.universe import Static

CALM, STRESSED, CRISIS = 0, 1, 2
REGIME_VOL = np.array([0.0075, 0.014, 0.024])  # market factor daily vol by regime
SECTOR_VOL, SECTOR_MULT = 0.0055, np.array([1.0, 1.5, 2.3])
IDIO_MULT = np.array([1.0, 1.25, 1.7])
STYLE_VOL, STYLE_MULT = 0.0007, np.array([1.0, 1.6, 2.5])
GARCH_M, GARCH_I = (0.08, 0.89), (0.05, 0.90)
EARN_MULT = 3.0
CRISIS_PERIOD = 504  # a forced crisis every two years: any 756-session window holds a whole one
VIX_PREMIUM = np.array([0.0, 3.0, 6.0])

# Latent drivers of the planted signals (annualised units). See the package docstring.
LATENT = dict(
    kappa_value=0.15,  # mean reversion of M per year: cheap names (low M) earn kappa*|M|
    sigma_xi=0.15,  # non-momentum mispricing noise: the part of M the value premium is paid on
    sigma_D=0.10,  # momentum drift: cross-sectional sd of the persistent drift D
    hl_D=252,
    c_quality=0.035,  # per unit z of quality Q
    hl_Q=756,
    q_ou_weight=0.5,
    sigma_R=0.10,  # analyst-revision latent (log level of the consensus)
    hl_R=120,
    rev_lag=63,
    c_rev=0.03,  # per unit z of the 63-session change in R
    hl_S=126,
    c_short=0.025,  # per unit z of short crowding S (a drag)
    insider_rate=0.25,  # clusters per company per year (tilted to high expected alpha)
    insider_tilt=1.0,
    insider_bump=0.04,  # cumulative abnormal return over the next insider_days sessions
    insider_days=60,
    insider_cooldown=150,
)


def _phi(hl: float) -> float:
    return float(0.5 ** (1.0 / hl))


@dataclass
class Core:
    regime: np.ndarray  # (T,) int8
    forced: np.ndarray  # (T,) int8: -1 free, else the forced regime
    mkt: np.ndarray  # (T,) market factor return
    sig_m: np.ndarray  # (T,) conditional market vol
    vix: np.ndarray  # (T,)
    r: np.ndarray  # (T, N) log total return
    F: np.ndarray  # (T, N) cumulative fundamental log value (0 at the epoch, before day 0's return)
    M: np.ndarray  # (T, N) mispricing (log)
    D: np.ndarray
    R: np.ndarray
    S: np.ndarray
    Q: np.ndarray
    ivol_t: np.ndarray  # (T, N) conditional idiosyncratic vol
    clusters: np.ndarray  # (K, 2) [t, company] insider buying-cluster starts


def forced_regimes(seed: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Forced episodes every CRISIS_PERIOD sessions: a stressed lead-in, a crisis, a stressed recovery.

    Returns the forced regime per session (-1: free, the Markov chain decides) and the market drift it
    imposes (NaN when free): falling into and through the first 60% of the crisis, recovering after.
    """
    out = np.full(T, -1, dtype=np.int8)
    drift = np.full(T, np.nan)
    phase = int(rng(seed, S_CRISIS).integers(170, 320))
    k = 0
    while phase + k * CRISIS_PERIOD - 12 < T:
        c0 = phase + k * CRISIS_PERIOD
        L = int(rng(seed, S_CRISIS, k).integers(25, 46))
        cut = c0 + int(0.6 * L)
        for lo, hi, reg, mu in ((c0 - 12, c0, STRESSED, -0.0010), (c0, cut, CRISIS, -0.0045),
                                (cut, c0 + L, CRISIS, 0.0012), (c0 + L, c0 + L + 45, STRESSED, 0.0010)):
            lo, hi = min(max(lo, 0), T), min(max(hi, 0), T)
            out[lo:hi], drift[lo:hi] = reg, mu
        k += 1
    return out, drift


FREE_DRIFT = np.array([0.00045, -0.0003, -0.0030])
TRANSITIONS = {CALM: (1 / 160, 0.0), STRESSED: (1 / 35, 1 / 500), CRISIS: (1 / 15, 0.0)}


def simulate(st: Static, T: int, react: np.ndarray) -> Core:
    """Run the daily engine for T sessions. ``react`` (T, N) bool marks earnings-reaction days.

    States are stored as of each session's close; day t's alphas use the states of day t-1. Day 0 is the
    epoch: its close is the starting price, no move is applied.
    """
    seed, N, a = st.seed, st.N, st.arr
    P = LATENT
    forced, fdrift = forced_regimes(seed, T)
    regime = np.zeros(T, dtype=np.int8)
    mkt, sig_m, vix = np.zeros(T), np.zeros(T), np.zeros(T)
    r = np.zeros((T, N))
    F = np.zeros((T, N))
    Ms, Ds, Rs, Ss, Qs = (np.zeros((T, N), dtype=np.float32) for _ in range(5))
    ivol_t = np.zeros((T, N), dtype=np.float32)
    beta, gamma, sec, ivol = a["beta"], a["gamma"], st.sector, a["ivol"]
    init = a["init"]
    phD, phR, phS, phQ = _phi(P["hl_D"]), _phi(P["hl_R"]), _phi(P["hl_S"]), _phi(P["hl_Q"])
    D = P["sigma_D"] * init[0]
    R = P["sigma_R"] * init[1]
    S = init[2].copy()
    Qou = init[3].copy()
    w = P["q_ou_weight"]
    qs = np.sqrt(1 - w * w) * a["q_static"]
    M = 0.30 * init[4]
    Q = qs + w * Qou
    M_init = M.copy()
    sd_dR = P["sigma_R"] * np.sqrt(2 * (1 - phR ** P["rev_lag"]))
    lm = a["log_mcap0"]
    size_load = -(lm - lm.mean()) / lm.std()
    lowvol_load = -(np.log(ivol) - np.log(ivol).mean()) / np.log(ivol).std()
    hm, hi = 1.0, np.ones(N)
    zm_prev, zi_prev = 0.0, np.zeros(N)
    Fcum = np.zeros(N)
    vix_noise = 0.0
    state = CALM
    bump_until = np.full(N, -1)
    last_cluster = np.full(N, -10_000)
    clusters = []
    p0 = P["insider_rate"] / 252.0 / np.exp(0.5 * P["insider_tilt"] ** 2)
    for t in range(T):
        g = rng(seed, t, S_CORE)
        u_reg = g.random()
        zm = float(t_std(g, 4.0, 1)[0])
        zs = t_std(g, 5.0, 11)
        zf = g.standard_normal(4)
        zi = t_std(g, 4.0, N)
        nrm = g.standard_normal((5, N))
        ucl = g.random(N)
        ev = g.standard_normal()
        # regime: forced episodes override the Markov chain
        if forced[t] >= 0:
            state = int(forced[t])
        else:
            up, down = TRANSITIONS[state]
            if u_reg < up:
                state = {CALM: STRESSED, STRESSED: CALM, CRISIS: STRESSED}[state]
            elif u_reg > 1 - down:
                state = CRISIS
        regime[t] = state
        mu = fdrift[t] if forced[t] >= 0 else FREE_DRIFT[state]
        # market factor with GARCH(1,1) on the standardised shock
        hm = (1 - sum(GARCH_M)) + GARCH_M[0] * hm * min(zm_prev * zm_prev, 25.0) + GARCH_M[1] * hm
        hm = min(max(hm, 0.3), 4.0)
        sm = REGIME_VOL[state] * np.sqrt(hm)
        m = mu + sm * zm - 0.5 * sm * sm  # mu is the arithmetic drift
        zm_prev = zm
        # idiosyncratic news, GARCH per name, 3x on earnings reactions
        hi = np.clip((1 - sum(GARCH_I)) + GARCH_I[0] * hi * np.minimum(zi_prev * zi_prev, 25.0) + GARCH_I[1] * hi,
                     0.3, 6.0)
        zi_prev = zi
        si = ivol * IDIO_MULT[state] * np.sqrt(hi)
        ivol_t[t] = si
        si_eff = si * np.where(react[t], EARN_MULT, 1.0)
        news = si_eff * zi - 0.5 * si_eff * si_eff  # zero arithmetic mean: no convexity drift
        sv = SECTOR_VOL * SECTOR_MULT[state]
        sect = sv * zs - 0.5 * sv * sv
        # style factors: size, value (cheap = low M), quality, low volatility
        mz = -(M - M.mean()) / (M.std() + 1e-12)
        qz = (Q - Q.mean()) / (Q.std() + 1e-12)
        f = STYLE_VOL * STYLE_MULT[state] * zf
        style = f[0] * size_load + f[1] * mz + f[2] * qz + f[3] * lowvol_load
        # planted alphas (annual rates), all from states as of the previous close
        R_lag = Rs[t - 1 - P["rev_lag"]] if t - 1 - P["rev_lag"] >= 0 else (Rs[0] if t > 0 else R)
        a_rev = P["c_rev"] * (R - R_lag) / sd_dR
        a_ins = np.where(t <= bump_until, P["insider_bump"] * 252.0 / P["insider_days"], 0.0)
        a_q = P["c_quality"] * Q
        a_m = -P["kappa_value"] * M + D + a_rev - P["c_short"] * S + a_ins
        # alphas are relative to the market: remove their cap-weighted mean so the index drift is the market's
        lw = lm + Fcum + M - M_init
        wcap = np.exp(lw - lw.max())
        wcap /= wcap.sum()
        a_m = a_m - float(wcap @ (a_m + a_q))
        # insider buying clusters start where the expected alpha is high
        tot = a_m + a_q
        za = (tot - tot.mean()) / (tot.std() + 1e-12)
        new = (ucl < p0 * np.exp(P["insider_tilt"] * za)) & (t - last_cluster > P["insider_cooldown"])
        for i in np.flatnonzero(new):
            clusters.append((t, i))
            last_cluster[i] = t
            bump_until[i] = t + P["insider_days"]
        if t > 0:
            dF = beta * m + gamma * sect[sec] + style + news + a_q / 252.0
            dM = a_m / 252.0 + P["sigma_xi"] / np.sqrt(252.0) * nrm[0]
            rt = np.clip(dF + dM, -0.45, 0.35)
            dF = dF + (rt - dF - dM)  # a clipped day is charged to F
            r[t] = rt
            Fcum = Fcum + dF
            M = M + dM
            mkt[t] = m
        F[t] = Fcum
        # latent updates (state as of this close)
        D = phD * D + P["sigma_D"] * np.sqrt(1 - phD * phD) * nrm[1]
        R = phR * R + P["sigma_R"] * np.sqrt(1 - phR * phR) * nrm[2]
        S = phS * S + np.sqrt(1 - phS * phS) * nrm[3]
        Qou = phQ * Qou + np.sqrt(1 - phQ * phQ) * nrm[4]
        Q = qs + w * Qou
        Ms[t], Ds[t], Rs[t], Ss[t], Qs[t] = M, D, R, S, Q
        sig_m[t] = sm
        vix_noise = 0.9 * vix_noise + 1.0 * ev
        vix[t] = max(9.0, 100 * np.sqrt(252.0) * sm * 1.08 + VIX_PREMIUM[state] + vix_noise)
    return Core(regime=regime, forced=forced, mkt=mkt, sig_m=sig_m, vix=vix, r=r, F=F, M=Ms, D=Ds, R=Rs, S=Ss,
                Q=Qs, ivol_t=ivol_t, clusters=np.array(clusters, dtype=np.int64).reshape(-1, 2))
