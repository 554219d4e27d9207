"""Insider-buying clusters: detection, window boundaries, CEO/CFO titles and point in time."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meridian_assets.ingest.insiders import insider_cluster_flags, is_ceo_cfo
from meridian_assets.ingest.schemas import INSIDER_CLUSTER_FLAGS, INSIDER_TRANSACTIONS

D = dt.date
D0 = D(2024, 3, 1)


def _tx(insider: str, day: int, known_day: int | None = None, *, code: str = "P", title: str = "Director",
        shares: float = 100.0, price: float = 10.0, ticker: str = "NVDA", cik: int | None = None) -> dict:
    """A transaction ``day`` days after D0, known ``known_day`` days after D0 (default: 2 days later)."""
    known = D0 + dt.timedelta(days=day + 2 if known_day is None else known_day)
    return dict(
        ticker=ticker, accession_no=f"{insider}-{day}-{code}", line=1, insider_name=insider, insider_cik=cik,
        insider_title=title, transaction_date=D0 + dt.timedelta(days=day), code=code, shares=shares,
        price=price, value=shares * price, is_ceo_cfo_buy=None, known_at=known,
    )


def _frame(rows: list[dict]) -> pl.DataFrame:
    return INSIDER_TRANSACTIONS.conform(pl.DataFrame(rows, infer_schema_length=None))


def test_three_distinct_insiders_within_30_days_flag():
    rows = [_tx("Alice", 0), _tx("Bob", 10, title="Chief Financial Officer"), _tx("Carol", 29)]
    out = insider_cluster_flags(_frame(rows))
    assert out.schema == INSIDER_CLUSTER_FLAGS.polars_schema
    assert out.to_dicts() == [
        dict(
            ticker="NVDA", known_at=D(2024, 4, 1), window_start=D(2024, 3, 1), window_end=D(2024, 3, 30),
            n_insiders=3, n_transactions=3, total_value=3000.0, includes_ceo_cfo=True,
        )
    ]


def test_three_buys_by_two_insiders_is_not_a_cluster():
    rows = [_tx("Alice", 0), _tx("Bob", 5), _tx("Alice", 9)]
    assert insider_cluster_flags(_frame(rows)).height == 0


def test_31_day_spread_is_not_a_cluster():
    # 2024-03-01 .. 2024-03-31 spans 31 calendar days: outside a 30-day window.
    rows = [_tx("Alice", 0), _tx("Bob", 15), _tx("Carol", 30)]
    assert insider_cluster_flags(_frame(rows)).height == 0
    # ... but a 31-day window accepts it.
    assert insider_cluster_flags(_frame(rows), window_days=31).height == 1


def test_only_open_market_buys_count():
    rows = [_tx("Alice", 0), _tx("Bob", 1), _tx("Carol", 2, code="S"), _tx("Dan", 3, code="A")]
    assert insider_cluster_flags(_frame(rows)).height == 0


def test_insider_identity_prefers_cik_and_normalises_names():
    # Same CIK under two spellings is one insider; same name (case/spaces differ) without CIK is one insider.
    rows = [_tx("Alice Smith", 0, cik=1), _tx("SMITH ALICE", 1, cik=1), _tx("Bob  Jones", 2),
            _tx("bob jones", 3)]
    assert insider_cluster_flags(_frame(rows)).height == 0
    rows.append(_tx("Carol", 4))
    out = insider_cluster_flags(_frame(rows))
    assert out["n_insiders"].to_list() == [3]
    assert out["n_transactions"].to_list() == [5]


def test_cluster_grows_and_later_filings_do_not_rewrite_earlier_rows():
    rows = [_tx("Alice", 0), _tx("Bob", 3), _tx("Carol", 6)]
    first = insider_cluster_flags(_frame(rows))
    assert first["known_at"].to_list() == [D(2024, 3, 9)]
    # Dan bought on day 1 but filed late (known day 20); Erin bought on day 12 (known day 14).
    more = rows + [_tx("Dan", 1, known_day=20), _tx("Erin", 12, title="CEO")]
    out = insider_cluster_flags(_frame(more))
    assert out["known_at"].to_list() == [D(2024, 3, 9), D(2024, 3, 15), D(2024, 3, 21)]
    assert out["n_insiders"].to_list() == [3, 4, 5]
    assert out["includes_ceo_cfo"].to_list() == [False, True, True]
    assert out.row(0, named=True) == first.row(0, named=True)


def test_window_is_anchored_on_the_latest_known_buy():
    # Three insiders within 30 days, then a lone buy 40 days later: the window moves and the cluster ends.
    rows = [_tx("Alice", 0), _tx("Bob", 3), _tx("Carol", 6), _tx("Dan", 46)]
    out = insider_cluster_flags(_frame(rows))
    assert out["known_at"].to_list() == [D(2024, 3, 9)]
    # A late filing of an old buy (outside the current window) does not revive the cluster.
    rows.append(_tx("Erin", 5, known_day=60))
    assert insider_cluster_flags(_frame(rows))["known_at"].to_list() == [D(2024, 3, 9)]


def test_min_insiders_and_tickers_are_separate():
    rows = [_tx("Alice", 0), _tx("Bob", 1), _tx("Carol", 2, ticker="AMD")]
    assert insider_cluster_flags(_frame(rows)).height == 0
    assert insider_cluster_flags(_frame(rows), min_insiders=2)["ticker"].to_list() == ["NVDA"]
    assert insider_cluster_flags(INSIDER_TRANSACTIONS.empty()).height == 0
    with pytest.raises(ValueError):
        insider_cluster_flags(_frame(rows), window_days=0)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("CEO", True),
        ("President & CEO", True),
        ("Co-CEO", True),
        ("Chief Executive Officer", True),
        ("chief financial officer", True),
        ("EVP, CFO", True),
        ("President and CEO", True),
        ("Chief Financial Officer & Treasurer", True),
        ("Chief Operating Officer", False),
        ("Chief Technology Officer", False),
        ("Director", False),
        ("", False),
        (None, False),
    ],
)
def test_is_ceo_cfo(title, expected):
    assert is_ceo_cfo(title) is expected


@st.composite
def _transactions(draw):
    n = draw(st.integers(0, 25))
    rows = [
        _tx(
            draw(st.sampled_from(["A", "B", "C", "D", "E"])),
            draw(st.integers(0, 90)),
            None,
            code=draw(st.sampled_from(["P", "P", "P", "S"])),
            ticker=draw(st.sampled_from(["X", "Y"])),
        )
        for _ in range(n)
    ]
    for r in rows:  # random filing delay 0..40 days
        r["known_at"] = r["transaction_date"] + dt.timedelta(days=draw(st.integers(0, 40)))
        r["accession_no"] = f"{r['accession_no']}-{id(r)}"
    return rows, D0 + dt.timedelta(days=draw(st.integers(0, 130)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_transactions())
def test_later_known_transactions_never_change_earlier_rows(data):
    rows, cutoff = data
    full = insider_cluster_flags(_frame(rows)) if rows else INSIDER_CLUSTER_FLAGS.empty()
    known = [r for r in rows if r["known_at"] <= cutoff]
    early = insider_cluster_flags(_frame(known)) if known else INSIDER_CLUSTER_FLAGS.empty()
    assert early.equals(full.filter(pl.col("known_at") <= cutoff))


def test_fifty_thousand_transactions_are_fast():
    rng = np.random.default_rng(7)
    n = 50_000
    tx = pl.DataFrame(
        {
            "ticker": rng.choice([f"T{i:03d}" for i in range(500)], n),
            "accession_no": [f"a{i}" for i in range(n)],
            "line": np.ones(n, dtype=np.int64),
            "insider_name": rng.choice([f"I{i}" for i in range(40)], n),
            "insider_title": rng.choice(["Director", "CEO", "CFO", "EVP"], n),
            "transaction_date": pl.Series(D(2022, 1, 3) + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, n)),
            "code": rng.choice(["P", "S", "A", "M", "F"], n, p=[0.3, 0.4, 0.1, 0.1, 0.1]),
            "value": rng.uniform(1e3, 1e6, n),
        }
    ).with_columns(known_at=pl.col("transaction_date") + pl.duration(days=2))
    t = time.perf_counter()
    out = insider_cluster_flags(INSIDER_TRANSACTIONS.conform(tx))
    assert time.perf_counter() - t < 5.0
    assert out.height > 0 and (out["n_insiders"] >= 3).all()
