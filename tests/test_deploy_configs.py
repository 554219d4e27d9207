"""The deployment configurations load: deploy/k8s and deploy/docker instance files (K8sRunLauncher,
DockerRunLauncher, Postgres storage), and the deployment code location (deploy/location.py) with each executor,
down to a job's execution plan. No cluster
and no Docker engine are contacted (the Kubernetes client is pointed at a loopback kubeconfig it never calls).
Needs the `deploy` extra, which `make setup` installs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("dagster_k8s", reason="the deploy extra is not installed (pip install -e '.[deploy]')")
pytest.importorskip("dagster_docker", reason="the deploy extra is not installed (pip install -e '.[deploy]')")

PG_ENV = {"MERIDIAN_PG_HOST": "127.0.0.1", "MERIDIAN_PG_PORT": "5432", "MERIDIAN_PG_USER": "meridian",
          "MERIDIAN_PG_PASSWORD": "not-a-real-password", "MERIDIAN_PG_DB": "meridian"}


@pytest.fixture
def deploy_env(monkeypatch, tmp_path):
    for k, v in {**PG_ENV, "MERIDIAN_IMAGE": "meridian:test", "MERIDIAN_K8S_NAMESPACE": "meridian"}.items():
        monkeypatch.setenv(k, v)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "test", "user": {"token": "unused"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}]}))
    return kubeconfig


def _instance_yaml(kind: str) -> dict:
    return yaml.safe_load((ROOT / "deploy" / kind / "dagster.yaml").read_text())


def _launcher(raw: dict, kubeconfig: Path | None = None):
    """The run launcher the instance file configures, built from it (in-cluster config swapped for a kubeconfig)."""
    from dagster._core.launcher import RunLauncher
    from dagster._serdes import ConfigurableClassData

    spec = dict(raw["run_launcher"])
    config = dict(spec["config"])
    if kubeconfig is not None:
        config.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    return ConfigurableClassData(spec["module"], spec["class"], yaml.safe_dump(config)).rehydrate(RunLauncher)


@pytest.mark.parametrize("kind", ["k8s", "docker"])
def test_instance_file_validates_and_matches_the_postgres_instance(kind, deploy_env):
    from dagster._core.instance.config import dagster_instance_config

    folder = ROOT / "deploy" / kind
    config, _ = dagster_instance_config(str(folder), "dagster.yaml")  # the schema Dagster checks at start-up
    assert config["run_launcher"]["module"] == {"k8s": "dagster_k8s", "docker": "dagster_docker"}[kind]
    raw, postgres = _instance_yaml(kind), yaml.safe_load((ROOT / "dagster.postgres.yaml").read_text())
    raw.pop("run_launcher")
    assert raw == postgres  # same storage, pools, run queue and monitoring as the single-host Postgres instance
    text = (folder / "dagster.yaml").read_text()
    assert PG_ENV["MERIDIAN_PG_PASSWORD"] not in text and "password: " not in text.replace("password:\n", "")


def test_the_run_launchers_build_from_the_files(deploy_env):
    from dagster_docker import DockerRunLauncher
    from dagster_k8s import K8sRunLauncher

    k8s = _launcher(_instance_yaml("k8s"), deploy_env)
    assert isinstance(k8s, K8sRunLauncher)
    assert k8s.job_image == "meridian:test" and k8s.job_namespace == "meridian"
    assert k8s.supports_check_run_worker_health  # run monitoring can see a dead run pod
    docker = _launcher(_instance_yaml("docker"))
    assert isinstance(docker, DockerRunLauncher) and docker.image == "meridian:test"
    assert "MERIDIAN_PG_PASSWORD" in docker.env_vars  # passed through by name, never by value


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from tests.conftest import write_config

    home = tmp_path_factory.mktemp("deploy")
    return str(write_config(home)), str(home / "meridian.duckdb")


@pytest.mark.parametrize("name", ["in_process", "multiprocess", "k8s_job", "docker"])
def test_the_code_location_builds_an_execution_plan_under_each_executor(name, small, deploy_env):
    from dagster._core.execution.api import create_execution_plan

    from deploy.location import deployment_definitions, executor_for

    cfg, db = small
    defs = deployment_definitions(name, cfg, db)
    job = defs.resolve_job_def("ingest_job")
    assert job.executor_def is executor_for(name)
    plan = create_execution_plan(job)  # validates the run config, the executor's section included
    assert "daily_prices" in plan.step_keys_to_execute and len(plan.step_keys_to_execute) > 10
    # risk_halt_job keeps its own in-process executor: the kill switch never waits for a pod or container
    assert defs.resolve_job_def("risk_halt_job").executor_def is dg.in_process_executor



def test_an_unknown_executor_is_refused_by_name():
    from deploy.location import UnknownExecutorError, executor_for

    with pytest.raises(UnknownExecutorError, match="MERIDIAN_EXECUTOR='kubernetes'"):
        executor_for("kubernetes")
