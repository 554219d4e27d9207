"""Layer-2 scoring maths: within-sector percentiles, degenerate factors, parents/composite/flags, regime weights,
no look-ahead, split-adjusted revisions and the planted signals of the embedded market."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from meridian_assets.factors.characteristics import characteristics_and_extras, characteristics_wide, to_long
from meridian_assets.factors.inputs import inputs_from_provider, pit_column
from meridian_assets.factors.schemas import ALL_SUB_FACTORS, FACTOR_SCORES, PARENTS, PRICE_PARENTS, SUB_FACTORS
from meridian_assets.factors.settings import ScoringConfig
from meridian_assets.factors.scoring import (
    pct_within, score, score_history, single_stock_card, sub_factor_percentiles, vix_series,
)
from meridian_assets.ingest.providers.synthetic import SyntheticProvider
from meridian_assets.ingest.synthetic import PLANTED_SIGNALS

D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
CFG = ScoringConfig()
SCORE_COLUMNS = [*ALL_SUB_FACTORS, *(f"{p}_score" for p in PARENTS), "composite"]


def make_long(rows: list[tuple[dt.date, str, str, dict[str, float | None]]], default: float = 1.0) -> pl.DataFrame:
    """A long characteristics frame (plain strings, so `score` takes the pivot path): every sub-factor not
    given is ``default`` (a tie for everyone -> 50, full coverage)."""
    out = []
    for d, ticker, sector, values in rows:
        for s in ALL_SUB_FACTORS:
            out.append((d, ticker, sector, s, values.get(s, default)))
    return pl.DataFrame(out, schema={"date": pl.Date, "ticker": pl.Utf8, "sector": pl.Utf8, "sub_factor": pl.Utf8,
                                     "value": pl.Float64}, orient="row")


def by_ticker(frame: pl.DataFrame, col: str, date: dt.date = D1) -> dict[str, float]:
    return dict(frame.filter(pl.col("date") == date).select("ticker", col).iter_rows())


# --------------------------------------------------------------------------------------------- percentiles
def test_percentiles_hand_checked_ties_nulls_and_small_sectors():
    vals = {"a1": 1.0, "a2": 2.0, "a3": 2.0, "a4": 4.0, "a5": None, "a6": float("nan"), "a7": float("inf"),
            "b1": 5.0, "b2": 3.0, "c1": 7.0}
    rows = [(D1, t, {"a": "A", "b": "B", "c": "C"}[t[0]], {"mom_12_1": v}) for t, v in vals.items()]
    pct = by_ticker(sub_factor_percentiles(make_long(rows)), "mom_12_1")
    # sector A: 4 finite values, ranks 1, 2.5, 2.5, 4 -> 100*(r-1)/3; null / NaN / inf stay null (no data)
    assert {t: v for t, v in pct.items() if v is not None} == pytest.approx(
        {"a1": 0.0, "a2": 50.0, "a3": 50.0, "a4": 100.0, "b1": 100.0, "b2": 0.0, "c1": 50.0})
    assert pct["a5"] is None and pct["a6"] is None and pct["a7"] is None
    # a default (all tied) sub-factor is 50 for everyone
    assert set(by_ticker(sub_factor_percentiles(make_long(rows)), "qual_roe").values()) == {50.0}
    # the public expression helper agrees
    raw = make_long(rows).filter(pl.col("sub_factor") == "mom_12_1")
    helper = raw.with_columns(p=pct_within(pl.col("value"), ["date", "sector"]))
    assert dict(helper.select("ticker", "p").iter_rows()) == pct
    # score() gives the same sub-factor scores (70% coverage: not degenerate)
    res = score(make_long(rows), CFG)
    assert by_ticker(res.frame, "mom_12_1") == pct
    assert res.degenerate.height == 0


def test_three_way_tie_at_the_top():
    rows = [(D1, t, "S", {"val_fcf_yield": v}) for t, v in (("x", 9.0), ("y", 9.0), ("z", 1.0))]
    assert by_ticker(sub_factor_percentiles(make_long(rows)), "val_fcf_yield") == pytest.approx(
        {"x": 75.0, "y": 75.0, "z": 0.0})


def hand_example() -> pl.DataFrame:
    """Sector S1: momentum T1 best..T5 worst, growth the reverse; S2: U1 beats U2 on momentum; S3: one name."""
    rows = []
    for d in (D1, D2, D3):
        for i in range(5):
            vals = {s: float(5 - i) for s in SUB_FACTORS["momentum"]}
            vals.update({s: float(i + 1) for s in SUB_FACTORS["growth"]})
            rows.append((d, f"T{i + 1}", "S1", vals))
        rows.append((d, "U1", "S2", {s: 2.0 for s in SUB_FACTORS["momentum"]}))
        rows.append((d, "U2", "S2", {s: 1.0 for s in SUB_FACTORS["momentum"]}))
        rows.append((d, "V1", "S3", {s: 3.0 for s in SUB_FACTORS["quality"]}))
    return make_long(rows)


def test_parents_composite_and_flags_on_a_hand_made_example():
    f = score(hand_example(), CFG).frame
    assert f.columns == list(FACTOR_SCORES.columns)
    mom, val = by_ticker(f, "momentum_score"), by_ticker(f, "growth_score")
    assert [mom[f"T{i}"] for i in range(1, 6)] == [100, 75, 50, 25, 0]
    assert [val[f"T{i}"] for i in range(1, 6)] == [0, 25, 50, 75, 100]
    assert set(by_ticker(f, "quality_score").values()) == {50.0}
    # every parent present (the default values tie at 50): composite_raw = .15*mom + .10*growth + .75*50
    raw = by_ticker(f, "composite_raw")
    assert [raw[f"T{i}"] for i in range(1, 6)] == pytest.approx([52.5, 51.25, 50.0, 48.75, 47.5])
    assert raw["U1"] == pytest.approx(57.5) and raw["U2"] == pytest.approx(42.5) and raw["V1"] == pytest.approx(50.0)
    comp, rank, size = by_ticker(f, "composite"), by_ticker(f, "sector_rank"), by_ticker(f, "sector_size")
    assert [comp[f"T{i}"] for i in range(1, 6)] == [100, 75, 50, 25, 0]
    assert [rank[f"T{i}"] for i in range(1, 6)] == [1, 2, 3, 4, 5] and size["T1"] == 5
    assert (comp["U1"], comp["U2"], comp["V1"]) == (100, 0, 50) and (rank["V1"], size["V1"]) == (1, 1)
    longs = {t for t, v in by_ticker(f, "long_flag").items() if v}
    shorts = {t for t, v in by_ticker(f, "short_flag").items() if v}
    assert longs == {"T1", "U1"} and shorts == {"T5", "U2"}  # 20% of 5 = 1; the lone V1 has no flag
    assert set(f["regime"].unique()) == {"normal"}


def test_composite_ties_are_broken_by_the_finer_parent_means():
    a_wins = [*SUB_FACTORS["value"], *SUB_FACTORS["growth"], *SUB_FACTORS["institutional"],
              *SUB_FACTORS["reversal"], *SUB_FACTORS["momentum"][:3]]  # 3 of 5 momentum sub-factors only
    vals = {"A": {s: (2.0 if s in a_wins else 1.0) for s in ALL_SUB_FACTORS},
            "B": {s: (1.0 if s in a_wins else 2.0) for s in ALL_SUB_FACTORS}}
    rows = [(D1, t, "S", v) for t, v in vals.items()] + [(D1, t, "T", {}) for t in ("C", "D")]
    f = score(make_long(rows), CFG).frame
    raw, comp = by_ticker(f, "composite_raw"), by_ticker(f, "composite")
    assert raw["A"] == pytest.approx(50.0) and raw["B"] == pytest.approx(50.0)  # weights .50 each way
    assert comp["A"] == 0.0 and comp["B"] == 100.0  # B's wins are by every sub-factor, A's momentum by 3/5
    assert comp["C"] == comp["D"] == 50.0  # identical names share the score...
    assert by_ticker(f, "long_flag")["C"] != by_ticker(f, "long_flag")["D"]  # ...and the flags go by ticker


def test_fast_reshape_path_equals_the_pivot_path(small):
    inputs, _ = small
    dates = inputs.sessions()[-3:]
    long, extras = characteristics_and_extras(inputs, dates, CFG)
    fast = score(long, CFG, extras=extras).frame
    shuffled = long.with_columns(pl.col("ticker").cast(pl.Utf8), pl.col("sector").cast(pl.Utf8),
                                 pl.col("sub_factor").cast(pl.Utf8)).sample(fraction=1.0, shuffle=True, seed=3)
    assert_frame_equal(fast, score(shuffled, CFG, extras=extras).frame)


# --------------------------------------------------------------------------------------------- the embedded market
@pytest.fixture(scope="module")
def small():
    """A 40-name embedded market scored over the first half of 2024."""
    inputs = inputs_from_provider(SyntheticProvider(n_tickers=40), dt.date(2024, 1, 2), dt.date(2024, 6, 28))
    return inputs, score_history(inputs, None, CFG)


def test_flags_and_ranges_on_the_embedded_market(small):
    inputs, res = small
    f = res.frame
    assert f.columns == list(FACTOR_SCORES.columns) and f.height > 0
    # every parent has data on the embedded market; a sub-factor is null only where the name has no value
    parents = [*(f"{p}_score" for p in PARENTS), "composite"]
    assert f.select(pl.col(parents).is_null().sum()).sum_horizontal().item() == 0
    assert 0 < f.select(pl.col(ALL_SUB_FACTORS).is_null().sum()).sum_horizontal().item() < 0.01 * f.height * 44
    assert f.select(pl.min_horizontal(SCORE_COLUMNS).min()).item() >= 0.0
    assert f.select(pl.max_horizontal(SCORE_COLUMNS).max()).item() <= 100.0
    assert not (f["long_flag"] & f["short_flag"]).any()
    per = f.group_by("date", "sector").agg(
        n=pl.len(), longs=pl.col("long_flag").sum(), shorts=pl.col("short_flag").sum(),
        ranks=pl.col("sector_rank").sort(), size=pl.col("sector_size").first(),
    )
    multi = per.filter(pl.col("n") >= 2)
    assert multi.height > 0 and (multi["longs"] >= 1).all() and (multi["shorts"] >= 1).all()
    k = (multi["n"] * CFG.quintile + 1e-9).floor().cast(pl.Int64).clip(lower_bound=1)
    assert (multi["longs"] == k).all() and (multi["shorts"] == k).all()
    assert all(r == list(range(1, n + 1)) for r, n in per.select("ranks", "n").iter_rows())
    assert (per["size"] == per["n"]).all()
    # every session of the window, every member that day, and nothing degenerate with a full history
    assert f["date"].n_unique() == len(inputs.sessions()) and res.degenerate.height == 0
    assert f.filter(pl.col("piotroski_band").is_not_null()).height > 0.5 * f.height


def test_one_date_alone_scores_like_the_whole_window(small):
    inputs, res = small
    for d in inputs.sessions()[::40]:
        one = score_history(inputs, [d], CFG).frame
        assert_frame_equal(one, res.frame.filter(pl.col("date") == d), check_exact=False, rel_tol=0, abs_tol=1e-9)


def test_single_stock_card_lists_every_sub_factor(small):
    _, res = small
    d = res.frame["date"].max()
    ticker = res.frame.filter(pl.col("date") == d).sort("composite")["ticker"][-1]
    card = single_stock_card(res.frame, ticker, d)
    for name in (*ALL_SUB_FACTORS, *PARENTS, "composite", "Piotroski", "Altman", ticker):
        assert name in card
    assert "LONG" in card  # the best composite of its sector is flagged
    with pytest.raises(KeyError):
        single_stock_card(res.frame, "NOPE", d)


# --------------------------------------------------------------------------------------------- degenerate
def test_sparse_sub_factor_is_absent_and_reported():
    rows = [(D1, f"T{i}", "S1" if i < 5 else "S2", {"inst_fund_count": (float(i) if i < 2 else None)})
            for i in range(10)]  # 2 of 10 names have a value: 20% < 30%
    rows += [(D2, f"T{i}", "S1" if i < 5 else "S2", {"inst_fund_count": float(i)}) for i in range(10)]
    res = score(make_long(rows), CFG)
    assert set(by_ticker(res.frame, "inst_fund_count", D1).values()) == {None}  # absent, not a pinned 50
    assert res.frame.filter(pl.col("date") == D1)["institutional_score"].null_count() == 0  # 3 subs left
    assert len(set(by_ticker(res.frame, "inst_fund_count", D2).values())) > 1
    assert res.degenerate.rows() == [("inst_fund_count", 1, D1, D1)]
    assert res.degenerate_dates() == {"inst_fund_count": [D1]}


def test_revisions_with_ten_days_of_estimates_are_degenerate(small):
    inputs, full = small
    d = inputs.sessions()[-1]
    ten = sorted(inputs.analyst_estimates["date"].unique().to_list())[-10:]
    young = replace(inputs, analyst_estimates=inputs.analyst_estimates.filter(pl.col("date").is_in(ten)))
    res = score_history(young, [d], CFG)
    pinned = dict(zip(res.degenerate["sub_factor"], res.degenerate["n_dates_pinned"]))
    assert pinned == {s: 1 for s in SUB_FACTORS["revisions"]}
    assert set(res.frame.select(pl.concat_list(list(SUB_FACTORS["revisions"])).explode()).to_series()) == {None}
    assert set(res.frame["revisions_score"]) == {None}
    # with the full history the same date is not degenerate and the scores spread out
    day = full.frame.filter(pl.col("date") == d)
    assert day["rev_eps_30d"].n_unique() > 5


def test_missing_tables_score_as_degenerate(small):
    inputs, _ = small
    empty = {name: frame.clear() for name, frame in inputs.frames().items() if name not in ("universe", "prices")}
    res = score_history(replace(inputs, **empty), inputs.sessions()[-3:], CFG)
    assert res.frame.height > 0 and set(res.degenerate["n_dates_pinned"]) == {3}
    price_subs = {s for p in PRICE_PARENTS for s in SUB_FACTORS[p]}
    assert set(res.degenerate["sub_factor"]) == set(ALL_SUB_FACTORS) - price_subs
    assert set(res.frame["value_score"]) == {None} and res.frame["momentum_score"].n_unique() > 3


# --------------------------------------------------------------------------------------------- regime weights
HIGH = {**CFG.composite_weights, "momentum": .10, "quality": .20}  # the shipped overrides keep the sum at 1
LOW = {**CFG.composite_weights, "momentum": .20, "quality": .10}


def varied_example() -> pl.DataFrame:
    """One sector of 7 names whose parents all order them differently (so every weight matters)."""
    rows = []
    for d in (D1, D2, D3):
        for i in range(7):
            vals = {s: float((i * (j + 1) + j) % 7) for j, p in enumerate(PARENTS) for s in SUB_FACTORS[p]}
            rows.append((d, f"T{i}", "S1", vals))
    return make_long(rows)


def test_regime_weights_follow_the_vix():
    long = varied_example()
    vix = pl.DataFrame({"date": [D1, D2], "vix": [31.0, 12.0]})  # D3: no print, the D2 value carries
    res = score(long, CFG, vix_by_date=vix, use_regime_weights=True).frame
    assert dict(res.select("date", "regime").unique().iter_rows()) == {D1: "high_vix", D2: "low_vix", D3: "low_vix"}
    for d, w in ((D1, HIGH), (D2, LOW)):
        day = res.filter(pl.col("date") == d)
        expected = sum(w[p] * day[f"{p}_score"] for p in PARENTS)
        assert np.allclose(day["composite_raw"].to_numpy(), expected.to_numpy())
    # off: base weights and 'normal' even on a high-VIX day
    off = score(long, CFG, vix_by_date=vix, use_regime_weights=False).frame.filter(pl.col("date") == D1)
    expected = sum(CFG.composite_weights[p] * off[f"{p}_score"] for p in PARENTS)
    assert np.allclose(off["composite_raw"].to_numpy(), expected.to_numpy()) and set(off["regime"]) == {"normal"}
    assert not np.allclose(off["composite_raw"].to_numpy(),
                           res.filter(pl.col("date") == D1)["composite_raw"].to_numpy())


def test_regime_overrides_are_renormalised():
    cfg = ScoringConfig(regime_weights={"high_vix": {"momentum": 0.5}})  # sums to 1.35 before renormalising
    vix = pl.DataFrame({"date": [D1], "vix": [40.0]})
    f = score(hand_example(), cfg, vix_by_date=vix, use_regime_weights=True).frame.filter(pl.col("date") == D1)
    w = {**cfg.composite_weights, "momentum": 0.5}
    expected = sum(w[p] / 1.35 * f[f"{p}_score"] for p in PARENTS)
    assert np.allclose(f["composite_raw"].to_numpy(), expected.to_numpy())
    with pytest.raises(ValueError):
        score(hand_example(), cfg, use_regime_weights=True)


def test_score_history_regime_comes_from_the_inputs_vix(small):
    inputs, _ = small
    dates = inputs.sessions()[-5:]
    res = score_history(inputs, dates, CFG, use_regime_weights=True).frame
    vix = dict(vix_series(inputs).iter_rows())
    for d, regime in res.select("date", "regime").unique().iter_rows():
        v = vix[d]
        assert regime == ("high_vix" if v > CFG.vix_high else "low_vix" if v < CFG.vix_low else "normal")


# --------------------------------------------------------------------------------------------- look-ahead
def perturb_after(inputs, as_of: dt.date, seed: int):
    """Every row dated or known after ``as_of`` gets its numbers scaled at random and its flags flipped."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, frame in inputs.frames().items():
        col = pit_column(name)
        if col is None or frame.height == 0:
            out[name] = frame
            continue
        later = pl.col(col) > as_of
        factor = pl.Series(rng.uniform(0.2, 3.0, frame.height))
        exprs = []
        for c, t in frame.schema.items():
            if t == pl.Float64:
                exprs.append(pl.when(later).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c))
            elif t == pl.Int64 and c not in ("line", "fiscal_year", "cik", "insider_cik", "fund_cik"):
                exprs.append(pl.when(later).then(pl.col(c) + 3).otherwise(pl.col(c)).alias(c))
            elif t == pl.Boolean:
                exprs.append(pl.when(later).then(~pl.col(c)).otherwise(pl.col(c)).alias(c))
        out[name] = frame.with_columns(exprs)
    return replace(inputs, **out)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.integers(min_value=0, max_value=80), seed=st.integers(min_value=0, max_value=2**31))
def test_no_look_ahead(small, day, seed):
    inputs, _ = small
    sessions = [s for s in inputs.sessions() if s >= dt.date(2024, 2, 1)]
    d = sessions[day % len(sessions)]
    truncated = score_history(inputs.truncated(d), [d], CFG, use_regime_weights=True).frame
    perturbed = score_history(perturb_after(inputs, d, seed), [d], CFG, use_regime_weights=True).frame
    assert truncated.height > 30
    assert_frame_equal(truncated, perturbed, check_exact=False, rel_tol=0, abs_tol=1e-9)


def test_the_look_ahead_check_can_fail(small):
    inputs, _ = small
    d = inputs.sessions()[-20]
    base = score_history(inputs, [d], CFG).frame
    touched = score_history(perturb_after(inputs, d - dt.timedelta(days=1), 7), [d], CFG).frame
    assert not base.equals(touched)


# --------------------------------------------------------------------------------------------- splits
def test_split_does_not_show_up_as_an_eps_revision(small):
    inputs, _ = small
    split = inputs.corporate_actions.filter((pl.col("action") == "split") & (pl.col("ratio") == 2.0)
                                            & pl.col("date").is_between(dt.date(2024, 2, 15), dt.date(2024, 6, 1)))
    assert split.height >= 1, "the embedded 40-name market has a 2:1 split in spring 2024"
    ticker, ex = split["ticker"][0], split["date"][0]
    dates = [s for s in inputs.sessions() if ex <= s <= ex + dt.timedelta(days=10)]
    with_ca = characteristics_wide(inputs, dates).filter(pl.col("ticker") == ticker)
    assert with_ca["rev_eps_30d"].abs().max() < 0.3 and with_ca["rev_target_30d"].abs().max() < 0.3
    no_ca = replace(inputs, corporate_actions=inputs.corporate_actions.filter(pl.col("action") != "split"))
    naive = characteristics_wide(no_ca, dates).filter(pl.col("ticker") == ticker)
    assert naive["rev_eps_30d"].max() < -0.3  # what an unadjusted comparison would report
    # the market cap is continuous over the split too (book-to-price does not double)
    last_before = [s for s in inputs.sessions() if s < ex][-1:]
    before = characteristics_wide(inputs, last_before).filter(pl.col("ticker") == ticker)
    ratio = with_ca["val_book_to_price"][0] / before["val_book_to_price"][0]
    assert 0.8 < ratio < 1.25


# --------------------------------------------------------------------------------------------- planted signals
def _ic_stats(frame: pl.DataFrame, col: str) -> tuple[float, float, float]:
    """Mean daily Spearman IC of ``col`` vs the 21-session forward return, its t-stat and a Newey-West
    (4 lags) t-stat that allows for the overlap of 21-day returns sampled every 5 sessions."""
    ic = (frame.group_by("date").agg(ic=pl.corr(pl.col(col), pl.col("fwd"), method="spearman"))
          .sort("date")["ic"].drop_nans().drop_nulls().to_numpy())
    n, m = len(ic), ic.mean()
    x = ic - m
    lrv = x @ x / n + 2 * sum((1 - lag / 5) * (x[lag:] @ x[:-lag]) / n for lag in range(1, 5))
    return m, m / ic.std(ddof=1) * np.sqrt(n), m / np.sqrt(lrv / n)


@pytest.mark.slow
def test_planted_signals_show_up_in_the_parent_scores():
    provider = SyntheticProvider(n_tickers=500)
    start, end = dt.date(2024, 1, 2), dt.date(2025, 12, 31)
    inputs = inputs_from_provider(provider, start, end)
    dates = inputs.sessions()[::5]
    frame = score_history(inputs, dates, CFG).frame
    px = (provider.daily_prices(None, start, end + dt.timedelta(days=45)).frame
          .select("date", "ticker", "adj_close").sort("ticker", "date")
          .with_columns(fwd=pl.col("adj_close").shift(-21).over("ticker") / pl.col("adj_close") - 1.0))
    df = frame.join(px.select("date", "ticker", "fwd"), on=["date", "ticker"]).drop_nulls("fwd")
    stats = {p: _ic_stats(df, f"{p}_score") for p in PARENTS}
    print({p: tuple(round(v, 4) for v in s) for p, s in stats.items()})
    carry = {p for p, v in PLANTED_SIGNALS.items() if v != 0}
    assert carry == {"momentum", "value", "quality", "revisions", "short_interest", "insider"}
    # Strong in this window even after the overlap correction.
    for p in ("momentum", "value", "revisions", "short_interest"):
        ic, t, t_nw = stats[p]
        assert ic > 0 and t > 2 and t_nw > 2, (p, stats[p])
    ic, t, t_nw = stats["insider"]  # an event signal (buying clusters): weaker, but there
    assert ic > 0 and t > 2 and t_nw > 1.5, ("insider", stats["insider"])
    # The planted quality premium is too weak to show in these two years at n=500 (IC ~0.004; over
    # 2019-2026 the same code measures IC 0.02, t 4.3): only its sign is checked.
    assert stats["quality"][0] > 0, ("quality", stats["quality"])
    for p in ("growth", "institutional"):  # no premium planted
        ic, t, t_nw = stats[p]
        assert abs(t_nw) < 2 or abs(ic) < 0.01, (p, stats[p])
