"""A book follows a company across a real ticker change (../shared/realdata): the files provider reports the
renames its constituent history implies as `corporate_actions` ticker changes, dated the day its bars change
label, so a position in PEAK is carried to DOC (Healthpeak, March 2024) and marked without a gap."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from meridian_assets.ingest.providers.files import FilesProvider
from meridian_assets.portfolio.ledger import replay
from tests.conftest import REALDATA

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (REALDATA / "prices").exists(), reason=f"real data not found at {REALDATA}"),
]

START, END = dt.date(2024, 2, 1), dt.date(2024, 3, 8)


@pytest.fixture(scope="module")
def provider():
    return FilesProvider(root=REALDATA)


def test_ticker_changes_are_dated_the_day_the_bars_change_label(provider):
    actions = provider.corporate_actions(None, dt.date(2014, 1, 2), END).frame
    renames = actions.filter(pl.col("action") == "ticker_change")
    assert {("FB", "META"), ("PEAK", "DOC")} <= set(renames.select("ticker", "new_ticker").iter_rows())
    assert (renames["known_at"] == renames["date"]).all()
    (day,) = renames.filter(pl.col("ticker") == "PEAK")["date"].to_list()
    bars = provider.daily_prices(["PEAK", "DOC"], START, END).frame
    peak, doc = bars.filter(pl.col("ticker") == "PEAK")["date"], bars.filter(pl.col("ticker") == "DOC")["date"]
    assert peak.max() < day == doc.min()  # PEAK up to the session before, DOC from that day
    assert bars["security_id"].n_unique() == 1  # one company
    # asked for other names only, the provider gives none of these rows
    assert provider.corporate_actions(["AAPL"], START, END).frame.height == 0


def test_a_position_is_carried_across_the_rename_and_marked_without_a_gap(provider):
    bars = provider.daily_prices(["PEAK", "DOC"], START, END).frame
    actions = provider.corporate_actions(["PEAK"], START, END).frame
    first = bars["date"].min()
    price = bars.filter(pl.col("date") == first)["close"].item()
    ledger = pl.DataFrame({"rebalance_id": ["rb-1"], "date": [first], "ticker": ["PEAK"], "sector": ["Real Estate"],
                           "action": ["BUY"], "shares": [1000], "price": [price], "score": [80.0]})
    book = replay(ledger, bars.select("date", "ticker", "close"), actions, 1_000_000.0, END)
    assert book.positions["ticker"].to_list() == ["DOC"] and book.positions["shares"].to_list() == [1000]
    closes = dict(bars.select("date", "close").iter_rows())
    nav = dict(book.history.select("date", "nav").iter_rows())
    for d, c in closes.items():  # every session marked at the company's close, under either ticker
        assert nav[d] == pytest.approx(1_000_000.0 - 1000 * price + 1000 * c)
    assert any("renamed DOC" in e for e in book.events)
