"""Running one analyzer over its subjects: cache lookups, priced calls on a few threads, results written as
they arrive, and a clean stop.

For each subject, in order: missing input -> skipped (no call, no penalty); a fresh ``ok`` cache row for the
same artifact -> cache hit (no call) unless ``force``; otherwise one `ask_structured` call whose result
(``ok`` or ``invalid``) is written to `analysis_results` at once.

Stopping: `CostCeilingReached` stops the analyzer cleanly (status ``ceiling_reached``): calls already in
flight finish (their worst case was reserved), no new call starts, everything written so far stays; the
message, written once they have settled, gives the run's final total.
``analysis.max_consecutive_errors`` failed calls in a row (after the SDK's retries) stop it with status
``provider_errors``. A refused key (`LLMAuthError`) stops it and is re-raised: every call would fail.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from meridian_assets.analysis.analyzers.base import Analyzer, AnalyzerInput
from meridian_assets.analysis.audit import AuditLog, utc_now
from meridian_assets.analysis.cache import AnalysisCache
from meridian_assets.analysis.client import LLMClient
from meridian_assets.analysis.costs import CostTracker
from meridian_assets.analysis.errors import CostCeilingReached, LLMAuthError, LLMCallError
from meridian_assets.analysis.secrets import redact
from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.analysis.structured import ask_structured

COMPLETED, CEILING, PROVIDER_ERRORS, SKIPPED = "completed", "ceiling_reached", "provider_errors", "skipped"


@dataclass
class AnalyzerRun:
    analyzer: str
    status: str = COMPLETED
    message: str = ""
    subjects: int = 0
    no_input: int = 0
    cache_hits: int = 0
    ok: int = 0
    invalid: int = 0
    errors: int = 0
    not_started: int = 0  # left when the run stopped
    rows: list[dict] = field(default_factory=list)  # analysis_results rows written by this run
    error_messages: list[str] = field(default_factory=list)

    @property
    def cache_hit_rate(self) -> float:
        looked_up = self.cache_hits + self.ok + self.invalid + self.errors + self.not_started
        return round(self.cache_hits / looked_up, 4) if looked_up else 0.0

    def counts(self) -> dict:
        return {"status": self.status, "subjects": self.subjects, "no_input": self.no_input,
                "analysis_cache_hits": self.cache_hits, "analysis_cache_hit_rate": self.cache_hit_rate,
                "ok": self.ok, "invalid": self.invalid, "errors": self.errors, "not_started": self.not_started}


def run_analyzer(
    analyzer: Analyzer,
    inputs: dict[str, AnalyzerInput | None],
    *,
    llm: LLMClient,
    tracker: CostTracker,
    audit: AuditLog,
    cache: AnalysisCache,
    cfg: AnalysisConfig,
    as_of: dt.date,
    force: bool = False,
    now: dt.datetime | None = None,
    log: Callable[[str], None] | None = None,
) -> AnalyzerRun:
    """Analyse every subject of ``inputs`` (module docstring); returns what happened."""
    now = now or utc_now()
    say = log or (lambda _msg: None)
    run = AnalyzerRun(analyzer=analyzer.name, subjects=len(inputs))
    fresh = {} if force else cache.fresh_keys(analyzer.name, now)
    todo: list[AnalyzerInput] = []
    for subject, inp in inputs.items():
        if inp is None:
            run.no_input += 1
        elif (subject, inp.artifact_id) in fresh:
            run.cache_hits += 1
        else:
            todo.append(inp)
    task = cfg.task(analyzer.name)
    max_tokens = task.max_tokens or cfg.max_tokens
    version = analyzer.prompt_version()
    stop, lock = threading.Event(), threading.Lock()
    state = {"consecutive": 0, "fatal": None}

    def work(inp: AnalyzerInput) -> None:
        if stop.is_set():
            with lock:
                run.not_started += 1
            return
        system, user = analyzer.prompt(inp)
        try:
            ans = ask_structured(
                llm, task=analyzer.name, system=system, user=user, answer_model=analyzer.answer_model,
                tracker=tracker, audit=audit, subject=inp.subject, artifact_id=inp.artifact_id,
                max_tokens=max_tokens, temperature=cfg.temperature,
                check=lambda answer: analyzer.check(answer, inp))
        except CostCeilingReached as err:
            with lock:
                run.not_started += 1
                if run.status != CEILING:
                    run.status, run.message = CEILING, str(err)
                    say(f"{analyzer.name}: {err}")
            stop.set()
            return
        except LLMAuthError as err:
            with lock:
                run.errors += 1
                state["fatal"] = err
            stop.set()
            return
        except LLMCallError as err:
            with lock:
                run.errors += 1
                run.error_messages.append(redact(f"{inp.subject}: {err}"))
                state["consecutive"] += 1
                say(redact(f"{analyzer.name} {inp.subject}: call failed: {err}"))
                if state["consecutive"] >= cfg.max_consecutive_errors and run.status == COMPLETED:
                    run.status = PROVIDER_ERRORS
                    run.message = (f"stopped after {state['consecutive']} failed calls in a row; last: {err}")
                    stop.set()
            return
        score = analyzer.score(ans.value) if ans.ok else None
        row = {
            "analyzer": analyzer.name, "ticker": inp.subject, "artifact_id": inp.artifact_id, "as_of": as_of,
            "sector": inp.sector, "status": ans.status, "score": score,
            "summary": analyzer.summary(ans.value) if ans.ok else None,
            "result_json": ans.value.model_dump_json() if ans.ok else ans.text, "error": ans.error,
            "provider": llm.provider, "model": ans.model, "prompt_version": version, "call_id": ans.call_id,
            "run_id": audit.run_id, "created_at": utc_now(),
        }
        written = cache.put(row)  # an invalid answer never replaces a valid result of the same artifact
        with lock:
            state["consecutive"] = 0
            run.rows.append(row)
            if ans.ok:
                run.ok += 1
            else:
                run.invalid += 1
                run.error_messages.append(f"{inp.subject}: invalid answer: {ans.error}"
                                          + ("" if written else " (the earlier valid result is kept)"))
        tail = f"score {score:.1f}" if score is not None else ("ok" if ans.ok else f"INVALID ({ans.error})")
        say(f"{analyzer.name} {inp.subject}: {tail} (${ans.cost_usd:.4f}, call {ans.call_id})")

    try:
        if todo:
            with ThreadPoolExecutor(max_workers=min(cfg.max_concurrency, len(todo))) as pool:
                list(pool.map(work, todo))
    finally:
        audit.store.flush()
        cache.store.flush()
    if state["fatal"] is not None:
        raise state["fatal"]
    if run.status == CEILING:  # the calls in flight have settled: the total is final
        run.message = tracker.stop_message()
        say(f"{analyzer.name}: {run.message}")
    return run
