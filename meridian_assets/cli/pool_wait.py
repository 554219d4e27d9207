"""Watching a CLI run from beside it: while it waits for a pool slot, say which run holds the slot and how to
clear it, and free it if its process died meanwhile; when the run is canceled from outside (Terminate in the
UI, or run monitoring's maximum runtime), stop it as Ctrl-C would."""

from __future__ import annotations

import _thread
import signal
import sys
import threading
import time

import dagster as dg
from dagster._core.events import DagsterEventType

from meridian_assets.runs import pool_holders, reap_dead_runs, waiting_steps

POLL_SECONDS = 2.0
NOTICE_AFTER_SECONDS = 6.0  # a slot handed over between two runs is waited for a moment without a word
REPEAT_SECONDS = 60.0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class PoolWatcher:
    """A background thread for the duration of one run (`with PoolWatcher(instance, run_id): ...`)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, notice_after: float = NOTICE_AFTER_SECONDS,
                 poll: float = POLL_SECONDS) -> None:
        self.instance, self.run_id, self.notice_after, self.poll = instance, run_id, notice_after, poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="meridian-pool-watcher", daemon=True)

    def __enter__(self) -> PoolWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        waiting_since = last_notice = None
        canceled = False
        while not self._stop.wait(self.poll):
            try:
                if not canceled and self._canceled():
                    canceled = True
                    _say(f"Run {self.run_id} was canceled from outside (Terminate in the UI, or its maximum "
                         "runtime): stopping it.")
                    _thread.interrupt_main(signal.SIGINT)
                waiting = waiting_steps(self.instance, self.run_id)
                if not waiting:
                    waiting_since = last_notice = None
                    continue
                now = time.monotonic()
                waiting_since = waiting_since or now
                if now - waiting_since < self.notice_after:
                    continue
                for reaped in reap_dead_runs(self.instance):
                    _say(f"Released {reaped.describe()}")
                if last_notice is None or now - last_notice >= REPEAT_SECONDS:
                    last_notice = now
                    self._notice(waiting, now - waiting_since)
            except Exception as err:  # a storage hiccup must not stop the run itself
                _say(f"(could not check the pool: {err})")

    def _canceled(self) -> bool:
        records = self.instance.get_records_for_run(self.run_id, of_type=DagsterEventType.RUN_CANCELING, limit=1)
        return bool(records.records)

    def _notice(self, waiting: list[tuple[str, str]], waited: float) -> None:
        pools = sorted({pool for pool, _ in waiting})
        steps = ", ".join(step for _, step in waiting)
        holders = pool_holders(self.instance, exclude_run_id=self.run_id)
        _say(f"Waiting {waited:.0f} s for the {'/'.join(pools)} pool (step {steps}).")
        if not holders:
            _say("  No other run holds a slot now; the slot should be handed over in a moment.")
        for h in holders:
            _say(f"  Held by {h.describe()}: {h.advice()}.")
