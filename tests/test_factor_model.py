"""The factor risk model's maths: exposures, constrained regression, covariance and risk decomposition."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian_assets.risk.factor_model import (
    ANNUALISATION,
    Exposures,
    FactorModel,
    RiskModelError,
    estimate,
    exposures,
    standardise,
)

SECTORS = ("Energy", "Financials", "Health Care", "Industrials", "Information Technology")
STYLES = ("beta", "momentum", "size", "value")


def simulate(seed: int = 0, n: int = 400, T: int = 120, noise: float = 0.015):
    """Exposures from random characteristics, true factor returns obeying the constraint, and returns."""
    rng = np.random.default_rng(seed)
    sectors = rng.choice(SECTORS, n)
    mcap = np.exp(rng.normal(10.0, 1.0, n))
    chars = {s: rng.normal(size=n) for s in STYLES if s != "size"}
    ex = exposures(sectors, mcap, chars, styles=STYLES, industries=SECTORS)
    c = mcap @ ex.X[:, ex.industry_columns]
    f = rng.normal(0.0, 0.01, (T, ex.X.shape[1]))
    ind = f[:, ex.industry_columns]
    f[:, ex.industry_columns] = ind - np.outer(ind @ c / (c @ c), c)  # project onto sum_j c_j f_j = 0
    spec_vol = rng.uniform(0.5, 1.5, n) * noise
    R = f @ ex.X.T + rng.normal(size=(T, n)) * spec_vol
    return ex, f, R, spec_vol


def random_model(draw_seed: int, n: int, k: int) -> FactorModel:
    rng = np.random.default_rng(draw_seed)
    A = rng.normal(size=(k, k)) * 0.1
    return FactorModel(X=rng.normal(size=(n, k)), F=A @ A.T, D=rng.uniform(0.0, 0.2, n),
                       factor_names=tuple(f"f{j}" for j in range(k)))


# ------------------------------------------------------------------------------------------------ exposures
def test_exposures_layout_and_standardisation():
    rng = np.random.default_rng(1)
    n = 300
    sectors = rng.choice(SECTORS, n)
    mcap = np.exp(rng.normal(10.0, 1.5, n))
    raw = {"beta": rng.normal(1, 0.3, n), "momentum": rng.standard_t(2, n), "value": rng.normal(size=n)}
    raw["value"][:20] = np.nan
    ex = exposures(sectors, mcap, raw, styles=("beta", "momentum", "size", "value"))
    assert ex.factor_names == ("market", *sorted(SECTORS), "beta", "momentum", "size", "value")
    assert np.all(ex.X[:, 0] == 1.0)
    ind = ex.X[:, ex.industry_columns]
    assert np.all(ind.sum(axis=1) == 1.0) and set(np.unique(ind)) == {0.0, 1.0}
    cw = mcap / mcap.sum()
    for j, name in enumerate(ex.styles):
        z = ex.X[:, 1 + len(ex.industries) + j]
        ok = np.isfinite(raw[name]) if name in raw else np.ones(n, bool)
        cw_ok = mcap[ok] / mcap[ok].sum()
        assert abs(cw_ok @ z[ok]) < 1e-10, name
        assert z[ok].std() == pytest.approx(1.0, abs=1e-10), name
        assert np.abs(z).max() <= 3.0 + 1e-9, name
        assert abs(cw @ z) < 1e-10  # missing -> 0 keeps the cap-weighted mean at 0
    assert np.all(ex.X[:20, -1] == 0.0)  # missing value -> neutral exposure
    # fat-tailed momentum is actually winsorised
    assert np.isclose(np.abs(ex.X[:, 1 + len(ex.industries) + 1]).max(), 3.0, atol=1e-6)
    # size defaults to standardised log market cap
    assert np.allclose(ex.X[:, 1 + len(ex.industries) + 2], standardise(np.log(mcap), mcap))


def test_exposures_from_polars_frame_equal_numpy():
    rng = np.random.default_rng(2)
    n = 50
    frame = pl.DataFrame({"ticker": [f"T{i}" for i in range(n)], "sector": rng.choice(SECTORS, n).tolist(),
                          "mcap": np.exp(rng.normal(10, 1, n)), "beta": rng.normal(size=n),
                          "momentum": [None if i % 7 == 0 else float(v) for i, v in enumerate(rng.normal(size=n))]})
    a = exposures(frame["sector"], frame["mcap"], frame, styles=("beta", "momentum", "size"),
                  tickers=frame["ticker"].to_list())
    b = exposures(frame["sector"].to_list(), frame["mcap"].to_numpy(),
                  {"beta": frame["beta"].to_numpy(), "momentum": frame["momentum"].to_numpy()},
                  styles=("beta", "momentum", "size"))
    assert np.array_equal(a.X, b.X) and a.tickers[0] == "T0"


def test_exposures_errors_are_typed_and_say_what():
    with pytest.raises(RiskModelError, match="'quality' is missing"):
        exposures(["Energy"] * 3, [1.0, 2.0, 3.0], {"beta": [1.0, 2.0, 3.0]}, styles=("beta", "quality"))
    with pytest.raises(RiskModelError, match="mcap=-1.0"):
        exposures(["Energy"] * 2, [1.0, -1.0], {}, styles=("size",), tickers=["A", "B"])
    with pytest.raises(RiskModelError, match="not among the industries"):
        exposures(["Energy", "Utilities"], [1.0, 2.0], {}, styles=("size",), industries=("Energy",))


# ------------------------------------------------------------------------------------------------ estimation
def test_regression_recovers_noiseless_factor_returns_exactly():
    ex, f, R, _ = simulate(seed=3, noise=0.0)
    model = estimate(R, ex)
    assert np.allclose(model.factor_returns, f, atol=1e-12)
    assert np.nanmax(np.abs(model.residuals)) < 1e-12


def test_regression_recovers_factor_returns_and_holds_the_constraint():
    ex, f, R, _ = simulate(seed=4)
    model = estimate(R, ex)
    fr = model.factor_returns
    c = ex.mcap @ ex.X[:, ex.industry_columns]
    assert np.max(np.abs(fr[:, ex.industry_columns] @ c)) < 1e-12 * c.sum()  # USE4 constraint, every day
    err = fr - f
    assert np.sqrt(np.mean(err**2)) < 0.0015  # true factor returns have std 0.01
    for j in range(f.shape[1]):
        assert np.corrcoef(fr[:, j], f[:, j])[0, 1] > 0.95, model.factor_names[j]


def test_constrained_solution_matches_kkt_system():
    """The reparametrised solve equals the Lagrangian (KKT) solution of the same constrained WLS."""
    ex, _, R, _ = simulate(seed=5, n=200, T=3)
    model = estimate(R, ex)
    v = np.sqrt(ex.mcap)
    k = ex.X.shape[1]
    a = np.zeros(k)
    a[ex.industry_columns] = ex.mcap @ ex.X[:, ex.industry_columns]
    K = np.zeros((k + 1, k + 1))
    K[:k, :k] = ex.X.T @ (v[:, None] * ex.X)
    K[:k, k] = K[k, :k] = a
    for t in range(3):
        sol = np.linalg.solve(K, np.r_[ex.X.T @ (v * R[t]), 0.0])
        assert np.allclose(model.factor_returns[t], sol[:k], rtol=1e-9, atol=1e-13)


def test_specific_variance_and_factor_covariance_recovered_roughly():
    ex, f, R, spec_vol = simulate(seed=6, T=250)
    model = estimate(R, ex, lookback=250)
    true_d = ANNUALISATION * spec_vol**2
    ratio = model.D / true_d
    assert 0.9 < np.median(ratio) < 1.1
    assert np.corrcoef(model.D, true_d)[0, 1] > 0.9
    true_F = ANNUALISATION * np.cov(f.T)
    diag = np.diag(model.F) / np.diag(true_F)
    assert 0.8 < np.median(diag) < 1.2


def test_lookback_ewma_missing_returns_and_per_day_exposures():
    ex, f, R, _ = simulate(seed=7, T=150)
    R = R.copy()
    R[5, :30] = np.nan  # missing returns are left out of that day
    per_day = [ex] * R.shape[0]
    a = estimate(R, per_day, lookback=120)
    b = estimate(R, ex, lookback=120)
    assert a.factor_returns.shape == (120, ex.X.shape[1]) and np.array_equal(a.F, b.F)
    assert np.allclose(a.factor_returns, f[-120:], atol=0.01)
    e = estimate(R, ex, lookback=120, halflife=20)
    assert e.F.shape == a.F.shape and not np.allclose(e.F, a.F)
    assert np.allclose(estimate(R, ex, lookback=120, halflife=1e12).F, a.F, rtol=1e-6)
    assert np.all(a.D >= 1e-4)


def test_estimate_errors():
    ex, _, R, _ = simulate(seed=8, n=60, T=5)
    with pytest.raises(RiskModelError, match="need at least 2"):
        estimate(R[:1], ex)
    with pytest.raises(RiskModelError, match="4 exposure matrices for 5 days"):
        estimate(R, [ex] * 4)
    dup = ex.X.copy()
    dup[:, -1] = dup[:, -2]  # two identical styles
    bad = Exposures(X=dup, factor_names=ex.factor_names, industries=ex.industries, styles=ex.styles, mcap=ex.mcap)
    with pytest.raises(RiskModelError, match="day 0: singular design"):
        estimate(R, bad)
    with pytest.raises(RiskModelError, match="stocks with returns"):
        estimate(np.where(np.arange(60) < 5, R, np.nan), ex)


# ------------------------------------------------------------------------------------------------ decomposition
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), k=st.integers(1, 8),
       scale=st.floats(1e-3, 10.0), short=st.booleans())
def test_mctr_sums_to_sigma_and_parts_add_up(seed, n, k, scale, short):
    model = random_model(seed, n, k)
    rng = np.random.default_rng(seed + 1)
    w = rng.normal(size=n) * scale if short else rng.uniform(0.01, 1.0, n) * scale
    d = model.decompose(w)
    S = model.covariance()
    assert d.mctr.sum() == pytest.approx(d.sigma, rel=1e-9)
    assert d.mctr_pct.sum() == pytest.approx(1.0, rel=1e-9)
    assert d.factor_variance + d.specific_variance == pytest.approx(w @ S @ w, rel=1e-9)
    assert d.sigma == pytest.approx(np.sqrt(w @ S @ w), rel=1e-9)
    assert sum(d.factor_contributions.values()) == pytest.approx(d.factor_variance, rel=1e-9, abs=1e-15)
    assert np.array_equal(d.flagged, d.mctr_pct > 1.5 * np.abs(w) / np.abs(w).sum())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), k=st.integers(1, 8))
def test_covariance_is_symmetric_psd(seed, n, k):
    S = random_model(seed, n, k).covariance()
    assert np.array_equal(S, S.T)
    assert np.linalg.eigvalsh(S).min() >= -1e-10 * max(1.0, np.abs(S).max())


def test_flag_hand_checked():
    """Two uncorrelated stocks, equal weights: the volatile one takes 90% of the risk and is flagged."""
    model = FactorModel(X=np.zeros((2, 1)), F=np.zeros((1, 1)), D=np.array([0.09, 0.01]), factor_names=("m",))
    d = model.decompose([0.5, 0.5])
    assert d.sigma == pytest.approx(np.sqrt(0.25 * 0.10))
    assert d.mctr_pct == pytest.approx([0.9, 0.1])
    assert d.flagged.tolist() == [True, False] and d.flagged_tickers() == [0]
    with pytest.raises(RiskModelError, match="zero predicted risk"):
        model.decompose([0.0, 0.0])
    with pytest.raises(RiskModelError, match="3 weights for 2"):
        model.decompose([0.1, 0.2, 0.3])


def test_estimated_model_decomposes_a_long_short_book():
    ex, _, R, _ = simulate(seed=9)
    model = estimate(R, ex)
    w = np.zeros(ex.X.shape[0])
    w[:20], w[20:40] = 0.05, -0.05
    d = model.decompose(w)
    assert d.mctr.sum() == pytest.approx(d.sigma, rel=1e-9)
    assert abs(d.exposures[0]) < 1e-12  # dollar neutral -> no market exposure
    assert set(d.factor_contributions) == set(model.factor_names)


def test_standardise_keeps_the_bound_when_caps_are_too_concentrated():
    rng = np.random.default_rng(10)
    mcap = np.exp(rng.normal(10.0, 3.0, 500))  # one name holds most of the cap
    z = standardise(np.log(mcap), mcap)
    assert np.abs(z).max() <= 3.0
    assert np.all(standardise(np.full(5, 2.0), np.ones(5)) == 0.0)  # no spread -> neutral


def test_a_book_reads_its_names_rows_of_the_stored_universe_model():
    """The stored estimate covers the universe; `restrict` gives the model of a book's names in the book's order
    (the risk of the book is the same as from the universe model with zero weights elsewhere)."""
    universe = random_model(3, 6, 2)
    universe = FactorModel(X=universe.X, F=universe.F, D=universe.D, factor_names=universe.factor_names,
                           tickers=("A", "B", "C", "D", "E", "F"))
    book = universe.restrict(["E", "B"])
    assert book.tickers == ("E", "B") and np.array_equal(book.X, universe.X[[4, 1]])
    assert np.array_equal(book.D, universe.D[[4, 1]]) and np.array_equal(book.F, universe.F)
    w = np.zeros(6)
    w[[4, 1]] = [0.3, -0.2]
    assert book.decompose([0.3, -0.2]).sigma == pytest.approx(universe.decompose(w).sigma, rel=1e-12)
    assert universe.restrict(["A", "ZZZ"]) is None
