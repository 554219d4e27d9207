"""The `files` provider on the real data in ../shared/realdata (skipped when it is absent), and on small
folders written to tmp_path for the generic tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from meridian_assets.calendar import sessions
from meridian_assets.config import MeridianConfig
from meridian_assets.errors import ProviderUnavailable, ProviderUnsupported
from meridian_assets.ingest.providers.base import Provider
from meridian_assets.ingest.providers.constituent_lists import GICS_SECTORS, normalize_ticker, parse_snapshot
from meridian_assets.ingest.providers.files import FilesProvider
from meridian_assets.ingest.schemas import CORPORATE_ACTIONS, DAILY_PRICES, MACRO_SERIES, UNIVERSE

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
PRESENT = (REALDATA / "prices" / "sp500_daily_2014_2024.parquet").is_file() and (
    REALDATA / "constituents" / "history"
).is_dir()
pytestmark = [pytest.mark.skipif(not PRESENT, reason=f"real data not found at {REALDATA}"), pytest.mark.realdata]

D = dt.date
PRICES = REALDATA / "prices" / "sp500_daily_2014_2024.parquet"
ETFS = REALDATA / "prices" / "etf_index_daily.parquet"


@pytest.fixture(scope="module")
def fp() -> FilesProvider:
    return FilesProvider(root=REALDATA)


@pytest.fixture(scope="module")
def latest(fp) -> pl.DataFrame:
    return fp.universe(D(2026, 12, 31))


def members_on(u: pl.DataFrame, day: dt.date) -> set[str]:
    """Stocks in the index on ``day``: start_date <= day <= end_date (end_date: the last list naming it)."""
    m = u.filter(
        ~pl.col("is_benchmark")
        & (pl.col("start_date") <= day)
        & (pl.col("end_date").is_null() | (pl.col("end_date") >= day))
    )
    return set(m["ticker"].to_list())


# --------------------------------------------------------------------------------------------- prices
def test_aapl_bars_match_the_parquet(fp):
    start, end = D(2023, 1, 3), D(2023, 3, 31)
    res = fp.daily_prices(["AAPL"], start, end)
    assert res.errors == []
    want = (
        pl.read_parquet(PRICES)
        .filter((pl.col("ticker") == "AAPL") & pl.col("date").is_between(start, end))
        .with_columns(pl.col("volume").cast(pl.Float64))
        .sort("date")
    )
    assert res.frame.height == want.height == len(sessions(start, end))  # AAPL trades every session
    assert res.frame.drop("security_id").equals(want.select([c for c in DAILY_PRICES.columns if c != "security_id"]))
    assert res.frame["security_id"].unique().to_list() == ["AAPL:2012-12-27"]


def test_exact_schema_and_window(fp):
    start, end = D(2020, 3, 2), D(2020, 3, 13)
    res = fp.daily_prices(["MSFT", "JPM", "SPY", "^VIX"], start, end)
    f = res.frame
    assert f.schema == DAILY_PRICES.polars_schema
    assert f["date"].min() == start and f["date"].max() == end  # both ends included, nothing outside
    assert f.group_by("ticker").len().sort("ticker")["len"].to_list() == [10, 10, 10, 10]
    assert f.select(pl.col(c).null_count() for c in DAILY_PRICES.not_null).sum_horizontal().item() == 0
    assert f.filter(pl.col("ticker") == "MSFT")["adj_close"].to_list() != f.filter(pl.col("ticker") == "MSFT")[
        "close"
    ].to_list()  # the stock file carries a separate adjusted close


def test_benchmarks_come_from_the_etf_file(fp):
    start, end = D(2022, 6, 1), D(2022, 6, 30)
    f = fp.daily_prices(["SPY", "^VIX", "XLK"], start, end).frame
    etf = pl.read_parquet(ETFS).filter(pl.col("date").is_between(start, end))
    for t in ("SPY", "^VIX", "XLK"):
        got = f.filter(pl.col("ticker") == t).sort("date")
        want = etf.filter(pl.col("ticker") == t).sort("date")
        assert got.height == want.height > 0
        assert got["close"].to_list() == want["close"].to_list()
        assert got["adj_close"].to_list() == got["close"].to_list()  # close is already adjusted there
    assert f.filter(pl.col("ticker") == "^VIX")["volume"].to_list() == [0.0] * 21


def test_real_gaps_zero_volume_and_big_moves_pass_through(fp):
    # ^TNX has no bar on Veterans Day 2016 (bond market shut, stocks open): the gap stays a gap
    f = fp.daily_prices(["^TNX", "SPY"], D(2016, 11, 7), D(2016, 11, 18)).frame
    assert D(2016, 11, 11) in f.filter(pl.col("ticker") == "SPY")["date"].to_list()
    assert D(2016, 11, 11) not in f.filter(pl.col("ticker") == "^TNX")["date"].to_list()
    # FERG's early history is zero-volume rows: kept, as they are
    ferg = fp.daily_prices(["FERG"], D(2014, 1, 2), D(2014, 1, 31)).frame
    assert ferg.height > 0 and (ferg["volume"] == 0.0).sum() > 0
    # PCG's -52% day in January 2019 is real and survives
    pcg = fp.daily_prices(["PCG"], D(2019, 1, 10), D(2019, 1, 15)).frame.sort("date")
    rets = (pcg["adj_close"] / pcg["adj_close"].shift(1) - 1).drop_nulls()
    assert rets.min() < -0.5


def test_unknown_and_out_of_range_tickers_are_fetch_errors(fp):
    res = fp.daily_prices(["AAPL", "NOPE", "KVUE"], D(2015, 1, 2), D(2015, 1, 9))
    assert {e.ticker for e in res.errors} == {"NOPE", "KVUE"}  # KVUE listed in 2023
    assert "NOPE" in res.errors[0].message or "NOPE" in res.errors[1].message
    assert set(res.frame["ticker"].unique().to_list()) == {"AAPL"}


def test_all_tickers_three_years(fp):
    tickers = pl.scan_parquet(PRICES).select(pl.col("ticker").unique()).collect()["ticker"].to_list()
    assert len(tickers) == 492
    res = fp.daily_prices(tickers, D(2021, 3, 8), D(2024, 3, 8))
    # Bars are shown under the ticker of their date: BNY traded as BK until 2024, so BNY has none in the window
    # and its bars are BK's (one security, two tickers); every other file ticker is served.
    assert [e.ticker for e in res.errors] == ["BNY"] and res.frame["ticker"].n_unique() == 491
    bk = fp.daily_prices(["BK"], D(2021, 3, 8), D(2024, 3, 8)).frame
    assert bk.height > 700 and bk["security_id"].unique().to_list() == ["BK:2012-12-27"]


# --------------------------------------------------------------------------------------------- universe
def test_universe_schema_and_benchmarks(fp, latest):
    assert latest.schema == UNIVERSE.polars_schema
    assert latest.select(pl.col(c).null_count() for c in UNIVERSE.not_null).sum_horizontal().item() == 0
    assert latest.select("ticker", "start_date").is_duplicated().sum() == 0  # the key is unique
    bm = latest.filter(pl.col("is_benchmark"))
    assert set(bm["ticker"].to_list()) == set(MeridianConfig().benchmarks)
    types = dict(zip(bm["ticker"].to_list(), bm["asset_type"].to_list(), strict=True))
    assert types["SPY"] == "etf" and types["XLK"] == "etf" and types["^VIX"] == "index"
    assert bm.filter(pl.col("ticker") == "XLK")["sector"].item() == "Information Technology"
    # XLC was launched in 2018: not a benchmark yet as of 2016
    assert "XLC" not in fp.universe(D(2016, 1, 1)).filter(pl.col("is_benchmark"))["ticker"].to_list()


def test_membership_is_point_in_time(fp, latest):
    # DISH left and PANW joined between the 2023-06-08 and 2023-06-20 lists
    before = fp.universe(D(2023, 6, 10))
    assert "DISH" in members_on(before, D(2023, 6, 10))
    assert before.filter(pl.col("ticker") == "DISH")["end_date"].to_list()[-1] is None
    assert "PANW" not in before["ticker"].to_list()  # the one-day premature edit of 2023-06-03 is dropped
    after = fp.universe(D(2023, 6, 20))
    # a member up to the last list naming it (2023-06-08), not up to the first list without it
    assert after.filter(pl.col("ticker") == "DISH")["end_date"].to_list()[-1] == D(2023, 6, 8)
    assert after.filter(pl.col("ticker") == "PANW")["start_date"].to_list() == [D(2023, 6, 20)]
    assert "DISH" in members_on(latest, D(2023, 6, 8)) and "DISH" not in members_on(latest, D(2023, 6, 9))
    assert "PANW" not in members_on(latest, D(2023, 6, 19)) and "PANW" in members_on(latest, D(2023, 6, 21))

    # nothing known after as_of: no later start or end, and no name first listed after it
    early = fp.universe(D(2016, 1, 1))
    stocks = early.filter(~pl.col("is_benchmark"))
    assert stocks["start_date"].max() <= D(2016, 1, 1)
    assert stocks["end_date"].drop_nulls().max() <= D(2016, 1, 1)
    first_listed = latest.filter(~pl.col("is_benchmark")).group_by("ticker").agg(pl.col("start_date").min())
    later = set(first_listed.filter(pl.col("start_date") >= D(2020, 1, 1))["ticker"].to_list())
    assert "TSLA" in later and len(later) > 20
    assert later.isdisjoint(early["ticker"].to_list())
    assert 490 <= len(members_on(early, D(2016, 1, 1))) <= 510


def test_membership_counts_stay_near_500(fp):
    for day in (D(2013, 1, 2), D(2017, 6, 1), D(2021, 6, 1), D(2024, 3, 8)):
        n = len(members_on(fp.universe(day), day))
        assert 490 <= n <= 510, (day, n)


def test_the_2012_list_parses(fp):
    path = next((REALDATA / "constituents" / "history").glob("2012-12-27_*.csv"))
    snap = parse_snapshot(path, D(2012, 12, 27))
    assert len(snap.entries) == 500 and snap.unresolved == []
    # a row with an extra unquoted field after the sector; a quoted name with a comma
    assert snap.entries["DHR"].sector == "Industrials" and snap.entries["DHR"].name == "Danaher Corp."
    assert snap.entries["AVB"].name == "AvalonBay Communities, Inc."
    assert "BRK.B" in snap.entries and "BF.B" in snap.entries
    u = fp.universe(D(2012, 12, 31))
    assert len(members_on(u, D(2012, 12, 31))) == 500
    assert u.filter(~pl.col("is_benchmark"))["start_date"].unique().to_list() == [D(2012, 12, 27)]


def test_sectors_and_ticker_convention(fp, latest):
    for day in (D(2014, 6, 2), D(2019, 6, 3), D(2024, 3, 8)):
        u = fp.universe(day)
        m = u.filter(pl.col("ticker").is_in(list(members_on(u, day))))
        assert m["sector"].is_in(list(GICS_SECTORS)).mean() >= 0.95, day
    current = latest.filter(~pl.col("is_benchmark") & pl.col("end_date").is_null())
    assert current["sub_industry"].is_not_null().mean() >= 0.95
    assert current["cik"].is_not_null().mean() >= 0.95
    assert current.filter(pl.col("ticker") == "AAPL")["cik"].item() == 320193
    # one convention: share classes after a dot, whatever the file wrote (history has BRK-B and BRK.B)
    tickers = set(latest["ticker"].to_list())
    assert {"BRK.B", "BF.B"} <= tickers and not any("-" in t for t in tickers)
    assert latest.filter(pl.col("ticker") == "BRK.B")["security_id"].n_unique() == 1  # one unbroken interval
    assert normalize_ticker(" brk-b ") == normalize_ticker("BRK/B") == "BRK.B" and normalize_ticker("^vix") == "^VIX"
    # a renamed ticker points at its successor
    assert latest.filter(pl.col("ticker") == "PKI")["successor"].to_list() == ["RVTY"]


def test_is_a_provider(fp):
    assert isinstance(fp, Provider) and fp.name == "files"


# --------------------------------------------------------------------------------------------- folders
def _bars(rows):
    return pl.DataFrame(
        rows, schema=["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"], orient="row"
    )


def test_duplicates_nulls_and_dash_tickers(tmp_path):
    d1, d2 = D(2024, 1, 2), D(2024, 1, 3)
    (tmp_path / "prices").mkdir()
    _bars(
        [
            (d1, "BRK-B", 1.0, 2.0, 0.5, 1.5, 1.4, 100),
            (d1, "BRK-B", 1.0, 2.0, 0.5, 1.5, 1.4, 100),  # exact duplicate
            (d2, "BRK-B", 1.5, 2.5, 1.0, 2.0, 1.9, 0),  # zero volume: kept
            (d2, None, 1.5, 2.5, 1.0, 2.0, 1.9, 10),  # no ticker: dropped
            (None, "BRK-B", 1.5, 2.5, 1.0, 2.0, 1.9, 10),  # no date: dropped
            (D(2024, 1, 4), "BRK-B", 9.0, 9.0, 9.0, 9.0, 9.0, 10),  # outside the window
        ]
    ).write_parquet(tmp_path / "prices" / "stocks.parquet")
    fp = FilesProvider(root=tmp_path, prices="prices/stocks.parquet", benchmarks="prices/none.parquet")
    res = fp.daily_prices(["BRK.B"], d1, d2)
    assert res.errors == []
    assert res.frame.schema == DAILY_PRICES.polars_schema
    assert res.frame["ticker"].to_list() == ["BRK.B", "BRK.B"]
    assert res.frame["volume"].to_list() == [100.0, 0.0]


def test_generic_table_is_served_and_filtered(tmp_path):
    pl.DataFrame(
        {
            "date": [D(2024, 1, 5), D(2024, 2, 5), D(2024, 3, 5)],
            "ticker": ["AAPL", "AAPL", "MSFT"],
            "action": ["dividend", "split", "dividend"],
            "ratio": [0.24, 4.0, 0.75],
            "known_at": [D(2023, 12, 1), D(2024, 1, 10), D(2024, 2, 1)],
            "note": ["extra columns are dropped"] * 3,
        }
    ).write_parquet(tmp_path / "corporate_actions.parquet")
    (tmp_path / "macro_series.csv").write_text(
        "date,series_id,value,known_at\n2024-01-02,DGS10,3.95,2024-01-03\n2024-01-03,DGS10,3.91,2024-01-04\n"
        "2024-01-02,FEDFUNDS,5.33,2024-01-03\n"
    )
    fp = FilesProvider(root=tmp_path)
    res = fp.corporate_actions(["AAPL", "MSFT"], D(2024, 1, 1), D(2024, 2, 29))
    assert res.frame.schema == CORPORATE_ACTIONS.polars_schema
    assert res.frame["date"].to_list() == [D(2024, 1, 5), D(2024, 2, 5)]  # filtered on date (the partition)
    assert fp.corporate_actions(["MSFT"], D(2024, 1, 1), D(2024, 12, 31)).frame["ratio"].to_list() == [0.75]
    macro = fp.macro_series(["DGS10"], D(2024, 1, 4), D(2024, 1, 31)).frame
    assert macro.schema == MACRO_SERIES.polars_schema
    assert macro.to_dicts() == [
        {"date": D(2024, 1, 3), "series_id": "DGS10", "value": 3.91, "known_at": D(2024, 1, 4)}
    ]  # filtered on known_at, the partition column of macro_series


def test_missing_table_is_unsupported(tmp_path):
    fp = FilesProvider(root=tmp_path)
    with pytest.raises(ProviderUnsupported, match="short_interest.parquet"):
        fp.short_interest(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))
    with pytest.raises(ProviderUnsupported, match="daily_prices"):
        fp.daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))


def test_missing_root_is_unavailable(tmp_path):
    missing = tmp_path / "no-such-folder"
    fp = FilesProvider(root=missing)  # constructing never fails: the error comes at first use
    with pytest.raises(ProviderUnavailable, match="no-such-folder"):
        fp.daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))
    with pytest.raises(ProviderUnavailable, match=str(missing)):
        fp.universe(D(2024, 1, 2))
