"""The Meridian code location for a deployment, with the run executor chosen by `MERIDIAN_EXECUTOR`.

    in_process    (default) every step in the run worker's process, as `meridian_assets.definitions`
    multiprocess  one child process per step, on the run worker's host
    k8s_job       one Kubernetes Job per step (`dagster_k8s.k8s_job_executor`); with the K8sRunLauncher of
                  deploy/k8s/dagster.yaml the step pods inherit the run pod's image, env and volumes
    docker        one container per step (`dagster_docker.docker_executor`)

Serve it with `dagster api grpc -m deploy.location -h 0.0.0.0 -p 4000` in the code-location image (the
workspace files in deploy/k8s and deploy/docker point at that server). The assets, checks, jobs, schedules,
sensors and resources are exactly those of `meridian_assets.definitions`; only the default executor differs.
While the warehouse is one DuckDB file, every writing step holds the one-slot `duckdb` pool, so a per-step
executor buys isolation (a step's memory, a crashed step's pod), not parallelism.

The Kubernetes and Docker executors come from the `deploy` extra (`pip install -e ".[deploy]"`); they are
imported only when chosen.
"""

from __future__ import annotations

import os

import dagster as dg

from meridian_assets.definitions import build_definitions

EXECUTORS = ("in_process", "multiprocess", "k8s_job", "docker")


class UnknownExecutorError(ValueError):
    pass


def executor_for(name: str) -> dg.ExecutorDefinition:
    """The executor definition called ``name`` (one of `EXECUTORS`)."""
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "k8s_job":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if name == "docker":
        from dagster_docker import docker_executor

        return docker_executor
    raise UnknownExecutorError(f"MERIDIAN_EXECUTOR={name!r} (must be one of {', '.join(EXECUTORS)})")


def deployment_definitions(executor: str | None = None, config_path: str | None = None,
                           database: str | None = None) -> dg.Definitions:
    """`meridian_assets.definitions.build_definitions()` with ``executor`` (default: `MERIDIAN_EXECUTOR`, else
    in_process) as every job's default executor. Jobs that pin their own executor (risk_halt_job) keep it."""
    base = build_definitions(config_path, database)
    return dg.Definitions(
        assets=base.assets, asset_checks=base.asset_checks, jobs=base.jobs, schedules=base.schedules,
        sensors=base.sensors, resources=base.resources, loggers=base.loggers, metadata=base.metadata,
        executor=executor_for(executor or os.environ.get("MERIDIAN_EXECUTOR", "in_process")),
    )


defs = deployment_definitions()
