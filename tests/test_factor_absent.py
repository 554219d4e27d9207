"""A parent with no source data is absent, never a pinned 50: the composite re-weights over the parents present
(by hand), never includes an absent parent (synthetic market with the fundamentals removed, and through
`meridian score`), and the run says which factors were live, their coverage and the weights used."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import dagster as dg
import numpy as np
import polars as pl
import pytest

from meridian_assets.cli import main
from meridian_assets.factors.inputs import inputs_from_provider
from meridian_assets.factors.schemas import ALL_SUB_FACTORS, PARENTS, PRICE_PARENTS, SUB_FACTORS
from meridian_assets.factors.scoring import score, score_history, single_stock_card
from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.factors.tearsheet import ic_series
from meridian_assets.factors.weights import coverage_table
from meridian_assets.ingest.providers.synthetic import SyntheticProvider
from tests.conftest import materialize_ingest, module_home, query

D1 = dt.date(2024, 5, 1)
CFG = ScoringConfig()
ABSENT = [p for p in PARENTS if p not in PRICE_PARENTS]


def long_frame(values: dict[str, dict[str, float]]) -> pl.DataFrame:
    """One sector, one date; every sub-factor not given is null (no data)."""
    rows = [(D1, t, "S", s, vals.get(s)) for t, vals in values.items() for s in ALL_SUB_FACTORS]
    return pl.DataFrame(rows, schema={"date": pl.Date, "ticker": pl.Utf8, "sector": pl.Utf8,
                                      "sub_factor": pl.Utf8, "value": pl.Float64}, orient="row")


def by_ticker(frame: pl.DataFrame, col: str) -> dict[str, float | None]:
    return dict(frame.select("ticker", col).iter_rows())


def test_composite_reweights_over_the_parents_present_by_hand():
    mom = {"T1": 4.0, "T2": 3.0, "T3": 2.0}  # T4 has no momentum (too young), T5 no data at all
    low = {"T1": 1.0, "T2": 2.0, "T3": 3.0, "T4": 4.0}
    values = {t: {**{s: mom.get(t) for s in SUB_FACTORS["momentum"]},
                  **{s: low.get(t) for s in SUB_FACTORS["low_risk"]}} for t in ("T1", "T2", "T3", "T4", "T5")}
    res = score(long_frame(values), CFG)
    f = res.frame
    assert f["ticker"].to_list() == ["T1", "T2", "T3", "T4"]  # T5: no parent present, not scored
    assert by_ticker(f, "momentum_score") == {"T1": 100.0, "T2": 50.0, "T3": 0.0, "T4": None}
    assert by_ticker(f, "low_risk_score") == pytest.approx({"T1": 0.0, "T2": 100 / 3, "T3": 200 / 3, "T4": 100.0})
    for p in ABSENT + ["reversal", "liquidity"]:
        assert set(f[f"{p}_score"]) == {None}, p  # absent: empty, not 50
    # weights .15 (momentum) and .10 (low_risk) re-normalised to .6/.4; T4 has low_risk alone
    raw = by_ticker(f, "composite_raw")
    assert raw == pytest.approx({"T1": (.15 * 100 + .10 * 0) / .25, "T2": (.15 * 50 + .10 * 100 / 3) / .25,
                                 "T3": (.15 * 0 + .10 * 200 / 3) / .25, "T4": 100.0})
    assert by_ticker(f, "composite") == pytest.approx({"T4": 100.0, "T1": 200 / 3, "T2": 100 / 3, "T3": 0.0})
    assert set(f["sector_size"]) == {4}
    cov = {r["name"]: r for r in res.coverage.iter_rows(named=True)}
    assert cov["momentum"]["coverage"] == pytest.approx(0.75) and cov["low_risk"]["coverage"] == 1.0
    assert cov["momentum"]["weight_used_last"] == pytest.approx((0.6 * 3 + 0) / 4)
    assert cov["low_risk"]["weight_used_last"] == pytest.approx((0.4 * 3 + 1.0) / 4)
    assert all(cov[p]["dates_live"] == 0 and cov[p]["weight_used"] == 0 for p in ABSENT)
    assert cov["val_book_to_price"]["dates_live"] == 0 and cov["mom_12_1"]["dates_live"] == 1


@pytest.fixture(scope="module")
def prices_only():
    """The embedded market with every table but the universe and the prices emptied."""
    inputs = inputs_from_provider(SyntheticProvider(n_tickers=40), dt.date(2024, 1, 2), dt.date(2024, 3, 28))
    empty = {n: f.clear() for n, f in inputs.frames().items() if n not in ("universe", "prices")}
    return replace(inputs, **empty)


def test_without_fundamentals_the_composite_is_the_price_parents_reweighted(prices_only):
    days = prices_only.sessions()[-10:]
    res = score_history(prices_only, days, CFG)
    f = res.frame
    assert f.height > 300
    for p in ABSENT:
        assert f[f"{p}_score"].null_count() == f.height, p
        assert all(f[s].null_count() == f.height for s in SUB_FACTORS[p]), p
    for p in PRICE_PARENTS:
        assert f[f"{p}_score"].null_count() < 0.05 * f.height, p
    # composite_raw = sum_p w_p s_p / sum_p w_p over the price parents present in the row, computed here
    w = CFG.composite_weights
    present = [pl.col(f"{p}_score").is_not_null() for p in PRICE_PARENTS]
    num = pl.sum_horizontal([pl.col(f"{p}_score").fill_null(0) * w[p] for p in PRICE_PARENTS])
    den = pl.sum_horizontal([pl.when(m).then(w[p]).otherwise(0.0) for p, m in zip(PRICE_PARENTS, present)])
    expected = f.select(num / den).to_series().to_numpy()
    assert np.allclose(f["composite_raw"].to_numpy(), expected)
    # the absent parents' weights do not matter at all: moving them around leaves the composite unchanged
    shuffled = {**w, "value": 0.0, "quality": w["value"] + w["quality"], "insider": 0.0,
                "institutional": w["institutional"] + w["insider"]}
    other = score_history(prices_only, days, CFG.model_copy(update={"composite_weights": shuffled})).frame
    assert other.select("composite", "long_flag", "short_flag").equals(f.select("composite", "long_flag", "short_flag"))
    # ... while a price parent's weight does
    tilted = {**w, "momentum": w["momentum"] + 0.05, "value": w["value"] - 0.05}
    moved = score_history(prices_only, days, CFG.model_copy(update={"composite_weights": tilted})).frame
    assert not np.allclose(moved["composite_raw"].to_numpy(), f["composite_raw"].to_numpy())
    card = single_stock_card(f, f["ticker"][0], f["date"][0]).splitlines()
    assert any(ln.startswith("value") and "absent" in ln for ln in card)
    assert not any(ln.startswith("momentum") and "absent" in ln for ln in card)
    cov = coverage_table(f, CFG)
    live = cov.filter((pl.col("level") == "parent") & (pl.col("dates_live") > 0))["name"].to_list()
    assert live == list(PRICE_PARENTS)
    assert set(res.degenerate["sub_factor"]) == {s for p in ABSENT for s in SUB_FACTORS[p]}


PRICES_ONLY = ("universe", "daily_prices", "index_coverage", "run_log", "ingest_errors")


@pytest.mark.slow
def test_meridian_score_on_prices_alone_leaves_absent_parents_empty(tmp_path_factory, capsys):
    """Through the CLI: only what the real-data folder offers is ingested (universe and prices)."""
    with module_home(tmp_path_factory, "prices_only") as (home, _, res):
        assert materialize_ingest(res, dt.date(2023, 1, 3), dt.date(2024, 3, 28),
                                  selection=[dg.AssetKey(a) for a in PRICES_ONLY]).success
        capsys.readouterr()
        assert main(["score", "--start", "2023-10-02", "--end", "2024-03-28"]) == 0
        out = capsys.readouterr().out
        csv = pl.read_csv(home / "output" / "scored_universe_latest.csv", infer_schema_length=None)
        db = query(home / "meridian.duckdb", "SELECT * FROM factor_scores")
        prices = query(home / "meridian.duckdb", "SELECT date, ticker, adj_close FROM daily_prices")
    # the console's t-stat is the one on non-overlapping 21-session windows, computed here from the daily ICs
    ics = ic_series(db, prices, db["date"].max(), horizons=(21,), factors=("composite",))["ic"].to_numpy()
    kept = ics[::21]
    t_hand = kept.mean() / kept.std(ddof=1) * np.sqrt(len(kept))
    t_naive = ics.mean() / ics.std(ddof=1) * np.sqrt(len(ics))
    line = next(ln for ln in out.splitlines() if ln.startswith("composite "))
    printed = float(line.split()[2])
    assert printed == pytest.approx(t_hand, abs=0.006) and f"(n={len(kept)}" in line
    assert abs(printed - t_naive) > 0.01
    assert "Absent parents" in out and all(p in out.split("Absent parents")[1] for p in ABSENT)
    for p in PRICE_PARENTS:
        assert any(line.startswith(p) for line in out.splitlines()), p
    assert "non-overlap" in out
    for p in ABSENT:  # empty cells in the CSV, nulls in the table: never a pinned 50
        assert csv[f"{p}_score"].null_count() == csv.height, p
        assert db[f"{p}_score"].null_count() == db.height, p
    assert csv["val_book_to_price"].null_count() == csv.height
    assert csv["momentum_score"].null_count() < csv.height and csv["composite"].null_count() == 0
    assert (db["value_score"] == 50.0).sum() == 0
