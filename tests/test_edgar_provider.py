"""The `edgar` provider on recorded real SEC documents (../shared/realdata/edgar), never the network.

The parsers run on the documents exactly as SEC serves them; the provider's fetching layer (`EdgarClient`)
is replaced by `FakeClient`, which hands out those documents.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
import polars as pl
import pytest

from meridian_assets.errors import ProviderUnavailable, ProviderUnsupported
from meridian_assets.ingest import schemas
from meridian_assets.ingest.providers import edgar_parse as ep
from meridian_assets.ingest.providers.base import FetchError
from meridian_assets.ingest.providers.edgar import EdgarProvider
from meridian_assets.ingest.providers.edgar_client import EdgarClient, FilingRef, install_rate_limiter
from meridian_assets.ingest.providers.ratelimit import RateLimiter
from meridian_assets.ingest.settings import SecConfig

REALDATA = Path(__file__).parents[1].parent / "shared" / "realdata"
EDGAR = REALDATA / "edgar"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not EDGAR.is_dir(), reason=f"recorded SEC documents not found at {EDGAR}"),
]

M = 1_000_000


def _read(rel: str) -> str:
    return (EDGAR / rel).read_text(encoding="utf-8")


def assert_conforms(frame: pl.DataFrame, table: schemas.TableSchema) -> None:
    assert frame.columns == list(table.columns), f"{table.name}: columns {frame.columns}"
    assert frame.schema == table.polars_schema, f"{table.name}: dtypes {frame.schema}"
    for col in table.not_null:
        assert frame[col].null_count() == 0, f"{table.name}.{col} has nulls"
    if table.key and frame.height:
        assert frame.select(table.key).is_duplicated().sum() == 0, f"{table.name}: duplicate keys"


# --------------------------------------------------------------------------------------------- rate limiter


class FakeClock:
    """A clock that only moves when the limiter sleeps (thread-safe)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, d: float) -> None:
        with self._lock:
            self.sleeps.append(d)
            self.t += d


def test_rate_limiter_never_exceeds_its_rate():
    clock = FakeClock()
    limiter = RateLimiter(8, clock=clock, sleep=clock.sleep)
    grants = []
    for _ in range(50):
        limiter.wait()
        grants.append(clock())
    gaps = [b - a for a, b in zip(grants, grants[1:])]
    assert min(gaps) >= 1 / 8 - 1e-9
    # any one-second window [t, t+1) holds at most 8 acquisitions
    for t in grants:
        assert sum(t <= g < t + 1 for g in grants) <= 8
    assert grants[-1] == pytest.approx(49 / 8)
    assert limiter.acquired == 50


def test_rate_limiter_is_thread_safe_and_a_context_manager():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)

    def worker():
        for _ in range(10):
            with limiter:
                pass

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=5)
    assert limiter.acquired == 60
    # 60 acquisitions at 4/s need at least 59 intervals of 0.25 s
    assert clock() >= 59 / 4 - 1e-6


def test_rate_limiter_burst_then_spacing_and_real_clock():
    clock = FakeClock()
    limiter = RateLimiter(2, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert limiter.wait() == 0.0  # the burst is free
    assert limiter.wait() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        RateLimiter(0)
    real = RateLimiter(500)  # real clock: 20 acquisitions take >= 19 * 2 ms
    t0 = __import__("time").monotonic()
    for _ in range(20):
        real.wait()
    assert __import__("time").monotonic() - t0 >= 19 / 500 - 1e-3


# --------------------------------------------------------------------------------------------- known_at


def test_known_at_follows_the_close():
    assert ep.known_at_for(dt.datetime(2022, 12, 13, 10, 0)) == dt.date(2022, 12, 13)
    assert ep.known_at_for(dt.datetime(2022, 12, 13, 16, 30)) == dt.date(2022, 12, 14)
    assert ep.known_at_for(dt.datetime(2022, 12, 17, 9, 0)) == dt.date(2022, 12, 19)  # Saturday
    assert ep.known_at_for(None, "2025-01-22") == dt.date(2025, 1, 23)  # no time: after the close
    assert ep.known_at_for("20231114093854") == dt.date(2023, 11, 14)


# --------------------------------------------------------------------------------------------- Form 4


def test_form4_snowflake_cfo_exercise_and_sales():
    df = ep.parse_form4(_read("form4/form4.snow.xml"), dt.datetime(2022, 12, 15, 17, 5), accession_no="X-1")
    assert_conforms(df, schemas.INSIDER_TRANSACTIONS)
    assert df["code"].to_list() == ["M", "S", "S", "S", "S", "S"]
    assert df["line"].to_list() == [1, 2, 3, 4, 5, 6]
    assert df["shares"].to_list() == [200000, 73170, 74907, 41986, 5496, 4441]
    assert df["price"].to_list() == pytest.approx([8.88, 150.841, 151.814, 152.655, 153.872, 154.76])
    assert df["shares_owned_after"].to_list() == [301097, 227927, 153020, 111034, 105538, 101097]
    assert df["acquired_disposed"].to_list() == ["A", "D", "D", "D", "D", "D"]
    assert df["value"][1] == pytest.approx(73170 * 150.841)
    row = df.row(0, named=True)
    assert row["ticker"] == "SNOW" and row["insider_name"] == "Scarpelli Michael" and row["insider_cik"] == 1402349
    assert row["insider_title"] == "Chief Financial Officer" and row["is_officer"] and not row["is_director"]
    assert row["transaction_date"] == dt.date(2022, 12, 13)
    assert row["known_at"] == dt.date(2022, 12, 16)  # accepted Thursday after the close
    assert not df["is_ceo_cfo_buy"].any()  # exercises and sales, no open-market buy


def test_form4_ceo_cfo_buy_flag():
    xml = _read("form4/form4.snow.xml")
    as_buy = xml.replace("<transactionCode>S</transactionCode>", "<transactionCode>P</transactionCode>", 1)
    df = ep.parse_form4(as_buy, dt.datetime(2022, 12, 15, 12, 0))
    assert df["code"].to_list()[:2] == ["M", "P"]
    assert df["is_ceo_cfo_buy"].to_list() == [False, True, False, False, False, False]
    cto = as_buy.replace("Chief Financial Officer", "Chief Technology Officer")
    assert not ep.parse_form4(cto, dt.datetime(2022, 12, 15, 12, 0))["is_ceo_cfo_buy"].any()


def test_form4_award_form5_gift_form3_empty():
    award = ep.parse_form4(_read("form4/374WaterForm4.xml"), dt.datetime(2025, 5, 2, 9, 0), accession_no="A")
    expected = {
        "ticker": "SCWO", "code": "A", "shares": 757756.0, "price": 0.0, "value": 0.0,
        "insider_name": "Melkote Rajesh Ramaswamy", "insider_title": "Chief Technology Officer",
        "is_officer": True, "transaction_date": dt.date(2025, 4, 30),
    }
    row = award.row(0, named=True)
    assert {k: row[k] for k in expected} == expected
    gift = ep.parse_form4(_read("form4/form5.snow.xml"), dt.date(2022, 2, 10), accession_no="G")
    assert gift["code"].to_list() == ["G"] and gift["shares"].to_list() == [61386.0]
    assert gift["insider_name"][0] == "McMahon John Dennis" and gift["is_director"][0]
    assert_conforms(gift, schemas.INSIDER_TRANSACTIONS)
    holdings_only = ep.parse_form4(_read("form4/form3.snow.xml"), dt.date(2020, 9, 15), accession_no="H")
    assert holdings_only.height == 0 and holdings_only.schema == schemas.INSIDER_TRANSACTIONS.polars_schema


# --------------------------------------------------------------------------------------------- 13-F


def test_13f_infotable_rows_values_and_mapping():
    xml = _read("13f/13F-HR.infotable.xml")
    assert xml.startswith("\n")  # the recorded file opens with a blank line before <?xml
    from edgar.thirteenf import parse_infotable_xml

    assert len(parse_infotable_xml(xml.strip())) == 255
    df = ep.parse_13f_infotable(xml, "Test Fund", 42, "2023-03-31", "ACC-1", dt.date(2023, 5, 1))
    assert_conforms(df, schemas.INSTITUTIONAL_HOLDINGS)
    assert df.height == 252  # 3 principal-amount (bond) rows dropped
    aapl = df.filter(pl.col("ticker") == "AAPL").row(0, named=True)
    assert (aapl["cusip"], aapl["shares"], aapl["value_usd"]) == ("037833100", 58228.0, 8239330.0)
    mmm = df.filter(pl.col("ticker") == "MMM").row(0, named=True)
    assert (mmm["shares"], mmm["value_usd"]) == (2334.0, 409469.0)
    assert df["prior_shares"].null_count() == df.height  # changes are computed separately
    mapped = ep.parse_13f_infotable(xml, "F", 42, "2023-03-31", "A", dt.date(2023, 5, 1),
                                    cusip_to_ticker={"037833100": "APPLE.X"}, value_unit="thousands")
    assert mapped.filter(pl.col("ticker") == "APPLE.X")["value_usd"].to_list() == [8239330.0 * 1000]


def test_13f_full_submissions():
    txt = ep.parse_13f_submission(EDGAR / "13f/13F.0001894188-23-000007.txt", "LTS One")
    assert_conforms(txt, schemas.INSTITUTIONAL_HOLDINGS)
    assert txt.height == 14 and txt["fund_cik"].unique().to_list() == [1894188]
    amzn = txt.filter(pl.col("ticker") == "AMZN").row(0, named=True)
    assert (amzn["shares"], amzn["value_usd"]) == (137500.0, 17479000.0)
    assert amzn["report_period"] == dt.date(2023, 9, 30)
    assert amzn["known_at"] == dt.date(2023, 11, 14)  # ACCEPTANCE-DATETIME 2023-11-14 09:38:54
    nc = ep.parse_13f_submission(EDGAR / "13f/0001951757-25-000093.nc", "Acorn Creek")
    assert nc.height == 77 and nc["known_at"].unique().to_list() == [dt.date(2025, 1, 23)]
    brk = ep.restrict_holdings(nc, ["BRK.B", "MSFT"])
    assert sorted(brk["ticker"].to_list()) == ["BRK.B", "MSFT"]
    assert brk.filter(pl.col("ticker") == "BRK.B").select("shares", "value_usd").row(0) == (1781.0, 807263.0)


def test_position_changes_against_prior_filing():
    prior = ep.parse_13f_submission(EDGAR / "13f/13F.0001894188-23-000007.txt", "F", 7)
    current = ep.parse_13f_submission(EDGAR / "13f/0001951757-25-000093.nc", "F", 7)
    out = ep.add_position_changes(current, prior).sort("ticker")
    assert_conforms(out, schemas.INSTITUTIONAL_HOLDINGS)
    amzn = out.filter(pl.col("ticker") == "AMZN").row(0, named=True)
    assert (amzn["shares"], amzn["prior_shares"], amzn["change_shares"], amzn["is_new_position"]) == (
        8854.0, 137500.0, 8854.0 - 137500.0, False)
    aapl = out.filter(pl.col("ticker") == "AAPL").row(0, named=True)
    assert aapl["prior_shares"] == 0.0 and aapl["is_new_position"] and aapl["change_shares"] == aapl["shares"]
    csx = out.filter(pl.col("ticker") == "CSX").row(0, named=True)  # held before, absent now: an exit row
    assert (csx["shares"], csx["prior_shares"], csx["change_shares"]) == (0.0, 600000.0, -600000.0)
    assert csx["report_period"] == dt.date(2024, 12, 31)
    assert out.height == 77 + 11  # 14 prior names, 3 still held
    first = ep.add_position_changes(current, None)  # no prior filing: unknown prior, no change, not new
    assert first["prior_shares"].null_count() == first.height
    assert first["change_shares"].to_list() == [0.0] * first.height and not first["is_new_position"].any()


# --------------------------------------------------------------------------------------------- XBRL


@pytest.fixture(scope="module")
def aapl_xbrl():
    from edgar.xbrl import XBRL

    return XBRL.from_directory(EDGAR / "xbrl/aapl_10k_2023")


@pytest.fixture(scope="module")
def msft_xbrl():
    from edgar.xbrl import XBRL

    return XBRL.from_directory(EDGAR / "xbrl/msft_10k_2015")


def test_fundamentals_apple_fy2023(aapl_xbrl):
    df = ep.fundamentals_from_xbrl(aapl_xbrl, "AAPL", accession_no="0000320193-23-000106", known_at=dt.date(2023, 11, 3))
    assert_conforms(df, schemas.FUNDAMENTALS_RAW)
    r = df.row(0, named=True)
    assert (r["period_end"], r["fiscal_year"], r["fiscal_period"], r["period_type"], r["form"]) == (
        dt.date(2023, 9, 30), 2023, "FY", "annual", "10-K")
    expected_m = {  # Apple's FY2023 10-K, USD millions (edgar/financials/apple_*.csv)
        "revenue": 383285, "cost_of_revenue": 214137, "gross_profit": 169148, "operating_income": 114301,
        "net_income": 96995, "income_tax": 16741, "depreciation": 11519, "interest_expense": 3933,
        "total_assets": 352583, "current_assets": 143566, "cash": 29965, "receivables": 29508,
        "inventory": 6331, "total_liabilities": 290437, "current_liabilities": 145308,
        "long_term_debt": 95281, "short_term_debt": 9822 + 5985, "retained_earnings": -214,
        "total_equity": 62146, "operating_cash_flow": 110543, "capex": 10959, "free_cash_flow": 110543 - 10959,
        "dividends_paid": 15025, "share_repurchases": 77550, "ebit": 113736 + 3933, "ebitda": 113736 + 3933 + 11519,
    }
    for item, value in expected_m.items():
        assert r[item] == pytest.approx(value * M), item
    assert r["eps_diluted"] == pytest.approx(6.13)
    assert r["shares_outstanding"] == pytest.approx(15_550_061_000)
    assert all(r[i] is not None for i in schemas.FUNDAMENTAL_ITEMS)


def test_fundamentals_microsoft_fy2015_uses_fallback_concepts(msft_xbrl):
    r = ep.fundamentals_from_xbrl(msft_xbrl, "MSFT").row(0, named=True)
    assert (r["period_end"], r["fiscal_year"]) == (dt.date(2015, 6, 30), 2015)
    assert r["revenue"] == pytest.approx(93580 * M)  # SalesRevenueNet
    assert r["net_income"] == pytest.approx(12193 * M)
    assert r["operating_cash_flow"] == pytest.approx(29080 * M)  # ...ContinuingOperations
    assert r["dividends_paid"] == pytest.approx(9882 * M)  # PaymentsOfDividendsCommonStock
    assert r["short_term_debt"] == pytest.approx((2499 + 4985) * M)  # current LTD + short-term borrowings
    assert r["eps_diluted"] == pytest.approx(1.48)  # the annual figure, not Q4's -0.40


def test_quarterize_turns_ytd_cash_flow_into_the_quarter():
    q1 = ep.XbrlValues(dt.date(2024, 3, 31), 2024, "Q1", "quarterly", "10-Q",
                       items={"operating_cash_flow": 100.0, "capex": 10.0}, ytd={"operating_cash_flow": 100.0, "capex": 10.0},
                       ytd_start=dt.date(2024, 1, 1))
    q2 = ep.XbrlValues(dt.date(2024, 6, 30), 2024, "Q2", "quarterly", "10-Q",
                       items={"operating_cash_flow": None, "capex": None, "revenue": 50.0},
                       ytd={"operating_cash_flow": 260.0, "capex": 25.0}, ytd_start=dt.date(2024, 1, 1))
    filled = ep.quarterize(q2, q1)
    assert (filled.items["operating_cash_flow"], filled.items["capex"], filled.items["revenue"]) == (160.0, 15.0, 50.0)
    other_year = ep.XbrlValues(dt.date(2023, 12, 31), 2023, "Q4", "quarterly", "10-Q", ytd_start=dt.date(2023, 1, 1))
    assert ep.quarterize(q2, other_year).items["operating_cash_flow"] is None


# --------------------------------------------------------------------------------------------- Item 1A


def test_item_1a_from_the_10k_html_and_markdown():
    html = ep.extract_item_1a(_read("10k/aapl-10-k-2024-11-01.html"))
    assert html.startswith("Item 1A.") and "Risk Factors" in html[:40]
    assert len(html) > 50_000
    assert "The Company’s business, reputation, results of operations" in html[:1000]
    assert "Unresolved Staff Comments" not in html
    md = ep.extract_item_1a(_read("10k/Apple.10-K.md"))  # heading fallback (no HTML parser for Markdown)
    assert md.startswith("Item 1A.") and len(md) > 50_000
    assert "Item 1B" not in md and md.rstrip().endswith("investor confidence and employee retention.")
    assert ep.extract_item_1a("") == "" and ep.extract_item_1a("no such section") == ""


# --------------------------------------------------------------------------------------------- provider


def _sgml_stub(accepted: dt.datetime | None, *, xml: str | None = None, html: str | None = None, acc="", filed=None):
    return SimpleNamespace(
        header=SimpleNamespace(acceptance_datetime=accepted), xml=lambda: xml, html=lambda: html,
        accession_number=acc, filing_date=filed,
    )


class FakeClient:
    """Stands in for EdgarClient: serves recorded documents, counts calls, never opens a socket."""

    def __init__(self, ciks=None, refs=None, submissions=None, xbrls=None, fail_filings=None):
        self.ciks, self.refs = ciks or {}, refs or {}
        self.submissions, self.xbrls = submissions or {}, xbrls or {}
        self.fail_filings = fail_filings
        self.ready = 0
        self.fetched: list[str] = []

    def ensure_ready(self):
        self.ready += 1

    def cik_for(self, ticker):
        if ticker not in self.ciks:
            raise LookupError(f"no SEC CIK known for ticker {ticker!r}")
        return self.ciks[ticker]

    def filings(self, cik, forms, start, end):
        if self.fail_filings is not None:
            raise self.fail_filings
        return [r for r in self.refs.get(cik, []) if r.form in forms and start <= r.filing_date <= end]

    def submission(self, ref):
        self.fetched.append(ref.accession_no)
        return self.submissions[ref.accession_no]

    def xbrl(self, ref):
        self.fetched.append(ref.accession_no)
        return self.xbrls[ref.accession_no]


def _ref(cik, form, acc, filed, accepted=None, report=None, items=None, doc=None):
    return FilingRef(cik=cik, form=form, accession_no=acc, filing_date=filed, report_date=report,
                     accepted_at=accepted, items=items, primary_document=doc)


def test_provider_fundamentals_and_per_ticker_errors(aapl_xbrl):
    acc = "0000320193-23-000106"
    client = FakeClient(
        ciks={"AAPL": 320193, "BROKEN": 1},
        refs={320193: [_ref(320193, "10-K", acc, dt.date(2023, 11, 3), dt.datetime(2023, 11, 3, 18, 4))],
              1: [_ref(1, "10-K", "BAD-1", dt.date(2023, 11, 3), dt.datetime(2023, 11, 3, 9, 0))]},
        # the header's (stand-in) time wins over the JSON time: accepted before the close -> same session
        submissions={acc: _sgml_stub(dt.datetime(2023, 11, 3, 10, 0))},
        xbrls={acc: aapl_xbrl},
    )
    client.xbrls["BAD-1"] = None  # a filing without XBRL
    provider = EdgarProvider(SecConfig(), client=client)
    res = provider.fundamentals(["AAPL", "NOPE", "BROKEN"], dt.date(2023, 11, 1), dt.date(2023, 11, 10))
    assert client.ready == 1
    assert_conforms(res.frame, schemas.FUNDAMENTALS_RAW)
    assert res.frame["ticker"].to_list() == ["AAPL"]
    row = res.frame.row(0, named=True)
    assert row["revenue"] == pytest.approx(383285 * M) and row["known_at"] == dt.date(2023, 11, 3)
    assert row["accession_no"] == acc and row["form"] == "10-K"
    by_ticker = {e.ticker: e.message for e in res.errors}
    assert set(by_ticker) == {"NOPE", "BROKEN"} and all(isinstance(e, FetchError) for e in res.errors)
    assert "no SEC CIK" in by_ticker["NOPE"] and "BAD-1" in by_ticker["BROKEN"]
    # a window that ends before the filing is known returns nothing
    assert provider.fundamentals(["AAPL"], dt.date(2023, 10, 1), dt.date(2023, 11, 2)).frame.height == 0


def test_provider_sec_filings_with_risk_factors():
    k10, k8, f4 = "0000320193-24-000123", "0000320193-24-000120", "0000320193-24-000099"
    refs = [
        _ref(320193, "4", f4, dt.date(2024, 10, 28), dt.datetime(2024, 10, 28, 18, 30)),
        _ref(320193, "8-K", k8, dt.date(2024, 10, 31), dt.datetime(2024, 10, 31, 16, 30), dt.date(2024, 10, 31), "2.02,9.01", "a8-k.htm"),
        _ref(320193, "10-K", k10, dt.date(2024, 11, 1), dt.datetime(2024, 11, 1, 6, 1), dt.date(2024, 9, 28), None, "aapl-20240928.htm"),
    ]
    client = FakeClient(ciks={"AAPL": 320193}, refs={320193: refs},
                        submissions={k10: _sgml_stub(dt.datetime(2024, 11, 1, 6, 1), html=_read("10k/aapl-10-k-2024-11-01.html"))})
    res = EdgarProvider(SecConfig(), client=client).sec_filings(["AAPL"], dt.date(2024, 10, 29), dt.date(2024, 11, 1), ["10-K", "8-K", "4"])
    assert not res.errors
    assert_conforms(res.frame, schemas.SEC_FILINGS)
    got = {r["form"]: r for r in res.frame.iter_rows(named=True)}
    assert set(got) == {"10-K", "8-K", "4"}
    assert got["8-K"]["items"] == "2.02,9.01" and got["8-K"]["known_at"] == dt.date(2024, 11, 1)
    assert got["8-K"]["url"] == "https://www.sec.gov/Archives/edgar/data/320193/000032019324000120/a8-k.htm"
    assert got["4"]["known_at"] == dt.date(2024, 10, 29)
    tenk = got["10-K"]
    assert tenk["known_at"] == dt.date(2024, 11, 1) and tenk["period_of_report"] == dt.date(2024, 9, 28)
    assert tenk["risk_factors"].startswith("Item 1A.") and len(tenk["risk_factors"]) > 50_000
    assert got["8-K"]["risk_factors"] is None and client.fetched == [k10]  # only the 10-K is downloaded


def test_provider_insider_transactions_from_submissions():
    acc = "0001402349-22-000010"
    stub = _sgml_stub(dt.datetime(2022, 12, 15, 17, 5), xml=_read("form4/form4.snow.xml"), acc=acc, filed="2022-12-15")
    client = FakeClient(ciks={"SNOW": 1640147},
                        refs={1640147: [_ref(1640147, "4", acc, dt.date(2022, 12, 15), dt.datetime(2022, 12, 15, 17, 5))]},
                        submissions={acc: stub})
    provider = EdgarProvider(SecConfig(), client=client)
    res = provider.insider_transactions(["SNOW"], dt.date(2022, 12, 16), dt.date(2022, 12, 16))
    assert_conforms(res.frame, schemas.INSIDER_TRANSACTIONS)
    assert res.frame.height == 6 and set(res.frame["accession_no"]) == {acc}
    assert res.frame["known_at"].unique().to_list() == [dt.date(2022, 12, 16)]
    assert provider.insider_transactions(["SNOW"], dt.date(2022, 12, 19), dt.date(2022, 12, 30)).frame.height == 0


def test_provider_institutional_holdings_with_prior_quarter():
    from edgar.sgml import FilingSGML

    old, new = "0001894188-23-000007", "0001951757-25-000093"
    fund = ("Test Fund", 1894188)
    refs = [_ref(1894188, "13F-HR", old, dt.date(2023, 11, 14), dt.datetime(2023, 11, 14, 9, 38), dt.date(2023, 9, 30)),
            _ref(1894188, "13F-HR", new, dt.date(2025, 1, 22), dt.datetime(2025, 1, 22, 12, 0), dt.date(2024, 12, 31))]
    client = FakeClient(refs={1894188: refs}, submissions={
        old: FilingSGML.from_source(EDGAR / "13f/13F.0001894188-23-000007.txt"),
        new: FilingSGML.from_source(EDGAR / "13f/0001951757-25-000093.nc")})
    provider = EdgarProvider(SecConfig(), client=client)
    universe = ["AMZN", "MSFT", "CSX", "BRK.B", "AAPL"]
    res = provider.institutional_holdings([fund], universe, dt.date(2023, 11, 1), dt.date(2025, 1, 31))
    assert not res.errors
    assert_conforms(res.frame, schemas.INSTITUTIONAL_HOLDINGS)
    f = res.frame.sort("report_period", "ticker")
    q3 = f.filter(pl.col("report_period") == dt.date(2023, 9, 30))
    assert q3["ticker"].to_list() == ["AMZN", "CSX", "MSFT"]  # first filing in view: no prior
    assert q3["prior_shares"].null_count() == 3 and not q3["is_new_position"].any()
    q4 = {r["ticker"]: r for r in f.filter(pl.col("report_period") == dt.date(2024, 12, 31)).iter_rows(named=True)}
    assert set(q4) == {"AAPL", "AMZN", "BRK.B", "CSX", "MSFT"}
    assert q4["BRK.B"]["is_new_position"] and q4["BRK.B"]["shares"] == 1781.0
    assert q4["MSFT"]["prior_shares"] == 65000.0 and q4["MSFT"]["change_shares"] == 6752.0 - 65000.0
    assert q4["CSX"]["shares"] == 0.0 and q4["CSX"]["change_shares"] == -600000.0
    assert all(r["fund_cik"] == 1894188 and r["known_at"] == dt.date(2025, 1, 23) for r in q4.values())


def test_provider_network_failure_is_provider_unavailable():
    client = FakeClient(ciks={"AAPL": 320193}, fail_filings=httpx.ConnectError("[Errno -3] Temporary failure in name resolution"))
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        EdgarProvider(SecConfig(), client=client).insider_transactions(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    with pytest.raises(ProviderUnsupported):
        EdgarProvider(SecConfig(), client=client).daily_prices(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 2))


def test_missing_contact_email_is_provider_unavailable(monkeypatch, tmp_path):
    monkeypatch.delenv("SEC_USER_AGENT_EMAIL", raising=False)
    provider = EdgarProvider(sec=SecConfig(), cache_dir=tmp_path)  # constructing needs nothing
    with pytest.raises(ProviderUnavailable, match="SEC_USER_AGENT_EMAIL"):
        provider.fundamentals(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 2))


def test_identity_and_shared_rate_limiter_are_installed_in_edgartools(monkeypatch, tmp_path):
    from edgar import httpclient

    mgr = httpclient.HTTP_MGR
    for attr in ("rate_limiter", "cache_dir", "_client"):
        monkeypatch.setattr(mgr, attr, getattr(mgr, attr))
    monkeypatch.setenv("EDGAR_IDENTITY", "placeholder restored@example.com")
    monkeypatch.setenv("SEC_USER_AGENT_EMAIL", "research@example.com")
    clock = FakeClock()
    limiter = RateLimiter(8, clock=clock, sleep=clock.sleep)
    client = EdgarClient(limiter, cache_dir=tmp_path / "edgar")
    client.ensure_ready()
    import edgar

    assert "research@example.com" in edgar.get_identity()
    assert mgr.rate_limiter.limiter is limiter and mgr.cache_dir == tmp_path / "edgar"
    # the transport edgartools builds for a request (no request is sent) waits on our limiter
    transport = mgr._get_transport(bypass_cache=True, httpx_transport_params={"http2": False, "proxy": None, "verify": True})
    transport.limiter.try_acquire("x")
    transport.limiter.try_acquire("x")
    assert limiter.acquired == 2 and clock() == pytest.approx(1 / 8)
    install_rate_limiter(limiter, tmp_path / "edgar")  # idempotent
    assert mgr.rate_limiter.limiter is limiter
