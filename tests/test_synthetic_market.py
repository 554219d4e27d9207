"""The embedded synthetic market: determinism, contract, realism and the planted signals."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from meridian_assets import calendar as cal
from meridian_assets.ingest import schemas
from meridian_assets.ingest.providers.synthetic import SyntheticProvider
from meridian_assets.ingest.synthetic import PLANTED_SIGNALS
from meridian_assets.ingest.synthetic.market import CRISIS, STRESSED
from meridian_assets.ingest.synthetic.universe import BENCHMARK_TICKERS, SECTOR_NAMES, SECTORS, build_static
from meridian_assets.ingest.synthetic.world import get_world

EPOCH = dt.date(2018, 1, 2)
W0, W1 = dt.date(2023, 11, 20), dt.date(2026, 11, 20)  # the 3-year window every lifecycle event must fall in
FORMS = ("10-K", "10-Q", "8-K", "4")


@pytest.fixture(scope="module")
def p40() -> SyntheticProvider:
    return SyntheticProvider(seed=11, n_tickers=40, epoch=EPOCH)


@pytest.fixture(scope="module")
def p500() -> SyntheticProvider:
    return SyntheticProvider(seed=20240601, n_tickers=500, epoch=EPOCH)


def _all(p: SyntheticProvider, start: dt.date, end: dt.date) -> dict[str, pl.DataFrame]:
    tk = p.universe(end)["ticker"].to_list()
    return {
        "daily_prices": p.daily_prices(tk, start, end).frame,
        "corporate_actions": p.corporate_actions(tk, start, end).frame,
        "fundamentals_raw": p.fundamentals(tk, start, end).frame,
        "sec_filings": p.sec_filings(tk, start, end, FORMS).frame,
        "insider_transactions": p.insider_transactions(tk, start, end).frame,
        "institutional_holdings": p.institutional_holdings(None, tk, start, end).frame,
        "short_interest": p.short_interest(tk, start, end).frame,
        "analyst_estimates": p.analyst_estimates(tk, start, end).frame,
        "earnings_calendar": p.earnings_calendar(tk, start, end).frame,
        "earnings_transcripts": p.earnings_transcripts(tk, start, end).frame,
        "macro_series": p.macro_series(None, start, end).frame,
    }


# ------------------------------------------------------------------------------------------ universe
def test_sector_counts_names_and_benchmarks(p500):
    u = p500.universe(dt.date(2024, 1, 2))
    stocks = u.filter(~pl.col("is_benchmark"))
    assert stocks.height == 500
    share = stocks.group_by("sector").len().with_columns(pl.col("len") / 500)
    target = {s[0]: s[1] / sum(x[1] for x in SECTORS) for s in SECTORS}
    assert set(share["sector"]) == set(SECTOR_NAMES)
    for sec, sh in share.iter_rows():
        assert abs(sh - target[sec]) < 0.006, (sec, sh)
    tickers = stocks["ticker"].to_list()
    assert len(set(tickers)) == len(tickers)
    assert all(re.fullmatch(r"[A-Z]{2,5}", t) for t in tickers)
    assert not set(tickers) & BENCHMARK_TICKERS
    assert stocks["cik"].n_unique() == 500 and stocks["sub_industry"].null_count() == 0
    st = build_static(20240601, 500, EPOCH)
    assert 5e9 <= st.mcap0.min() and st.mcap0.max() <= 2.6e12 and st.mcap0.max() / st.mcap0.min() > 100
    bench = u.filter(pl.col("is_benchmark")).sort("ticker")
    assert set(bench["ticker"]) == BENCHMARK_TICKERS
    kinds = dict(zip(bench["ticker"], bench["asset_type"]))
    assert kinds["^VIX"] == "index" and kinds["SPY"] == "etf" and kinds["XLK"] == "etf"
    secs = dict(zip(bench["ticker"], bench["sector"]))
    assert secs["SPY"] == secs["^VIX"] == "Benchmark" and secs["XLK"] == "Information Technology"


def test_small_universe_keeps_two_names_per_sector_and_its_events():
    p = SyntheticProvider(seed=3, n_tickers=22, epoch=EPOCH)
    u = p.universe(W1)
    current = u.filter(~pl.col("is_benchmark") & pl.col("end_date").is_null())
    counts = current.group_by("sector").len()
    assert counts.height == 11 and counts["len"].min() >= 2
    assert current.height == 22
    actions = p.corporate_actions(None, W0, W1).frame["action"].to_list()
    assert actions.count("ticker_change") == 1 and actions.count("delisting") == 1 and "split" in actions


# ------------------------------------------------------------------------------------------ contract
def test_every_frame_matches_its_schema(p40):
    frames = _all(p40, dt.date(2024, 1, 1), dt.date(2024, 6, 28))
    for name, df in frames.items():
        assert dict(df.schema) == dict(schemas.TABLES[name].columns), name
        assert df.height > 0, name
        for col in schemas.TABLES[name].not_null:
            assert df[col].null_count() == 0, (name, col)
    u = p40.universe(dt.date(2024, 6, 28))
    assert dict(u.schema) == dict(schemas.UNIVERSE.columns)


def test_deterministic_across_fresh_simulations():
    p = SyntheticProvider(seed=5, n_tickers=30, epoch=EPOCH)
    a = _all(p, dt.date(2025, 1, 2), dt.date(2025, 3, 31))
    get_world.cache_clear()
    b = _all(SyntheticProvider(seed=5, n_tickers=30, epoch=EPOCH), dt.date(2025, 1, 2), dt.date(2025, 3, 31))
    for name in a:
        assert_frame_equal(a[name], b[name])
    other = SyntheticProvider(seed=6, n_tickers=30, epoch=EPOCH).daily_prices(None, dt.date(2025, 1, 2), dt.date(2025, 1, 31))
    assert not a["daily_prices"]["close"].head(50).equals(other.frame["close"].head(50))


def test_window_independence(p40):
    a, b, c = dt.date(2023, 9, 1), dt.date(2023, 12, 29), dt.date(2024, 5, 31)  # b..c crosses into another world
    whole, left, right = _all(p40, a, c), _all(p40, a, b), _all(p40, b + dt.timedelta(days=1), c)
    for name in whole:
        keys = [k for k in schemas.TABLES[name].key if k in whole[name].columns] or whole[name].columns
        joined = pl.concat([left[name], right[name]])
        assert_frame_equal(whole[name].sort(keys), joined.sort(keys), check_row_order=False), name


# ------------------------------------------------------------------------------------------ prices
def test_price_sanity(p40):
    px = p40.daily_prices(None, dt.date(2019, 1, 1), dt.date(2026, 11, 20)).frame
    assert px.select(pl.struct("date", "ticker").is_unique().all()).item()
    assert px.filter(pl.col("low") <= 0).height == 0
    bad = px.filter((pl.col("low") > pl.min_horizontal("open", "close")) | (pl.col("high") < pl.max_horizontal("open", "close")))
    assert bad.height == 0
    dates = px["date"].unique().sort().to_list()
    assert dates == cal.sessions(dates[0], dates[-1])
    stocks = px.filter(~pl.col("ticker").is_in(list(BENCHMARK_TICKERS)))
    assert stocks["volume"].min() > 0
    vix = px.filter(pl.col("ticker") == "^VIX")
    assert vix["volume"].max() == 0 and set(px["ticker"]) >= BENCHMARK_TICKERS
    # returns are fat-tailed and cluster: kurtosis well above normal, squared returns autocorrelated
    spy = px.filter(pl.col("ticker") == "SPY").sort("date")["adj_close"].to_numpy()
    r = np.diff(np.log(spy))
    kurt = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    r2 = r ** 2 - (r ** 2).mean()
    assert kurt > 5 and (r2[1:] * r2[:-1]).mean() / (r2 ** 2).mean() > 0.1


def test_regimes_and_crisis_in_every_window(p40):
    w = p40.world(W1)
    reg = w.core.regime
    start = w.t_range(dt.date(2019, 1, 1), W1)[0]
    for lo in range(start, w.t_range(EPOCH, W1)[1] - 756, 21):
        win = reg[lo : lo + 756]
        assert (win == CRISIS).any() and (win == STRESSED).any(), lo
    vix = p40.daily_prices(["^VIX"], W0, W1).frame
    assert vix["close"].max() > 35 and vix["close"].min() < 20
    hy = p40.macro_series(["BAMLH0A0HYM2"], W0, W1).frame.join(vix.select(["date", "close"]), on="date")
    assert hy.filter(pl.col("close") > 35)["value"].mean() > hy.filter(pl.col("close") < 18)["value"].mean() + 1.0


def test_splits_ticker_change_and_delisting(p40):
    ca = p40.corporate_actions(None, EPOCH, W1).frame
    assert ca.filter(pl.col("action") == "ticker_change").height == 1
    assert ca.filter(pl.col("action") == "delisting").height == 1
    splits = ca.filter(pl.col("action") == "split")
    assert {d.year for d in splits["date"]} >= set(range(2019, 2027))
    assert set(splits["ratio"]) == {2.0, 3.0, 4.0, 10.0}
    inwin = ca.filter(pl.col("date").is_between(W0, W1))
    assert {"split", "ticker_change", "delisting", "dividend"} <= set(inwin["action"])
    assert (ca["known_at"] <= ca["date"]).all()
    # a split halves (thirds...) the close but not the total-return series
    for d, tk, ratio in splits.select(["date", "ticker", "ratio"]).iter_rows():
        bars = p40.daily_prices([tk], cal.previous_session(d), d).frame.sort("date")
        c0, c1 = bars["close"].to_list()
        a0, a1 = bars["adj_close"].to_list()
        assert abs(c1 / c0 * ratio - a1 / a0) < 0.02 and abs(a1 / a0 - 1) < 0.25
    # the ticker change: old row ends, new row starts the next session with the same CIK, prices continue
    tc = ca.filter(pl.col("action") == "ticker_change").row(0, named=True)
    u = p40.universe(W1)
    old = u.filter(pl.col("ticker") == tc["ticker"]).row(0, named=True)
    new = u.filter(pl.col("ticker") == tc["new_ticker"]).row(0, named=True)
    assert old["successor"] == tc["new_ticker"] and old["cik"] == new["cik"]
    assert new["start_date"] == tc["date"] == cal.next_session(old["end_date"])
    bars = p40.daily_prices([tc["ticker"], tc["new_ticker"]], cal.add_sessions(tc["date"], -5), cal.add_sessions(tc["date"], 5)).frame
    assert bars.filter(pl.col("ticker") == tc["ticker"])["date"].max() == old["end_date"]
    assert bars.filter(pl.col("ticker") == tc["new_ticker"])["date"].min() == tc["date"]
    adj = bars.sort("date")["adj_close"].to_numpy()
    assert np.abs(np.diff(np.log(adj))).max() < 0.25
    # the delisted name: end_date set, no bars after it; a replacement joins the next session
    dl = ca.filter(pl.col("action") == "delisting").row(0, named=True)
    row = u.filter(pl.col("ticker") == dl["ticker"]).row(0, named=True)
    assert row["end_date"] == dl["date"]
    assert p40.daily_prices([dl["ticker"]], dl["date"], W1).frame["date"].to_list() == [dl["date"]]
    assert u.filter(pl.col("start_date") == cal.next_session(dl["date"])).height == 1
    # not a member before: the universe as of the day before the change has neither event
    before = p40.universe(cal.previous_session(tc["date"]))
    assert tc["new_ticker"] not in before["ticker"].to_list()


# ------------------------------------------------------------------------------------------ fundamentals
def test_fundamental_identities_and_timing(p40):
    f = p40.fundamentals(None, dt.date(2016, 1, 1), W1).frame  # reports filed before the epoch included
    close = dict(rtol=1e-9, atol=1e-3)
    assert np.allclose(f["gross_profit"], f["revenue"] - f["cost_of_revenue"], **close)
    assert np.allclose(f["free_cash_flow"], f["operating_cash_flow"] - f["capex"], **close)
    assert np.allclose(f["total_assets"], f["total_liabilities"] + f["total_equity"], **close)
    assert np.allclose(f["ebitda"], f["ebit"] + f["depreciation"], **close)
    assert np.allclose(f["net_income"], f["ebit"] - f["interest_expense"] - f["income_tax"], **close)
    assert np.allclose(f["eps_diluted"], f["net_income"] / f["shares_outstanding"], rtol=1e-9)
    assert (f["current_assets"] >= f["cash"] + f["receivables"] + f["inventory"] - 1).all()
    assert (f["current_assets"] <= f["total_assets"]).all() and (f["revenue"] > 0).all()
    lag = (f["known_at"] - f["period_end"]).dt.total_days()
    q = f.with_columns(lag.alias("lag"))
    assert q.filter(pl.col("form") == "10-Q")["lag"].is_between(25, 49).all()
    assert q.filter(pl.col("form") == "10-K")["lag"].is_between(55, 79).all()
    assert set(f.filter(pl.col("form") == "10-Q")["fiscal_period"]) == {"Q1", "Q2", "Q3"}
    assert set(f.filter(pl.col("form") == "10-K")["fiscal_period"]) == {"Q4", "FY"}
    # the FY row sums its four quarters' flows
    annual = f.filter(pl.col("period_type") == "annual")
    quarters = f.filter(pl.col("period_type") == "quarterly").group_by(["ticker", "fiscal_year"]).agg(
        pl.col("revenue").sum().alias("rev4"), pl.len().alias("n"))
    j = annual.join(quarters, on=["ticker", "fiscal_year"]).filter(pl.col("n") == 4)
    assert j.height > 0 and np.allclose(j["revenue"], j["rev4"])
    # fiscal years: some offset from December; history reaches a year before the epoch (YoY from day one)
    assert f.filter(pl.col("period_type") == "annual")["period_end"].dt.month().n_unique() >= 2
    assert f["period_end"].min() <= EPOCH - dt.timedelta(days=365)
    # every report shares its accession with a 10-K / 10-Q filing
    fil = p40.sec_filings(None, dt.date(2016, 1, 1), W1, ("10-K", "10-Q")).frame
    joined = f.join(fil.select(["accession_no", "form"]), on="accession_no", how="left", suffix="_f")
    assert joined["form_f"].null_count() == 0 and (joined["form"] == joined["form_f"]).all()


# ------------------------------------------------------------------------------------------ filings
def test_filings_accessions_and_risk_factors(p40):
    fil = p40.sec_filings(None, dt.date(2020, 1, 1), W1, FORMS).frame
    assert fil["accession_no"].is_unique().all()
    assert fil["accession_no"].str.contains(r"^\d{10}-\d{2}-\d{6}$").all()
    assert set(fil["form"]) == set(FORMS)
    assert (fil["known_at"] >= fil["filed_at"]).all()
    eightk = fil.filter(pl.col("form") == "8-K")
    assert eightk.filter(pl.col("items") == "2.02,9.01").height > 0 and eightk["items"].n_unique() > 3
    tenk = fil.filter(pl.col("form") == "10-K").sort("filed_at")
    assert tenk["risk_factors"].null_count() == 0 and tenk["risk_factors"].str.len_chars().min() > 3000
    assert fil.filter(pl.col("form") != "10-K")["risk_factors"].null_count() == fil.filter(pl.col("form") != "10-K").height
    changed = 0
    for _tk, g in tenk.group_by("cik"):
        texts = g.sort("filed_at")["risk_factors"].to_list()
        for a, b in zip(texts, texts[1:]):
            pa, pb = set(a.split("\n\n")), set(b.split("\n\n"))
            changed += bool(pa - pb) and bool(pb - pa)
    assert changed >= len(tenk) // 3
    # one Form 4 row per insider filing
    ins = p40.insider_transactions(None, dt.date(2020, 1, 1), W1).frame
    f4 = fil.filter(pl.col("form") == "4")
    assert set(f4["accession_no"]) == set(ins["accession_no"])


def test_transcripts_and_calendar(p40):
    tr = p40.earnings_transcripts(None, W0, W1).frame
    assert tr["transcript_id"].is_unique().all()
    assert tr["n_chars"].min() >= 4000 and tr["n_chars"].max() <= 15000
    assert (tr["text"].str.len_chars() == tr["n_chars"]).all()
    assert all(t in x for t, x in zip(tr["ticker"], tr["text"]))
    ec = p40.earnings_calendar(None, W0, W1).frame
    lead = ec.select((pl.col("earnings_date") - pl.col("known_at")).dt.total_days()).to_series()
    assert lead.is_between(25, 48).all()
    assert (ec["earnings_date"] > W1).any()  # upcoming dates announced inside the window
    assert set(ec["session"]) == {"BMO", "AMC"}
    per_q = ec.group_by(["ticker", "fiscal_period"]).len()
    assert per_q["len"].max() == 1


# ------------------------------------------------------------------------------------------ events
def test_insider_transactions_and_clusters(p500):
    ins = p500.insider_transactions(None, dt.date(2025, 11, 1), dt.date(2026, 10, 30)).frame  # one year
    freq = ins.group_by("code").len().sort("len")
    counts = dict(zip(freq["code"], freq["len"]))
    assert set(counts) == {"P", "S", "A", "M", "F"} and counts["P"] == min(counts.values())
    assert (ins["is_ceo_cfo_buy"] == ((ins["code"] == "P") & ins["insider_title"].str.contains("Chief Executive|Chief Financial"))).all()
    lag = [len(cal.sessions(t, k)) - 1 for t, k in zip(ins["transaction_date"].head(2000), ins["known_at"].head(2000))]
    assert set(lag) <= {1, 2}
    per_co = ins.group_by("ticker").agg(pl.col("insider_name").n_unique().alias("n"))
    assert per_co["n"].max() <= 10 and per_co["n"].quantile(0.5) >= 4
    buys = ins.filter(pl.col("code") == "P").sort("transaction_date")
    clusters = 0
    for _tk, g in buys.group_by("ticker"):
        d = g["transaction_date"].to_list()
        who = g["insider_name"].to_list()
        clusters += any(len({w for dd, w in zip(d, who) if 0 <= (dd - d0).days <= 30}) >= 3 for d0 in d)
    assert clusters >= 10


def test_institutional_holdings(p40):
    h = p40.institutional_holdings(None, None, dt.date(2022, 1, 1), W1).frame
    assert h["fund_cik"].n_unique() == 9
    lag = (h["known_at"] - h["report_period"]).dt.total_days()
    assert lag.is_between(30, 46).all()
    assert (h["change_shares"] == h["shares"] - h["prior_shares"]).all()
    assert (h["is_new_position"] == (h["prior_shares"] == 0)).all()
    assert (h["cusip"].str.len_chars() == 9).all() and set(h["report_period"].dt.month()) == {3, 6, 9, 12}
    per_fund = h.group_by("fund_name").agg(pl.col("ticker").n_unique()).sort("ticker")
    assert per_fund["ticker"][0] < per_fund["ticker"][-1]  # concentrated and broad funds


def test_short_interest_and_estimates(p40):
    si = p40.short_interest(None, dt.date(2024, 1, 2), dt.date(2024, 6, 28)).frame
    days = si["settlement_date"].unique().dt.day().to_list()
    assert all(d >= 27 or 12 <= d <= 15 for d in days)
    pub = si.group_by(["ticker", "settlement_date"]).agg(pl.col("date").min(), pl.col("shares_short").n_unique())
    assert (pub["shares_short"] == 1).all()
    assert all(len(cal.sessions(s, d)) - 1 >= 8 for s, d in zip(pub["settlement_date"], pub["date"]))
    assert si["short_pct_float"].is_between(0.001, 0.4).all() and (si["short_ratio"] > 0).all()
    est = p40.analyst_estimates(None, dt.date(2024, 1, 2), dt.date(2024, 6, 28)).frame.sort(["ticker", "date"])
    moved = est.with_columns((pl.col("fwd_eps") != pl.col("fwd_eps").shift(1)).over("ticker").alias("m"))["m"].drop_nulls()
    assert 0.15 < moved.mean() < 0.6  # revisions move gradually, not every day
    assert est["n_analysts"].min() >= 2 and est["rating_mean"].is_between(1, 5).all()


def test_macro_series(p40):
    m = p40.macro_series(None, W0, W1).frame.pivot(on="series_id", index=["date", "known_at"], values="value")
    assert set(m.columns) >= {"DGS3MO", "DGS2", "DGS10", "T10Y2Y", "BAMLH0A0HYM2", "FEDFUNDS"}
    assert np.allclose(m["T10Y2Y"], m["DGS10"] - m["DGS2"], atol=0.011)
    assert all(k == cal.next_session(d) for d, k in zip(m["date"], m["known_at"]))
    assert (m.drop(["date", "known_at", "T10Y2Y"]).min().row(0) > (0,) * 6)


# ------------------------------------------------------------------------------------------ signals
def _monthly_ic(x: np.ndarray, fwd: np.ndarray, sector: np.ndarray) -> np.ndarray:
    from scipy.stats import spearmanr

    out = []
    for t in range(x.shape[0]):
        ok = ~np.isnan(x[t]) & ~np.isnan(fwd[t])
        f = fwd[t].copy()
        for s in np.unique(sector):
            m = ok & (sector == s)
            f[m] -= f[m].mean()
        out.append(spearmanr(x[t, ok], f[ok])[0])
    return np.array(out)


def test_planted_signals_are_discoverable(p500):
    assert set(PLANTED_SIGNALS) == {"momentum", "value", "quality", "growth", "revisions", "short_interest",
                                    "insider", "institutional"}
    assert PLANTED_SIGNALS["growth"] == PLANTED_SIGNALS["institutional"] == 0
    assert PLANTED_SIGNALS["short_interest"] < 0 < min(PLANTED_SIGNALS[k] for k in ("momentum", "value", "quality"))
    start, end = dt.date(2018, 1, 2), dt.date(2026, 10, 30)
    u = p500.universe(dt.date(2018, 1, 2)).filter(~pl.col("is_benchmark"))
    tickers = u["ticker"].to_list()
    sector = u["sector"].to_numpy()
    px = p500.daily_prices(tickers, start, end).frame.pivot(on="ticker", index="date", values="adj_close").sort("date")
    adj = px.select(tickers).to_numpy()
    si = p500.short_interest(tickers, start, end).frame.pivot(on="ticker", index="date", values="short_pct_float")
    si = px.select("date").join(si, on="date", how="left").select(tickers).to_numpy()
    months = np.arange(273, adj.shape[0] - 21, 21)
    fwd = adj[months + 21] / adj[months] - 1
    mom = adj[months - 21] / adj[months - 252] - 1
    ic_mom = _monthly_ic(mom, fwd, sector)
    ic_si = _monthly_ic(si[months], fwd, sector)
    t_mom = ic_mom.mean() / ic_mom.std() * np.sqrt(len(ic_mom))
    t_si = ic_si.mean() / ic_si.std() * np.sqrt(len(ic_si))
    assert 0.005 < ic_mom.mean() < 0.06 and t_mom > 2.0, (ic_mom.mean(), t_mom)
    assert -0.06 < ic_si.mean() < -0.005 and t_si < -2.0, (ic_si.mean(), t_si)
    # quality: ROE published in the 10-K/10-Q tracks the latent that compounds returns
    w = p500.world(end)
    f = p500.fundamentals(tickers, dt.date(2022, 1, 1), dt.date(2022, 12, 31)).frame.filter(pl.col("period_type") == "annual")
    f = f.with_columns((pl.col("net_income") / pl.col("total_equity")).alias("roe"))
    idx = {t: i for i, t in enumerate(w.static.ticker)}
    rows = [(idx[t], r) for t, r in zip(f["ticker"], f["roe"]) if t in idx]
    q = w.core.Q[w.t_range(EPOCH, dt.date(2022, 12, 30))[1] - 1]
    from scipy.stats import spearmanr

    assert spearmanr([r for _, r in rows], [q[i] for i, _ in rows])[0] > 0.3
