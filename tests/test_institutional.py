"""Institutional summary: cumulative per-filing view, new/exited positions, clusters, point in time."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meridian_assets.ingest.institutional import institutional_summary
from meridian_assets.ingest.schemas import INSTITUTIONAL_HOLDINGS, INSTITUTIONAL_SUMMARY

D = dt.date
Q1, Q2 = D(2024, 3, 31), D(2024, 6, 30)


def _h(fund: int, ticker: str, period: dt.date, shares: float, prior: float, known: dt.date,
       new: bool | None = None) -> dict:
    return dict(
        fund_name=f"Fund {fund}", fund_cik=fund, ticker=ticker, report_period=period, shares=shares,
        value_usd=shares * 10, prior_shares=prior, change_shares=shares - prior,
        is_new_position=(prior == 0 and shares > 0) if new is None else new,
        accession_no=f"{fund}-{period}", known_at=known,
    )


def _frame(rows: list[dict]) -> pl.DataFrame:
    return INSTITUTIONAL_HOLDINGS.conform(pl.DataFrame(rows, infer_schema_length=None))


# Q1: funds 1 and 2 open positions in T (100 and 50 shares); fund 2 also holds U.
# Q2: fund 1 adds 50 (known 08-01); fund 2's filing (08-05) keeps U but lacks T: an exit by absence;
#     funds 3, 4, 5 open new positions of 30, 20, 10 (known 08-09, 08-12, 08-14): a new-position cluster.
BASE = [
    _h(1, "T", Q1, 100, 0, D(2024, 5, 1)),
    _h(2, "T", Q1, 50, 0, D(2024, 5, 2)),
    _h(2, "U", Q1, 10, 0, D(2024, 5, 2)),
    _h(1, "T", Q2, 150, 100, D(2024, 8, 1)),
    _h(2, "U", Q2, 10, 10, D(2024, 8, 5)),
    _h(3, "T", Q2, 30, 0, D(2024, 8, 9)),
    _h(4, "T", Q2, 20, 0, D(2024, 8, 12)),
    _h(5, "T", Q2, 10, 0, D(2024, 8, 14)),
]
COLS = ["known_at", "fund_count", "total_shares", "net_share_change", "new_positions", "exited_positions",
        "new_position_cluster"]
T_Q2 = [
    (D(2024, 8, 1), 1, 150.0, 50.0, 0, 0, False),  # fund 2 has not filed yet: not an exit
    (D(2024, 8, 5), 1, 150.0, 0.0, 0, 1, False),  # fund 2's filing lacks T: exit of 50 shares
    (D(2024, 8, 9), 2, 180.0, 30.0, 1, 1, False),
    (D(2024, 8, 12), 3, 200.0, 50.0, 2, 1, False),
    (D(2024, 8, 14), 4, 210.0, 60.0, 3, 1, True),  # third new position: cluster
]


def _rows(out: pl.DataFrame, ticker: str, period: dt.date) -> list[tuple]:
    sel = out.filter((pl.col("ticker") == ticker) & (pl.col("report_period") == period)).select(COLS)
    return [tuple(r) for r in sel.iter_rows()]


def test_cumulative_view_per_filing_with_new_exited_and_cluster():
    out = institutional_summary(_frame(BASE))
    assert out.schema == INSTITUTIONAL_SUMMARY.polars_schema
    assert _rows(out, "T", Q2) == T_Q2
    assert _rows(out, "T", Q1) == [
        (D(2024, 5, 1), 1, 100.0, 100.0, 1, 0, False),
        (D(2024, 5, 2), 2, 150.0, 150.0, 2, 0, False),
    ]
    # U: fund 1's filings are not relevant to U; fund 2 kept its position.
    assert _rows(out, "U", Q2) == [(D(2024, 8, 5), 1, 10.0, 0.0, 0, 0, False)]


def test_exit_reported_as_a_zero_row_is_the_same_exit():
    rows = BASE + [_h(2, "T", Q2, 0, 50, D(2024, 8, 5))]
    assert _rows(institutional_summary(_frame(rows)), "T", Q2) == T_Q2


def test_absence_needs_a_known_filing():
    # Fund 2 files a 13-F for Q2 holding none of the tracked names: it has no Q2 rows at all.
    rows = [r for r in BASE if not (r["fund_cik"] == 2 and r["report_period"] == Q2)]
    without = _rows(institutional_summary(_frame(rows)), "T", Q2)
    assert [r[0] for r in without] == [D(2024, 8, 1), D(2024, 8, 9), D(2024, 8, 12), D(2024, 8, 14)]
    assert all(r[5] == 0 for r in without)  # the exit cannot be seen
    filings = pl.DataFrame({"fund_cik": [2], "report_period": [Q2], "known_at": [D(2024, 8, 5)]})
    assert _rows(institutional_summary(_frame(rows), filings=filings), "T", Q2) == T_Q2


def test_cluster_threshold_and_empty_input():
    out = institutional_summary(_frame(BASE), new_cluster_min=2)
    assert [r[-1] for r in _rows(out, "T", Q2)] == [False, False, False, True, True]
    assert institutional_summary(INSTITUTIONAL_HOLDINGS.empty()).height == 0


@st.composite
def _holdings(draw):
    periods = [D(2023, 12, 31), Q1, Q2]
    rows = []
    for fund in (1, 2, 3, 4):
        prev: dict[str, float] = {}
        for period in periods:
            if not draw(st.booleans()) and period != periods[0]:
                prev = {}
                continue  # the fund did not file for this period
            known = period + dt.timedelta(days=draw(st.integers(10, 60)))
            held = draw(st.lists(st.sampled_from(["A", "B", "C"]), unique=True, max_size=3))
            cur = {t: float(draw(st.integers(1, 5)) * 10) for t in held}
            for t, s in cur.items():
                rows.append(_h(fund, t, period, s, prev.get(t, 0.0), known))
            prev = cur
    cutoff = D(2024, 1, 1) + dt.timedelta(days=draw(st.integers(0, 300)))
    return rows, cutoff


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_holdings())
def test_later_filings_never_change_earlier_rows(data):
    rows, cutoff = data
    full = institutional_summary(_frame(rows)) if rows else INSTITUTIONAL_SUMMARY.empty()
    known = [r for r in rows if r["known_at"] <= cutoff]
    early = institutional_summary(_frame(known)) if known else INSTITUTIONAL_SUMMARY.empty()
    assert early.equals(full.filter(pl.col("known_at") <= cutoff))
    # every row is internally consistent
    assert (full["new_positions"] <= full["fund_count"]).all()
    assert (full["exited_positions"] >= 0).all()
