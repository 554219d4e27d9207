"""What the research executor's fork server imports before it forks any step (`preload_modules`).

The fanned-out research run (`meta_research_sleeves_job`) executes each step in a process forked from one fork
server per run. This module is the server's preload: it pins every numerical library to one thread (the steps
run one per core side by side, as `meta.sweep`'s workers do) and then imports the code location and the
optimizer once, so a step's process starts with Dagster, the definitions and cvxpy already loaded instead of
paying a fresh interpreter's ~2 s of imports per step.

The environment is set at import because the fork server imports nothing else of ours before this module
(Dagster preloads only its executor module, which loads no numerical library): polars, numpy and BLAS read their
thread settings when they are first imported, and polars' allocator starts background threads at import, which
a process that forks must not have. Imported only by that server, never by the code location itself.
"""

import os

SINGLE_THREAD = {k: "1" for k in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                  "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}
SINGLE_THREAD["_RJEM_MALLOC_CONF"] = "background_thread:false"
os.environ.update(SINGLE_THREAD)

import cvxpy  # noqa: E402,F401  (the MVO sleeves' optimizer)

from meridian_assets.definitions import defs  # noqa: E402  (the code location every step reconstructs its job from)
from meridian_assets.meta import backtest  # noqa: E402,F401
from meridian_assets.meta.jobs import RESEARCH_SLEEVES_JOB  # noqa: E402

defs.resolve_job_def(RESEARCH_SLEEVES_JOB)  # built once here (cached on `defs`), not once per forked step


def _preload_instance_modules() -> None:
    """Import the modules of the Dagster instance each step opens (its storages: SQLite and alembic, or
    PostgreSQL), named by $DAGSTER_HOME/dagster.yaml, and the step's own execution machinery: ~1 s per step
    otherwise. Nothing is connected here; a forked process must not share a database connection."""
    import importlib

    from dagster._core.instance.ref import InstanceRef

    for module in ("dagster._core.execution.api", "dagster._core.executor.child_process_executor",
                   "dagster._core.storage.fs_io_manager", "dagster._core.storage.sqlite_storage",
                   "dagster._core.storage.runs.sqlite", "dagster._core.storage.event_log.sqlite",
                   "dagster._core.storage.schedules.sqlite", "dagster._core.storage.migration.utils",
                   "dagster._core.instance.factory", "dagster._core.secrets.env_file", "alembic.command",
                   "alembic.config", "fsspec.implementations.local"):
        importlib.import_module(module)
    home = os.environ.get("DAGSTER_HOME")
    if home:
        ref = InstanceRef.from_dir(home)
        for data in ref:
            if hasattr(data, "module_name"):
                importlib.import_module(data.module_name)


_preload_instance_modules()
