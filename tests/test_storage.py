"""Delete-then-insert writes: idempotent, window-scoped, atomic."""

import datetime as dt

import duckdb
import polars as pl
import pytest

from meridian_assets.ingest.schemas import DAILY_PRICES, UNIVERSE
from meridian_assets.storage import read, replace_all, replace_window, transaction

D = dt.date


def bars(dates, tickers, close=10.0):
    return pl.DataFrame(
        [{"date": d, "ticker": t, "open": close, "high": close + 1, "low": close - 1, "close": close,
          "adj_close": close, "volume": 100.0} for d in dates for t in tickers]
    )


@pytest.fixture
def conn(tmp_path):
    c = duckdb.connect(str(tmp_path / "t.duckdb"))
    yield c
    c.close()


def test_rewriting_a_window_never_duplicates(conn):
    days = [D(2024, 1, 2), D(2024, 1, 3)]
    for _ in range(3):
        replace_window(conn, DAILY_PRICES, bars(days, ["AAA", "BBB"]), days[0], days[-1])
    assert read(conn, "SELECT count(*) n FROM daily_prices")["n"][0] == 4


def test_window_replace_leaves_other_dates(conn):
    replace_window(conn, DAILY_PRICES, bars([D(2024, 1, 2)], ["AAA"], 10.0), D(2024, 1, 2), D(2024, 1, 2))
    replace_window(conn, DAILY_PRICES, bars([D(2024, 1, 3)], ["AAA"], 11.0), D(2024, 1, 3), D(2024, 1, 3))
    replace_window(conn, DAILY_PRICES, bars([D(2024, 1, 3)], ["AAA"], 12.0), D(2024, 1, 3), D(2024, 1, 3))
    got = read(conn, "SELECT date, close FROM daily_prices ORDER BY date")
    assert got["close"].to_list() == [10.0, 12.0]


def test_ticker_scoped_replace_keeps_other_tickers(conn):
    day = D(2024, 1, 2)
    replace_window(conn, DAILY_PRICES, bars([day], ["AAA", "BBB"], 10.0), day, day)
    replace_window(conn, DAILY_PRICES, bars([day], ["AAA"], 20.0), day, day, tickers=["AAA"])
    got = dict(read(conn, "SELECT ticker, close FROM daily_prices").iter_rows())
    assert got == {"AAA": 20.0, "BBB": 10.0}


def test_rows_outside_the_window_are_refused_and_nothing_is_lost(conn):
    day = D(2024, 1, 2)
    replace_window(conn, DAILY_PRICES, bars([day], ["AAA"]), day, day)
    with pytest.raises(ValueError, match=r"daily_prices: 1 rows have date outside 2024-01-02..2024-01-02"):
        replace_window(conn, DAILY_PRICES, bars([day, D(2024, 1, 3)], ["AAA"]), day, day)
    assert read(conn, "SELECT count(*) n FROM daily_prices")["n"][0] == 1


def test_failed_insert_rolls_back_the_delete(conn, monkeypatch):
    day = D(2024, 1, 2)
    replace_window(conn, DAILY_PRICES, bars([day], ["AAA"]), day, day)

    def broken_insert(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("meridian_assets.storage._insert", broken_insert)
    with pytest.raises(RuntimeError, match="disk full"):
        replace_window(conn, DAILY_PRICES, bars([day], ["AAA"], 99.0), day, day)
    assert read(conn, "SELECT close FROM daily_prices")["close"].to_list() == [10.0]


def test_replace_all(conn):
    u = pl.DataFrame([{"ticker": "AAA", "sector": "Energy", "is_benchmark": False, "asset_type": "stock",
                       "start_date": D(2020, 1, 2)}])
    replace_all(conn, UNIVERSE, u)
    replace_all(conn, UNIVERSE, u)
    assert read(conn, "SELECT count(*) n FROM universe")["n"][0] == 1


class _CommitFails:
    """A connection whose COMMIT fails as a conflicting commit does: the engine ends the transaction, then
    raises (a lake's "Transaction conflict", a full disk)."""

    def __init__(self, conn):
        self.conn = conn

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def execute(self, sql, *args):
        if sql == "COMMIT":
            self.conn.execute("ROLLBACK")
            raise duckdb.TransactionException("Transaction conflict: another transaction has deleted from it")
        return self.conn.execute(sql, *args)


def test_a_failed_commit_raises_its_own_error_and_keeps_the_previous_rows(conn):
    day = D(2024, 1, 2)
    replace_window(conn, DAILY_PRICES, bars([day], ["AAA"], 10.0), day, day)
    with pytest.raises(duckdb.TransactionException, match="Transaction conflict"):
        with transaction(_CommitFails(conn)):
            conn.execute("DELETE FROM daily_prices")
    assert read(conn, "SELECT close FROM daily_prices")["close"].to_list() == [10.0]
