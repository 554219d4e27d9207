"""The embedded deterministic synthetic market: Meridian's default data provider.

A seeded S&P 500-like market rich enough to exercise every layer, with weak but real signals planted in it.
`meridian_assets.ingest.providers.synthetic.SyntheticProvider` serves it through the Provider protocol.

Universe (`universe.py`)
    ``n_tickers`` companies (plus one that joins the index later) in the 11 GICS sectors with S&P-like
    counts (at least two per sector), made-up names and tickers, GICS sub-industries, unique CIKs and
    log-normal market caps (~$5B to ~$2.5T at the epoch, heavier right tail). Thirteen benchmarks: SPY, the
    eleven SPDR sector ETFs (cap-weighted total-return indices of the members) and ^VIX.

Regimes and returns (`market.py`)
    Calm / stressed / crisis regimes: a Markov chain plus a forced episode every 504 sessions (a stressed
    lead-in, a 25-45 session crisis, a stressed recovery), so any 756-session window holds at least one
    crisis and one stressed episode. Each day, per company, log total return = dF + dM with
      F (fundamental value): beta * market + gamma * sector + 4 style factors (size, value, quality, low vol)
         + idiosyncratic news + the quality premium. Market, sector and news shocks are Student-t (df 4-5)
         with GARCH(1,1) volatility clustering scaled by the regime; news is 3x on earnings-reaction days.
      M (mispricing, price-only): mean-reverting at kappa (the value premium), pushed by the momentum drift D,
         the post-revision drift, the short-interest drag, the insider-cluster bump, plus noise.
    VIX follows the conditional market volatility and the regime; the HY spread (`macro.py`) widens in
    stress and on sell-offs, the policy rate is cut in crises.

Prices and corporate actions (`prices.py`)
    ``adj_close`` is the total-return level in the epoch's share basis (equal to the close at the epoch, never
    revised); ``close`` is as traded (ex-dividend, divided by the cumulative split factor, so a 2:1 split is
    a -50% close move). Two splits a year (2:1, 3:1, 4:1, 10:1 in turn, on the highest-priced eligible
    name), quarterly dividends for payers, one ticker change (2024) and one acquisition + delisting (2025)
    whose index slot goes to the extra company the next session.

Published data, generated from the latents that drive returns (with noise)
    `fundamentals.py`  quarterly statements (10-Q; 10-K = Q4 + FY rows), revenue following the smoothed F,
                       margins / accruals / leverage driven by quality Q; earnings yield therefore reveals -M.
    `estimates.py`     daily consensus (forward EPS tracks earnings power times exp(R)), price targets,
                       ratings; semi-monthly short interest (rises with S); the earnings calendar.
    `insiders.py`      Form 4 rosters and routine A/F/M/S with rare P, plus buying clusters from the engine.
    `holdings.py`      13-F positions of the tracked funds (random, no signal).
    `filings.py`, `text.py`, `transcripts.py`  10-K/10-Q/8-K/Form 4 metadata, year-over-year changing risk
                       factors, earnings-call transcripts whose tone follows growth, surprise and latent alpha.

Determinism (`common.py`, `world.py`)
    Every draw comes from ``np.random.default_rng([seed, key..., stream])`` keyed by day, company, month,
    quarter or year; recursions are causal. A world is simulated from the epoch to the end of the requested
    year (+100 days of buffer) and cached in-process; a value on a date is identical in every world that
    contains it, so results never depend on the window asked for.

Planted signals
    `PLANTED_SIGNALS` gives the sign and rough size of each parent factor's premium: the annualised
    top-minus-bottom-quintile return of monthly sector-neutral sorts on the *published* characteristic
    (12-1 month return; sector-relative earnings/FCF yield; ROE / low accruals; 63-day change in forward EPS;
    short % of float), as measured on the default seed at n=500 over 2019-2026. Daily cross-sectional rank
    ICs against 21-day forward returns are ~0.015-0.03 per factor. ``insider`` is different: the mean
    abnormal return over the 60 sessions after a buying cluster (clusters start more often where the
    expected alpha is high). Growth and institutional carry no premium (growth correlates with momentum
    through fundamental news, but its partial premium is zero). The latent parameters are `market.LATENT`.
"""

from __future__ import annotations

PLANTED_SIGNALS: dict[str, float] = {
    "momentum": 0.05,  # + persistent drift D: past 12-1 month winners keep winning
    "value": 0.06,  # + cheap on earnings / FCF yield (low M) earn the mispricing back
    "quality": 0.05,  # + high ROE, low accruals, strong Piotroski (quality Q compounds F)
    "revisions": 0.055,  # + upward EPS revisions (R rising) precede positive returns
    "short_interest": -0.07,  # heavily shorted names (crowding S) earn less
    "insider": 0.045,  # + abnormal return over the 60 sessions after a 3+ insider buying cluster
    "growth": 0.0,  # no premium
    "institutional": 0.0,  # no premium
}

__all__ = ["PLANTED_SIGNALS"]
