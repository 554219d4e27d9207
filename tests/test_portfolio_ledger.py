"""The simulated book replayed from the ledger (hand-checked), and the risk-state document."""

import datetime as dt

import polars as pl
import pytest

from meridian_assets.risk.settings import RiskConfig
from meridian_assets.portfolio.ledger import replay
from meridian_assets.risk.halt_lock import HaltLock, HaltRecord
from meridian_assets.risk.state import BREAKER_LOG_SIZE, RiskInputs, build_risk_state

D = [dt.date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9)]


def ledger(rows):
    return pl.DataFrame(rows, schema={"rebalance_id": pl.Utf8, "date": pl.Date, "ticker": pl.Utf8,
                                      "sector": pl.Utf8, "action": pl.Utf8, "shares": pl.Int64,
                                      "price": pl.Float64, "score": pl.Float64}, orient="row")


def prices(rows):
    return pl.DataFrame(rows, schema={"date": pl.Date, "ticker": pl.Utf8, "close": pl.Float64}, orient="row")


def actions(rows=()):
    return pl.DataFrame(list(rows), schema={"date": pl.Date, "ticker": pl.Utf8, "action": pl.Utf8,
                                            "ratio": pl.Float64, "new_ticker": pl.Utf8}, orient="row")


def test_long_and_short_marked_to_market():
    led = ledger([("r1", D[0], "AAA", "Energy", "BUY", 100, 10.0, 90.0),
                  ("r1", D[0], "BBB", "Energy", "SHORT", 50, 20.0, 10.0)])
    px = prices([(D[0], "AAA", 10.0), (D[0], "BBB", 20.0), (D[1], "AAA", 12.0), (D[1], "BBB", 18.0)])
    r = replay(led, px, actions(), 10_000.0, D[1])
    h = r.history
    assert h["nav"].to_list() == pytest.approx([10_000.0, 10_000.0 + 200 + 100])
    assert h["cash"][0] == pytest.approx(10_000 - 1000 + 1000)
    assert h["gross"][0] == pytest.approx(0.2) and h["net"][0] == pytest.approx(0.0)
    assert h["daily_return"][1] == pytest.approx(0.03)
    pos = {row["ticker"]: row for row in r.positions.iter_rows(named=True)}
    assert pos["AAA"]["shares"] == 100 and pos["BBB"]["shares"] == -50 and pos["BBB"]["side"] == "SHORT"
    assert pos["BBB"]["market_value"] == pytest.approx(-900)


def test_average_cost_entry_date_and_close_out():
    led = ledger([("r1", D[0], "AAA", None, "BUY", 100, 10.0, 80.0),
                  ("r2", D[1], "AAA", None, "BUY", 100, 20.0, 85.0),
                  ("r3", D[2], "AAA", None, "SELL", 50, 30.0, 70.0),
                  ("r4", D[3], "AAA", None, "SELL", 150, 30.0, 60.0)])
    px = prices([(d, "AAA", 30.0) for d in D[:4]])
    r = replay(led, px, actions(), 10_000.0, D[2])
    p = r.positions.row(0, named=True)
    assert p["shares"] == 150 and p["avg_cost"] == pytest.approx(15.0) and p["entry_date"] == D[0]
    assert p["entry_score"] == 80.0
    closed = replay(led, px, actions(), 10_000.0, D[3])
    assert closed.positions.is_empty()
    assert closed.history["nav"][-1] == pytest.approx(10_000 + 200 * 30 - 1000 - 2000)


def test_split_ticker_change_dividend_and_delisting():
    led = ledger([("r1", D[0], "AAA", None, "BUY", 101, 100.0, 90.0),
                  ("r1", D[0], "OLD", None, "BUY", 10, 50.0, 90.0),
                  ("r1", D[0], "GONE", None, "SHORT", 20, 30.0, 10.0)])
    px = prices([(D[0], "AAA", 100.0), (D[0], "OLD", 50.0), (D[0], "GONE", 30.0),
                 (D[1], "AAA", 50.0), (D[1], "OLD", 50.0), (D[1], "GONE", 25.0),
                 (D[2], "AAA", 50.0), (D[2], "NEW", 55.0),
                 (D[3], "AAA", 50.0), (D[3], "NEW", 55.0)])
    ca = actions([(D[1], "AAA", "split", 2.5, None), (D[2], "OLD", "ticker_change", None, "NEW"),
                  (D[2], "GONE", "delisting", None, None), (D[3], "AAA", "dividend", 1.0, None)])
    r = replay(led, px, ca, 100_000.0, D[3])
    pos = {row["ticker"]: row for row in r.positions.iter_rows(named=True)}
    assert pos["AAA"]["shares"] == 252 and pos["AAA"]["avg_cost"] == pytest.approx(40.0)  # 252.5 -> 252 + cash
    assert "OLD" not in pos and pos["NEW"]["shares"] == 10 and pos["NEW"]["avg_cost"] == 50.0
    assert "GONE" not in pos
    nav = r.history["nav"].to_list()
    # split day: 252 shares at the new close plus the half share in cash; the short gained 5 x 20
    assert nav[1] == pytest.approx(nav[0] + (252 * 50 + 0.5 * 50 - 101 * 100) + 100)
    # delisting closes the short at its last close (25) -> +100 realised; the dividend pays 252 x $1
    assert nav[3] == pytest.approx(100_000 + 252 * 50 + 0.5 * 50 - 101 * 100 + 10 * 5 + 100 + 252)
    assert any("split" in e for e in r.events) and any("renamed NEW" in e for e in r.events)
    assert any("delisted" in e for e in r.events)


def test_risk_state_kill_switch_halt_and_breaker_log():
    nav = [100.0, 99.0, 97.0, 95.0, 93.0, 92.5, 91.5]
    hist = pl.DataFrame({"date": [dt.date(2024, 1, i + 1) for i in range(7)], "nav": nav, "beta": [0.1] * 7})
    pos = pl.DataFrame({"ticker": ["A", "B"], "sector": ["Energy", "Utilities"], "shares": [10, -5],
                        "avg_cost": [5.0, 2.0], "last_price": [4.0, 2.2], "market_value": [40.0, -11.0]})
    old_log = tuple({"as_of": f"2023-12-{i:02d}", "trigger": "x"} for i in range(1, 31)) * 2
    doc, report = build_risk_state(RiskInputs(dt.date(2024, 1, 7), hist, pos, previous_log=old_log), RiskConfig())
    assert "KILL_SWITCH" in doc["breakers"]["actions"] and doc["trading_state"] == "HALTED"
    assert doc["drawdown"] == pytest.approx(0.085) and report.persistent_halt
    assert doc["breakers"]["force_close"] == ["A"]  # A lost $10 = 10.9% of NAV 91.5; B is up
    assert len(doc["breaker_log"]) == BREAKER_LOG_SIZE and doc["breaker_log"][-1]["as_of"] == "2024-01-07"
    assert doc["exposures"]["gross"] == pytest.approx(51 / 91.5) and doc["exposures"]["beta"] == 0.1
    calm = hist.with_columns(nav=pl.Series([100.0] * 7))
    lock = HaltRecord("KILL_SWITCH on 2024-01-05", "2024-01-05T21:00:00+00:00")
    doc2, _ = build_risk_state(RiskInputs(dt.date(2024, 1, 7), calm, pos, halt=lock), RiskConfig())
    assert doc2["trading_state"] == "HALTED" and doc2["halted"] and doc2["alerts"][0].startswith("HALTED")
    assert doc2["breakers"]["actions"] == ["FORCE_CLOSE"] and doc2["breakers"]["force_close"] == ["A"]


def test_day_scoped_lock_expires_and_persistent_does_not(tmp_path):
    lock = HaltLock(tmp_path / "risk_halt.lock")
    lock.write("CLOSE_ALL_TODAY", {"daily_loss": 0.03}, expires_on=dt.date(2024, 1, 5))
    assert lock.is_halted(dt.date(2024, 1, 5)) and not lock.is_halted(dt.date(2024, 1, 8))
    assert lock.read().expires_on == "2024-01-05"
    lock.write("KILL_SWITCH")
    assert lock.is_halted(dt.date(2030, 1, 1)) and lock.read().expires_on is None


def test_broker_fills_join_the_ledger_the_book_replays(tmp_path):
    import duckdb

    from meridian_assets.config import MeridianConfig
    from meridian_assets.execution.schemas import EXECUTION_FILLS
    from meridian_assets.ingest.schemas import DAILY_PRICES, UNIVERSE
    from meridian_assets.portfolio.inputs import ledger_until, replay_book
    from meridian_assets.storage import replace_all

    conn = duckdb.connect(str(tmp_path / "m.duckdb"))
    replace_all(conn, UNIVERSE, pl.DataFrame({"ticker": ["AAA"], "sector": ["Energy"], "is_benchmark": [False],
                                              "asset_type": ["stock"], "start_date": [D[0]]}))
    replace_all(conn, DAILY_PRICES, pl.DataFrame({"date": D[:3], "ticker": ["AAA"] * 3, "close": [10.0, 11.0, 12.0],
                                                  "adj_close": [10.0, 11.0, 12.0]}))
    stamp = [dt.datetime(2024, 1, 2, 15, 0), dt.datetime(2024, 1, 3, 15, 0), dt.datetime(2024, 1, 3, 15, 5)]
    replace_all(conn, EXECUTION_FILLS, pl.DataFrame({
        "rebalance_id": ["rb1"] * 3, "client_order_id": ["a", "b", "c"], "ticker": ["AAA"] * 3,
        "action": ["BUY", "BUY", "BUY"], "shares": [100, 50, 0], "fill_price": [10.0, 11.0, None],
        "status": ["FILLED", "PARTIAL", "CANCELLED"], "finished_at": stamp}))
    led = ledger_until(conn, D[2])
    assert led.height == 2 and led["sector"].to_list() == ["Energy", "Energy"]
    book = replay_book(conn, D[2], MeridianConfig())
    assert book.positions["shares"].to_list() == [150]
    assert book.history["nav"][-1] == pytest.approx(10_000_000 - 1000 - 550 + 150 * 12)
