"""Running asset jobs from the CLI on the project's Dagster instance, so the runs show up in the UI."""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import os
import re
import shutil
import sys
from pathlib import Path

import dagster as dg

from meridian_assets.cli.pool_wait import PoolWatcher
from meridian_assets import dbread
from meridian_assets.config import PROJECT_ROOT, MeridianConfig, meridian_home
from meridian_assets.ingest.partitions import RANGE_END, RANGE_START
from meridian_assets.runs import reap_dead_runs, worker_tags


class _ProgressHandler(logging.Handler):
    """One short line per log message: time, step, the message's first line (no stack traces)."""

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        message = str(meta.get("orig_message") or record.getMessage())
        first = message.strip().split("\n", 1)[0][:300]
        step = meta.get("step_key") or ""
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        print(f"{stamp} {record.levelname:<7} {step:<28} {first}", file=stream, flush=True)


@dg.logger(dg.Field({"log_level": dg.Field(str, default_value="INFO")}), description="CLI progress lines")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    level = init_context.logger_config["log_level"]
    log = logging.Logger("meridian", level=level)
    log.addHandler(_ProgressHandler())
    return log


def prepare_instance() -> dg.DagsterInstance:
    """The project-local instance (DAGSTER_HOME, default `$MERIDIAN_HOME/dagster`) with the committed dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(meridian_home() / "dagster")))
    home.mkdir(parents=True, exist_ok=True)
    target, source = home / "dagster.yaml", PROJECT_ROOT / "dagster.yaml"
    if source.exists() and not target.exists():
        shutil.copyfile(source, target)
    return dg.DagsterInstance.get()


def run_in_process(job: dg.JobDefinition, *, instance: dg.DagsterInstance | None = None,
                   tags: dict[str, str] | None = None, run_id: str | None = None,
                   **kwargs) -> dg.ExecuteInProcessResult:
    """Execute ``job`` in this process as a run of the project instance. Every CLI run goes through here: the
    slots of runs whose process died are freed first, the run is tagged with this process as its worker (so a
    later command can tell if it dies), and while it waits for a pool slot a line says which run holds it."""
    from dagster._core.utils import make_new_run_id

    instance = instance or prepare_instance()
    for reaped in reap_dead_runs(instance):
        print(f"Released {reaped.describe()}", file=sys.stderr, flush=True)
    run_id = run_id or make_new_run_id()
    with PoolWatcher(instance, run_id):
        return job.execute_in_process(instance=instance, run_id=run_id, tags={**(tags or {}), **worker_tags()},
                                      **kwargs)


def run_assets(
    defs: dg.Definitions,
    job_name: str,
    assets: list[str],
    start: dt.date,
    end: dt.date,
    op_config: dict[str, dict] | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "INFO",
    run_id: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize ``assets`` of ``job_name`` for the sessions [start, end] in one run (``run_id``: chosen by the
    caller, e.g. to bind a confirmation to the run)."""
    job = defs.resolve_job_def(job_name)
    run_config = {"loggers": {"progress": {"config": {"log_level": log_level}}}}
    if op_config:
        run_config["ops"] = {name: {"config": cfg} for name, cfg in op_config.items()}
    return run_in_process(
        job,
        run_config=run_config,
        instance=instance,
        tags={RANGE_START: start.isoformat(), RANGE_END: end.isoformat(), "meridian/source": "cli"},
        asset_selection=[dg.AssetKey(a) for a in assets],
        raise_on_error=False,
        run_id=run_id,
    )


def failures(result: dg.ExecuteInProcessResult) -> list[str]:
    """Readable lines for each failed step and failed blocking check of a run."""
    lines = []
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            if not data.passed and data.severity == dg.AssetCheckSeverity.ERROR:
                lines.append(f"check {data.asset_key.to_user_string()}:{data.check_name} failed:\n"
                             f"{data.description or ''}")
        elif ev.event_type_value == "STEP_FAILURE":
            lines.append(f"step {ev.step_key} failed: {_step_error(ev.event_specific_data.error, result.run_id)}")
    return lines


def _step_error(err, run_id: str) -> str:
    """One line for a failed step: a refusal's own text (``dg.Failure``, a Meridian or domain error), or for a
    crash in the step's code (a Python built-in exception) the exception and where its traceback is."""
    if err is None:
        return "unknown error"
    if err.cause is not None and "Error occurred while executing" in err.message:
        err = err.cause  # Dagster's wrapper around an exception raised by the step's code
    text = err.message.strip() or err.cls_name or "unknown error"
    crash = isinstance(getattr(builtins, err.cls_name or "", None), type) and issubclass(
        getattr(builtins, err.cls_name), Exception)
    if not crash:  # the refusal's whole text (a failed check lists its findings, one per line)
        # "dagster._core.definitions.events.Failure: text" -> "text"
        return re.sub(r"^[\w.]+(Error|Failure|Exception): ", "", text)
    first = text.splitlines()[0]
    return f"{first} (an unexpected error: its traceback is in the Dagster UI, run {run_id[:8]})"


def check_warnings(result: dg.ExecuteInProcessResult, examples: int = 3) -> list[str]:
    """Readable lines for each warning-level check of a run that found something (vendor errors, zero-volume
    rows, >50% moves...): the check, how many findings and by rule, then its first ``examples`` findings."""
    lines = []
    for ev in result.all_events:
        if ev.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        data = ev.event_specific_data
        if data.passed or data.severity != dg.AssetCheckSeverity.WARN:
            continue
        meta = {k: getattr(v, "value", v) for k, v in (data.metadata or {}).items()}
        n = meta.get("violations")
        by_rule = meta.get("by_rule") or {}
        counts = ", ".join(f"{rule} {c:,}" for rule, c in by_rule.items()) if isinstance(by_rule, dict) else ""
        head = f"{data.asset_key.to_user_string()}:{data.check_name}: {n:,} findings" if isinstance(n, int) \
            else f"{data.asset_key.to_user_string()}:{data.check_name}: warning"
        lines.append(head + (f" ({counts})" if counts else ""))
        found = [ln.strip() for ln in (data.description or "").splitlines() if ln.strip()]
        lines += [f"    {ln[:200]}" for ln in found[:examples]]
    return lines


def report_warnings(result: dg.ExecuteInProcessResult, what: str) -> bool:
    """Print a summary of the run's warning-level check results (to stdout); True when there were any."""
    lines = check_warnings(result)
    if lines:
        print(f"{what}: warning checks (not blocking; full lists in the Dagster UI):")
        for line in lines:
            print(f"- {line}" if not line.startswith("    ") else line)
    return bool(lines)


def report_failures(result: dg.ExecuteInProcessResult, what: str) -> bool:
    """Print why a run did not complete (to stderr); True when it failed."""
    problems = failures(result)
    if not problems and result.success:
        return False
    print(f"{what} did not complete:", file=sys.stderr)
    for line in problems:
        print(f"- {line}", file=sys.stderr)
    return True


def run_job(defs: dg.Definitions, job: str, op_config: dict[str, dict] | None = None, *,
            log_level: str = "INFO") -> dg.ExecuteInProcessResult:
    """Run a whole (unpartitioned) job on the project instance; `MeridianError` with the reasons if it fails."""
    from meridian_assets.errors import MeridianError

    run_config: dict = {"loggers": {"progress": {"config": {"log_level": log_level}}}}
    if op_config:
        run_config["ops"] = {name: {"config": c} for name, c in op_config.items()}
    result = run_in_process(defs.resolve_job_def(job), run_config=run_config, tags={"meridian/source": "cli"},
                            raise_on_error=False)
    problems = failures(result)
    if problems or not result.success:
        raise MeridianError(f"{job} did not complete:\n" + "\n".join(f"- {p}" for p in problems))
    return result


def stopped_on_input(result: dg.ExecuteInProcessResult) -> bool:
    """True when every failure of the run is about its input: a step that refused it on purpose (a `dg.Failure`:
    unreadable file, missing column or key, values that do not parse, rows that failed their blocking check)
    or a failed blocking check. False when a step crashed (a bug, not the data)."""
    refused = False
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            if ev.event_specific_data.user_failure_data is None:
                return False
            refused = True
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            refused |= not data.passed and data.severity == dg.AssetCheckSeverity.ERROR
    return refused


def last_loaded_session(cfg: MeridianConfig) -> dt.date | None:
    """The last session in `daily_prices` (None on an empty or missing database): where `data` and `score` start."""
    db = cfg.database_path()
    if not db.exists():
        return None
    conn = dbread.connect(db)
    try:
        has = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name='daily_prices'").fetchall()[0][0]
        return conn.execute("SELECT max(date) FROM daily_prices").fetchall()[0][0] if has else None
    finally:
        conn.close()
