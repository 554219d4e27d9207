"""The 44 characteristics: shape and point-in-time membership, hand-checked formulas, signs, Piotroski/Altman
extras, insider clusters, ticker changes, and the inputs read from DuckDB."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.factors.characteristics import (
    EXTRA_COLUMNS, characteristics_and_extras, characteristics_wide, compute_characteristics,
)
from meridian_assets.factors.inputs import inputs_from_provider, load_inputs
from meridian_assets.factors.schemas import ALL_SUB_FACTORS
from meridian_assets.factors.scoring import score_history
from meridian_assets.ingest import schemas as S
from meridian_assets.ingest.providers.synthetic import SyntheticProvider
from meridian_assets.ingest.ratios import altman_band, piotroski_band
from meridian_assets.storage import replace_all

START, END = dt.date(2024, 1, 2), dt.date(2024, 6, 28)


@pytest.fixture(scope="module")
def inputs():
    return inputs_from_provider(SyntheticProvider(n_tickers=40), START, END)


@pytest.fixture(scope="module")
def wide(inputs):
    return characteristics_wide(inputs)


def members_on(universe: pl.DataFrame, d: dt.date) -> set[str]:
    u = universe.filter(~pl.col("is_benchmark") & (pl.col("start_date") <= d)
                        & (pl.col("end_date").is_null() | (pl.col("end_date") >= d)))
    return set(u["ticker"])


def test_long_frame_has_every_member_and_sub_factor(inputs):
    dates = inputs.sessions()[-3:]
    long = compute_characteristics(inputs, dates)
    assert long.columns == ["date", "ticker", "sector", "sub_factor", "value"]
    per = long.group_by("date", "ticker").agg(n=pl.len(), subs=pl.col("sub_factor").n_unique())
    assert (per["n"] == 44).all() and (per["subs"] == 44).all()
    for d in dates:
        assert set(long.filter(pl.col("date") == d)["ticker"].cast(pl.Utf8)) == members_on(inputs.universe, d)
    bench = set(inputs.universe.filter(pl.col("is_benchmark"))["ticker"])
    assert not bench & set(long["ticker"].cast(pl.Utf8))
    assert set(long["sub_factor"].cast(pl.Utf8)) == set(ALL_SUB_FACTORS)
    assert long["value"].is_nan().sum() == 0


def test_a_member_without_a_bar_that_session_is_not_scored(inputs):
    d = inputs.sessions()[-1]
    gone = sorted(members_on(inputs.universe, d))[0]
    from dataclasses import replace

    halted = replace(inputs, prices=inputs.prices.filter(~((pl.col("date") == d) & (pl.col("ticker") == gone))))
    long = compute_characteristics(halted, [d])
    assert gone not in set(long["ticker"].cast(pl.Utf8))
    assert set(long["ticker"].cast(pl.Utf8)) == members_on(inputs.universe, d) - {gone}


def test_coverage_with_a_full_history(wide):
    # everything but FCF growth (null when the prior-year FCF is negative) is nearly always available
    coverage = wide.select(pl.col(ALL_SUB_FACTORS).is_not_null().mean()).row(0, named=True)
    assert min(v for k, v in coverage.items() if k != "gro_fcf_yoy") > 0.9, coverage
    assert coverage["gro_fcf_yoy"] > 0.5


def test_momentum_by_hand(inputs, wide):
    d = inputs.sessions()[-1]
    row = wide.filter(pl.col("date") == d).row(0, named=True)
    px = inputs.prices.filter((pl.col("ticker") == row["ticker"]) & (pl.col("date") <= d)).sort("date")
    adj = px["adj_close"].to_numpy()
    assert row["mom_12_1"] == pytest.approx(adj[-1 - 21] / adj[-1 - 252] - 1)
    assert row["mom_6_1"] == pytest.approx(adj[-1 - 21] / adj[-1 - 126] - 1)
    assert row["mom_3m"] == pytest.approx(adj[-1] / adj[-1 - 63] - 1)
    assert row["mom_52w_high"] == pytest.approx(adj[-1] / adj[-252:].max())
    # information ratio of the daily log return in excess of the sector ETF over D-251..D-21
    etf = ScoringConfig().sector_etfs[row["sector"]]
    b = inputs.prices.filter((pl.col("ticker") == etf) & (pl.col("date") <= d)).sort("date")["adj_close"].to_numpy()
    e = (np.diff(np.log(adj)) - np.diff(np.log(b)))[-252:-21]
    assert len(e) == 231
    assert row["mom_sector_rel_12_1"] == pytest.approx(e.sum() / (e.std(ddof=1) * np.sqrt(231)))


def test_signs_and_snapshots_by_hand(inputs, wide):
    d = inputs.sessions()[-1]
    day = wide.filter(pl.col("date") == d)
    si = dict(inputs.short_interest.filter(pl.col("date") == d).select("ticker", "short_pct_float").iter_rows())
    for t, v in day.select("ticker", "si_low_pct_float").iter_rows():
        assert v == pytest.approx(-si[t])
    # quality ratios: the latest quarterly ratio row known by d
    t = day["ticker"][0]
    r = (inputs.fundamental_ratios.filter((pl.col("ticker") == t) & (pl.col("period_type") == "quarterly")
                                          & (pl.col("known_at") <= d)).sort("period_end").row(-1, named=True))
    row = day.filter(pl.col("ticker") == t).row(0, named=True)
    assert row["qual_roe"] == pytest.approx(r["roe"])
    assert row["qual_low_accruals"] == pytest.approx(-r["accruals_ratio"])
    assert row["qual_low_leverage"] == pytest.approx(-r["debt_to_assets"])


def test_fundamentals_are_used_from_the_session_they_are_known(inputs, wide):
    f = inputs.fundamentals_raw.filter((pl.col("period_type") == "quarterly")
                                       & pl.col("known_at").is_between(dt.date(2024, 3, 1), dt.date(2024, 6, 1)))
    sessions = inputs.sessions()
    checked = 0
    for t, k in f.select("ticker", "known_at").unique().sort("ticker").head(8).iter_rows():
        if k not in sessions or sessions.index(k) == 0:
            continue
        before = sessions[sessions.index(k) - 1]
        rows = wide.filter((pl.col("ticker") == t) & pl.col("date").is_in([before, k])).sort("date")
        if rows.height == 2:
            assert rows["gro_revenue_yoy"][0] != rows["gro_revenue_yoy"][1]  # the new quarter arrives on k
            checked += 1
    assert checked >= 3


def test_piotroski_and_altman_extras(inputs):
    long, extras = characteristics_and_extras(inputs, inputs.sessions()[-5:])
    assert extras.columns == ["date", "ticker", *EXTRA_COLUMNS]
    f = extras.drop_nulls("piotroski_f")
    assert f.height > 0.8 * extras.height
    assert f["piotroski_f"].is_between(0, 9).all()
    assert (f["piotroski_band"] == f.select(piotroski_band(pl.col("piotroski_f"))).to_series()).all()
    z = extras.drop_nulls("altman_z")
    assert (z["altman_band"] == z.select(altman_band(pl.col("altman_z"))).to_series()).all()
    assert {"safe", "grey", "distress"} & set(z["altman_band"])
    # the sub-factors carry the same values
    piv = long.filter(pl.col("sub_factor").cast(pl.Utf8).is_in(["qual_piotroski", "qual_altman"])).pivot(
        on="sub_factor", index=["date", "ticker"], values="value").with_columns(pl.col("ticker").cast(pl.Utf8))
    j = piv.join(extras, on=["date", "ticker"])
    assert ((j["qual_piotroski"] - j["piotroski_f"]).abs().max() or 0) < 1e-12
    assert ((j["qual_altman"] - j["altman_z"]).abs().max() or 0) < 1e-12


def test_insider_cluster_flags_and_decay(inputs, wide):
    cl = inputs.insider_cluster_flags.filter(pl.col("known_at").is_between(START, END - dt.timedelta(days=60)))
    assert cl.height > 0, "the 40-name market has a buying cluster in the first half of 2024"
    t, k = cl.select("ticker", "known_at").row(0)
    rows = wide.filter((pl.col("ticker") == t) & (pl.col("date") >= k)).sort("date")
    if rows["date"][0] == k:
        assert rows["ins_cluster_recent"][0] == pytest.approx(1.0)
    assert rows["insider_cluster"][0] and rows["ins_buyers_90d"][0] >= 3
    later = rows.filter(pl.col("date") >= k + dt.timedelta(days=45))
    if later.height:  # 45 days on: still flagged as recent, no longer a cluster of the last 30 days
        assert 0.0 < later["ins_cluster_recent"][0] < 0.6 and not later["insider_cluster"][0]
    before = wide.filter((pl.col("ticker") == t) & (pl.col("date") < k)).sort("date")
    assert not before.tail(5)["insider_cluster"].any()


def test_ticker_change_keeps_the_history(inputs, wide):
    tc = inputs.corporate_actions.filter(pl.col("action") == "ticker_change")
    assert tc.height == 1
    old, new, d = tc["ticker"][0], tc["new_ticker"][0], tc["date"][0]
    after = wide.filter(pl.col("date") == d)
    before = wide.filter(pl.col("date") < d).filter(pl.col("date") == pl.col("date").max())
    assert new in set(after["ticker"]) and old not in set(after["ticker"])
    assert old in set(before["ticker"]) and new not in set(before["ticker"])
    row = after.filter(pl.col("ticker") == new).row(0, named=True)
    assert row["mom_12_1"] is not None and row["rev_eps_90d"] is not None and row["qual_roe"] is not None


def test_load_inputs_from_duckdb(tmp_path, inputs):
    conn = duckdb.connect(str(tmp_path / "m.duckdb"))
    # write everything the provider served, then a price row dated after END that must not be read
    for name, frame in inputs.frames().items():
        replace_all(conn, {**S.TABLES}[{"prices": "daily_prices"}.get(name, name)], frame)
    late = inputs.prices.filter(pl.col("date") == END).with_columns(date=pl.lit(END + dt.timedelta(days=3)))
    conn.execute("INSERT INTO daily_prices SELECT * FROM late")
    conn.execute("DROP TABLE institutional_summary")  # a missing table comes back empty, in its schema
    loaded = load_inputs(conn, START, END)
    assert loaded.prices["date"].max() == END
    assert loaded.prices["date"].min() >= START - dt.timedelta(days=400)
    assert loaded.institutional_summary.height == 0
    assert loaded.institutional_summary.columns == list(S.INSTITUTIONAL_SUMMARY.columns)
    for name in ("fundamentals_raw", "analyst_estimates", "insider_transactions"):
        key = [c for c in ("ticker", "date", "known_at", "period_end", "period_type", "accession_no", "line")
               if c in getattr(loaded, name).columns]
        assert_frame_equal(getattr(loaded, name).sort(key), getattr(inputs, name).sort(key))
    # same scores from DuckDB as from the provider (13-F aside, which was dropped)
    d = [END]
    a = score_history(loaded, d, ScoringConfig()).frame
    b = score_history(inputs, d, ScoringConfig()).frame
    cols = [c for c in a.columns if not c.startswith("inst") and c not in (
        "institutional_score", "composite", "composite_raw", "sector_rank", "long_flag", "short_flag")]
    assert_frame_equal(a.select(cols), b.select(cols))
    conn.close()
