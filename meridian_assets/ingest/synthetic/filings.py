"""SEC filing metadata (10-K, 10-Q, 8-K, Form 4) and the earnings-call index; texts are rendered on demand.

Accession numbers are ``<filer CIK>-<yy>-<day of year><2-digit slot>``: slot 00 the 10-K/10-Q, 01 the earnings
8-K, 02.. other 8-Ks, 10.. Form 4s, so they are unique without counters and never depend on the window.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import SEC_FILINGS
from meridian_assets.ingest.synthetic.common import S_8K, accession, all_sessions, rng, to_d64
from meridian_assets.ingest.synthetic.market import CRISIS, LATENT
from meridian_assets.ingest.synthetic.schedule import fiscal_label
from meridian_assets.ingest.synthetic.text import company_short, risk_figures, risk_sets, risk_text
from meridian_assets.ingest.synthetic.transcripts import transcript
from meridian_assets.ingest.synthetic.universe import SECTOR_NAMES

OTHER_8K = ("5.02", "8.01", "7.01", "1.01", "8.01,9.01", "5.02,9.01", "7.01,9.01")


def _url(cik: np.ndarray, acc: np.ndarray) -> list[str]:
    return [f"https://www.sec.gov/Archives/edgar/data/{c}/{a.replace('-', '')}/{a}-index.htm"
            for c, a in zip(cik.tolist(), acc.tolist())]


def build_filings(world) -> pl.DataFrame:
    """Every filing of the world without the risk-factor text (added per window by `with_risk_factors`)."""
    st, clock, sch = world.static, world.clock, world.schedule
    s = all_sessions()
    T, g0 = clock.T, clock.g0
    parts = []

    def add(comp, form, acc, filed, known, period, items):
        comp = np.asarray(comp, dtype=np.int64)
        n = len(comp)
        if n == 0:
            return
        parts.append(pl.DataFrame(dict(
            ticker=st.ticker_at(comp, known), cik=st.cik[comp], form=np.full(n, form, dtype=object) if isinstance(form, str) else form,
            accession_no=acc, filed_at=filed, period_of_report=period,
            items=items if items is not None else np.full(n, None, dtype=object), url=_url(st.cik[comp], acc),
            known_at=known,
        ), schema_overrides={"items": pl.Utf8}))

    # periodic reports: the rows of fundamentals_raw
    fq = world.fundamentals["q"]
    rows = fq["row"]
    comp = sch.comp[rows]
    filed = s[sch.file_g[rows]]
    add(comp, np.where(sch.fq[rows] == 4, "10-K", "10-Q").astype(object), accession(st.cik[comp], filed, np.zeros(len(rows))),
        filed, s[sch.known_g[rows]], sch.pe[rows], None)
    # earnings 8-Ks (filed on the earnings date; after the close they are known the next session)
    dl_g = g0 + clock.index_of(st.dl_date)
    ok = (sch.earn_g >= g0) & (sch.react_g < g0 + T) & ~((sch.comp == st.dl) & (sch.earn_g > dl_g))
    e = np.flatnonzero(ok)
    add(sch.comp[e], "8-K", accession(st.cik[sch.comp[e]], s[sch.earn_g[e]], np.ones(len(e))), s[sch.earn_g[e]],
        s[sch.react_g[e]], s[sch.earn_g[e]], np.full(len(e), "2.02,9.01", dtype=object))
    # other 8-Ks: a few a year per company, the annual meeting vote, and the lifecycle events
    years = clock.dates.astype("datetime64[Y]").astype(np.int64) + 1970
    oc, ot, oi = [], [], []
    for y in np.unique(years):
        lo, hi = int(np.searchsorted(years, y)), int(np.searchsorted(years, y, "right"))
        for i in range(st.N):
            g = rng(st.seed, S_8K, int(st.cik[i]), int(y))
            n = int(g.poisson(1.3))
            ts = lo + (g.random(n + 1) * (hi - lo)).astype(np.int64)
            its = [OTHER_8K[k] for k in g.integers(0, len(OTHER_8K), n)] + ["5.07"]
            ts[-1] = lo + int((hi - lo) * (0.36 + 0.08 * g.random()))  # annual meeting, May-June
            oc += [i] * (n + 1)
            ot += ts.tolist()
            oi += its
    oc, ot, oi = np.array(oc, dtype=np.int64), np.array(ot, dtype=np.int64), np.array(oi, dtype=object)
    tc_t, ann_t = clock.index_of(st.tc_date) - 10, clock.index_of(st.dl_announce)
    life = [(st.tc, tc_t, "8.01,9.01"), (st.dl, ann_t, "1.01,8.01,9.01"), (st.dl, clock.index_of(st.dl_date), "2.01,3.01,5.01,9.01")]
    oc = np.concatenate([oc, [c for c, _, _ in life]])
    ot = np.concatenate([ot, [t for _, t, _ in life]])
    oi = np.concatenate([oi, np.array([x for _, _, x in life], dtype=object)])
    keep = (ot >= 1) & (ot < T) & ~((oc == st.dl) & (ot > clock.index_of(st.dl_date)))
    oc, ot, oi = oc[keep], ot[keep], oi[keep]
    order = np.lexsort((oi, ot, oc))
    oc, ot, oi = oc[order], ot[order], oi[order]
    same = np.zeros(len(oc), dtype=np.int64)
    for k in range(1, len(oc)):
        if oc[k] == oc[k - 1] and ot[k] == ot[k - 1]:
            same[k] = same[k - 1] + 1
    d = clock.dates[ot]
    add(oc, "8-K", accession(st.cik[oc], d, 2 + same), d, d, d, oi)
    # Form 4s
    f4 = world.insiders["filings"]
    if f4 is not None:
        add(f4["comp"], "4", f4["acc"], f4["filed"], f4["known"], f4["txn"], None)
    df = pl.concat(parts, how="vertical_relaxed")
    return SEC_FILINGS.conform(df).sort(["known_at", "ticker", "form", "accession_no"])


def with_risk_factors(world, frame: pl.DataFrame) -> pl.DataFrame:
    """Fill ``risk_factors`` for the 10-K rows of ``frame`` (a window of the filings table)."""
    tenk = frame.filter(pl.col("form") == "10-K")
    if tenk.height == 0:
        return frame
    st, fund = world.static, world.fundamentals["frame"]
    key = {int(c): i for i, c in enumerate(st.cik.tolist())}
    macro = world.macro.filter(pl.col("series_id") == "FEDFUNDS")
    ff_d, ff_v = macro["date"].to_numpy(), macro["value"].to_numpy()
    cache = world.__dict__.setdefault("_risk_sets", {})
    annual = fund.filter(pl.col("period_type") == "annual").select(["accession_no", "fiscal_year", "long_term_debt", "short_term_debt",
                                                                   "income_tax", "ebit", "interest_expense"])
    texts = []
    regime, dates = world.core.regime, world.clock.dates
    for row in tenk.join(annual, on="accession_no", how="left").iter_rows(named=True):
        i = key[row["cik"]]
        fy = row["fiscal_year"] or row["period_of_report"].year
        if i not in cache:
            pe = world.schedule.pe[(world.schedule.comp == i) & (world.schedule.fq == 4)]
            fys = world.schedule.fy[(world.schedule.comp == i) & (world.schedule.fq == 4)]
            crisis, rates = set(), set()
            for y, p in zip(fys.tolist(), pe):
                lo, hi = np.searchsorted(dates, p - 365), np.searchsorted(dates, p, "right")
                if hi > lo and np.any(regime[lo:hi] == CRISIS):
                    crisis.add(y)
                a, b = np.searchsorted(ff_d, p - 365), np.searchsorted(ff_d, p, "right") - 1
                if b > a and ff_v[b] - ff_v[a] > 0.5:
                    rates.add(y)
            cache[i] = risk_sets(st.seed, int(st.cik[i]), SECTOR_NAMES[st.sector[i]], fys.tolist(), crisis, rates)
        sets = cache[i].get(fy) or next(iter(cache[i].values()))
        pretax = (row["ebit"] or 0) - (row["interest_expense"] or 0)
        tax = (row["income_tax"] or 0) / pretax if pretax > 0 else 0.21
        a, b = np.searchsorted(ff_d, to_d64(row["period_of_report"]) - 365), np.searchsorted(ff_d, to_d64(row["period_of_report"]), "right") - 1
        bp = int(round(100 * (ff_v[b] - ff_v[a]))) if b > a else 0
        debt = ((row["long_term_debt"] or 0) + (row["short_term_debt"] or 0)) / 1e9
        figs = risk_figures(st.seed, int(st.cik[i]), fy, debt, tax, bp)
        name = st.tc_new_name if row["ticker"] == st.tc_new_ticker else st.name[i]
        texts.append((row["accession_no"], risk_text(sets, SECTOR_NAMES[st.sector[i]], name, company_short(name), fy, figs)))
    rf = pl.DataFrame(texts, schema={"accession_no": pl.Utf8, "_rf": pl.Utf8}, orient="row")
    out = frame.join(rf, on="accession_no", how="left").with_columns(pl.coalesce("_rf", "risk_factors").alias("risk_factors"))
    return SEC_FILINGS.conform(out)


def transcript_index(world) -> pl.DataFrame:
    """One row per earnings call (from the epoch on) with what the text generator needs."""
    st, clock, sch, core = world.static, world.clock, world.schedule, world.core
    s = all_sessions()
    fq = world.fundamentals["q"]
    g0, T = clock.g0, clock.T
    rows = fq["row"]
    ok = (sch.earn_g[rows] >= g0) & (sch.react_g[rows] < g0 + T)
    r = rows[ok]
    comp = sch.comp[r]
    k = np.flatnonzero(ok)
    rev, ni, sh = fq["revenue"][k], fq["ni"][k], fq["shares"][k]
    # year-over-year revenue growth from the same fiscal quarter a year earlier
    key = {(c, y, q): v for c, y, q, v in zip(fq["comp"].tolist(), fq["fy"].tolist(), fq["fq"].tolist(), fq["revenue"].tolist())}
    prev = np.array([key.get((c, y - 1, q), np.nan) for c, y, q in zip(comp.tolist(), sch.fy[r].tolist(), sch.fq[r].tolist())])
    growth = 100 * (rev / prev - 1)
    te = np.clip(sch.earn_g[r] - g0 - 1, 0, T - 1)
    est = world.estimates["fwd_q"][te, comp]
    eps = ni / sh
    surprise = (eps - est) / np.maximum(np.abs(est), 0.05)
    P = LATENT
    alpha = (-P["kappa_value"] * core.M + core.D + P["c_quality"] * core.Q - P["c_short"] * core.S)[te]
    az = (alpha - alpha.mean(axis=1, keepdims=True)) / alpha.std(axis=1, keepdims=True)
    a_i = az[np.arange(len(te)), comp]

    # fixed scales (no normalisation over the sample: a row never depends on how far the world runs)
    cik = st.cik[comp].astype(np.int64)
    h = (cik * 2_654_435_761 + sch.fy[r].astype(np.int64) * 97_531 + sch.fq[r].astype(np.int64) * 7_919) % 10_007
    noise = (h / 10_007.0 - 0.5) * 1.7
    g_z = np.clip(np.nan_to_num(growth), -40, 40) / 25.0
    s_z = np.clip(surprise, -0.5, 0.5) / 0.15
    score = 0.5 * g_z + 0.4 * np.clip(s_z, -2.5, 2.5) + 0.6 * a_i + noise
    tone = np.digitize(score, [-1.3, -0.45, 0.45, 1.3])
    known = s[sch.react_g[r]]
    return pl.DataFrame(dict(
        comp=comp, ticker=st.ticker_at(comp, known), event_date=s[sch.earn_g[r]],
        fiscal_period=fiscal_label(sch.fy[r], sch.fq[r]), fy=sch.fy[r], fq=sch.fq[r],
        transcript_id=[f"SYN-{c}-{y}Q{q}" for c, y, q in zip(st.cik[comp].tolist(), sch.fy[r].tolist(), sch.fq[r].tolist())],
        known_at=known, revenue=rev, growth=np.nan_to_num(growth), eps=eps, est=est, tone=tone, bmo=sch.bmo[r],
        gm=100 * fq["gm"][k], om=100 * fq["om"][k], fcf=fq["fcf"][k], buyback=fq["buyback"][k],
        dividend=st.arr["div_payer"][comp] > 0, n_qa=np.clip(4 + world.estimates["n"][te, comp] // 6, 4, 10),
    ))


def render_transcripts(world, idx: pl.DataFrame) -> pl.DataFrame:
    st = world.static
    rosters = world.insiders["rosters"]
    texts = []
    for m in idx.iter_rows(named=True):
        i = m["comp"]
        people = rosters[i]
        name = st.tc_new_name if m["ticker"] == st.tc_new_ticker else st.name[i]
        texts.append(transcript(st.seed, dict(m, company=name, sector=SECTOR_NAMES[st.sector[i]], cik=int(st.cik[i]),
                                              ceo=people[0]["name"], cfo=people[1]["name"])))
    return idx.with_columns(pl.Series("text", texts, dtype=pl.Utf8),
                            pl.Series("n_chars", [len(t) for t in texts], dtype=pl.Int64))
