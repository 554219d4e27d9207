"""The backtest tear sheet (reporting/backtest_sheet.py): which backtests it reports, their figures against SPY
computed independently here, calendar years, and the survivorship rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from meridian_assets.reporting import backtest_sheet
from meridian_assets.reporting.pdf import render

D = dt.date


def _days(n: int, start=D(2019, 12, 2)) -> list[dt.date]:
    out, d = [], start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def _run(run_id, sleeve, start, end, sessions, created):
    return {"run_id": run_id, "sleeve": sleeve, "start": start, "end": end, "sessions": sessions,
            "created_at": dt.datetime(2024, 1, 1, created), "annual_turnover": 3.0, "cost_bps": 40.0}


def test_the_longest_backtest_of_each_sleeve_to_the_latest_end_is_reported():
    runs = pl.DataFrame([
        _run("a-short", "a", D(2023, 1, 3), D(2024, 3, 8), 300, 1),
        _run("a-long", "a", D(2015, 1, 2), D(2024, 3, 8), 2311, 2),
        _run("a-old", "a", D(2014, 1, 2), D(2023, 3, 8), 2400, 3),  # ends earlier: a stale window
        _run("b-1", "b", D(2015, 1, 2), D(2024, 3, 8), 2311, 1),
        _run("b-2", "b", D(2015, 1, 2), D(2024, 3, 8), 2311, 5),  # same window, created later
    ])
    chosen = backtest_sheet.longest_runs(runs)
    assert chosen.select("sleeve", "run_id").rows() == [("a", "a-long"), ("b", "b-2")]


def test_figures_against_spy_match_an_independent_computation():
    rng = np.random.default_rng(4)
    days = _days(400)
    spy = 0.0004 + 0.01 * rng.standard_normal(len(days))
    a = 0.5 * spy + 0.0002 + 0.004 * rng.standard_normal(len(days))
    runs = pl.DataFrame([_run("ra", "a", days[0], days[-1], len(days), 1)])
    daily = pl.DataFrame({"run_id": "ra", "date": days, "daily_return": a, "nav": np.cumprod(1 + a)})
    spy_frame = pl.DataFrame({"date": [days[0] - dt.timedelta(days=3), *days], "ret": [0.5, *spy]})
    cov = pl.DataFrame({"date": [days[0], D(2020, 1, 2), D(2020, 1, 3), days[-1]], "members": [500, 505, 505, 503],
                        "members_with_prices": [400, 404, 404, 450], "members_without_prices": [100, 101, 101, 53]})
    sheet = backtest_sheet.build(runs, daily, spy_frame, cov, risk_free_rate=0.0)
    row = sheet.sleeves.row(0, named=True)
    beta = np.cov(a, spy, ddof=1)[0, 1] / np.var(spy, ddof=1)
    assert row["beta_to_benchmark"] == pytest.approx(beta, rel=1e-9)
    assert row["correlation"] == pytest.approx(np.corrcoef(a, spy)[0, 1], rel=1e-9)
    ann = lambda r: np.prod(1 + r) ** (252 / len(r)) - 1  # noqa: E731
    assert row["annualised_return"] == pytest.approx(ann(a), rel=1e-9)
    assert row["excess_annualised_return"] == pytest.approx(ann(a) - ann(spy), rel=1e-9)
    assert row["total_return"] == pytest.approx(np.prod(1 + a) - 1, rel=1e-9)
    nav = np.cumprod(1 + a)
    assert row["max_drawdown"] == pytest.approx((nav / np.maximum.accumulate(np.r_[1.0, nav])[1:] - 1).min(),
                                                rel=1e-9)
    # SPY's row uses SPY's returns inside the window only (the 50% bar before it is left out)
    assert sheet.spy["total_return"] == pytest.approx(np.prod(1 + spy) - 1, rel=1e-9)
    # calendar years compound the year's returns
    y = np.array([d.year for d in days])
    for year in (2019, 2020, 2021):
        got = sheet.yearly.filter(pl.col("year") == year).row(0, named=True)
        assert got["a"] == pytest.approx(np.prod(1 + a[y == year]) - 1, rel=1e-9)
        assert got["SPY"] == pytest.approx(np.prod(1 + spy[y == year]) - 1, rel=1e-9)
    # survivorship: the first session of each year in the window and the last one
    assert sheet.coverage["date"].to_list() == [days[0], D(2020, 1, 2), days[-1]]
    assert sheet.coverage["share"].to_list() == pytest.approx([0.8, 404 / 505, 450 / 503])
    assert (sheet.short_sessions, sheet.total_sessions) == (4, 4)
    rows = sheet.rows()
    assert rows.filter(pl.col("sleeve") == "SPY")["total_return"].item() == pytest.approx(np.prod(1 + spy) - 1)
    assert set(rows["as_of"]) == {days[-1]}


def test_the_markdown_names_each_sleeve_spy_and_the_survivorship():
    days = _days(30, D(2024, 1, 2))
    runs = pl.DataFrame([_run("ra", "core", days[0], days[-1], 30, 1)])
    r = np.full(30, 0.001)
    daily = pl.DataFrame({"run_id": "ra", "date": days, "daily_return": r, "nav": np.cumprod(1 + r)})
    spy = pl.DataFrame({"date": days, "ret": np.full(30, 0.002)})
    cov = pl.DataFrame({"date": days, "members": [500] * 30, "members_with_prices": [450] * 30,
                        "members_without_prices": [50] * 30})
    s = backtest_sheet.build(runs, daily, spy, cov)
    md = render("backtest_tear_sheet.md.j2", **s.context("F", 0.04, None))
    assert "| core | +3.0%" in md  # 1.001 ** 30 - 1
    assert "| SPY | +6.2%" in md
    assert "| 2024 | " in md and "| 450 | 90% |" in md
    assert "On 30 of 30 sessions some members have no prices" in md and "survivorship bias" in md
    assert "first session of each year:\n\n| Date |" in md  # a blank line before the table: it renders
