"""The engine: a dispatcher thread deciding what runs, an event loop running it.

The dispatcher is the only engine thread that writes to the database. Each pass is
one short transaction with a handful of statements whatever the number of runs: it
completes the records of the attempts that finished (and updates their jobs), renews
its leases, claims due runs (at most as many as there are free places,
``store.claim_due``) and writes the records of the attempts about to start (one
multi-row INSERT); after the commit it hands the attempts to the event loop
(``attempts.AttemptLoop``) in one call. Then it sleeps until the earliest due time (or
a retry, or at most ``MAX_WAIT``), unless ``wake()`` — a job changed, an attempt
finished while nothing else was due soon — interrupts the wait. Passes start at least
``PASS_GAP`` apart, so that under load each pass claims and records runs in
batches. The attempts only execute
(``runner.perform``) and queue what they finished for the next pass;
``scheduler.workers`` bounds how many run at once.

Retries wait in memory (the run keeps its job's lease meanwhile); run-now requests
wait on their job in the database (``store.claim_requested``). When a pass's
transaction fails, the retries it had taken go back into the queue (the requests and
claims it took are rolled back) and the finished records are written one by one. A
failure in a pass is logged and the loop goes on.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from ..config import Settings
from ..db import database
from ..metrics import RUN_LATENESS, RUNS, RUNS_IN_FLIGHT, RUNS_WAITING
from ..timeutil import utcnow
from . import claims, runner, store, wakeups
from .attempts import AttemptLoop
from .backend import backend
from .node import default_node_id
from .retention import RetentionTask

__all__ = ["Engine", "MAX_WAIT"]

log = logging.getLogger("scheduler.engine")

MAX_WAIT = 1.0          # longest sleep: other nodes' changes and expired leases are seen
# Passes start at least this far apart, so that runs are claimed in batches (a run
# due just after a pass waits for the next). A pass per due run (runs due every few
# milliseconds) cost more CPU than the runs themselves; passes 10 ms apart under load
# cost ~55 us more per run at 1,000 runs/s than 20 ms, for a p99 lateness of 20
# instead of 39 ms on a busy machine (bench/README.md).
PASS_GAP = 0.02
# A finished attempt is recorded by the next pass; it wakes a sleeping dispatcher only
# when that pass is further away than this (or every place is taken): at a few
# hundred runs/s, waking it for each finished batch added a pass per batch.
RECORD_WITHIN = 0.1
SWITCH_INTERVAL = 0.001  # the interpreter's thread switch interval while an engine runs
MISFIRE_GRACE = timedelta(seconds=1)

# Labelled children looked up once (``labels()`` takes a lock and hashes each time).
_RUNS_SUCCEEDED = RUNS.labels(outcome="success")
_RUNS_FAILED = RUNS.labels(outcome="failure")


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
        self.pool: AttemptLoop | None = None
        self.retention = RetentionTask(settings.retention.max_runs_per_job,
                                       settings.retention.max_age_days,
                                       interval=retention_interval, clock=clock,
                                       audit_max_age_days=settings.audit.max_age_days)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished: deque[store.Finished] = deque()      # from the attempts
        self._retries: list[tuple[datetime, int, store.RunStart]] = []
        self._order = itertools.count()
        self._running: dict[int, runner.Attempt] = {}   # by result id
        # Set while the dispatcher sleeps longer than RECORD_WITHIN: a finishing
        # attempt wakes it then (its record is written, its place is free again).
        self._sleeping = False
        self._next_renew = 0.0
        self._next_recovery = 0.0
        # PostgreSQL: other nodes' API changes wake this dispatcher (wakeups.py).
        self._listener: wakeups.Listener | None = None
        self._next_waiting = 0.0
        self._waiting_shown = False

    # -- what the API and the server use ---------------------------------------------

    def wake(self) -> None:
        """Jobs or schedules changed: look at the due times again now."""
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def metrics_text(self) -> None:
        """None: this engine counts in this process's registry (``metrics``)."""
        return None

    def start(self) -> None:
        # The dispatcher gives the GIL up at every database round trip and must win it
        # back from the workers; at 1,000 runs/s on PostgreSQL, waiting up to the
        # default 5 ms each time made passes slower than the runs they start (p50
        # lateness 75 ms; 11 ms with 1 ms; the API's throughput unchanged: bench/).
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.pool = AttemptLoop(self.settings, self._finished_one, self.clock)
        self.pool.start()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._thread.start()
        self.retention.start()
        if backend().several_nodes:   # other nodes' API changes wake this one too
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
        if self._running and self.pool is not None:
            log.info("waiting up to %ss for %d running job(s)", grace, len(self._running))
            self.pool.wait_idle(grace)
        if self.pool is not None:
            self.pool.shutdown()
        try:
            self._record_finished(self.clock())
            with store.transaction():
                abandoned = list(self._running)
                store.fail_attempts(abandoned, store.interrupted_error(
                    f"node {self.node_id}", "; the shutdown grace period ended"),
                    self.clock())
                store.release_all(self.node_id)
            if abandoned:
                log.warning("%d run(s) did not finish before the shutdown", len(abandoned))
        except Exception:  # shutdown goes on: the runs are marked interrupted at the next start
            log.exception("recording runs at shutdown failed")
        finally:
            self._running.clear()

    # -- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            self._start_up()
            while not self._stopping.is_set():
                began = self.last_tick = time.monotonic()
                self._wake.clear()
                try:
                    delay = self._pass()
                except Exception:  # one failing pass never stops the loop
                    log.exception("scheduler pass failed; retrying")
                    delay = MAX_WAIT
                self._sleep(began, delay)
        finally:
            database.close()

    def _sleep(self, began: float, delay: float) -> None:
        """Sleep ``delay`` seconds or until woken, and until the gap after ``began``.

        Runs due while a pass waits for its gap are claimed together by the next pass;
        a pass per due run or per finished run (a few milliseconds apart under load)
        cost more CPU than the runs themselves. A run due before the gap ends waits
        for its end in one sleep: waking at its due time only to sleep again was a
        thread wake-up more per pass under load.
        """
        if delay > RECORD_WITHIN:
            self._sleeping = True
            # An attempt that finished before the flag was set did not wake us: look.
            if self._finished:
                delay = PASS_GAP
        delay = max(delay, began + PASS_GAP - time.monotonic())
        if delay > 0:
            self._wake.wait(delay)
        self._sleeping = False
        gap = began + PASS_GAP - time.monotonic()
        if gap > 0:   # woken (``wake``) before the gap ended
            self._stopping.wait(gap)

    def _start_up(self) -> None:
        """After a restart: old claims, interrupted runs, missed runs."""
        while not self._stopping.is_set():
            self.last_tick = time.monotonic()
            try:
                backend().prepare_dispatcher_connection()
                now = self.clock()
                failed = 0
                with store.transaction():
                    # Several nodes: the passes repeat other nodes' interrupted runs
                    # (claims.py). One node: whatever it left is its own.
                    if not backend().several_nodes:
                        store.take_over_leases()
                        failed = store.recover_interrupted(now)
                    moved = store.reschedule_on_start(
                        now, self.settings.scheduler.misfire, MISFIRE_GRACE)
                if failed or moved:
                    log.info("start-up: %d interrupted run(s) marked failed, %d job(s) "
                             "rescheduled", failed, moved)
                return
            except Exception:  # e.g. the database is not up yet: try again
                log.exception("engine start-up failed; retrying")
                self._stopping.wait(MAX_WAIT)

    def _pass(self) -> float:
        """One dispatcher pass; returns how long to sleep."""
        now = self.clock()
        mono = time.monotonic()
        records = self._take_finished()
        starts: list[store.RunStart] = []
        attempts: list[runner.Attempt] = []
        taken: list[store.RunStart] = []
        try:
            with store.transaction():
                if records:
                    store.finish_attempts(records, self.node_id, now)
                if mono >= self._next_renew and self._holds_leases():
                    store.renew_leases(self.node_id, now, self.lease_seconds,
                                       self._leased_jobs())
                    self._next_renew = mono + self.lease_seconds / 3
                free = self._free_workers()
                if mono >= self._next_recovery:
                    if backend().several_nodes:   # run again what a dead node left
                        attempts += claims.take_over_interrupted(self.node_id, now, free,
                                                                 self.lease_seconds)
                        self._next_recovery = mono + claims.TAKEOVER_PERIOD
                    else:
                        store.recover_interrupted(now)
                        self._next_recovery = mono + self.lease_seconds
                starts += self._due_retries(now, free - len(attempts), taken)
                starts += store.claim_requested(self.node_id, now,
                                                free - len(attempts) - len(starts),
                                                self.lease_seconds)
                starts += store.claim_due(self.node_id, now,
                                          free - len(attempts) - len(starts), self.lease_seconds)
                result_ids = store.open_attempts(starts, now)
                # Read in the transaction: after the commit it was a read transaction
                # of its own, a few microseconds more.
                due = store.earliest_due()
        except Exception:  # undo what the pass took from memory, then let the loop log it
            self._requeue(taken)
            self._next_renew = self._next_recovery = 0.0   # rolled back: again next pass
            if records:
                self._record_one_by_one(records, now)
            raise
        self._after_recorded(records)
        attempts += [runner.Attempt(start.job, start.run_id, start.number,
                                    start.scheduled_at, result_id, start.manual)
                     for start, result_id in zip(starts, result_ids, strict=True)]
        assert self.pool is not None
        for attempt in attempts:
            self._running[attempt.result_id] = attempt
        self.pool.submit(attempts)
        RUNS_IN_FLIGHT.set(self.pool.busy)
        delay = self._sleep_time(now, mono, due)
        if self._holds_leases():   # wake in time to renew the leases, however short
            delay = min(delay, max(0.0, self._next_renew - mono))
        return delay

    def _finished_one(self, record: store.Finished) -> None:
        """An attempt ended (in the attempts' thread): record it at the next pass."""
        self._finished.append(record)
        if self._sleeping:
            self._sleeping = False
            self._wake.set()

    def _free_workers(self) -> int:
        """Attempts that may start now (``scheduler.workers`` minus those running): a
        place is free as soon as its attempt ends, before the next pass records it."""
        assert self.pool is not None
        return self.workers - self.pool.busy

    def _holds_leases(self) -> bool:
        """Whether runs of this node are going (running, or waiting for a retry)."""
        return bool(self._running or self._retries)

    def _leased_jobs(self) -> set[int]:
        """The jobs whose leases this node holds: their runs are going or will retry."""
        return {attempt.job.id for attempt in self._running.values()} | {
            retry.job.id for _, _, retry in self._retries}

    def _take_finished(self) -> list[store.Finished]:
        records = []
        while self._finished:
            records.append(self._finished.popleft())
        return records

    def _record_finished(self, now: datetime) -> None:
        """Write what workers finished (outside a pass: at shutdown)."""
        records = self._take_finished()
        if not records:
            return
        try:
            with store.transaction():
                store.finish_attempts(records, self.node_id, now)
        except Exception:  # fall back to one transaction per result
            log.exception("recording %d results in one batch failed; one by one", len(records))
            self._record_one_by_one(records, now)
            return
        self._after_recorded(records)

    def _record_one_by_one(self, records: list[store.Finished], now: datetime) -> None:
        """Write finished records each in its own transaction (a pass failed)."""
        for record in records:
            try:
                with store.transaction():
                    store.finish_attempts([record], self.node_id, now)
            except Exception:  # one bad record must not keep the others unwritten
                log.exception("recording the result %s failed", record.result_id)
        self._after_recorded(records)

    def _after_recorded(self, records: list[store.Finished]) -> None:
        """Count finished attempts in the metrics, forget them, schedule retries of the
        failed ones."""
        succeeded = 0
        for record in records:
            attempt = self._running.pop(record.result_id)
            succeeded += record.success
            RUN_LATENESS.observe(max(0.0, (record.started_at
                                           - attempt.scheduled_at).total_seconds()))
            if not record.release:
                retry = store.RunStart(attempt.job, attempt.run_id, attempt.number + 1,
                                       runner.retry_at(attempt.job, record, attempt.number),
                                       attempt.manual)
                self._push_retry(retry)
        if succeeded:
            _RUNS_SUCCEEDED.inc(succeeded)
        if len(records) > succeeded:
            _RUNS_FAILED.inc(len(records) - succeeded)

    def _push_retry(self, retry: store.RunStart) -> None:
        heapq.heappush(self._retries, (retry.scheduled_at, next(self._order), retry))

    def _requeue(self, taken: list[store.RunStart]) -> None:
        """A pass failed: the retries it took wait again (its claims were rolled back)."""
        for retry in taken:
            self._push_retry(retry)

    def _due_retries(self, now: datetime, free: int, taken: list[store.RunStart],
                     ) -> list[store.RunStart]:
        """Due retries that can start (their runs hold their leases), at most ``free``.

        Everything taken from memory is also listed in ``taken``, to go back into the
        queue if the pass fails.
        """
        starts: list[store.RunStart] = []
        while self._retries and self._retries[0][0] <= now and len(starts) < free:
            _, _, retry = heapq.heappop(self._retries)
            taken.append(retry)
            # A job deleted or paused meanwhile starts no new attempt (a run-now's
            # retries go on while paused, as the run-now itself did).
            if not store.holds_lease(retry.job.id, self.node_id,
                                     active_only=not retry.manual):
                store.release_lease(retry.job.id, self.node_id)
                continue
            starts.append(retry)
        return starts

    def _sleep_time(self, now: datetime, mono: float, due: datetime | None) -> float:
        """Seconds until the next thing to do (a due run at ``due``, a retry), at most
        MAX_WAIT."""
        free = self._free_workers()
        if free <= 0:
            if mono >= self._next_waiting:   # counted at most once a second
                RUNS_WAITING.set(store.count_due(now))
                self._next_waiting = mono + 1.0
                self._waiting_shown = True
            return MAX_WAIT   # a finishing worker wakes the loop
        if self._waiting_shown:
            RUNS_WAITING.set(0)
            self._waiting_shown = False
        candidates = [MAX_WAIT]
        if due is not None:
            candidates.append((due - self.clock()).total_seconds())
        if self._retries:
            candidates.append((self._retries[0][0] - self.clock()).total_seconds())
        return max(0.0, min(candidates))
