"""The combined score: 0.6 quant + 0.4 LLM, 100% quant without analysis, re-ranked within sector and re-flagged
on the scoring quintile — by hand and as properties."""

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.analysis.blend import blend, combined_violations, flag_changes, llm_scores

DAY = dt.date(2024, 3, 28)


def scores(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    df = pl.DataFrame({"date": [DAY] * len(rows), "ticker": [r[0] for r in rows], "sector": [r[1] for r in rows],
                       "composite": [float(r[2]) for r in rows]})
    return df.with_columns(composite_raw=pl.col("composite") / 100)


def results(rows: list[tuple[str, str, float | None, str]]) -> pl.DataFrame:
    return pl.DataFrame({"analyzer": [r[0] for r in rows], "ticker": [r[1] for r in rows],
                         "score": [r[2] for r in rows], "status": [r[3] for r in rows]},
                        schema={"analyzer": pl.Utf8, "ticker": pl.Utf8, "score": pl.Float64, "status": pl.Utf8})


def test_llm_score_is_the_mean_of_the_available_blended_analysts():
    r = results([("earnings", "A", 80.0, "ok"), ("filing", "A", 40.0, "ok"), ("insider", "A", None, "invalid"),
                 ("sector", "A", 0.0, "ok"), ("risk_factor", "B", 30.0, "ok")])
    got = {t: (s, n) for t, s, n in llm_scores(r, ("earnings", "filing", "risk_factor", "insider")).iter_rows()}
    assert got == {"A": (60.0, 2), "B": (30.0, 1)}


def test_blend_by_hand_reranks_and_reflags():
    # one sector of five: k = min(max(1, floor(0.2 * 5)), 2) = 1 -> one LONG, one SHORT
    s = scores([("A", "Tech", 100), ("B", "Tech", 75), ("C", "Tech", 50), ("D", "Tech", 25), ("E", "Tech", 0)])
    llm = pl.DataFrame({"ticker": ["A", "B", "E"], "llm_score": [0.0, 100.0, 100.0], "n_analyzers": [4, 2, 1]})
    out = blend(s, llm, quant_weight=0.6, llm_weight=0.4, quintile=0.2)
    by = {r["ticker"]: r for r in out.iter_rows(named=True)}
    assert by["A"]["combined_score"] == pytest.approx(60.0)  # 0.6 * 100 + 0.4 * 0
    assert by["B"]["combined_score"] == pytest.approx(85.0)  # 0.6 * 75 + 0.4 * 100
    assert by["E"]["combined_score"] == pytest.approx(40.0)  # 0.6 * 0 + 0.4 * 100
    assert (by["C"]["combined_score"], by["C"]["analyzed"], by["C"]["llm_score"]) == (50.0, False, None)
    assert [r["ticker"] for r in out.sort("sector_rank").iter_rows(named=True)] == ["B", "A", "C", "E", "D"]
    assert out.filter(pl.col("long_flag"))["ticker"].to_list() == ["B"]
    assert out.filter(pl.col("short_flag"))["ticker"].to_list() == ["D"]
    quant = s.with_columns(long_flag=pl.col("ticker") == "A", short_flag=pl.col("ticker") == "E")
    assert sorted(flag_changes(out, quant)["ticker"].to_list()) == ["A", "B", "D", "E"]
    assert by["A"]["n_analyzers"] == 4 and by["C"]["n_analyzers"] == 0
    assert combined_violations(out, 0.6, 0.4) == []


def test_without_any_analysis_the_book_is_exactly_the_quant_book():
    s = scores([("A", "X", 100), ("B", "X", 50), ("C", "X", 0), ("D", "Y", 30), ("E", "Y", 30), ("F", "Z", 70)])
    out = blend(s, None, quant_weight=0.6, llm_weight=0.4, quintile=0.2)
    joined = out.join(s.select("ticker", quant="composite"), on="ticker")
    assert (joined["combined_score"] == joined["quant"]).all()
    assert not out["analyzed"].any()
    flags = {r["ticker"]: (r["long_flag"], r["short_flag"]) for r in out.iter_rows(named=True)}
    # ties (D, E) break on composite_raw then ticker as in Layer 2; a one-name sector has no flags
    assert flags == {"A": (True, False), "B": (False, False), "C": (False, True), "D": (True, False),
                     "E": (False, True), "F": (False, False)}


def test_violations_are_named():
    s = scores([("A", "X", 100), ("B", "X", 0)])
    out = blend(s, pl.DataFrame({"ticker": ["A"], "llm_score": [50.0], "n_analyzers": [1]}),
                quant_weight=0.6, llm_weight=0.4, quintile=0.2)
    broken = out.with_columns(combined_score=pl.when(pl.col("ticker") == "B").then(7.0).otherwise(99.0))
    problems = combined_violations(broken, 0.6, 0.4)
    assert any("not 100% quant: B" in p for p in problems) and any("configured blend: A" in p for p in problems)


names = st.lists(st.tuples(st.sampled_from(["S1", "S2", "S3"]), st.floats(0, 100),
                           st.one_of(st.none(), st.floats(0, 100))), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(rows=names, quintile=st.sampled_from([0.1, 0.2, 0.25, 0.5]))
def test_blend_invariants(rows, quintile):
    s = scores([(f"T{i:02d}", sec, comp) for i, (sec, comp, _) in enumerate(rows)])
    llm = pl.DataFrame({"ticker": [f"T{i:02d}" for i, r in enumerate(rows) if r[2] is not None],
                        "llm_score": [r[2] for r in rows if r[2] is not None],
                        "n_analyzers": [1 for r in rows if r[2] is not None]},
                       schema={"ticker": pl.Utf8, "llm_score": pl.Float64, "n_analyzers": pl.Int64})
    out = blend(s, llm, quant_weight=0.6, llm_weight=0.4, quintile=quintile)
    assert out.height == len(rows) and combined_violations(out, 0.6, 0.4) == []
    assert out["combined_score"].min() >= 0 and out["combined_score"].max() <= 100
    for (_,), g in out.group_by("sector"):
        n = g.height
        k = min(max(1, int(quintile * n + 1e-9)), n // 2) if n >= 2 else 0
        assert g["long_flag"].sum() == k and g["short_flag"].sum() == k
        assert sorted(g["sector_rank"].to_list()) == list(range(1, n + 1))
        best = g.sort("sector_rank")["combined_score"].to_list()
        assert best == sorted(best, reverse=True)
