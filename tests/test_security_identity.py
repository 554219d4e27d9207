"""One security identity across ticker changes: on the real S&P data (skipped when absent) and on a small
folder in the same layout, plus the plain functions of `ingest.identity`."""

import datetime as dt

import polars as pl
import pytest

from meridian_assets.factors.characteristics import characteristics_wide
from meridian_assets.factors.inputs import inputs_from_provider
from meridian_assets.ingest.identity import follow_identity, members_with_prices, security_ids
from meridian_assets.ingest.providers.files import FilesProvider
from tests.conftest import REALDATA

D = dt.date
PRESENT = (REALDATA / "prices" / "sp500_daily_2014_2024.parquet").is_file()
real = [pytest.mark.skipif(not PRESENT, reason=f"real data not found at {REALDATA}"), pytest.mark.realdata]


@pytest.fixture(scope="module")
def fp() -> FilesProvider:
    return FilesProvider(root=REALDATA)


# --------------------------------------------------------------------------------------------- real data
@pytest.mark.realdata
@pytest.mark.skipif(not PRESENT, reason=f"real data not found at {REALDATA}")
def test_fb_meta_is_one_continuous_price_and_score_history(fp):
    u = fp.universe(D(2024, 3, 8))
    fb = u.filter(pl.col("ticker").is_in(["FB", "META"])).sort("start_date")
    assert fb["security_id"].unique().to_list() == ["FB:2014-01-19"]
    assert fb.filter(pl.col("ticker") == "FB")["successor"].to_list()[-1] == "META"
    bars = fp.daily_prices(["FB", "META", "SPY"], D(2022, 11, 1), D(2023, 2, 28)).frame
    spy = bars.filter(pl.col("ticker") == "SPY")["date"].to_list()
    co = bars.filter(pl.col("security_id") == "FB:2014-01-19").sort("date")
    assert co["date"].to_list() == spy  # every session, no gap at the rename
    assert set(co.filter(pl.col("date") <= D(2022, 12, 23))["ticker"]) == {"FB"}
    assert set(co.filter(pl.col("date") >= D(2022, 12, 24))["ticker"]) == {"META"}
    # scored on every session of the window, momentum carried across the rename
    inputs = inputs_from_provider(fp, D(2022, 12, 1), D(2023, 1, 31))
    wide = characteristics_wide(inputs)
    scored = wide.filter(pl.col("ticker").is_in(["FB", "META"]))
    assert scored.height == len(inputs.sessions()) and scored["mom_12_1"].null_count() == 0


@pytest.mark.realdata
@pytest.mark.skipif(not PRESENT, reason=f"real data not found at {REALDATA}")
def test_sector_is_the_snapshot_sector_of_the_date(fp):
    # the 2018 GICS reshuffle moved FB from Information Technology to Communication Services
    u = fp.universe(D(2024, 3, 8)).filter(pl.col("security_id") == "FB:2014-01-19")

    def sector_on(day):
        row = u.filter((pl.col("start_date") <= day) & (pl.col("end_date").is_null() | (pl.col("end_date") >= day)))
        return row["sector"].item(), row["sector_as_of"].item()

    assert sector_on(D(2016, 6, 1))[0] == "Information Technology"
    sector, named = sector_on(D(2021, 6, 1))
    assert sector == "Communication Services" and named <= D(2021, 6, 1)


@pytest.mark.realdata
@pytest.mark.skipif(not PRESENT, reason=f"real data not found at {REALDATA}")
def test_membership_ends_at_the_last_list_naming_it(fp):
    # DISH: last listed 2023-06-08, gone from the 2023-06-20 list
    u = fp.universe(D(2023, 7, 1))
    assert u.filter(pl.col("ticker") == "DISH")["end_date"].max() == D(2023, 6, 8)


@pytest.mark.realdata
@pytest.mark.skipif(not PRESENT, reason=f"real data not found at {REALDATA}")
def test_a_reused_real_ticker_is_two_securities(fp):
    # DOW: Dow Chemical (left 2017) and Dow Inc. (joined 2019); the file's DOW bars are Dow Inc.'s only
    u = fp.universe(D(2024, 3, 8)).filter(pl.col("ticker") == "DOW")
    assert u["security_id"].n_unique() == 2
    old = fp.daily_prices(["DOW"], D(2014, 1, 1), D(2016, 12, 31))
    assert old.frame.height == 0


# --------------------------------------------------------------------------------------------- small folder
def _folder(tmp_path):
    """XYZ is Alpha Corp in 2020, then (after Alpha left) Beta Inc.'s ticker from 2021; the price file,
    keyed by today's tickers, holds Beta's XYZ bars back to 2019. OLD renamed NEW in 2021."""
    hist = tmp_path / "constituents" / "history"
    hist.mkdir(parents=True)
    head = "Symbol,Security,GICS Sector\n"
    lists = {
        "2019-06-03": ["KEEP,Keeper,Energy"],
        "2020-01-02": ["XYZ,Alpha Corp,Energy", "OLD,Old Name Co,Utilities", "KEEP,Keeper,Energy"],
        "2020-06-01": ["XYZ,Alpha Corp,Energy", "OLD,Old Name Co,Utilities", "KEEP,Keeper,Industrials"],
        "2020-07-01": ["OLD,Old Name Co,Utilities", "KEEP,Keeper,Industrials"],
        "2020-10-01": ["OLD,Old Name Co,Utilities", "KEEP,Keeper,Industrials"],
        "2021-01-04": ["XYZ,Beta Inc,Materials", "NEW,New Name Co,Utilities", "KEEP,Keeper,Industrials"],
        "2021-06-01": ["XYZ,Beta Inc,Materials", "NEW,New Name Co,Utilities", "KEEP,Keeper,Industrials"],
    }
    for day, rows in lists.items():
        (hist / f"{day}.csv").write_text(head + "\n".join(rows) + "\n")
    (tmp_path / "constituents" / "constituents.csv").write_text(
        "Symbol,Security,GICS Sector,GICS Sub-Industry,Date added,CIK\n"
        "XYZ,Beta Inc,Materials,Chem,2021-01-04,3\nNEW,New Name Co,Utilities,Power,2019-12-01,2\n"
        "KEEP,Keeper,Industrials,Mach,2019-01-01,1\n")
    days = pl.date_range(D(2019, 1, 1), D(2021, 6, 30), "1d", eager=True)
    days = days.filter(days.dt.weekday() <= 5)
    frames = [pl.DataFrame({"date": days, "ticker": t, "open": 10.0, "high": 11.0, "low": 9.0,
                            "close": pl.Series(range(days.len())).cast(pl.Float64) * 0.01 + 10.0 + k,
                            "volume": 1e6}) for k, t in enumerate(["XYZ", "NEW", "KEEP"])]
    (tmp_path / "prices").mkdir()
    pl.concat(frames).with_columns(adj_close=pl.col("close")).write_parquet(
        tmp_path / "prices" / "sp500_daily_2014_2024.parquet")
    return FilesProvider(root=tmp_path, benchmark_tickers=[])


def test_a_reused_ticker_never_lends_its_bars(tmp_path):
    fp = _folder(tmp_path)
    u = fp.universe(D(2021, 6, 30))
    xyz = u.filter(pl.col("ticker") == "XYZ").sort("start_date")
    assert xyz["security_id"].to_list() == ["XYZ:2020-01-02", "XYZ:2021-01-04"]
    bars = fp.daily_prices(["XYZ"], D(2020, 1, 1), D(2020, 12, 31)).frame
    assert set(bars["security_id"]) == {"XYZ:2021-01-04"}  # the file's XYZ is Beta's
    inputs = inputs_from_provider(fp, D(2020, 1, 2), D(2021, 6, 30), lookback_days=30)
    scored = characteristics_wide(inputs).filter(pl.col("ticker") == "XYZ")
    # Alpha (a member in the first half of 2020) is never scored with Beta's bars; Beta is scored from 2021
    assert scored["date"].min() >= D(2021, 1, 4)
    counts = members_with_prices(inputs.universe, inputs.prices, [D(2020, 3, 2), D(2021, 3, 1)])
    assert counts.rows() == [(D(2020, 3, 2), 3, 2, 1), (D(2021, 3, 1), 3, 3, 0)]


def test_a_rename_found_by_the_date_added_keeps_one_history(tmp_path):
    fp = _folder(tmp_path)
    u = fp.universe(D(2021, 6, 30))
    old = u.filter(pl.col("ticker") == "OLD")
    assert old["successor"].to_list() == ["NEW"] and old["end_date"].to_list() == [D(2021, 1, 3)]
    assert u.filter(pl.col("ticker") == "NEW")["security_id"].to_list() == ["OLD:2020-01-02"]
    bars = fp.daily_prices(["OLD", "NEW"], D(2020, 12, 28), D(2021, 1, 8)).frame.sort("date")
    assert bars["ticker"].to_list() == ["OLD"] * 5 + ["NEW"] * 5
    # KEEP's sector follows its lists: Energy in the first, Industrials from 2020-06-01
    keep = u.filter(pl.col("ticker") == "KEEP").sort("start_date")
    assert keep.select("sector", "start_date", "end_date").rows() == [
        ("Energy", D(2019, 6, 3), D(2020, 5, 31)), ("Industrials", D(2020, 6, 1), None)]


def test_security_ids_from_successor_links():
    u = pl.DataFrame({
        "ticker": ["A", "B", "A", "SPY"], "successor": ["B", None, None, None],
        "start_date": [D(2020, 1, 1), D(2021, 1, 1), D(2022, 1, 1), D(2019, 1, 1)],
        "end_date": [D(2020, 12, 31), None, None, None], "is_benchmark": [False, False, False, True],
    })
    ids = security_ids(u)["security_id"].to_list()
    assert ids == ["A:2020-01-01", "A:2020-01-01", "A:2022-01-01", "SPY"]


def test_follow_identity_drops_bars_of_another_companys_membership():
    u = pl.DataFrame({"ticker": ["X", "X"], "security_id": ["X:1", "X:2"], "is_benchmark": [False, False],
                      "start_date": [D(2020, 1, 1), D(2021, 1, 1)], "end_date": [D(2020, 6, 30), None]})
    px = pl.DataFrame({"date": [D(2020, 3, 2), D(2020, 9, 1), D(2021, 3, 1)], "ticker": ["X"] * 3,
                       "security_id": ["X:2"] * 3})
    kept = follow_identity(u, px)
    assert kept["date"].to_list() == [D(2020, 9, 1), D(2021, 3, 1)]
    # bars without an id take the id of the membership of their date
    anon = follow_identity(u, px.drop("security_id"))
    assert anon["security_id"].to_list() == ["X:1", "X", "X:2"]
