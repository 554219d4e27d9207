"""Data-quality rules: one bad row per rule with its exact message, real-but-suspicious inputs, speed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from meridian_assets import calendar
from meridian_assets.errors import DataError, PriceDataError
from meridian_assets.ingest import schemas
from meridian_assets.ingest.settings import QualityConfig
from meridian_assets.ingest.quality import (
    TABLE_RULES,
    VIOLATIONS_SCHEMA,
    Violation,
    Violations,
    format_violations,
    key_violations,
    price_violations,
    range_violations,
    violations_for,
    violations_frame,
)

D = dt.date
NAN, INF = float("nan"), float("inf")
MARCH = calendar.sessions(D(2024, 3, 1), D(2024, 3, 28))  # 20 sessions (03-29 is Good Friday)


def _prices(tickers=("NVDA", "AAPL", "^VIX"), sessions=MARCH) -> pl.DataFrame:
    rows = [
        dict(date=d, ticker=t, open=100.0, high=101.0, low=99.0, close=100.0, adj_close=100.0,
             volume=0.0 if t.startswith("^") else 1e6)
        for t in tickers
        for d in sessions
    ]
    return schemas.DAILY_PRICES.conform(pl.DataFrame(rows))


def _set(df: pl.DataFrame, tkr: str, day: dt.date, **values) -> pl.DataFrame:
    hit = (pl.col("ticker") == tkr) & (pl.col("date") == day)
    return df.with_columns(
        [pl.when(hit).then(pl.lit(v, dtype=df.schema[c])).otherwise(pl.col(c)).alias(c) for c, v in values.items()]
    )


def _scale_from(df: pl.DataFrame, ticker: str, start: dt.date, factor: float) -> pl.DataFrame:
    """Multiply the ticker's OHLC from ``start`` on (a level shift on that day)."""
    hit = (pl.col("ticker") == ticker) & (pl.col("date") >= start)
    return df.with_columns(
        [pl.when(hit).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c) for c in
         ("open", "high", "low", "close", "adj_close")]
    )


def _messages(vs) -> list[str]:
    return [v.message for v in vs]


def test_clean_prices_have_no_violations():
    df = _prices()
    assert price_violations(df, blocking=True) == []
    assert price_violations(df, blocking=False) == []
    assert violations_for("daily_prices", df) == []


T5 = D(2024, 3, 5)
BLOCKING_CASES = [
    # (id, changes on NVDA 2024-03-05, expected messages)
    ("close_negative", dict(close=-1.0), [
        "daily_prices 2024-03-05 NVDA close=-1.0 (must be > 0)",
        "daily_prices 2024-03-05 NVDA close=-1.0 (must lie within [low=99.0, high=101.0])",
    ]),
    ("adj_close_negative", dict(adj_close=-1.0), ["daily_prices 2024-03-05 NVDA adj_close=-1.0 (must be > 0)"]),
    ("open_nan", dict(open=NAN), ["daily_prices 2024-03-05 NVDA open=nan (must be > 0)"]),
    ("high_null", dict(high=None), ["daily_prices 2024-03-05 NVDA high=None (must be > 0)"]),
    ("low_zero", dict(low=0.0), ["daily_prices 2024-03-05 NVDA low=0.0 (must be > 0)"]),
    ("adj_close_inf", dict(adj_close=INF), ["daily_prices 2024-03-05 NVDA adj_close=inf (must be finite)"]),
    ("volume_negative", dict(volume=-5.0), ["daily_prices 2024-03-05 NVDA volume=-5.0 (must be >= 0 and finite)"]),
    ("high_below_low", dict(high=98.0), ["daily_prices 2024-03-05 NVDA high=98.0 (must be >= low=99.0)"]),
    ("close_above_high", dict(close=101.5),
     ["daily_prices 2024-03-05 NVDA close=101.5 (must lie within [low=99.0, high=101.0])"]),
    ("open_below_low_is_not_blocking", dict(open=98.0), []),
    ("close_within_tolerance", dict(close=101.0 * (1 + 1e-12)), []),
    ("ticker_null", dict(ticker=None), ["daily_prices 2024-03-05 ticker=None (must not be null)"]),
]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in BLOCKING_CASES], ids=[c[0] for c in BLOCKING_CASES])
def test_blocking_price_rules(changes, expected):
    df = _set(_prices(), "NVDA", T5, **changes)
    vs = price_violations(df, blocking=True)
    assert _messages(vs) == expected
    assert all(v.blocking and v.table == "daily_prices" for v in vs)


def test_open_outside_range_is_a_warning():
    # Real consolidated bars sometimes print an official open outside the day's range.
    df = _set(_prices(), "NVDA", T5, open=98.0)
    vs = price_violations(df, blocking=False)
    assert "daily_prices 2024-03-05 NVDA open=98.0 (must lie within [low=99.0, high=101.0])" in _messages(vs)
    assert [v.rule for v in vs if v.field == "open"] == ["open_outside_range"]


def test_duplicate_and_non_session_rows():
    df = _prices()
    dup = pl.concat([df, df.filter((pl.col("ticker") == "NVDA") & (pl.col("date") == T5))])
    vs = price_violations(dup, blocking=True)
    assert _messages(vs) == ["daily_prices 2024-03-05 NVDA (duplicate key (date, ticker): 2 rows)"]
    assert vs[0].rule == "duplicate_key"
    saturday = df.filter((pl.col("ticker") == "NVDA") & (pl.col("date") == T5)).with_columns(
        date=pl.lit(D(2024, 3, 9))
    )
    vs = price_violations(pl.concat([df, saturday]), blocking=True)
    assert _messages(vs) == ["daily_prices 2024-03-09 NVDA date=2024-03-09 (not an NYSE session)"]
    v = vs[0]
    assert (v.table, v.ticker, v.date, v.field, v.rule) == ("daily_prices", "NVDA", D(2024, 3, 9), "date",
                                                           "not_a_session")


def test_gap_longer_than_max_is_a_warning():
    six = set(MARCH[3:9])  # 03-06 .. 03-13
    df = _prices().filter(~((pl.col("ticker") == "NVDA") & pl.col("date").is_in(list(six))))
    assert price_violations(df, blocking=True) == []
    assert _messages(price_violations(df, blocking=False)) == [
        "daily_prices 2024-03-06 NVDA sessions_missing=6 (no bar from 2024-03-06 to 2024-03-13; max 5)"
    ]
    five = set(MARCH[3:8])
    df5 = _prices().filter(~((pl.col("ticker") == "NVDA") & pl.col("date").is_in(list(five))))
    assert price_violations(df5, blocking=False) == []
    assert price_violations(df5, blocking=False, quality=QualityConfig(max_gap_sessions=4)).total == 1
    # a ticker listed mid-frame has no gap before its first bar
    late = pl.concat([_prices(("NVDA",)), _prices(("ARM",), MARCH[10:])])
    assert price_violations(late, blocking=False) == []


def test_zero_volume_is_a_warning_on_stocks_only():
    df = _set(_prices(), "NVDA", T5, volume=0.0)  # ^VIX has zero volume on every bar: exempt
    assert price_violations(df, blocking=True) == []
    vs = price_violations(df, blocking=False)
    assert _messages(vs) == ["daily_prices 2024-03-05 NVDA volume=0.0 (zero volume on a stock)"]
    assert vs[0].blocking is False and vs[0].rule == "zero_volume"


def test_genuine_55pct_move_is_a_warning_not_blocking():
    df = _scale_from(_prices(), "NVDA", D(2024, 3, 12), 1.55)
    assert price_violations(df, blocking=True) == []
    assert _messages(price_violations(df, blocking=False)) == [
        "daily_prices 2024-03-12 NVDA close=155.0 (close-to-close move +55.0% from 100.0 on 2024-03-11 "
        "exceeds 50% and no split explains it)"
    ]


def _split(date: dt.date, ratio: float, ticker: str = "NVDA") -> pl.DataFrame:
    return schemas.CORPORATE_ACTIONS.conform(
        pl.DataFrame([dict(date=date, ticker=ticker, action="split", ratio=ratio, known_at=D(2024, 2, 1))])
    )


def test_60pct_move_explained_by_a_2_for_1_split_is_not_flagged():
    df = _scale_from(_prices(), "NVDA", D(2024, 3, 12), 0.40)  # 100 -> 40: a 60% fall
    assert price_violations(df, blocking=False, corporate_actions=_split(D(2024, 3, 12), 2.0)) == []
    # without the split, or with the split on another day or ticker, it is flagged
    assert price_violations(df, blocking=False).counts == {"large_move": 1}
    assert price_violations(df, blocking=False, corporate_actions=_split(D(2024, 3, 13), 2.0)).total == 1
    assert price_violations(df, blocking=False, corporate_actions=_split(D(2024, 3, 12), 2.0, "AAPL")).total == 1
    # a 10:1 split does not explain a 60% fall (expected 90%)
    assert price_violations(df, blocking=False, corporate_actions=_split(D(2024, 3, 12), 10.0)).total == 1


def test_reverse_split_explains_a_tenfold_rise():
    df = _scale_from(_prices(), "NVDA", D(2024, 3, 12), 10.0)
    assert price_violations(df, blocking=False, corporate_actions=_split(D(2024, 3, 12), 0.1)) == []
    assert price_violations(df, blocking=False).total == 1


def test_all_counted_first_n_materialised_and_formatting():
    df = _prices().with_columns(adj_close=pl.lit(-1.0))  # 60 bad rows
    vs = price_violations(df, blocking=True, max_per_rule=5)
    assert len(vs) == 5 and vs.total == 60 and vs.counts == {"positive_price": 60}
    text = format_violations(vs, limit=2)
    assert text.splitlines() == [
        "daily_prices 2024-03-01 NVDA adj_close=-1.0 (must be > 0)",
        "daily_prices 2024-03-04 NVDA adj_close=-1.0 (must be > 0)",
        "... and 58 more (positive_price: 60)",
    ]
    assert format_violations(Violations()) == ""
    frame = violations_frame(vs)
    assert frame.schema == pl.Schema(VIOLATIONS_SCHEMA) and frame.height == 5
    assert frame.row(0, named=True)["value"] == "-1.0" and frame.row(0, named=True)["field"] == "adj_close"
    assert violations_frame([]).schema == pl.Schema(VIOLATIONS_SCHEMA)
    err = vs[0].to_error()
    assert isinstance(err, PriceDataError) and str(err) == vs[0].message and err.value == -1.0
    # severity split and merge
    both = violations_for("daily_prices", _set(df, "NVDA", T5, volume=0.0))
    assert both.only(blocking=False).counts == {"zero_volume": 1}
    assert both.only(blocking=True).total == 60


def test_price_rules_are_fast_on_500_tickers_by_756_days():
    sessions = calendar.sessions(D(2021, 1, 4), D(2024, 12, 31))[:756]
    n = 500
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, len(sessions))), axis=1)).ravel()
    df = pl.DataFrame(
        {
            "date": pl.Series(sessions * n, dtype=pl.Date),
            "ticker": np.repeat([f"T{i:03d}" for i in range(n)], len(sessions)),
            "open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "adj_close": close,
            "volume": rng.integers(1, 10_000, close.size).astype(float),
        }
    ).sample(fraction=1.0, shuffle=True, seed=1)
    df = df.with_columns(close=pl.when(pl.int_range(pl.len()) % 1000 == 0).then(-1.0).otherwise("close"))
    blocking = price_violations(df, blocking=True)
    warnings = price_violations(df, blocking=False)
    assert blocking.counts == {"positive_price": 378, "close_outside_range": 378}
    assert len(blocking) == 100  # 50 materialised per rule
    assert warnings.counts.get("large_move", 0) > 0  # around the -1.0 closes


# --------------------------------------------------------------------------------------------- other tables
BASES: dict[str, dict] = {
    "universe": dict(ticker="NVDA", name="NVIDIA", sector="Information Technology", sub_industry="Semis",
                     cik=1045810, is_benchmark=False, asset_type="stock", start_date=D(2001, 11, 30)),
    "corporate_actions": dict(date=D(2024, 6, 10), ticker="NVDA", action="split", ratio=10.0,
                              known_at=D(2024, 5, 22)),
    "fundamentals_raw": dict(
        ticker="NVDA", period_end=D(2024, 1, 28), fiscal_year=2024, fiscal_period="FY", period_type="annual",
        form="10-K", accession_no="0001045810-24-000029", known_at=D(2024, 2, 21),
        **{item: 10.0 for item in schemas.FUNDAMENTAL_ITEMS},
    ),
    "fundamental_ratios": dict(ticker="NVDA", period_end=D(2024, 1, 28), period_type="annual",
                               known_at=D(2024, 2, 21), **{r: 0.1 for r in schemas.RATIO_COLUMNS}),
    "sec_filings": dict(ticker="NVDA", cik=1045810, form="10-K", accession_no="A1", filed_at=D(2024, 2, 21),
                        period_of_report=D(2024, 1, 28), known_at=D(2024, 2, 21)),
    "insider_transactions": dict(
        ticker="NVDA", accession_no="A1", line=1, insider_name="Jensen Huang", insider_cik=1197647,
        insider_title="President and CEO", is_director=True, is_officer=True, transaction_date=D(2024, 3, 1),
        code="P", acquired_disposed="A", shares=100.0, price=50.0, value=5000.0, shares_owned_after=1000.0,
        is_ceo_cfo_buy=True, known_at=D(2024, 3, 5),
    ),
    "insider_cluster_flags": dict(ticker="NVDA", known_at=D(2024, 3, 5), window_start=D(2024, 2, 5),
                                  window_end=D(2024, 3, 5), n_insiders=3, n_transactions=4, total_value=1e6,
                                  includes_ceo_cfo=False),
    "institutional_holdings": dict(fund_name="Berkshire", fund_cik=1067983, ticker="AAPL", cusip="037833100",
                                   report_period=D(2023, 12, 31), shares=100.0, value_usd=19000.0,
                                   prior_shares=90.0, change_shares=10.0, is_new_position=False,
                                   accession_no="B1", known_at=D(2024, 2, 14)),
    "institutional_summary": dict(ticker="AAPL", report_period=D(2023, 12, 31), known_at=D(2024, 2, 14),
                                  fund_count=3, total_shares=300.0, net_share_change=10.0, new_positions=1,
                                  exited_positions=0, new_position_cluster=False),
    "short_interest": dict(date=D(2024, 3, 5), ticker="GME", settlement_date=D(2024, 2, 15),
                           shares_short=1e6, short_ratio=2.0, short_pct_float=0.2),
    "analyst_estimates": dict(date=D(2024, 3, 5), ticker="NVDA", fwd_eps=20.0, fwd_eps_next_q=5.0,
                              price_target=900.0, n_analysts=40, rating_mean=1.5),
    "earnings_calendar": dict(ticker="NVDA", earnings_date=D(2024, 5, 22), session="AMC", fiscal_period="Q1",
                              eps_estimate=5.5, known_at=D(2024, 3, 5)),
    "earnings_transcripts": dict(ticker="NVDA", event_date=D(2024, 2, 21), fiscal_period="Q4",
                                 transcript_id="T1", text="hello", n_chars=5, known_at=D(2024, 2, 22)),
    "macro_series": dict(date=D(2024, 3, 4), series_id="DGS10", value=4.2, known_at=D(2024, 3, 5)),
    "ingest_errors": dict(run_id="r1", table_name="daily_prices", ticker="NVDA", date=D(2024, 3, 5),
                          message="boom"),
    "index_coverage": dict(date=D(2024, 3, 5), members=503, members_with_prices=452, members_without_prices=51),
    "run_log": dict(run_id="r1", start_date=D(2024, 3, 1), end_date=D(2024, 3, 5), tickers_updated=500,
                    price_bars_added=1500, filings_cached=10, insider_txns_parsed=3, errors=0),
}

B, W = True, False
CASES = [
    # (table, changes, severity, expected messages)
    ("universe", dict(asset_type="bond"), B, ["universe 2001-11-30 NVDA asset_type='bond' (must be one of {etf, index, stock})"]),
    ("universe", dict(end_date=D(2000, 1, 3)), B, ["universe 2001-11-30 NVDA end_date=2000-01-03 (must be >= start_date=2001-11-30)"]),
    ("universe", dict(cik=0), B, ["universe 2001-11-30 NVDA cik=0 (must be > 0)"]),
    ("universe", dict(sector=None), B, ["universe 2001-11-30 NVDA sector=None (must not be null)"]),
    ("corporate_actions", dict(action="merger"), B, ["corporate_actions 2024-06-10 NVDA action='merger' (must be one of {delisting, dividend, split, ticker_change})"]),
    ("corporate_actions", dict(ratio=0.0), B, ["corporate_actions 2024-06-10 NVDA ratio=0.0 (a split needs a finite ratio > 0 (new shares per old share))"]),
    ("corporate_actions", dict(action="dividend", ratio=-0.1), B, ["corporate_actions 2024-06-10 NVDA ratio=-0.1 (a dividend needs a finite cash amount per share > 0)"]),
    ("corporate_actions", dict(action="ticker_change", ratio=None), B, ["corporate_actions 2024-06-10 NVDA new_ticker=None (a ticker change needs new_ticker)"]),
    ("corporate_actions", dict(known_at=D(2024, 5, 25)), B, ["corporate_actions 2024-06-10 NVDA known_at=2024-05-25 (not an NYSE session)"]),
    ("fundamentals_raw", dict(known_at=D(2024, 1, 26)), B, ["fundamentals_raw 2024-01-28 NVDA known_at=2024-01-26 (must be >= period_end=2024-01-28)"]),
    ("fundamentals_raw", dict(period_type="ttm"), B, ["fundamentals_raw 2024-01-28 NVDA period_type='ttm' (must be one of {annual, quarterly})"]),
    ("fundamentals_raw", dict(fiscal_period="H1"), B, ["fundamentals_raw 2024-01-28 NVDA fiscal_period='H1' (must be one of {FY, Q1, Q2, Q3, Q4})"]),
    ("fundamentals_raw", dict(revenue=INF), B, ["fundamentals_raw 2024-01-28 NVDA revenue=inf (must be finite)"]),
    ("fundamentals_raw", dict(cash=-1.0), B, ["fundamentals_raw 2024-01-28 NVDA cash=-1.0 (must be >= 0)"]),
    ("fundamentals_raw", dict(ticker=None), B, ["fundamentals_raw 2024-01-28 ticker=None (must not be null)"]),
    ("fundamentals_raw", dict(revenue=-5.0), W, ["fundamentals_raw 2024-01-28 NVDA revenue=-5.0 (negative revenue)"]),
    ("fundamentals_raw", dict(current_assets=11.0), W, ["fundamentals_raw 2024-01-28 NVDA current_assets=11.0 (exceeds total_assets=10.0)"]),
    ("fundamentals_raw", dict(form="20-F"), W, ["fundamentals_raw 2024-01-28 NVDA form='20-F' (must be one of {10-K, 10-K/A, 10-Q, 10-Q/A})"]),
    ("fundamental_ratios", dict(roe=INF), B, ["fundamental_ratios 2024-01-28 NVDA roe=inf (must be finite)"]),
    ("fundamental_ratios", dict(known_at=D(2024, 1, 26)), B, ["fundamental_ratios 2024-01-28 NVDA known_at=2024-01-26 (must be >= period_end=2024-01-28)"]),
    ("sec_filings", dict(known_at=D(2024, 2, 20)), B, ["sec_filings 2024-02-21 NVDA known_at=2024-02-20 (must be >= filed_at=2024-02-21)"]),
    ("sec_filings", dict(period_of_report=D(2024, 3, 1)), B, ["sec_filings 2024-02-21 NVDA period_of_report=2024-03-01 (must be <= filed_at=2024-02-21)"]),
    ("sec_filings", dict(form="S-1"), W, ["sec_filings 2024-02-21 NVDA form='S-1' (must be one of {10-K, 10-K/A, 10-Q, 10-Q/A, 4, 4/A, 8-K, 8-K/A})"]),
    ("insider_transactions", dict(known_at=D(2024, 2, 29)), B, ["insider_transactions 2024-03-01 NVDA known_at=2024-02-29 (must be >= transaction_date=2024-03-01)"]),
    ("insider_transactions", dict(code="Q"), B, ["insider_transactions 2024-03-01 NVDA code='Q' (must be one of {A, C, D, E, F, G, H, I, J, K, L, M, O, P, S, U, V, W, X, Z})"]),
    ("insider_transactions", dict(acquired_disposed="B"), B, ["insider_transactions 2024-03-01 NVDA acquired_disposed='B' (must be one of {A, D})"]),
    ("insider_transactions", dict(shares=-100.0), B, ["insider_transactions 2024-03-01 NVDA shares=-100.0 (must be >= 0 and finite)"]),
    ("insider_transactions", dict(price=NAN), B, ["insider_transactions 2024-03-01 NVDA price=nan (must be >= 0 and finite)"]),
    ("insider_transactions", dict(value=6000.0), W, ["insider_transactions 2024-03-01 NVDA value=6000.0 (differs from shares*price (100.0 x 50.0))"]),
    ("insider_transactions", dict(acquired_disposed="D"), W, ["insider_transactions 2024-03-01 NVDA acquired_disposed='D' (code P contradicts acquired_disposed)"]),
    ("insider_cluster_flags", dict(n_insiders=0), B, ["insider_cluster_flags 2024-03-05 NVDA n_insiders=0 (must be >= 1)"]),
    ("insider_cluster_flags", dict(n_transactions=2), B, ["insider_cluster_flags 2024-03-05 NVDA n_transactions=2 (must be >= n_insiders=3)"]),
    ("insider_cluster_flags", dict(window_start=D(2024, 3, 10), window_end=D(2024, 3, 4)), B, ["insider_cluster_flags 2024-03-05 NVDA window_start=2024-03-10 (must be <= window_end=2024-03-04)"]),
    ("insider_cluster_flags", dict(window_end=D(2024, 3, 6)), B, ["insider_cluster_flags 2024-03-05 NVDA window_end=2024-03-06 (must be <= known_at=2024-03-05 (a cluster is seen after its last buy))"]),
    ("insider_cluster_flags", dict(total_value=-1.0), B, ["insider_cluster_flags 2024-03-05 NVDA total_value=-1.0 (must be >= 0 and finite)"]),
    ("institutional_holdings", dict(value_usd=-1.0), B, ["institutional_holdings 2023-12-31 AAPL value_usd=-1.0 (must be >= 0 and finite)"]),
    ("institutional_holdings", dict(known_at=D(2023, 12, 29)), B, ["institutional_holdings 2023-12-31 AAPL known_at=2023-12-29 (must be >= report_period=2023-12-31)"]),
    ("institutional_holdings", dict(change_shares=20.0), W, ["institutional_holdings 2023-12-31 AAPL change_shares=20.0 (differs from shares - prior_shares (100.0 - 90.0))"]),
    ("institutional_holdings", dict(is_new_position=True), W, ["institutional_holdings 2023-12-31 AAPL is_new_position=True (a new position with prior_shares=90.0)"]),
    ("institutional_summary", dict(exited_positions=-1), B, ["institutional_summary 2023-12-31 AAPL exited_positions=-1 (must be >= 0 and finite)"]),
    ("institutional_summary", dict(new_positions=4), B, ["institutional_summary 2023-12-31 AAPL new_positions=4 (must be <= fund_count=3)"]),
    ("institutional_summary", dict(known_at=D(2023, 12, 29)), B, ["institutional_summary 2023-12-31 AAPL known_at=2023-12-29 (must be >= report_period=2023-12-31)"]),
    ("short_interest", dict(short_pct_float=-0.1), B, ["short_interest 2024-03-05 GME short_pct_float=-0.1 (must be in [0, 1])"]),
    ("short_interest", dict(short_pct_float=1.4), B, []),  # above 100% of float happens: not blocking ...
    ("short_interest", dict(short_pct_float=1.4), W, ["short_interest 2024-03-05 GME short_pct_float=1.4 (above 100% of float (possible, e.g. GME 2021))"]),
    ("short_interest", dict(shares_short=-1.0), B, ["short_interest 2024-03-05 GME shares_short=-1.0 (must be >= 0 and finite)"]),
    ("short_interest", dict(settlement_date=D(2024, 3, 6)), B, ["short_interest 2024-03-05 GME settlement_date=2024-03-06 (must be <= date=2024-03-05 (published after settlement))"]),
    ("short_interest", dict(date=D(2024, 3, 9)), B, ["short_interest 2024-03-09 GME date=2024-03-09 (not an NYSE session)"]),
    ("analyst_estimates", dict(n_analysts=-1), B, ["analyst_estimates 2024-03-05 NVDA n_analysts=-1 (must be >= 0 and finite)"]),
    ("analyst_estimates", dict(rating_mean=6.0), B, ["analyst_estimates 2024-03-05 NVDA rating_mean=6.0 (must be in [1, 5])"]),
    ("analyst_estimates", dict(price_target=0.0), B, ["analyst_estimates 2024-03-05 NVDA price_target=0.0 (must be > 0)"]),
    ("analyst_estimates", dict(fwd_eps=NAN), B, ["analyst_estimates 2024-03-05 NVDA fwd_eps=nan (must be finite)"]),
    ("earnings_calendar", dict(session="DMH"), B, ["earnings_calendar 2024-05-22 NVDA session='DMH' (must be one of {AMC, BMO})"]),
    ("earnings_transcripts", dict(n_chars=6), B, ["earnings_transcripts 2024-02-21 NVDA n_chars=6 (must equal len(text)=5)"]),
    ("earnings_transcripts", dict(known_at=D(2024, 2, 20)), B, ["earnings_transcripts 2024-02-21 NVDA known_at=2024-02-20 (must be >= event_date=2024-02-21)"]),
    ("earnings_transcripts", dict(text="", n_chars=0), W, ["earnings_transcripts 2024-02-21 NVDA text='' (empty transcript)"]),
    ("macro_series", dict(value=NAN), B, ["macro_series 2024-03-04 DGS10 value=nan (must be finite)"]),
    ("macro_series", dict(known_at=D(2024, 3, 1)), B, ["macro_series 2024-03-04 DGS10 known_at=2024-03-01 (must be >= date=2024-03-04)"]),
    ("index_coverage", dict(members_with_prices=504), B, ["index_coverage 2024-03-05 members_with_prices=504 (must be <= members=503)"]),
    ("index_coverage", dict(members_without_prices=-1), B, ["index_coverage 2024-03-05 members_without_prices=-1 (must be >= 0 and finite)"]),
    ("run_log", dict(errors=-1), B, ["run_log 2024-03-01 r1 errors=-1 (must be >= 0 and finite)"]),
]


def _table(table: str, **changes) -> pl.DataFrame:
    if table == "daily_prices":
        return _prices()
    return schemas.TABLES[table].conform(pl.DataFrame([{**BASES[table], **changes}], infer_schema_length=None))


@pytest.mark.parametrize("table", sorted(schemas.TABLES))
def test_every_table_has_rules_and_clean_rows_pass(table):
    assert table in TABLE_RULES
    assert violations_for(table, _table(table)) == []
    assert violations_for(table, schemas.TABLES[table].empty()) == []


@pytest.mark.parametrize(
    ("table", "changes", "blocking", "expected"),
    CASES,
    ids=[f"{c[0]}-{'-'.join(c[1])}-{'blocking' if c[2] else 'warning'}" for c in CASES],
)
def test_one_bad_row_per_rule(table, changes, blocking, expected):
    vs = violations_for(table, _table(table, **changes), blocking=blocking)
    assert _messages(vs) == expected
    assert all(v.blocking is blocking and v.table == table for v in vs)


def test_key_violations_and_range_violations_directly():
    df = pl.concat([_table("macro_series"), _table("macro_series")])
    vs = key_violations(df, schemas.MACRO_SERIES)
    assert _messages(vs) == ["macro_series 2024-03-04 DGS10 (duplicate key (series_id, date): 2 rows)"]
    assert range_violations("macro_series", _table("macro_series", known_at=D(2024, 3, 9))).counts == {
        "known_at_session": 1
    }
    with pytest.raises(KeyError, match="no quality rules for table 'nope'"):
        violations_for("nope", df)


def test_violation_to_error_uses_the_data_error_format():
    v = Violation.make("macro_series", "non_finite_value", "must be finite", ticker="DGS10", date=D(2024, 3, 4),
                       field="value", value=NAN)
    err = v.to_error()
    assert type(err) is DataError and str(err) == v.message == "macro_series 2024-03-04 DGS10 value=nan (must be finite)"
    assert (err.table, err.ticker, err.field) == ("macro_series", "DGS10", "value")
