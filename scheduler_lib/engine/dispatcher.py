"""The engine: a dispatcher thread deciding what runs, a bounded pool running it.

The dispatcher is the only engine thread that writes to the database. Each pass it
records the attempts the workers finished, renews its leases, claims due runs (at
most as many as there are free workers) and writes their records, in one short
transaction, then hands the attempts to the pool. Then it sleeps until the earliest
due time (or a retry, or at most ``MAX_WAIT``), unless ``wake()`` — a job changed, a
worker finished — interrupts the wait. Workers only execute (``runner.perform``).

Retries wait in memory (the run keeps its job's lease meanwhile), run-now requests
too. A failure in a pass is logged and the loop goes on.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import Settings
from ..db import database, is_postgres
from ..metrics import ACTIVE_JOBS, RUNS_WAITING
from ..timeutil import utcnow
from . import claims, runner, store, wakeups
from .retention import RetentionTask

__all__ = ["Engine", "MAX_WAIT"]

log = logging.getLogger("scheduler.engine")

MAX_WAIT = 1.0          # longest sleep: other nodes' changes and expired leases are seen
PASS_QUANTUM = 0.02     # shortest sleep before a due run: passes claim runs in batches
GAUGE_PERIOD = 5.0      # how often the active-jobs gauge is refreshed
MISFIRE_GRACE = timedelta(seconds=1)
STOPPED_ERROR = "interrupted: the scheduler was stopped before this run finished"


@dataclass(frozen=True)
class _Pending:
    """A run waiting to start outside the schedule: a run-now, or a retry."""
    job_pk: int
    job_id: str
    number: int
    scheduled_at: datetime
    manual: bool
    spec: store.JobSpec | None = None


def default_node_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Engine:
    """The scheduling engine of one process (``Engine(settings).start()``)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 node_id: str | None = None, retention_interval: float = 300.0):
        self.settings = settings
        self.clock = clock
        self.node_id = node_id or default_node_id()
        self.workers = settings.scheduler.workers
        self.lease_seconds = settings.scheduler.lease_seconds
        self.last_tick: float | None = None
        self.executors = runner.Executors(settings, pool_size=self.workers)
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="run")
        self.retention = RetentionTask(settings.retention.max_runs_per_job,
                                       settings.retention.max_age_days,
                                       interval=retention_interval, clock=clock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished: deque[store.Finished] = deque()      # from workers
        self._manual: deque[_Pending] = deque()               # from the API
        self._retries: list[tuple[datetime, int, _Pending]] = []
        self._order = itertools.count()
        self._running: dict[int, tuple[runner.Attempt, Future]] = {}   # by result id
        self._next_renew = 0.0
        self._next_recovery = 0.0
        self._next_gauge = 0.0
        # PostgreSQL: other nodes' API changes wake this dispatcher (wakeups.py).
        self._listener: wakeups.Listener | None = None
        self._next_waiting = 0.0
        self._waiting_shown = False

    # -- what the API and the server use ---------------------------------------------

    def wake(self) -> None:
        """Jobs or schedules changed: look at the due times again now."""
        self._wake.set()

    def run_now(self, job_pk: int) -> str:
        """Queue a run of job ``job_pk`` off schedule; returns the run's ``job_id``."""
        job_id = str(uuid.uuid4())
        self._manual.append(_Pending(job_pk, job_id, 1, self.clock(), manual=True))
        self._wake.set()
        return job_id

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._thread.start()
        self.retention.start()
        if is_postgres():
            self._listener = wakeups.Listener(self._wake.set)
            self._listener.start()

    def request_stop(self) -> None:
        """Stop claiming new runs now (``stop`` then waits for the running ones)."""
        self._stopping.set()
        self._wake.set()

    def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let running attempts finish up to ``grace`` seconds, record
        them, fail the ones still going, and give the leases back."""
        if grace is None:
            grace = self.settings.scheduler.shutdown_grace_seconds
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.retention.stop()
        if self._listener is not None:
            self._listener.stop()
        futures = [future for _, future in self._running.values()]
        if futures:
            log.info("waiting up to %ss for %d running job(s)", grace, len(futures))
            wait_futures(futures, timeout=grace)
        self.pool.shutdown(wait=False, cancel_futures=True)
        try:
            self._record_finished(self.clock())
            with store.transaction():
                abandoned = list(self._running)
                store.fail_attempts(abandoned, STOPPED_ERROR, self.clock())
                store.release_all(self.node_id)
            if abandoned:
                log.warning("%d run(s) did not finish before the shutdown", len(abandoned))
        except Exception:
            log.exception("recording runs at shutdown failed")
        finally:
            self._running.clear()
            self.executors.close()

    # -- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            self._start_up()
            while not self._stopping.is_set():
                self.last_tick = time.monotonic()
                self._wake.clear()
                try:
                    delay = self._pass()
                except Exception:
                    log.exception("scheduler pass failed; retrying")
                    delay = MAX_WAIT
                if delay > 0:
                    self._wake.wait(delay)
        finally:
            database.close()

    def _start_up(self) -> None:
        """After a restart: old claims, interrupted runs, missed runs."""
        while not self._stopping.is_set():
            self.last_tick = time.monotonic()
            try:
                now = self.clock()
                with store.transaction():
                    if not is_postgres():
                        store.take_over_leases()
                    # PostgreSQL: the passes repeat other nodes' interrupted runs (claims.py).
                    failed = 0 if is_postgres() else store.recover_interrupted(now)
                    moved = store.reschedule_on_start(
                        now, self.settings.scheduler.misfire, MISFIRE_GRACE)
                if failed or moved:
                    log.info("start-up: %d interrupted run(s) marked failed, %d job(s) "
                             "rescheduled", failed, moved)
                return
            except Exception:
                log.exception("engine start-up failed; retrying")
                self._stopping.wait(MAX_WAIT)

    def _pass(self) -> float:
        """One dispatcher pass; returns how long to sleep."""
        now = self.clock()
        mono = time.monotonic()
        self._record_finished(now)
        attempts: list[runner.Attempt] = []
        with store.transaction():
            if mono >= self._next_renew and self._running_jobs():
                store.renew_leases(self.node_id, now, self.lease_seconds)
                self._next_renew = mono + self.lease_seconds / 3
            free = self.workers - len(self._running)
            if mono >= self._next_recovery:
                if is_postgres():   # several nodes: run again what a dead node left
                    attempts += claims.take_over_interrupted(self.node_id, now, free,
                                                             self.lease_seconds)
                    self._next_recovery = mono + claims.TAKEOVER_PERIOD
                else:
                    store.recover_interrupted(now)
                    self._next_recovery = mono + self.lease_seconds
            attempts += self._start_pending(now, free - len(attempts))
            for claim in store.claim_due(self.node_id, now, free - len(attempts),
                                         self.lease_seconds):
                pk = store.open_attempt(claim.spec, claim.job_id, 1, claim.scheduled_at, now)
                attempts.append(runner.Attempt(claim.spec, claim.job_id, 1,
                                               claim.scheduled_at, pk))
        for attempt in attempts:
            future = self.pool.submit(self._work, attempt)
            self._running[attempt.result_pk] = (attempt, future)
        delay = self._sleep_time(now, mono)
        if self._running_jobs():   # wake in time to renew the leases, however short
            delay = min(delay, max(0.0, self._next_renew - mono))
        return delay

    def _work(self, attempt: runner.Attempt) -> None:
        try:
            self._finished.append(runner.perform(attempt, self.executors, self.clock))
        finally:
            self._wake.set()

    def _running_jobs(self) -> set[int]:
        return {attempt.spec.pk for attempt, _ in self._running.values()} | {
            pending.job_pk for _, _, pending in self._retries}

    def _record_finished(self, now: datetime) -> None:
        """Write what workers finished; schedule retries of failed attempts."""
        records = []
        while self._finished:
            records.append(self._finished.popleft())
        if not records:
            return
        try:
            with store.transaction():
                store.finish_attempts(records, self.node_id, now)
        except Exception:
            log.exception("recording %d results in one batch failed; one by one", len(records))
            for record in records:
                try:
                    with store.transaction():
                        store.finish_attempts([record], self.node_id, now)
                except Exception:
                    log.exception("recording the result %s failed", record.result_pk)
        for record in records:
            attempt, _ = self._running.pop(record.result_pk)
            if not record.release:
                due = runner.retry_at(attempt.spec, record, attempt.number)
                retry = _Pending(attempt.spec.pk, attempt.job_id, attempt.number + 1, due,
                                 attempt.manual, attempt.spec)
                heapq.heappush(self._retries, (due, next(self._order), retry))

    def _start_pending(self, now: datetime, free: int) -> list[runner.Attempt]:
        """Open the records of due retries and of run-now requests that can start."""
        attempts: list[runner.Attempt] = []
        while self._retries and self._retries[0][0] <= now and len(attempts) < free:
            _, _, retry = heapq.heappop(self._retries)
            # A job deleted or paused meanwhile starts no new attempt (a run-now's
            # retries go on while paused, as the run-now itself did).
            if not store.holds_lease(retry.job_pk, self.node_id, active_only=not retry.manual):
                store.release_lease(retry.job_pk, self.node_id)
                continue
            attempts.append(self._open(retry, retry.spec, now))
        busy = {attempt.spec.pk for attempt, _ in self._running.values()}
        waiting: list[_Pending] = []
        while self._manual and len(attempts) < free:
            request = self._manual.popleft()
            if request.job_pk in busy:
                waiting.append(request)
                continue
            spec = store.acquire_lease(request.job_pk, self.node_id, now, self.lease_seconds)
            if spec is not None:
                busy.add(request.job_pk)
                attempts.append(self._open(request, spec, now))
            elif store.job_exists(request.job_pk):
                waiting.append(request)   # a run of it is going: start when it ends
        self._manual.extendleft(reversed(waiting))
        return attempts

    def _open(self, pending: _Pending, spec: store.JobSpec | None,
              now: datetime) -> runner.Attempt:
        assert spec is not None
        pk = store.open_attempt(spec, pending.job_id, pending.number, pending.scheduled_at, now)
        return runner.Attempt(spec, pending.job_id, pending.number, pending.scheduled_at, pk,
                              pending.manual)

    def _sleep_time(self, now: datetime, mono: float) -> float:
        """Seconds until the next thing to do (a due run, a retry), at most MAX_WAIT."""
        if mono >= self._next_gauge:
            ACTIVE_JOBS.set(store.count_active())
            self._next_gauge = mono + GAUGE_PERIOD
        free = self.workers - len(self._running)
        if free <= 0:
            if mono >= self._next_waiting:   # counted at most once a second
                RUNS_WAITING.set(store.count_due(now))
                self._next_waiting = mono + 1.0
                self._waiting_shown = True
            return MAX_WAIT   # a finishing worker wakes the loop
        if self._waiting_shown:
            RUNS_WAITING.set(0)
            self._waiting_shown = False
        if self._manual:
            return 0.05        # a run-now waits for its job's run to end
        candidates = [MAX_WAIT]
        due = store.earliest_due()
        if due is not None:
            candidates.append((due - self.clock()).total_seconds())
        if self._retries:
            candidates.append((self._retries[0][0] - self.clock()).total_seconds())
        wait = min(candidates)
        # Runs due within the next PASS_QUANTUM are left for one pass to claim
        # together: a pass per due run (runs due every few milliseconds) cost more
        # CPU than the runs and slowed the API by half with 10,000 one-minute jobs;
        # with 20 ms, by ~10%, for ~10 ms more lateness (bench/engine.py).
        return 0.0 if wait <= 0 else max(wait, PASS_QUANTUM)
