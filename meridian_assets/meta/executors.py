"""The research executor: Dagster's multiprocess executor (forkserver start method), with two changes of
schedule: the fork server starts with the run, and a step tagged `RUN_WORKER_TAG` runs in the run worker's own
process (meanwhile, at the start of a run).

Every other step runs as the multiprocess executor runs it: in a process forked from a server that has imported
its preload (the code location, cvxpy, the instance's storages), at most ``max_concurrent`` at once, with the same
configuration (`MULTI_PROC_CONFIG`), retries, pools, tag limits and interruption. What differs:

* the fork server is started when the run's execution begins, not when its first step is launched, so its
  imports (~2 s) overlap with whatever the run worker does meanwhile;
* a step tagged ``meridian/run_worker: "true"`` is executed in the run worker (which has already loaded the code
  location) instead of in a forked process. In a fanned-out research run that is the history step, the only
  step ready at the start: it reads DuckDB while the fork server imports, and the sleeve steps fork from a ready
  server as soon as it ends; and the publish step, alone at the end, which then needs no fork. A run-worker step
  blocks the loop while it computes (no other step is launched or heard from meanwhile), so the tag is for a
  step that runs alone, at the start or the end of a run. It fails, retries and is interrupted as an in-process
  step does.

`ResearchExecutor.execute` is `dagster._core.executor.multiprocess.MultiprocessExecutor.execute` of the pinned
Dagster (1.13.x, pyproject.toml), changed at the two lines marked ``[research]``; tests/test_fanout.py runs it.
"""

import multiprocessing
import multiprocessing.forkserver
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from multiprocessing.context import BaseContext as MultiprocessingBaseContext
from multiprocessing.process import BaseProcess
from typing import Any

import dagster as dg
from dagster import _check as check
from dagster._core.definitions.executor_definition import (MULTI_PROC_CONFIG, _core_multiprocess_executor_creation,
                                                           multiple_process_executor_requirements)
from dagster._core.definitions.metadata import MetadataValue
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.definitions.repository_definition import RepositoryLoadData
from dagster._core.errors import DagsterExecutionInterruptedError, DagsterSubprocessError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import create_execution_plan, execute_plan_iterator
from dagster._core.execution.context.system import IStepContext, PlanOrchestrationContext
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.child_process_executor import ChildProcessCrashException
from dagster._core.executor.multiprocess import MultiprocessExecutor, execute_step_out_of_process
from dagster._utils import get_run_crash_explanation
from dagster._utils.error import SerializableErrorInfo, serializable_error_info_from_exc_info
from dagster._utils.timing import TimerResult, time_execution_scope
from dagster_shared.utils.timing import format_duration

RUN_WORKER_TAG = "meridian/run_worker"  # op tag: "true" runs the step in the run worker (module docstring)


def execute_step_in_run_worker(multiproc_ctx: MultiprocessingBaseContext, recon_job: ReconstructableJob,
                               step_context: IStepContext, step: ExecutionStep,
                               errors: dict[int, SerializableErrorInfo], processes: dict[str, BaseProcess],
                               term_events: dict[str, Any], retries: RetryMode, known_state: KnownExecutionState,
                               repository_load_data: RepositoryLoadData | None) -> Iterator[DagsterEvent | None]:
    """`execute_step_out_of_process`'s events for ``step``, executed in this process: the events a forked step
    process would send back (its plan of one step, run against the run's own instance)."""
    yield DagsterEvent.step_worker_starting(
        step_context, f'Executing "{step.key}" in the run worker (pid {os.getpid()}), not a forked process.',
        metadata={"pid": MetadataValue.text(str(os.getpid()))})
    plan = create_execution_plan(job=recon_job, run_config=step_context.run_config, step_keys_to_execute=[step.key],
                                 known_state=known_state, repository_load_data=repository_load_data)
    yield from execute_plan_iterator(plan, recon_job, step_context.dagster_run, run_config=step_context.run_config,
                                     retry_mode=retries.for_inner_plan(), instance=step_context.instance)


class ResearchExecutor(MultiprocessExecutor):
    """The multiprocess executor with a run-worker step and an early fork server (module docstring)."""

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        check.inst_param(plan_context, "plan_context", PlanOrchestrationContext)
        check.inst_param(execution_plan, "execution_plan", ExecutionPlan)

        job = plan_context.reconstructable_job

        multiproc_ctx = multiprocessing.get_context(self._start_method)
        if self._start_method == "forkserver":
            module = job.get_module()
            # if explicitly listed in config we will use that
            if self._explicit_forkserver_preload is not None:
                preload = self._explicit_forkserver_preload

            # or if the reconstructable job has a module target, we will use that
            elif module is not None:
                preload = [module]

            # base case is to preload the dagster library
            else:
                preload = ["dagster"]

            # we import this module first to avoid user code like
            # pyspark.serializers._hijack_namedtuple from breaking us
            if "dagster._core.executor.multiprocess" not in preload:
                preload = ["dagster._core.executor.multiprocess", *preload]

            multiproc_ctx.set_forkserver_preload(list(preload))
            # [research] Boot the server now: it imports its preload while a run-worker step (below) computes.
            multiprocessing.forkserver.ensure_running()

        limit = self._max_concurrent
        tag_concurrency_limits = self._tag_concurrency_limits

        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps using multiprocess executor: parent process (pid: {os.getpid()})",
            event_specific_data=EngineEventData.multiprocess(
                os.getpid(), step_keys_to_execute=execution_plan.step_keys_to_execute
            ),
        )

        timer_result: TimerResult | None = None
        with ExitStack() as stack:
            timer_result = stack.enter_context(time_execution_scope())

            instance_concurrency_context = stack.enter_context(
                InstanceConcurrencyContext(plan_context.instance, plan_context.dagster_run)
            )
            active_execution = stack.enter_context(
                ActiveExecution(
                    execution_plan,
                    retry_mode=self.retries,
                    max_concurrent=limit,
                    tag_concurrency_limits=tag_concurrency_limits,
                    instance_concurrency_context=instance_concurrency_context,
                    step_dependency_config=self._step_dependency_config,
                )
            )
            active_iters: dict[str, Iterator[DagsterEvent | None]] = {}
            errors: dict[int, SerializableErrorInfo] = {}
            processes: dict[str, BaseProcess] = {}
            term_events: dict[str, Any] = {}
            stopping: bool = False

            try:
                while (not stopping and not active_execution.is_complete) or active_iters:
                    if active_execution.check_for_interrupts():
                        yield DagsterEvent.engine_event(
                            plan_context,
                            "Research executor: received termination signal - "
                            "forwarding to active child processes",
                            EngineEventData.interrupted(list(active_iters.keys())),
                        )
                        stopping = True
                        active_execution.mark_interrupted()
                        for key, term_event in term_events.items():
                            if key in processes:
                                if processes[key].is_alive():
                                    term_event.set()
                                del processes[key]

                    while not stopping:
                        steps = active_execution.get_steps_to_execute(
                            limit=(limit - len(active_iters)),
                        )

                        yield from active_execution.concurrency_event_iterator(plan_context)

                        if not steps:
                            break

                        for step in steps:
                            step_context = plan_context.for_step(step)
                            term_events[step.key] = multiproc_ctx.Event()
                            # [research] A step tagged RUN_WORKER_TAG runs here, in the run worker's process.
                            launch = (execute_step_in_run_worker if (step.tags or {}).get(RUN_WORKER_TAG) == "true"
                                      else execute_step_out_of_process)
                            active_iters[step.key] = launch(
                                multiproc_ctx,
                                job,
                                step_context,
                                step,
                                errors,
                                processes,
                                term_events,
                                self.retries,
                                active_execution.get_known_state(),
                                execution_plan.repository_load_data,
                            )

                    # process active iterators
                    empty_iters = []
                    for key, step_iter in active_iters.items():
                        try:
                            event_or_none = next(step_iter)
                            if event_or_none is None:
                                continue

                            yield event_or_none
                            active_execution.handle_event(event_or_none)

                            if event_or_none.is_resource_init_failure:
                                step_context = plan_context.for_step(
                                    active_execution.get_step_by_key(key)
                                )
                                assert isinstance(
                                    event_or_none.engine_event_data.error, SerializableErrorInfo
                                )

                                failure_or_retry_event = (
                                    self.log_failure_or_retry_event_after_error(
                                        step_context,
                                        event_or_none.engine_event_data.error,
                                        active_execution.get_known_state(),
                                    )
                                )
                                yield failure_or_retry_event
                                active_execution.handle_event(failure_or_retry_event)

                        except ChildProcessCrashException as crash:
                            serializable_error = serializable_error_info_from_exc_info(
                                sys.exc_info()
                            )
                            step_context = plan_context.for_step(
                                active_execution.get_step_by_key(key)
                            )
                            yield DagsterEvent.engine_event(
                                step_context,
                                get_run_crash_explanation(
                                    prefix=f"Research executor: child process for step {key}",
                                    exit_code=crash.exit_code,  # ty: ignore[invalid-argument-type]
                                ),
                                EngineEventData.engine_error(serializable_error),
                            )
                            failure_or_retry_event = self.log_failure_or_retry_event_after_error(
                                step_context, serializable_error, active_execution.get_known_state()
                            )

                            active_execution.handle_event(failure_or_retry_event)
                            yield failure_or_retry_event
                            empty_iters.append(key)
                            if failure_or_retry_event.is_step_failure:
                                errors[crash.pid] = serializable_error
                        except StopIteration:
                            empty_iters.append(key)

                    # clear and mark complete finished iterators
                    for key in empty_iters:
                        del active_iters[key]
                        del term_events[key]
                        processes.pop(key, None)
                        active_execution.verify_complete(plan_context, key)

                    # process skipped and abandoned steps
                    yield from active_execution.plan_events_iterator(plan_context)
            except Exception:
                if not stopping and active_iters:
                    serializable_error = serializable_error_info_from_exc_info(sys.exc_info())
                    yield DagsterEvent.engine_event(
                        plan_context,
                        "Unexpected exception while steps were still in-progress - terminating running steps:",
                        event_specific_data=EngineEventData(
                            metadata={
                                "steps_interrupted": MetadataValue.text(
                                    str(list(active_iters.keys()))
                                )
                            },
                            error=serializable_error,
                        ),
                    )
                    for key, term_event in term_events.items():
                        if key in processes:
                            if processes[key].is_alive():
                                term_event.set()
                            del processes[key]

                raise

            errs = {pid: err for pid, err in errors.items() if err}

            # After termination starts, raise an interrupted exception once all subprocesses
            # have finished cleaning up (and the only errors were from being interrupted)
            if (
                stopping
                and (not active_iters)
                and all(
                    [
                        err_info.cls_name
                        in {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}
                        for err_info in errs.values()
                    ]
                )
            ):
                yield DagsterEvent.engine_event(
                    plan_context,
                    "Research executor: interrupted all active child processes",
                    event_specific_data=EngineEventData(),
                )
                raise DagsterExecutionInterruptedError()
            elif errs:
                raise DagsterSubprocessError(
                    "During multiprocess execution errors occurred in child"
                    " processes:\n{error_list}".format(
                        error_list="\n".join(
                            [f"In process {pid}: {err.to_string()}" for pid, err in errs.items()]
                        )
                    ),
                    subprocess_error_infos=list(errs.values()),
                )

        if timer_result:
            yield DagsterEvent.engine_event(
                plan_context,
                f"Research executor: parent process exiting after {format_duration(timer_result.millis)} "
                f"(pid: {os.getpid()})",
                event_specific_data=EngineEventData.multiprocess(os.getpid()),
            )



@dg.executor(name="research_multiprocess", config_schema=MULTI_PROC_CONFIG,
             requirements=multiple_process_executor_requirements())
def research_executor(init_context: dg.InitExecutorContext) -> ResearchExecutor:
    """Configured as the multiprocess executor is (max_concurrent, start_method, retries, tag limits)."""
    base = _core_multiprocess_executor_creation(init_context.executor_config)
    return ResearchExecutor(retries=base.retries, max_concurrent=base._max_concurrent,
                            tag_concurrency_limits=base._tag_concurrency_limits, start_method=base._start_method,
                            explicit_forkserver_preload=base._explicit_forkserver_preload,
                            step_dependency_config=base.step_dependency_config)
