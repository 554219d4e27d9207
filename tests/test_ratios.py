"""Ratios, Piotroski F-score and Altman Z-score on hand-checked worked examples, plus point in time."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meridian_assets.ingest.ratios import (
    altman_band,
    altman_z_score,
    compute_ratios,
    piotroski_band,
    piotroski_f_score,
)
from meridian_assets.ingest.schemas import FUNDAMENTAL_RATIOS, FUNDAMENTALS_RAW, RATIO_COLUMNS

D = dt.date

# Worked example, ticker ACME (quarterly):
#   year-ago  Q1-2023  period_end 2023-03-31, known 2023-05-01: revenue 800, EPS 0.80, NI 80, FCF 60
#   prior     Q4-2023  period_end 2023-12-31, known 2024-02-01: equity 480, assets 1900, inventory 140,
#                      receivables 90, LTD 300, STD 40 (invested capital 820)
#   current   Q1-2024  period_end 2024-03-31, known 2024-04-30: the line items in CURRENT below
#   close: 40.0 on 2024-04-30 (known_at), 1000.0 on 2024-05-01 (after known_at: must not be used)
YEAR_AGO = dict(
    ticker="ACME", period_end=D(2023, 3, 31), period_type="quarterly", known_at=D(2023, 5, 1),
    revenue=800.0, eps_diluted=0.80, net_income=80.0, free_cash_flow=60.0,
    total_equity=450.0, total_assets=1800.0,
)
PRIOR = dict(
    ticker="ACME", period_end=D(2023, 12, 31), period_type="quarterly", known_at=D(2024, 2, 1),
    revenue=950.0, net_income=90.0, total_equity=480.0, total_assets=1900.0, inventory=140.0,
    receivables=90.0, long_term_debt=300.0, short_term_debt=40.0,
)
CURRENT = dict(
    ticker="ACME", period_end=D(2024, 3, 31), period_type="quarterly", known_at=D(2024, 4, 30),
    revenue=1000.0, cost_of_revenue=600.0, gross_profit=400.0, operating_income=150.0, ebit=140.0,
    ebitda=200.0, depreciation=60.0, interest_expense=20.0, income_tax=30.0, net_income=100.0,
    eps_diluted=1.00, shares_outstanding=100.0, total_assets=2100.0, current_assets=800.0, cash=200.0,
    receivables=110.0, inventory=160.0, total_liabilities=1580.0, current_liabilities=400.0,
    long_term_debt=360.0, short_term_debt=40.0, retained_earnings=500.0, total_equity=520.0,
    operating_cash_flow=130.0, capex=-50.0, free_cash_flow=80.0,
)
PRICES = pl.DataFrame(
    {
        "date": [D(2024, 4, 29), D(2024, 4, 30), D(2024, 5, 1)],
        "ticker": ["ACME"] * 3,
        "close": [39.0, 40.0, 1000.0],
    }
)

# Expected ratios of the current row (k = 4; averages with the prior quarter):
EXPECTED = {
    "roe": 4 * 100 / ((520 + 480) / 2),  # 0.8
    "roa": 4 * 100 / ((2100 + 1900) / 2),  # 0.2
    # tax rate 30 / (100 + 30); invested capital (520 + 400 + 480 + 340) / 2 = 870
    "roic": 4 * 140 * (1 - 30 / 130) / 870,  # 0.495137...
    "gross_margin": 0.40,
    "operating_margin": 0.15,
    "net_margin": 0.10,
    "ebitda_margin": 0.20,
    "fcf_margin": 0.08,
    "revenue_growth_yoy": 0.25,  # 1000 / 800 - 1
    "eps_growth_yoy": 0.25,  # 1.00 / 0.80 - 1
    "net_income_growth_yoy": 0.25,  # 100 / 80 - 1
    "fcf_growth_yoy": 80 / 60 - 1,
    "debt_to_equity": 400 / 520,
    "debt_to_assets": 400 / 2100,
    "current_ratio": 2.0,
    "quick_ratio": 1.6,  # (800 - 160) / 400
    "interest_coverage": 7.0,  # 140 / 20
    "asset_turnover": 2.0,  # 4000 / 2000
    "inventory_turnover": 16.0,  # 4 * 600 / 150
    "receivables_turnover": 40.0,  # 4000 / 100
    "accruals_ratio": -0.06,  # 4 * (100 - 130) / 2000
    "cfo_to_net_income": 1.3,
    "fcf_yield": 0.08,  # 4 * 80 / (100 * 40)
    "earnings_yield": 0.10,  # 4 * 100 / (100 * 40)
}


def _frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), infer_schema_length=None)


def _row(df: pl.DataFrame, period_end: dt.date) -> dict:
    rows = df.filter(pl.col("period_end") == period_end).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_every_ratio_on_the_worked_example():
    out = compute_ratios(_frame(YEAR_AGO, PRIOR, CURRENT), PRICES)
    assert out.schema == FUNDAMENTAL_RATIOS.polars_schema
    assert out.height == 3  # one row per input row
    assert set(EXPECTED) == set(RATIO_COLUMNS)
    row = _row(out, D(2024, 3, 31))
    assert row["known_at"] == D(2024, 4, 30)
    for name, expected in EXPECTED.items():
        assert row[name] == pytest.approx(expected, rel=1e-12), name


def test_prior_period_known_later_is_not_averaged_in():
    # The prior quarter is filed after the current one: averages use the current stock alone.
    late_prior = {**PRIOR, "known_at": D(2024, 5, 15)}
    row = _row(compute_ratios(_frame(YEAR_AGO, late_prior, CURRENT), PRICES), D(2024, 3, 31))
    assert row["roe"] == pytest.approx(400 / 520)
    assert row["inventory_turnover"] == pytest.approx(2400 / 160)
    # and a year-ago row known later than the current row gives no growth
    late_ya = {**YEAR_AGO, "known_at": D(2024, 6, 3)}
    row = _row(compute_ratios(_frame(late_ya, PRIOR, CURRENT), PRICES), D(2024, 3, 31))
    assert row["revenue_growth_yoy"] is None


def test_annual_rows_are_not_annualised_and_match_their_own_year_ago():
    fy23 = {**CURRENT, "period_end": D(2023, 12, 31), "period_type": "annual", "known_at": D(2024, 2, 20)}
    fy22 = {**CURRENT, "period_end": D(2022, 12, 31), "period_type": "annual", "known_at": D(2023, 2, 21),
            "revenue": 500.0}
    out = compute_ratios(_frame(fy22, fy23, CURRENT, PRIOR), PRICES)
    row = out.filter((pl.col("period_type") == "annual") & (pl.col("period_end") == D(2023, 12, 31))).row(
        0, named=True
    )
    assert row["roe"] == pytest.approx(100 / 520)  # k = 1, prior year has the same equity
    assert row["revenue_growth_yoy"] == pytest.approx(1.0)  # 1000 / 500 - 1, not the quarterly rows
    assert row["fcf_yield"] is None  # no close at or before 2024-02-20


def test_meaningless_denominators_give_null_never_inf():
    bad = {
        **CURRENT,
        "total_equity": -50.0,  # negative equity: ROE, D/E meaningless
        "revenue": 0.0,  # zero revenue: margins
        "interest_expense": 0.0,
        "current_liabilities": 0.0,
        "net_income": -10.0,  # loss: CFO / NI meaningless
        "shares_outstanding": None,
    }
    ya = {**YEAR_AGO, "revenue": 0.0, "net_income": -5.0, "eps_diluted": 0.0}
    row = _row(compute_ratios(_frame(ya, bad), PRICES), D(2024, 3, 31))
    for name in ("roe", "debt_to_equity", "gross_margin", "net_margin", "interest_coverage", "current_ratio",
                 "quick_ratio", "cfo_to_net_income", "revenue_growth_yoy", "eps_growth_yoy",
                 "net_income_growth_yoy", "fcf_yield", "earnings_yield"):
        assert row[name] is None, name
    assert row["roa"] == pytest.approx(-40 / 2100)  # a negative numerator is fine
    out = compute_ratios(_frame(ya, bad), PRICES)
    for name in RATIO_COLUMNS:
        assert out[name].drop_nulls().is_finite().all(), name


def test_fallbacks_when_items_are_missing():
    sparse = {**CURRENT, "gross_profit": None, "ebit": None, "ebitda": None, "free_cash_flow": None,
              "inventory": None}
    row = _row(compute_ratios(_frame(sparse), None), D(2024, 3, 31))
    assert row["gross_margin"] == pytest.approx(0.40)  # revenue - cost_of_revenue
    assert row["interest_coverage"] == pytest.approx(7.5)  # operating_income / interest
    assert row["ebitda_margin"] == pytest.approx(0.21)  # operating_income + depreciation
    assert row["fcf_margin"] == pytest.approx(0.08)  # CFO - |capex|
    assert row["quick_ratio"] == pytest.approx(2.0)  # no inventory: counts 0
    assert row["inventory_turnover"] is None
    assert row["fcf_yield"] is None and row["earnings_yield"] is None  # prices=None


def test_empty_input():
    out = compute_ratios(FUNDAMENTALS_RAW.empty(), None)
    assert out.height == 0 and out.schema == FUNDAMENTAL_RATIOS.polars_schema


# --------------------------------------------------------------------------------------------- point in time
QUARTER_ENDS = [D(2021, 3, 31), D(2021, 6, 30), D(2021, 9, 30), D(2021, 12, 31), D(2022, 3, 31),
                D(2022, 6, 30), D(2022, 9, 30), D(2022, 12, 31), D(2023, 3, 31), D(2023, 6, 30)]


@st.composite
def _histories(draw):
    rows = []
    for ticker in ("AAA", "BBB"):
        for pe in draw(st.lists(st.sampled_from(QUARTER_ENDS), unique=True, min_size=1, max_size=10)):
            num = st.floats(-50, 500, allow_nan=False)
            rows.append(
                dict(
                    ticker=ticker, period_end=pe,
                    period_type=draw(st.sampled_from(["quarterly"] * 4 + ["annual"])),
                    known_at=pe + dt.timedelta(days=draw(st.integers(20, 400))),
                    revenue=draw(num), net_income=draw(num), total_equity=draw(num), total_assets=draw(num),
                    inventory=draw(st.none() | num), free_cash_flow=draw(num), eps_diluted=draw(num),
                    shares_outstanding=draw(st.floats(1, 100)), current_assets=draw(num),
                    current_liabilities=draw(num), cost_of_revenue=draw(num),
                )
            )
    cutoff = D(2021, 4, 1) + dt.timedelta(days=draw(st.integers(0, 1000)))
    return rows, cutoff


_PX = pl.DataFrame(
    {
        "date": [D(2021, 1, 1) + dt.timedelta(days=7 * i) for i in range(200) for _ in ("AAA", "BBB")],
        "ticker": ["AAA", "BBB"] * 200,
        "close": [10.0 + (i % 17) for i in range(400)],
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_histories())
def test_later_known_rows_never_change_earlier_ratios(data):
    rows, cutoff = data
    full = compute_ratios(_frame(*rows), _PX)
    known = [r for r in rows if r["known_at"] <= cutoff]
    early = compute_ratios(_frame(*known), _PX.filter(pl.col("date") <= cutoff)) if known else None
    expected = full.filter(pl.col("known_at") <= cutoff)
    if early is None:
        assert expected.height == 0
        return
    assert early.equals(expected), "a row known after the cutoff changed an earlier ratio row"


# --------------------------------------------------------------------------------------------- Piotroski
STRONG = dict(
    net_income=100.0, operating_cash_flow=130.0, total_assets=2000.0, long_term_debt=300.0,
    current_assets=800.0, current_liabilities=400.0, shares_outstanding=100.0, gross_profit=400.0,
    revenue=1000.0,
    prior_net_income=80.0, prior_total_assets=1900.0, prior_long_term_debt=320.0, prior_current_assets=700.0,
    prior_current_liabilities=380.0, prior_shares_outstanding=102.0, prior_gross_profit=360.0,
    prior_revenue=950.0,
)


def test_piotroski_worked_example():
    # STRONG: ROA 0.05 > 0 (1); CFO > 0 (1); ROA 0.05 > 80/1900 = 0.042 (1); CFO 130 > NI 100 (1);
    # leverage 0.15 < 320/1900 = 0.168 (1); current ratio 2.0 > 700/380 = 1.84 (1); shares 100 <= 102 (1);
    # gross margin 0.40 > 360/950 = 0.379 (1); asset turnover 0.50 = 950/1900 = 0.50, not higher (0) -> 8.
    neutral = {**STRONG, "shares_outstanding": 110.0, "current_assets": 700.0}  # loses dilution, liquidity
    # WEAK: ROA < 0, CFO < 0, ROA down, CFO -20 > NI -50 (1), leverage up, liquidity down, dilution,
    # margin down, turnover down -> 1.
    weak = dict(
        net_income=-50.0, operating_cash_flow=-20.0, total_assets=1000.0, long_term_debt=400.0,
        current_assets=300.0, current_liabilities=400.0, shares_outstanding=120.0, gross_profit=100.0,
        revenue=500.0, prior_net_income=10.0, prior_total_assets=1000.0, prior_long_term_debt=300.0,
        prior_current_assets=350.0, prior_current_liabilities=300.0, prior_shares_outstanding=100.0,
        prior_gross_profit=150.0, prior_revenue=600.0,
    )
    df = pl.DataFrame([{"ticker": "S", **STRONG}, {"ticker": "N", **neutral}, {"ticker": "W", **weak}])
    out = piotroski_f_score(df, keep_signals=True)
    assert out["ticker"].to_list() == ["S", "N", "W"]  # other columns kept
    assert out["f_score"].to_list() == [8, 6, 1]
    assert out["f_score_band"].to_list() == ["strong", "neutral", "weak"]
    assert out["f_score_signals"].to_list() == [9, 9, 9]
    assert out.row(0, named=True)["f_delta_turnover"] is False
    assert out.row(2, named=True)["f_accrual"] is True


def test_piotroski_missing_inputs_score_zero_and_bands_boundaries():
    partial = {**STRONG, "prior_net_income": None, "prior_total_assets": None}
    out = piotroski_f_score(pl.DataFrame([partial]))
    # without prior assets: delta-ROA (1), delta-leverage (1) and delta-turnover (0) cannot be evaluated
    assert out["f_score"].item() == 6 and out["f_score_signals"].item() == 6
    with pytest.raises(ValueError, match="prior_revenue"):
        piotroski_f_score(pl.DataFrame([{k: v for k, v in STRONG.items() if k != "prior_revenue"}]))
    bands = pl.select(piotroski_band(pl.Series([0, 4, 5, 7, 8, 9, None]))).to_series().to_list()
    assert bands == ["weak", "weak", "neutral", "neutral", "strong", "strong", None]


def test_altman_worked_example_and_bands():
    # X1 = (800-400)/2000 = 0.2, X2 = 500/2000 = 0.25, X3 = 300/2000 = 0.15, X4 = 4000/1500, X5 = 2400/2000
    # Z = 1.2*0.2 + 1.4*0.25 + 3.3*0.15 + 0.6*2.6667 + 1.0*1.2 = 0.24 + 0.35 + 0.495 + 1.6 + 1.2 = 3.885
    base = dict(current_assets=800.0, current_liabilities=400.0, retained_earnings=500.0, ebit=300.0,
                market_cap=4000.0, total_liabilities=1500.0, revenue=2400.0, total_assets=2000.0)
    grey = {**base, "market_cap": 1000.0}  # X4 term 0.4 -> Z = 2.685
    distress = {**base, "market_cap": 250.0, "revenue": 1000.0, "ebit": 50.0}  # 0.24+0.35+0.0825+0.1+0.5
    broken = {**base, "total_assets": 0.0}
    out = altman_z_score(pl.DataFrame([base, grey, distress, broken]))
    z = out["altman_z"].to_list()
    assert z[0] == pytest.approx(3.885) and z[1] == pytest.approx(2.685) and z[2] == pytest.approx(1.2725)
    assert z[3] is None
    assert out["altman_band"].to_list() == ["safe", "grey", "distress", None]
    bands = pl.select(altman_band(pl.Series([3.0, 2.99, 1.81, 1.8099, None]))).to_series().to_list()
    assert bands == ["safe", "grey", "grey", "distress", None]
    assert not any(isinstance(v, float) and math.isinf(v) for v in z)
