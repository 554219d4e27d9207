"""Companies of the synthetic market: sectors, names, tickers, CIKs, sizes and every static attribute.

Also places the three one-off lifecycle events (one ticker change, one acquisition with its delisting, and
the company that replaces the acquired one in the index) and builds the `universe` frame.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from meridian_assets.ingest.schemas import UNIVERSE
from meridian_assets.ingest.synthetic.common import S_NAMES, S_STATIC, all_sessions, rng, to_d64

# name, S&P weight by count, ETF, beta, idio daily vol, P(dividend payer), dividend yield, earnings yield,
# operating margin, gross margin, asset turnover, liabilities/assets, depreciation/revenue, capex/revenue,
# inventory days, receivable days, short % float base
SECTORS: tuple[tuple, ...] = (
    ("Information Technology", 0.140, "XLK", 1.20, 0.019, 0.55, 0.010, 0.035, 0.25, 0.62, 0.60, 0.50, 0.04, 0.05, 45, 60, 0.020),
    ("Industrials", 0.150, "XLI", 1.05, 0.016, 0.85, 0.017, 0.050, 0.15, 0.33, 0.80, 0.62, 0.035, 0.04, 60, 60, 0.022),
    ("Financials", 0.140, "XLF", 1.10, 0.015, 0.90, 0.024, 0.075, 0.32, 0.75, 0.06, 0.89, 0.01, 0.01, 0, 30, 0.018),
    ("Health Care", 0.120, "XLV", 0.85, 0.017, 0.60, 0.015, 0.050, 0.17, 0.60, 0.55, 0.55, 0.04, 0.04, 80, 55, 0.025),
    ("Consumer Discretionary", 0.100, "XLY", 1.15, 0.019, 0.55, 0.012, 0.045, 0.12, 0.40, 1.10, 0.65, 0.04, 0.05, 70, 20, 0.030),
    ("Consumer Staples", 0.075, "XLP", 0.65, 0.011, 0.95, 0.027, 0.045, 0.13, 0.38, 0.95, 0.62, 0.03, 0.035, 50, 25, 0.020),
    ("Utilities", 0.060, "XLU", 0.55, 0.011, 1.00, 0.033, 0.055, 0.22, 0.45, 0.22, 0.72, 0.08, 0.14, 25, 40, 0.018),
    ("Real Estate", 0.060, "XLRE", 0.85, 0.014, 1.00, 0.036, 0.045, 0.32, 0.60, 0.12, 0.55, 0.22, 0.10, 0, 15, 0.030),
    ("Materials", 0.055, "XLB", 1.05, 0.017, 0.90, 0.020, 0.060, 0.15, 0.30, 0.70, 0.55, 0.05, 0.06, 60, 45, 0.025),
    ("Communication Services", 0.045, "XLC", 1.05, 0.018, 0.50, 0.013, 0.050, 0.22, 0.55, 0.45, 0.58, 0.06, 0.07, 10, 50, 0.028),
    ("Energy", 0.045, "XLE", 1.15, 0.021, 0.90, 0.035, 0.070, 0.14, 0.35, 0.65, 0.55, 0.09, 0.10, 25, 35, 0.030),
)
SECTOR_NAMES = tuple(s[0] for s in SECTORS)
SECTOR_ETF = {s[0]: s[2] for s in SECTORS}
_COL = {k: i for i, k in enumerate(
    "name share etf beta ivol divp dy ey om gm turn liab dep capex inv rec short".split())}


def sector_param(key: str) -> np.ndarray:
    return np.array([s[_COL[key]] for s in SECTORS], dtype=float)


SUB_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Information Technology": ("Application Software", "Systems Software", "Semiconductors",
                               "Semiconductor Materials & Equipment", "IT Consulting & Other Services",
                               "Technology Hardware, Storage & Peripherals", "Electronic Components",
                               "Communications Equipment"),
    "Industrials": ("Aerospace & Defense", "Industrial Machinery & Supplies & Components", "Building Products",
                    "Construction & Engineering", "Air Freight & Logistics", "Rail Transportation",
                    "Electrical Components & Equipment", "Trading Companies & Distributors", "Passenger Airlines"),
    "Financials": ("Diversified Banks", "Regional Banks", "Asset Management & Custody Banks",
                   "Investment Banking & Brokerage", "Property & Casualty Insurance", "Life & Health Insurance",
                   "Transaction & Payment Processing Services", "Financial Exchanges & Data", "Consumer Finance"),
    "Health Care": ("Pharmaceuticals", "Biotechnology", "Health Care Equipment", "Managed Health Care",
                    "Life Sciences Tools & Services", "Health Care Services", "Health Care Supplies",
                    "Health Care Distributors"),
    "Consumer Discretionary": ("Broadline Retail", "Restaurants", "Automobile Manufacturers", "Homebuilding",
                               "Hotels, Resorts & Cruise Lines", "Apparel, Accessories & Luxury Goods",
                               "Home Improvement Retail", "Automotive Parts & Equipment", "Casinos & Gaming"),
    "Consumer Staples": ("Packaged Foods & Meats", "Soft Drinks & Non-alcoholic Beverages", "Household Products",
                         "Consumer Staples Merchandise Retail", "Personal Care Products", "Tobacco",
                         "Food Distributors", "Distillers & Vintners"),
    "Utilities": ("Electric Utilities", "Multi-Utilities", "Gas Utilities", "Water Utilities",
                  "Independent Power Producers & Energy Traders"),
    "Real Estate": ("Industrial REITs", "Retail REITs", "Multi-Family Residential REITs", "Office REITs",
                    "Health Care REITs", "Data Center REITs", "Telecom Tower REITs", "Self-Storage REITs"),
    "Materials": ("Specialty Chemicals", "Commodity Chemicals", "Industrial Gases", "Construction Materials",
                  "Metal, Glass & Plastic Containers", "Paper & Plastic Packaging Products & Materials",
                  "Copper", "Gold", "Steel", "Fertilizers & Agricultural Chemicals"),
    "Communication Services": ("Interactive Media & Services", "Movies & Entertainment",
                               "Integrated Telecommunication Services", "Wireless Telecommunication Services",
                               "Cable & Satellite", "Advertising", "Interactive Home Entertainment", "Broadcasting"),
    "Energy": ("Integrated Oil & Gas", "Oil & Gas Exploration & Production", "Oil & Gas Refining & Marketing",
               "Oil & Gas Equipment & Services", "Oil & Gas Storage & Transportation"),
}

_SECTOR_WORDS: dict[str, tuple[str, ...]] = {
    "Information Technology": ("Technologies", "Systems", "Software", "Semiconductor", "Networks", "Micro", "Data"),
    "Industrials": ("Industries", "Aerospace", "Logistics", "Machinery", "Controls", "Engineering", "Rail"),
    "Financials": ("Financial", "Bancorp", "Capital", "Insurance Group", "Trust", "Payments", "Bancshares"),
    "Health Care": ("Therapeutics", "Health", "Medical", "Pharmaceuticals", "Biosciences", "Diagnostics"),
    "Consumer Discretionary": ("Brands", "Motors", "Restaurants", "Retail", "Resorts", "Homes", "Apparel"),
    "Consumer Staples": ("Foods", "Beverage", "Consumer Products", "Farms", "Household", "Provisions"),
    "Utilities": ("Energy", "Power", "Electric", "Utilities", "Gas & Electric", "Water"),
    "Real Estate": ("Realty", "Properties", "Realty Trust", "Residential", "Towers", "Storage Trust"),
    "Materials": ("Materials", "Chemicals", "Minerals", "Metals", "Packaging", "Steel"),
    "Communication Services": ("Communications", "Media", "Interactive", "Entertainment", "Telecom", "Wireless"),
    "Energy": ("Energy", "Petroleum", "Resources", "Oil & Gas", "Midstream", "Drilling"),
}
_FORMS = ("Inc.", "Corp.", "Corporation", "Co.", "plc", "Holdings Inc.", "Group Inc.", "Inc.", "Inc.")
_PRE = ("Al", "Ar", "Bel", "Bri", "Cal", "Cor", "Dar", "Del", "El", "Em", "Fal", "Fen", "Gal", "Gran", "Hal",
        "Hel", "Ion", "Ir", "Jas", "Kel", "Ken", "Lan", "Lum", "Mar", "Mer", "Nor", "Nov", "Oak", "Or", "Pal",
        "Pax", "Quan", "Ral", "Ros", "Sal", "Sol", "Tal", "Ter", "Ul", "Val", "Ver", "Wel", "Wes", "Yar", "Zan",
        "Zen", "Bry", "Cyr", "Dov", "Ev")
_MID = ("", "a", "e", "i", "o", "an", "er", "in", "or", "u")
_SUF = ("ara", "ex", "ion", "ant", "ora", "is", "on", "ium", "co", "tec", "ven", "dyne", "ova", "ix", "ar",
        "us", "ent", "ton", "field", "gate", "well", "stone", "ridge", "point", "wick", "mont", "view")
_WORDS = ("Granite", "Summit", "Harbor", "Pioneer", "Atlas", "Beacon", "Crescent", "Frontier", "Keystone",
          "Liberty", "Northstar", "Pinnacle", "Redwood", "Sterling", "Trident", "Cascade", "Evergreen", "Falcon",
          "Horizon", "Ironwood", "Juniper", "Lakeshore", "Magnolia", "Oakmont", "Prairie", "Riverbend",
          "Sequoia", "Silverline", "Tidewater", "Westfield", "Bluewater", "Copperhill", "Driftwood", "Aspen")

BENCHMARKS: tuple[tuple[str, str, str, str], ...] = (
    ("SPY", "SPDR S&P 500 ETF Trust", "Benchmark", "etf"),
    ("XLB", "Materials Select Sector SPDR Fund", "Materials", "etf"),
    ("XLC", "Communication Services Select Sector SPDR Fund", "Communication Services", "etf"),
    ("XLE", "Energy Select Sector SPDR Fund", "Energy", "etf"),
    ("XLF", "Financial Select Sector SPDR Fund", "Financials", "etf"),
    ("XLI", "Industrial Select Sector SPDR Fund", "Industrials", "etf"),
    ("XLK", "Technology Select Sector SPDR Fund", "Information Technology", "etf"),
    ("XLP", "Consumer Staples Select Sector SPDR Fund", "Consumer Staples", "etf"),
    ("XLRE", "Real Estate Select Sector SPDR Fund", "Real Estate", "etf"),
    ("XLU", "Utilities Select Sector SPDR Fund", "Utilities", "etf"),
    ("XLV", "Health Care Select Sector SPDR Fund", "Health Care", "etf"),
    ("XLY", "Consumer Discretionary Select Sector SPDR Fund", "Consumer Discretionary", "etf"),
    ("^VIX", "CBOE Volatility Index", "Benchmark", "index"),
)
BENCHMARK_TICKERS = frozenset(b[0] for b in BENCHMARKS)
_RESERVED = BENCHMARK_TICKERS | {"VIX", "SPX", "GSPC", "DIA", "QQQ", "IWM"}
# CIKs of the default tracked 13-F filers; company CIKs avoid them.
_FUND_CIKS = {1067983, 1350694, 1037389, 1423053, 1179392, 1009207, 1273087, 1167557, 1336528}


def sector_counts(n: int) -> np.ndarray:
    """Names per sector: proportional to the S&P 500 weights, at least 2 per sector, summing to n."""
    shares = sector_param("share")
    raw = shares / shares.sum() * n
    counts = np.maximum(2, np.floor(raw)).astype(int)
    while counts.sum() > n:
        over = np.where(counts > 2, counts - raw, -np.inf)
        counts[int(np.argmax(over))] -= 1
    while counts.sum() < n:
        counts[int(np.argmax(raw - counts))] += 1
    return counts


@dataclass
class Static:
    """Per-company attributes (arrays of length N = n_tickers + 1; the last company joins the index later)."""

    seed: int
    n_tickers: int
    epoch: dt.date
    N: int
    sector: np.ndarray  # int index into SECTORS
    sub_industry: np.ndarray
    ticker: np.ndarray
    name: np.ndarray
    cik: np.ndarray
    mcap0: np.ndarray
    price0: np.ndarray
    shares0: np.ndarray
    arr: dict  # numeric attributes by name
    tc: int  # company that changes ticker
    tc_new_ticker: str
    tc_new_name: str
    tc_date: dt.date  # first session under the new ticker
    dl: int  # acquired company
    dl_announce: dt.date
    dl_date: dt.date  # last session it trades (its last day in the index)
    dl_acquirer: str
    rp: int  # replacement company
    rp_start: dt.date

    def ticker_at(self, i: np.ndarray, d64: np.ndarray) -> np.ndarray:
        """Ticker of company i on date d (vectorised; only `tc` ever changes)."""
        out = self.ticker[np.asarray(i)].astype(object)
        changed = (np.asarray(i) == self.tc) & (np.asarray(d64) >= to_d64(self.tc_date))
        out[changed] = self.tc_new_ticker
        return out

    def security_id(self, i: int) -> str:
        """The company's id across its ticker change: first ticker and first session in the index."""
        start = self.rp_start if i == self.rp else self.epoch
        return f"{self.ticker[i]}:{start.isoformat()}"

    def security_ids(self, i: np.ndarray) -> np.ndarray:
        ids = np.array([self.security_id(k) for k in range(self.N)], dtype=object)
        return ids[np.asarray(i, dtype=np.int64)]

    def companies_for(self, tickers) -> np.ndarray:
        """Company indices whose (current or former) ticker is in ``tickers`` (None: all)."""
        if tickers is None:
            return np.arange(self.N)
        wanted = set(tickers)
        idx = [i for i in range(self.N) if self.ticker[i] in wanted or (i == self.tc and self.tc_new_ticker in wanted)]
        return np.array(idx, dtype=np.int64)


def _mk_ticker(root: str, word: str, g: np.random.Generator, used: set) -> str:
    letters = "".join(ch for ch in root.upper() if ch.isalpha())
    cons = letters[0] + "".join(ch for ch in letters[1:] if ch not in "AEIOU")
    w = word.upper()[0]
    cands = [letters[:4], letters[:3], cons[:3], cons[:4], letters[:2] + w, letters[:3] + w, cons[:2] + w, letters[:2]]
    for c in cands:
        if 2 <= len(c) <= 5 and c.isalpha() and c not in used and c not in _RESERVED:
            return c
    abc = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    while True:
        c = letters[0] + "".join(g.choice(abc, int(g.integers(2, 4))))
        if c not in used and c not in _RESERVED:
            return c


def _mk_names(N: int, sectors: np.ndarray, g: np.random.Generator) -> tuple[list, list, list]:
    names, tickers, roots, used_roots, used = [], [], [], set(), set()
    for i in range(N):
        sec = SECTOR_NAMES[sectors[i]]
        while True:
            if g.random() < 0.35:
                root = str(g.choice(_WORDS))
                if g.random() < 0.5:
                    root = root + " " + str(g.choice(("Bay", "Point", "Ridge", "Park", "Hill", "Valley", "Peak")))
            else:
                root = str(g.choice(_PRE)) + str(g.choice(_MID)) + str(g.choice(_SUF))
            if root not in used_roots:
                break
        used_roots.add(root)
        word = str(g.choice(_SECTOR_WORDS[sec]))
        form = str(g.choice(_FORMS))
        names.append(f"{root} {word} {form}")
        t = _mk_ticker(root, word, g, used)
        used.add(t)
        tickers.append(t)
        roots.append(root)
    return names, tickers, roots


@lru_cache(maxsize=8)
def build_static(seed: int, n_tickers: int, epoch: dt.date) -> Static:
    g = rng(seed, S_STATIC, n_tickers)
    N = n_tickers + 1
    counts = sector_counts(n_tickers)
    sector = np.concatenate([np.full(c, k) for k, c in enumerate(counts)])
    sector = sector[g.permutation(n_tickers)]
    # log-normal market caps with a heavier right tail (~$5B .. ~$3T)
    z = g.standard_normal(n_tickers)
    mcap = np.exp(np.log(30e9) + 0.9 * z + 0.30 * np.maximum(z - 1.0, 0.0) ** 2)
    mcap = np.clip(mcap, 5e9, 2.5e12)
    # special companies: ticker change (a mid/large name in a "renaming-prone" sector), acquisition target
    rank = np.argsort(np.argsort(mcap)) / max(n_tickers - 1, 1)
    prone = [i for i in range(n_tickers) if SECTOR_NAMES[sector[i]] in
             ("Communication Services", "Information Technology", "Consumer Discretionary") and 0.3 <= rank[i] <= 0.9]
    tc = int(g.choice(prone)) if prone else int(np.argsort(mcap)[n_tickers // 2])
    mids = [i for i in range(n_tickers) if i != tc and 0.15 <= rank[i] <= 0.7]
    dl = int(g.choice(mids)) if mids else int([i for i in range(n_tickers) if i != tc][0])
    # replacement joins the index in the acquired company's sector
    sector = np.append(sector, sector[dl])
    mcap = np.append(mcap, np.clip(np.median(mcap) * 0.45, 5e9, None))

    gn = rng(seed, S_NAMES, n_tickers)
    names, tickers, _roots = _mk_names(N, sector, gn)
    used = set(tickers)
    new_root = str(gn.choice(_WORDS))
    tc_new_name = f"{new_root} {gn.choice(('Platforms', 'Holdings', 'Group', 'Technologies'))} Inc."
    tc_new_ticker = _mk_ticker(new_root, "Platforms", gn, used)
    subs = np.array([str(gn.choice(SUB_INDUSTRIES[SECTOR_NAMES[s]])) for s in sector], dtype=object)
    cik = gn.choice(np.arange(20_000, 1_900_000), N + 12, replace=False)
    cik = np.array([c for c in cik if c not in _FUND_CIKS][:N], dtype=np.int64)

    def sp(key):
        return sector_param(key)[sector]

    zz = g.standard_normal((24, N))
    u = g.random((8, N))
    price0 = np.clip(np.exp(np.log(85.0) + 0.7 * zz[0]), 20.0, 1500.0)
    q_static = zz[1]
    a: dict[str, np.ndarray] = {}
    a["beta"] = np.clip(sp("beta") * np.exp(0.15 * zz[2]), 0.4, 2.0)
    a["gamma"] = np.clip(np.exp(0.2 * zz[3]), 0.5, 1.8)
    a["ivol"] = 0.58 * sp("ivol") * np.exp(0.25 * zz[4]) * (mcap / 30e9) ** -0.10
    a["q_static"] = q_static
    a["ey_fair"] = sp("ey") * np.exp(0.10 * zz[5])
    a["om_base"] = np.clip(sp("om") * np.exp(0.25 * q_static + 0.12 * zz[6]), 0.04, 0.6)
    a["gm_base"] = np.clip(np.maximum(sp("gm") + 0.04 * q_static + 0.04 * zz[7], a["om_base"] + 0.08), 0.12, 0.92)
    a["turn"] = sp("turn") * np.exp(0.12 * zz[8] + 0.08 * q_static)
    a["liab"] = np.clip(sp("liab") - 0.05 * q_static + 0.03 * zz[9], 0.15, 0.95)
    a["debt_frac"] = np.clip(0.45 + 0.1 * zz[10], 0.15, 0.75)
    a["dep"] = sp("dep") * np.exp(0.2 * zz[11])
    a["capex"] = a["dep"] * np.clip(1.25 + 0.2 * zz[12], 0.8, 1.8)
    a["inv_days"] = sp("inv") * np.exp(0.3 * zz[13])
    a["rec_days"] = sp("rec") * np.exp(0.3 * zz[14])
    a["cash_frac"] = np.clip(0.07 + 0.03 * zz[15] + 0.02 * q_static, 0.01, 0.25)
    a["tax"] = np.clip(0.20 + 0.03 * zz[16], 0.10, 0.28)
    a["rate"] = np.clip(0.045 + 0.008 * zz[17] - 0.004 * q_static, 0.02, 0.08)
    a["accrual"] = -0.02 * q_static + 0.012 * zz[18]
    a["short_base"] = sp("short") * np.exp(0.35 * zz[19])
    a["float_frac"] = 0.85 + 0.14 * u[0]
    a["turnover"] = 0.006 * (mcap / 30e9) ** -0.15 * np.exp(0.3 * zz[20])
    a["div_payer"] = (u[1] < sp("divp")).astype(float)
    a["div_yield"] = a["div_payer"] * sp("dy") * np.exp(0.35 * zz[21])
    a["div_month"] = np.floor(u[2] * 3).astype(float)  # first ex-month offset 0..2
    a["div_day"] = 5 + np.floor(u[3] * 20)
    a["buyback"] = np.where(u[4] < 0.6, 0.03 * u[5], 0.0)
    a["g_exp"] = 0.07 + 0.04 * zz[22]
    a["rating_bias"] = 0.35 * zz[23]
    a["bmo"] = (u[6] < 0.55).astype(float)
    a["earn_lag"] = 18 + np.floor(u[7] * 14)
    fye = np.full(N, 12.0)
    uf = g.random(N)
    retail = np.isin(sector, [SECTOR_NAMES.index("Consumer Discretionary"), SECTOR_NAMES.index("Consumer Staples")])
    fye[(uf < 0.08) & retail] = 1
    fye[(uf >= 0.08) & (uf < 0.13)] = 3
    fye[(uf >= 0.13) & (uf < 0.20)] = 6
    fye[(uf >= 0.20) & (uf < 0.28)] = 9
    a["fye"] = fye
    a["n_insiders"] = g.integers(5, 11, N).astype(float)
    a["log_mcap0"] = np.log(mcap)
    # initial latent states (stationary draws; see market.LATENT)
    a["init"] = g.standard_normal((6, N))

    # lifecycle dates: ticker change in 2024, acquisition completing in 2025 (both inside 2023-11 .. 2026-11)
    s = all_sessions()
    e64 = to_d64(epoch)
    floor_g = int(np.searchsorted(s, e64)) + 300
    tc_d = to_d64(dt.date(2024, 3, 1)) + int(g.integers(0, 180))
    tc_g = max(int(np.searchsorted(s, tc_d)), floor_g)
    dl_d = to_d64(dt.date(2025, 3, 1)) + int(g.integers(0, 200))
    dl_g = max(int(np.searchsorted(s, dl_d, "right")) - 1, floor_g + 200)
    ann_g = dl_g - int(g.integers(40, 61))
    acquirer = f"{g.choice(_WORDS)} {g.choice(('Capital Partners', 'Industries', 'Holdings', 'Group'))}"
    return Static(
        seed=seed, n_tickers=n_tickers, epoch=epoch, N=N, sector=sector, sub_industry=subs,
        ticker=np.array(tickers, dtype=object), name=np.array(names, dtype=object), cik=cik, mcap0=mcap,
        price0=price0, shares0=mcap / price0, arr=a, tc=tc, tc_new_ticker=tc_new_ticker, tc_new_name=tc_new_name,
        tc_date=s[tc_g].item(), dl=dl, dl_announce=s[ann_g].item(), dl_date=s[dl_g].item(), dl_acquirer=acquirer,
        rp=N - 1, rp_start=s[dl_g + 1].item(),
    )


def universe_frame(st: Static, as_of: dt.date, epoch_session: dt.date) -> pl.DataFrame:
    """Membership intervals known as of ``as_of`` plus the benchmark rows."""
    rows = []
    prev = all_sessions()[np.searchsorted(all_sessions(), to_d64(st.tc_date)) - 1].item()
    for i in range(st.N):
        start = st.rp_start if i == st.rp else epoch_session
        if start > as_of:
            continue
        base = dict(ticker=st.ticker[i], security_id=st.security_id(i), name=st.name[i],
                    sector=SECTOR_NAMES[st.sector[i]],
                    sub_industry=st.sub_industry[i], cik=int(st.cik[i]), is_benchmark=False, asset_type="stock",
                    start_date=start, end_date=None, successor=None)
        if i == st.dl and as_of >= st.dl_date:
            base["end_date"] = st.dl_date
        if i == st.tc and as_of >= st.tc_date:
            base.update(end_date=prev, successor=st.tc_new_ticker)
            rows.append(base)
            rows.append({**base, "ticker": st.tc_new_ticker, "name": st.tc_new_name, "start_date": st.tc_date,
                         "end_date": None, "successor": None})
            continue
        rows.append(base)
    if as_of >= epoch_session:
        for tk, nm, sec, kind in BENCHMARKS:
            rows.append(dict(ticker=tk, security_id=tk, name=nm, sector=sec, sub_industry=None, cik=None,
                             is_benchmark=True,
                             asset_type=kind, start_date=epoch_session, end_date=None, successor=None))
    if not rows:
        return UNIVERSE.empty()
    df = pl.DataFrame(rows, schema={c: t for c, t in UNIVERSE.columns.items()})
    return UNIVERSE.conform(df).sort(["is_benchmark", "ticker", "start_date"])
