"""Wiring: Layer-2 assets on a small embedded market (ingested with a year of warm-up) in tmp_path."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from meridian_assets.cli import main
from meridian_assets.definitions import build_resources
from meridian_assets.factors.assets import FACTOR_ASSETS
from meridian_assets.factors.checks import FACTOR_CHECKS
from meridian_assets.factors.schemas import ALL_SUB_FACTORS, PARENTS
from tests.conftest import materialize_ingest, module_home, query, range_tags

INGEST = (dt.date(2023, 1, 3), dt.date(2024, 3, 28))
SCORE = (dt.date(2024, 2, 1), dt.date(2024, 3, 28))


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    with module_home(tmp_path_factory, "scored") as (home, cfg, res):
        assert materialize_ingest(res, *INGEST).success
        result = dg.materialize([*FACTOR_ASSETS, *FACTOR_CHECKS], resources=res, tags=range_tags(*SCORE),
                                instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        yield home, result


def test_factor_assets_materialize_and_checks_pass(scored):
    home, result = scored
    assert result.success
    evals = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert evals and all(e.passed for e in evals)
    db = home / "meridian.duckdb"
    n_days = query(db, "SELECT count(DISTINCT date) n FROM factor_scores")["n"][0]
    assert n_days == 40  # sessions from 2024-02-01 to 2024-03-28
    for table in ("factor_returns", "crowding_correlations", "factor_tearsheet", "scored_universe"):
        assert query(db, f"SELECT count(*) n FROM {table}")["n"][0] > 0, table


def test_scores_are_percentiles_within_sector_with_long_and_short(scored):
    home, _ = scored
    s = query(home / "meridian.duckdb", "SELECT * FROM factor_scores")
    cols = [*ALL_SUB_FACTORS, *(f"{p}_score" for p in PARENTS), "composite"]
    assert s.select(pl.min_horizontal(*cols).min()).item() >= 0
    assert s.select(pl.max_horizontal(*cols).max()).item() <= 100
    per_sector = s.group_by("date", "sector").agg(n=pl.len(), lo=pl.col("composite").min(),
                                                  hi=pl.col("composite").max(), longs=pl.col("long_flag").sum(),
                                                  shorts=pl.col("short_flag").sum())
    multi = per_sector.filter(pl.col("n") >= 2)
    assert (multi["lo"] == 0).all() and (multi["hi"] == 100).all()
    assert (multi["longs"] >= 1).all() and (multi["shorts"] >= 1).all()


def test_scored_universe_csv_is_the_latest_session(scored):
    home, _ = scored
    csv = pl.read_csv(home / "output" / "scored_universe_latest.csv", try_parse_dates=True)
    assert csv["date"].n_unique() == 1 and csv["date"][0] == SCORE[1]
    assert {"composite", "long_flag", "short_flag", "piotroski_band", "altman_band"} <= set(csv.columns)
    assert csv.height == query(home / "meridian.duckdb",
                               f"SELECT count(*) n FROM factor_scores WHERE date = '{SCORE[1]}'")["n"][0]


def test_tearsheet_charts_are_in_metadata(scored):
    _, result = scored
    mats = {e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    md = mats["factor_tearsheet"].metadata
    assert md["ic_decay"].value.startswith("![") and "base64," in md["ic_decay"].value


def test_cli_score_prints_the_factor_card(scored, capsys, monkeypatch):
    home, _ = scored
    monkeypatch.setenv("MERIDIAN_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("MERIDIAN_CONFIG", str(home / "meridian.yaml"))
    ticker = query(home / "meridian.duckdb", "SELECT min(ticker) t FROM scored_universe")["t"][0]
    out_csv = home / "copy.csv"
    assert main(["score", "--ticker", ticker, "--output", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert ticker in out and "composite" in out.lower()
    for sub in ("mom_12_1", "qual_piotroski", "si_low_pct_float"):
        assert sub in out
    assert out_csv.exists()


def test_cli_score_without_data_is_clear(meridian_home, capsys):
    assert main(["score"]) == 2
    assert "meridian data" in capsys.readouterr().err


def test_risk_model_estimates_from_the_scored_universe(scored):
    """The factor risk model is estimated as of the latest scored session from the same DuckDB."""
    from meridian_assets.risk.assets import RISK_ASSETS

    home, _ = scored
    res = build_resources(str(home / "meridian.yaml"), str(home / "meridian.duckdb"))
    result = dg.materialize(RISK_ASSETS, resources=res, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    db = home / "meridian.duckdb"
    cov = query(db, "SELECT * FROM risk_factor_covariance")
    assert cov["as_of"].unique().to_list() == [SCORE[1]]
    k = cov["factor_a"].n_unique()
    assert cov.height == k * k and k == 1 + 11 + 6  # market, 11 sectors, 6 styles
    F = cov.sort("factor_a", "factor_b")["covariance"].to_numpy().reshape(k, k)
    assert abs(F - F.T).max() < 1e-12 and (pl.Series(F.diagonal()) > 0).all()
    n_scored = query(db, f"SELECT count(*) n FROM factor_scores WHERE date = '{SCORE[1]}'")["n"][0]
    spec = query(db, "SELECT * FROM risk_specific_variance")
    assert 0.9 * n_scored <= spec.height <= n_scored and (spec["specific_variance"] > 0).all()
    # One regression per session whose previous session had exposures (scores), within the 120-session
    # lookback, ending on the scored session: the first scored session only supplies exposures for the next.
    fr = query(db, "SELECT * FROM risk_factor_returns")
    scored_days = query(db, f"SELECT DISTINCT date FROM factor_scores WHERE date <= '{SCORE[1]}'")["date"]
    expected = min(120, scored_days.len() - 1)
    assert fr["date"].n_unique() == expected and fr["date"].max() == SCORE[1]
    assert fr["date"].min() > scored_days.min()
    assert fr.height == expected * k
