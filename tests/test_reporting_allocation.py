"""Allocation history: snapshots are appended once per run id and never rewritten; capital movement between
snapshots by hand, and its invariant."""

import datetime as dt

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.reporting import allocation as al

T0 = dt.datetime(2024, 3, 1, 21, 0)


@pytest.fixture
def conn():
    c = duckdb.connect(":memory:")
    yield c
    c.close()


def test_a_run_is_snapshotted_once_and_never_rewritten(conn):
    sid, new = al.append_snapshot(conn, run_id="rb-20240301-mvo-aaaa0001", method="mvo", as_of=dt.date(2024, 3, 1),
                                  position_weights={"X": 0.05, "Y": -0.03}, pnl_bps=12.5, max_drawdown_bps=-40.0,
                                  created_at=T0)
    assert new and sid == al.snapshot_id("rb-20240301-mvo-aaaa0001")
    before = al.load_snapshots(conn)
    assert before.height == 3 and before.filter(pl.col("level") == "sleeve")["name"].to_list() == ["core"]
    again = al.append_snapshot(conn, run_id="rb-20240301-mvo-aaaa0001", method="mvo", as_of=dt.date(2024, 3, 1),
                               position_weights={"X": 0.99}, pnl_bps=999.0)
    assert again == (sid, False)
    assert al.load_snapshots(conn).equals(before)  # the second call changed nothing
    al.append_snapshot(conn, run_id="rb-20240308-mvo-aaaa0002", method="mvo", as_of=dt.date(2024, 3, 8),
                       position_weights={"X": 0.02})
    after = al.load_snapshots(conn)
    assert after.height == 5 and after.filter(pl.col("run_id") == "rb-20240301-mvo-aaaa0001").equals(
        before.filter(pl.col("run_id") == "rb-20240301-mvo-aaaa0001"))


def _snapshots(*weights_by_run) -> pl.DataFrame:
    frames = [al.snapshot_frame(f"run-{i}", "mvo", dt.date(2024, 1, 1) + dt.timedelta(days=7 * i), w,
                                sleeve_weights=s, created_at=T0 + dt.timedelta(days=7 * i))
              for i, (w, s) in enumerate(weights_by_run)]
    return pl.concat(frames)


def test_capital_movement_from_the_first_to_the_last_snapshot():
    snaps = _snapshots(({"X": 0.05, "Y": -0.03}, None), ({"X": 0.01}, None), ({"X": 0.02, "Z": 0.04}, None))
    moves = al.capital_movement(snaps, n=14, top_n=12)
    pos = moves.filter(pl.col("level") == "position")
    # Z 0 -> +4% (+4%), X 5% -> 2% (-3%), Y -3% -> 0 (+3%): ordered by |delta|, then name
    assert pos["name"].to_list() == ["Z", "X", "Y"] and pos["rank"].to_list() == [1, 2, 3]
    assert pos["delta"].to_list() == pytest.approx([0.04, -0.03, 0.03])
    assert pos["weight_from"].to_list() == pytest.approx([0.0, 0.05, -0.03])
    assert moves["from_run_id"][0] == "run-0" and moves["to_run_id"][0] == "run-2" and moves["snapshots"][0] == 3
    sleeve = moves.filter(pl.col("level") == "sleeve").row(0, named=True)
    assert sleeve["name"] == "core" and sleeve["delta"] == 0.0
    # the last N snapshots only, and up to a date
    assert al.capital_movement(snaps, n=2)["from_run_id"][0] == "run-1"
    assert al.capital_movement(snaps, n=14, end=dt.date(2024, 1, 8))["to_run_id"][0] == "run-1"
    assert al.capital_movement(snaps, n=14, top_n=1).filter(pl.col("level") == "position")["name"].to_list() == ["Z"]
    assert al.capital_movement(snaps.filter(pl.col("run_id") == "run-0")).height == 0


def test_sleeve_weights_move_too():
    snaps = _snapshots(({"X": 0.05}, {"core": 1.0}), ({"X": 0.05}, {"core": 0.6, "momentum": 0.4}))
    sleeves = al.capital_movement(snaps).filter(pl.col("level") == "sleeve")
    assert dict(zip(sleeves["name"], sleeves["delta"])) == pytest.approx({"core": -0.4, "momentum": 0.4})


def test_book_pnl_and_drawdown_in_bps():
    history = pl.DataFrame({"date": [dt.date(2024, 1, d) for d in (2, 3, 4)], "nav": [100.0, 110.0, 99.0]})
    assert al.book_pnl_bps(history, dt.date(2024, 1, 4)) == pytest.approx((-100.0, -1000.0))
    assert al.book_pnl_bps(history, dt.date(2024, 1, 3)) == pytest.approx((1000.0, 0.0))
    assert al.book_pnl_bps(history, dt.date(2023, 12, 29)) == (0.0, 0.0)
    assert al.book_pnl_bps(history.head(0), dt.date(2024, 1, 4)) == (None, None)


weights = st.dictionaries(st.sampled_from(list("ABCDEFGH")), st.floats(-0.05, 0.05), max_size=8)


@settings(max_examples=50, deadline=None)
@given(weights, weights)
def test_position_deltas_add_up_to_the_change_in_net_weight(w0, w1):
    moves = al.capital_movement(_snapshots((w0, None), (w1, None)), top_n=100).filter(pl.col("level") == "position")
    assert float(moves["delta"].sum()) == pytest.approx(sum(w1.values()) - sum(w0.values()), abs=1e-12)
    assert (moves["delta"].abs().diff().drop_nulls() <= 1e-15).all()  # largest moves first
