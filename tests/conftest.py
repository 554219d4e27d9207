"""Shared fixtures: a small embedded market in a temporary Meridian home."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml
from hypothesis import settings as hypothesis_settings

from meridian_assets.ingest.assets import INGEST_ASSETS
from meridian_assets.ingest.checks import INGEST_CHECKS

# Property tests: in CI (the CI variable set) the examples are derived from each test's name, so a run is
# reproducible and a red build is the same red build on a re-run; locally they are drawn afresh each run (and
# failures are replayed from the example database) so the wider space gets explored over time. Per-test
# @settings still set max_examples; HYPOTHESIS_PROFILE picks a profile explicitly.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", derandomize=False, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
SMALL_N = 40
RANGE = (dt.date(2024, 1, 2), dt.date(2024, 3, 28))


# `meridian --config X` sets MERIDIAN_CONFIG for the command's own process; a test that calls `main()` must not
# leave it (or a home) behind for the tests after it, nor for the subprocesses they start.
_PROCESS_ENV = ("MERIDIAN_CONFIG", "MERIDIAN_HOME", "DAGSTER_HOME", "MERIDIAN_PROFILE")


@pytest.fixture(autouse=True)
def _restore_process_env():
    saved = {k: os.environ.get(k) for k in _PROCESS_ENV}
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def fake_credential(prefix: str = "test-") -> str:
    """A throwaway credential for the loopback stubs, made up per run (no key-shaped literal in the tree)."""
    return prefix + secrets.token_hex(12)


def write_config(home: Path, **overrides) -> Path:
    raw = {"synthetic": {"n_tickers": SMALL_N}, "history": {"years": 1, "end_date": RANGE[1].isoformat()}}
    for block, values in overrides.items():
        raw.setdefault(block, {}).update(values)
    path = home / "meridian.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@contextmanager
def module_home(tmp_path_factory, name: str, **overrides):
    """A Meridian home shared by a test module (env set for the module): yields (home, config path, resources)."""
    from meridian_assets.definitions import build_resources

    home = tmp_path_factory.mktemp(name)
    mp = pytest.MonkeyPatch()
    mp.setenv("MERIDIAN_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir()
    cfg = write_config(home, **overrides)
    mp.setenv("MERIDIAN_CONFIG", str(cfg))
    try:
        yield home, cfg, build_resources(str(cfg), str(home / "meridian.duckdb"))
    finally:
        mp.undo()


@pytest.fixture
def meridian_home(tmp_path, monkeypatch) -> Path:
    """A fresh MERIDIAN_HOME / DAGSTER_HOME with a 40-name embedded-market config."""
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    cfg = write_config(tmp_path)
    monkeypatch.setenv("MERIDIAN_CONFIG", str(cfg))
    return tmp_path


def range_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat()}


def materialize_ingest(resources: dict, start: dt.date, end: dt.date, selection=None, instance=None):
    return dg.materialize(
        [*INGEST_ASSETS, *INGEST_CHECKS],
        resources=resources,
        tags=range_tags(start, end),
        selection=selection,
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def query(db_path: Path, sql: str) -> pl.DataFrame:
    conn = duckdb.connect(str(db_path), read_only=True)
    try:
        return conn.sql(sql).pl()
    finally:
        conn.close()


def table_names(db_path: Path) -> set[str]:
    if not db_path.exists():
        return set()
    return set(query(db_path, "SELECT table_name FROM information_schema.tables")["table_name"].to_list())
