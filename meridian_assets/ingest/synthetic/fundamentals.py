"""Quarterly and annual financial statements generated from each company's simulated fundamental value.

Revenue follows a smoothed fundamental level ``L`` (the F path net of dividends paid out), a company-level
growth wave (no return premium: the growth factor is noise) and seasonality; it is scaled so the earnings
yield at the epoch matches the company's fair yield times exp(-M). Margins rise with the quality latent Q,
accruals fall with it and leverage falls with it, so ROE / accruals / Piotroski reveal Q. Because prices carry
the mispricing M and statements do not, earnings and FCF yields reveal -M (the value signal).

Identities hold exactly on every row: gross_profit = revenue - cost_of_revenue, ebitda = ebit + depreciation,
net_income = ebit - interest_expense - income_tax, free_cash_flow = operating_cash_flow - capex,
total_assets = total_liabilities + total_equity, eps_diluted = net_income / shares_outstanding.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import FUNDAMENTAL_ITEMS, FUNDAMENTALS_RAW
from meridian_assets.ingest.synthetic.common import N_MONTHS, S_FUND, accession, all_sessions, ar1_filter, rng
from meridian_assets.ingest.synthetic.market import CRISIS, STRESSED
from meridian_assets.ingest.synthetic.universe import SECTOR_NAMES

FLOWS = ("revenue", "cost_of_revenue", "gross_profit", "operating_income", "ebit", "ebitda", "depreciation",
         "interest_expense", "income_tax", "net_income", "operating_cash_flow", "capex", "free_cash_flow",
         "dividends_paid", "share_repurchases")
_FIN = SECTOR_NAMES.index("Financials")


def fundamental_level(world) -> np.ndarray:
    """(T, N) smoothed log fundamental level: EMA (half-life 40 sessions) of F + log(ex-dividend factor)."""
    b = world.bars
    x = world.core.F + np.log(b.econ / b.adj)
    alpha = 1 - 0.5 ** (1 / 40)
    return ar1_filter(alpha * x, 1 - alpha, x0=x[0])


def build_fundamentals(world) -> dict:
    """Full-history fundamentals: {'frame': fundamentals_raw rows, 'q': per-quarter arrays for other tables}."""
    st, clock, sch, core, bars = world.static, world.clock, world.schedule, world.core, world.bars
    a = st.arr
    T = clock.T
    t_pe = clock.on_or_before(sch.pe)
    keep = (t_pe < T - 1) & ~((sch.comp == st.dl) & (sch.known_g - clock.g0 > clock.index_of(st.dl_date)))
    idx = np.flatnonzero(keep)
    i = sch.comp[idx]
    tp = t_pe[idx]
    pre = tp < 0
    tq = np.maximum(tp, 0)
    n = len(idx)
    L = fundamental_level(world)
    years_before = np.maximum(0, (np.datetime64(world.epoch_session) - sch.pe[idx]).astype(np.int64)) / 365.25
    lev = np.where(pre, -0.07 * years_before, L[tq, i])
    q = core.Q[tq, i].astype(float)
    # per-company draws indexed by month ordinal (prefix-stable), and the growth wave (AR(1) by quarter)
    eps = np.empty((n, 14))
    gwave = np.empty(n)
    for c in np.unique(i):
        rows = np.flatnonzero(i == c)
        gc = rng(st.seed, S_FUND, int(st.cik[c]))
        draws = gc.standard_normal((N_MONTHS, 14))
        mo = np.clip(sch.mo[idx[rows]], 0, N_MONTHS - 1)
        eps[rows] = draws[mo]
        innov = gc.standard_normal(N_MONTHS // 3 + 1) * 0.06
        wave = ar1_filter(innov, 0.85)
        gwave[rows] = wave[mo // 3]
    fq = sch.fq[idx]
    season = 1 + 0.02 * (fq == 4) - 0.01 * (fq == 1)
    # company scale: earnings yield at the epoch = fair yield * exp(-M0)
    fin = st.sector[i] == _FIN
    debt_rev = a["debt_frac"] * a["liab"] / a["turn"]
    int_rev = np.where(st.sector == _FIN, 0.2, 1.0) * a["rate"] * debt_rev
    om_eff = np.maximum(a["om_base"], int_rev + 0.03 / (1 - a["tax"]))
    nm_exp = (om_eff - int_rev) * (1 - a["tax"])
    ni0 = st.mcap0 * a["ey_fair"] * np.exp(-core.M[0].astype(float))
    rev_scale = ni0 / nm_exp
    revenue = rev_scale[i] / 4 * np.exp(lev + gwave + 0.025 * eps[:, 0]) * season
    # regime hit to margins: share of stressed / crisis sessions in the quarter, scaled by beta
    reg = core.regime
    cs_c = np.concatenate([[0], np.cumsum(reg == CRISIS)])
    cs_s = np.concatenate([[0], np.cumsum(reg == STRESSED)])
    lo = np.maximum(tq - 63, 0)
    frac_c = np.where(pre, 0, (cs_c[tq + 1] - cs_c[lo]) / 63)
    frac_s = np.where(pre, 0, (cs_s[tq + 1] - cs_s[lo]) / 63)
    hit = -(0.06 * frac_c + 0.015 * frac_s) * a["beta"][i]
    qs = np.sqrt(0.75) * a["q_static"][i]
    om = om_eff[i] + 0.03 * (q - qs) + hit + 0.012 * eps[:, 1]
    gm = np.maximum(a["gm_base"][i] + 0.5 * (om - om_eff[i]) + 0.008 * eps[:, 2], om + 0.05)
    gm = np.minimum(gm, 0.95)
    cost = revenue * (1 - gm)
    gross = revenue - cost
    # now and then a write-down (impairment / restructuring) turns a quarter into a loss; weaker names more often
    impair = (eps[:, 12] < -1.9 - 0.3 * q) * (0.08 + 0.1 * np.abs(eps[:, 13]))
    opinc = revenue * (om - impair)
    ebit = opinc + 0.004 * revenue * eps[:, 3]
    dep = a["dep"][i] * revenue * np.exp(0.05 * eps[:, 4])
    ebitda = ebit + dep
    assets = revenue * 4 / season / a["turn"][i] * np.exp(0.02 * eps[:, 5])
    liab_r = np.clip(a["liab"][i] + 0.01 * eps[:, 6] - 0.02 * (q - qs), 0.1, 0.97)
    liab = assets * liab_r
    equity = assets - liab
    debt = a["debt_frac"][i] * liab
    ltd, std = 0.85 * debt, 0.15 * debt
    interest = np.where(fin, 0.2, 1.0) * a["rate"][i] * debt / 4
    pretax = ebit - interest
    tax = a["tax"][i] * np.where(pretax > 0, pretax, 0.5 * pretax)
    ni = pretax - tax
    shares = np.where(pre, st.shares0[i] * np.exp(a["buyback"][i] * years_before), bars.shares[tq, i])
    close = np.where(pre, st.price0[i] * np.exp(-0.08 * years_before), bars.close[tq, i])
    rec = a["rec_days"][i] / 365 * revenue * 4
    inv = a["inv_days"][i] / 365 * cost * 4
    cash = a["cash_frac"][i] * assets * np.exp(0.1 * eps[:, 7])
    other = 0.04 * assets
    ca = cash + rec + inv + other
    shrink = np.minimum(1.0, 0.9 * assets / ca)
    cash, rec, inv, other = cash * shrink, rec * shrink, inv * shrink, other * shrink
    ca = cash + rec + inv + other
    cl = np.maximum(np.clip(0.3 + 0.05 * eps[:, 8], 0.15, 0.6) * liab, std)
    cfo = (ni + dep + revenue * impair * (1 - a["tax"][i])  # the write-down is non-cash
           - a["accrual"][i] * assets / 4 * np.where(fin, 0.1, 1.0) + 0.01 * revenue * eps[:, 9])
    capex = a["capex"][i] * revenue * np.exp(0.1 * eps[:, 10])
    fcf = cfo - capex
    buyback = a["buyback"][i] / 4 * shares * close * np.exp(0.2 * eps[:, 11])
    divs = _dividends_by_quarter(world, idx, i, shares, close, pre)
    # retained earnings accumulate net income less dividends from a quality-dependent start
    order = np.lexsort((sch.pe[idx], i))
    first = np.ones(n, dtype=bool)
    first[1:] = i[order][1:] != i[order][:-1]
    start = (0.55 + 0.2 * np.tanh(a["q_static"][i[order]])) * equity[order]
    cs = np.cumsum(np.where(first, 0.0, (ni - divs)[order]))
    base = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    re = np.empty(n)
    re[order] = start[base] + cs - cs[base]
    q_items = dict(
        revenue=revenue, cost_of_revenue=cost, gross_profit=gross, operating_income=opinc, ebit=ebit, ebitda=ebitda,
        depreciation=dep, interest_expense=interest, income_tax=tax, net_income=ni, eps_diluted=ni / shares,
        shares_outstanding=shares, total_assets=assets, current_assets=ca, cash=cash, receivables=rec,
        inventory=inv, total_liabilities=liab, current_liabilities=cl, long_term_debt=ltd, short_term_debt=std,
        retained_earnings=re, total_equity=equity, operating_cash_flow=cfo, capex=capex, free_cash_flow=fcf,
        dividends_paid=divs, share_repurchases=buyback,
    )
    s = all_sessions()
    form = np.where(fq == 4, "10-K", "10-Q")
    file_d = s[sch.file_g[idx]]
    acc = accession(st.cik[i], file_d, np.zeros(n, dtype=np.int64))
    known = s[sch.known_g[idx]]
    meta = dict(
        ticker=st.ticker_at(i, known), period_end=sch.pe[idx], fiscal_year=sch.fy[idx],
        fiscal_period=np.array([f"Q{k}" for k in fq], dtype=object), period_type=np.full(n, "quarterly", dtype=object),
        form=form, accession_no=acc, known_at=known,
    )
    quarterly = pl.DataFrame({**meta, **{k: q_items[k] for k in FUNDAMENTAL_ITEMS}})
    annual = _annual_rows(quarterly, i)
    frame = FUNDAMENTALS_RAW.conform(pl.concat([quarterly, annual], how="vertical_relaxed")).sort(
        ["known_at", "ticker", "period_end", "period_type"])
    qarr = dict(row=idx, comp=i, t_pe=tp, known_g=sch.known_g[idx], ni=ni, revenue=revenue, shares=shares,
                fq=fq, fy=sch.fy[idx], pe=sch.pe[idx], quality=q, om=om, gm=gm, fcf=fcf, buyback=buyback,
                gwave=gwave)
    return {"frame": frame, "q": qarr}


def _dividends_by_quarter(world, idx, comp, shares, close, pre) -> np.ndarray:
    st, clock, sch = world.static, world.clock, world.schedule
    out = np.zeros(len(idx))
    pe = sch.pe[idx]
    dates = clock.dates
    by_c: dict[int, list] = {}
    for c, _d, e, dps in world.bars.dividends:
        by_c.setdefault(c, []).append((dates[e], dps * world.bars.shares[e, c]))
    for c, evs in by_c.items():
        rows = np.flatnonzero(comp == c)
        rows = rows[np.argsort(pe[rows])]
        ex = np.array([e for e, _ in evs])
        amt = np.array([v for _, v in evs])
        k = np.searchsorted(pe[rows], ex, "left")  # quarter whose period end is on/after the ex date
        ok = k < len(rows)
        np.add.at(out, rows[k[ok]], amt[ok])
    payer = st.arr["div_payer"][comp] > 0
    out = np.where(pre & payer, st.arr["div_yield"][comp] / 4 * shares * close, out)
    return out


def _annual_rows(quarterly: pl.DataFrame, comp: np.ndarray) -> pl.DataFrame:
    """FY rows from the four quarters of each fiscal year (balance sheet = Q4), filed with the 10-K."""
    q = quarterly.with_columns(pl.Series("_c", comp))
    flows = [pl.col(f).sum().alias(f) for f in FLOWS]
    n = q.group_by(["_c", "fiscal_year"]).agg(pl.len().alias("_n"), *flows)
    q4 = q.filter(pl.col("fiscal_period") == "Q4").drop(list(FLOWS) + ["eps_diluted"])
    fy = q4.join(n, on=["_c", "fiscal_year"]).filter(pl.col("_n") == 4)
    fy = fy.with_columns(
        pl.lit("annual").alias("period_type"), pl.lit("FY").alias("fiscal_period"),
        (pl.col("net_income") / pl.col("shares_outstanding")).alias("eps_diluted"),
    )
    return fy.select(quarterly.columns)
