"""Positions: LIFO round trips and FIFO lots from the executed ledger (by hand), splits, holdings through time,
marks of open positions and the predictive power of the entry score."""

import datetime as dt

import polars as pl
import pytest

from meridian_assets.errors import DataError
from meridian_assets.reporting import positions as pos

D1, D2, D3, D4 = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4), dt.date(2024, 1, 5)


def ledger(*trades, status="EXECUTED") -> pl.DataFrame:
    rows = [{"rebalance_id": f"rb-{i}", "date": d, "ticker": t, "sector": "Energy", "action": a, "shares": n,
             "price": p, "score": s, "status": status, "decided_at": dt.datetime.combine(d, dt.time(16, 30))}
            for i, (d, t, a, n, p, s) in enumerate(trades)]
    return pl.DataFrame(rows)


def test_lifo_closes_the_most_recent_lot_first():
    # BUY 100 @10, BUY 50 @12, SELL 80 @15: LIFO takes 50 @12 (+150) then 30 @10 (+150); 70 @10 stay open
    ex = pos.executed_ledger(ledger((D1, "X", "BUY", 100, 10.0, 80.0), (D2, "X", "BUY", 50, 12.0, 90.0),
                                    (D3, "X", "SELL", 80, 15.0, None)))
    m = pos.match_lots(ex, "lifo")
    trips = m.closed.sort("entry_date", descending=True)
    assert trips["shares"].to_list() == [50, 30] and trips["pnl"].to_list() == pytest.approx([150.0, 150.0])
    assert trips["entry_score"].to_list() == [90.0, 80.0]
    assert trips["return_pct"].to_list() == pytest.approx([0.25, 0.5])
    assert trips["holding_days"].to_list() == [1, 2]
    assert [(lot.date, lot.units) for lot in m.open_lots] == [(D1, 70.0)]


def test_fifo_closes_the_oldest_lot_first():
    ex = pos.executed_ledger(ledger((D1, "X", "BUY", 100, 10.0, 80.0), (D2, "X", "BUY", 50, 12.0, 90.0),
                                    (D3, "X", "SELL", 80, 15.0, None)))
    m = pos.match_lots(ex, "fifo")
    assert m.closed["shares"].to_list() == [80] and m.closed["pnl"].to_list() == pytest.approx([400.0])
    assert sorted((lot.date, lot.units) for lot in m.open_lots) == [(D1, 20.0), (D2, 50.0)]


def test_a_short_round_trip_earns_when_the_price_falls():
    ex = pos.executed_ledger(ledger((D1, "Y", "SHORT", 100, 20.0, 10.0), (D2, "Y", "COVER", 100, 15.0, None)))
    trip = pos.round_trips(ex).row(0, named=True)
    assert trip["side"] == "SHORT" and trip["pnl"] == pytest.approx(500.0)
    assert trip["return_pct"] == pytest.approx(0.25) and trip["price_return"] == pytest.approx(-0.25)


def test_closing_trades_on_the_same_timestamp_go_before_opening_ones():
    # a flip from long to short on one session: SELL then SHORT, whatever the row order
    ex = pos.executed_ledger(ledger((D1, "Z", "BUY", 10, 5.0, 60.0), (D2, "Z", "SHORT", 10, 6.0, 30.0),
                                    (D2, "Z", "SELL", 10, 6.0, None)))
    m = pos.match_lots(ex)
    assert m.closed["pnl"].to_list() == pytest.approx([10.0]) and m.unmatched_units == 0
    assert [(lot.side, lot.units) for lot in m.open_lots] == [(-1, 10.0)]


def test_a_split_between_entry_and_exit_is_not_a_loss():
    splits = pl.DataFrame({"date": [D2], "ticker": ["S"], "action": ["split"], "ratio": [2.0]})
    ex = pos.executed_ledger(ledger((D1, "S", "BUY", 100, 100.0, 70.0), (D3, "S", "SELL", 200, 55.0, None)), splits)
    trip = pos.round_trips(ex).row(0, named=True)
    assert trip["pnl"] == pytest.approx(200 * 55.0 - 100 * 100.0)
    assert trip["shares"] == 100 and trip["entry_price"] == pytest.approx(100.0)
    assert trip["return_pct"] == pytest.approx(0.10)
    prices = pl.DataFrame({"date": [D1, D2, D3], "ticker": ["S"] * 3, "close": [100.0, 52.0, 55.0],
                           "adj_close": [100.0, 104.0, 110.0]})
    held = pos.holdings_history(ex, prices, [D1, D2], splits)
    assert held["market_value"].to_list() == pytest.approx([100 * 100.0, 200 * 52.0])


def test_holdings_history_counts_trades_before_the_window_and_drops_flat_names():
    ex = pos.executed_ledger(ledger((D1, "A", "BUY", 10, 10.0, 60.0), (D2, "B", "SHORT", 5, 20.0, 20.0),
                                    (D3, "A", "SELL", 10, 11.0, None)))
    prices = pl.DataFrame({"date": [D2, D3, D4] * 2, "ticker": ["A"] * 3 + ["B"] * 3,
                           "close": [10.5, 11.0, 12.0, 21.0, 19.0, 18.0], "adj_close": [1.0] * 6})
    held = pos.holdings_history(ex, prices, [D2, D3, D4])
    assert held.filter(pl.col("date") == D2).sort("ticker")["market_value"].to_list() == pytest.approx([105.0, -105.0])
    assert held.filter(pl.col("date") == D4)["ticker"].to_list() == ["B"]


def test_open_positions_are_marked_at_the_latest_close():
    positions = pl.DataFrame({"ticker": ["L", "S"], "sector": ["Energy", "Utilities"], "shares": [100, -50],
                              "avg_cost": [10.0, 20.0], "entry_date": [D1, D1], "entry_score": [75.0, 20.0],
                              "last_price": [11.0, 19.0]})
    prices = pl.DataFrame({"date": [D2, D3, D2], "ticker": ["L", "L", "S"], "close": [11.0, 12.0, 18.0],
                           "adj_close": [1.0] * 3})
    marked = pos.mark_open_positions(positions, prices, D3).sort("ticker")
    assert marked["exit_price"].to_list() == [12.0, 18.0]
    assert marked["pnl"].to_list() == pytest.approx([200.0, 100.0])
    assert marked["return_pct"].to_list() == pytest.approx([0.2, 0.1])
    assert marked["side"].to_list() == ["LONG", "SHORT"]


def test_predictive_power_needs_five_points():
    frame = pl.DataFrame({"entry_score": [10.0, 30.0, 50.0, 70.0, 90.0], "price_return": [-0.1, -0.02, 0.0, 0.03, 0.2]})
    p = pos.predictive_power(frame)
    assert p.defined and p.rho == pytest.approx(1.0) and p.points == 5
    assert not pos.predictive_power(frame.head(4)).defined
    inverse = frame.with_columns(-pl.col("price_return"))
    assert pos.predictive_power(inverse).rho == pytest.approx(-1.0)


def test_impossible_ledger_rows_are_named():
    with pytest.raises(DataError, match="position_approvals 2024-01-02 X"):
        pos.executed_ledger(ledger((D1, "X", "BUY", 0, 10.0, 50.0)))
    assert pos.executed_ledger(ledger((D1, "X", "HOLD", 1, 10.0, 50.0), status="VETOED")).height == 0


def test_ticker_changes_and_delistings_follow_the_book_replay():
    actions = pl.DataFrame({"date": [D2, D3], "ticker": ["OLD", "GONE"], "action": ["ticker_change", "delisting"],
                            "ratio": [None, None], "new_ticker": ["NEW", None]})
    trades = pos.rename_tickers(ledger((D1, "OLD", "BUY", 10, 10.0, 70.0), (D1, "GONE", "SHORT", 5, 8.0, 20.0),
                                       (D3, "NEW", "SELL", 10, 12.0, None)), actions)
    assert trades["ticker"].to_list() == ["NEW", "GONE", "NEW"]
    prices = pl.DataFrame({"date": [D1, D2], "ticker": ["GONE", "GONE"], "close": [8.0, 6.0], "adj_close": [8.0, 6.0]})
    ex = pos.executed_ledger(trades, actions, prices)
    trips = pos.round_trips(ex).sort("ticker")
    # GONE delisted on D3: the short is covered at its last close (6.00, D2), before D3's trades
    assert trips["ticker"].to_list() == ["GONE", "NEW"] and trips["pnl"].to_list() == pytest.approx([10.0, 20.0])
    assert trips.filter(pl.col("ticker") == "GONE")["rebalance_id"][0] == "delisting"
    assert pos.match_lots(ex).open_lots == []
