"""The whole code location loads, and its public surface is pinned: renaming an asset, check, job or
schedule (or changing a cron) shows up here. Regenerate deliberately with MERIDIAN_UPDATE_SNAPSHOT=1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from meridian_assets.definitions import defs
from resources import DUCKDB_POOL

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def surface(d: dg.Definitions) -> dict:
    """Names, and the wiring between them: each asset's group and upstream keys, each job's assets."""
    repo = d.get_repository_def()
    graph = repo.asset_graph
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    jobs = [j for j in repo.get_all_jobs() if not j.name.startswith("__")]
    return {
        "assets": [k.to_user_string() for k in keys],
        "asset_groups": {k.to_user_string(): graph.get(k).group_name for k in keys},
        "asset_deps": {k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys) for k in keys},
        "checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys),
        "jobs": sorted(j.name for j in jobs),
        "job_assets": {j.name: sorted(k.to_user_string() for k in j.asset_layer.selected_asset_keys) for j in jobs},
        "schedules": {s.name: s.cron_schedule for s in repo.schedule_defs},
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_every_asset_group_is_the_package_that_defines_it():
    """An asset's group names the folder to open: the package whose definitions.py returns it, whose jobs.py
    holds its jobs."""
    root = Path(__file__).parents[1] / "meridian_assets"
    domains = sorted(p.name for p in root.iterdir() if (p / "definitions.py").exists())
    assert all((root / d / "jobs.py").exists() for d in domains), domains
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.assets_def_for_key(key).node_def  # a graph-backed asset is written where its ops are
        op = node if isinstance(node, dg.OpDefinition) else next(iter(node.iterate_op_defs()))
        module = op.compute_fn.decorated_fn.__module__  # where the asset is written
        group = graph.get(key).group_name
        assert group in domains, f"{key.to_user_string()}: group {group!r} is not a package ({domains})"
        assert module.split(".")[:2] == ["meridian_assets", group], \
            f"{key.to_user_string()}: group {group!r}, defined in {module}"


def test_every_job_is_named_after_its_package():
    """A job's name starts with the package (and asset group) whose jobs.py defines it, so `ingest_daily_job`
    is found in ingest/jobs.py; `main_job` spans every domain and lives beside the code location."""
    import importlib

    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

    root = Path(__file__).parents[1] / "meridian_assets"
    domains = sorted(p.name for p in root.iterdir() if (p / "jobs.py").exists())
    found = {}
    for domain in domains:
        module = importlib.import_module(f"meridian_assets.{domain}.jobs")
        for value in vars(module).values():
            if isinstance(value, UnresolvedAssetJobDefinition | dg.JobDefinition):
                found[value.name] = domain
    jobs = {j.name for j in defs.get_repository_def().get_all_jobs() if not j.name.startswith("__")}
    assert jobs - set(found) == {"main_job"}, jobs - set(found)
    for job, domain in found.items():
        assert job.startswith(f"{domain}_"), f"{job} is defined in meridian_assets/{domain}/jobs.py"


def test_the_gates_read_the_code_locations_checks():
    """Loading the code location hands its graph to the gates (they never import the code location)."""
    from meridian_assets import gates

    graph = gates._code_location_graph()
    assert graph is not None
    assert set(graph.get_all_asset_keys()) == set(defs.resolve_asset_graph().get_all_asset_keys())
    assert set(graph.asset_check_keys) == set(defs.resolve_asset_graph().asset_check_keys)


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def update_requested() -> bool:
    return os.environ.get("MERIDIAN_UPDATE_SNAPSHOT", "") not in ("", "0")


def test_surface_matches_snapshot():
    current = surface(defs)
    if update_requested():
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    # a missing snapshot is a failure, never a fresh baseline: otherwise the test compares the surface to itself
    assert SNAPSHOT.exists(), (f"{SNAPSHOT} is missing; regenerate it deliberately with "
                               "MERIDIAN_UPDATE_SNAPSHOT=1 pytest tests/test_definitions.py and review the diff")
    expected = json.loads(SNAPSHOT.read_text())
    for part in sorted(set(current) | set(expected)):
        assert current.get(part) == expected.get(part), (
            f"definitions surface changed in {part!r}; if intended, run MERIDIAN_UPDATE_SNAPSHOT=1 "
            "pytest tests/test_definitions.py and commit tests/snapshots/definitions.json")


def test_a_missing_snapshot_fails_instead_of_being_written(tmp_path, monkeypatch):
    import tests.test_definitions as this

    monkeypatch.delenv("MERIDIAN_UPDATE_SNAPSHOT", raising=False)
    monkeypatch.setattr(this, "SNAPSHOT", tmp_path / "snapshots" / "definitions.json")
    with pytest.raises(AssertionError, match="MERIDIAN_UPDATE_SNAPSHOT=1"):
        this.test_surface_matches_snapshot()
    assert not this.SNAPSHOT.exists()
    monkeypatch.setenv("MERIDIAN_UPDATE_SNAPSHOT", "1")
    this.test_surface_matches_snapshot()  # the deliberate regeneration writes it
    assert json.loads(this.SNAPSHOT.read_text()) == surface(defs)


def test_every_duckdb_asset_and_check_is_in_the_single_writer_pool():
    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if "duckdb" in (node.kinds or set()):
            assert node.pools == {DUCKDB_POOL}, key
    for check_key in graph.asset_check_keys:
        assert graph.assets_def_for_key(check_key).op.pool == DUCKDB_POOL, check_key


def test_daily_tables_backfill_in_a_single_run():
    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.partitions_def is not None:  # research partitions too: one run whose steps fan out
            assert node.backfill_policy == dg.BackfillPolicy.single_run(), key


def test_committed_instance_config_limits_the_pool_to_one():
    import yaml

    cfg = yaml.safe_load((Path(__file__).parents[1] / "dagster.yaml").read_text())
    assert cfg["concurrency"]["pools"]["default_limit"] == 1
    assert cfg["run_monitoring"]["enabled"] is True
    assert cfg["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
