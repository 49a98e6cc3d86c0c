"""One attempt of a run, from job to result: the executor of the job's type prepares
the request, executes it and judges the answer.

``perform`` is a coroutine on the engine's event loop (``attempts.AttemptLoop``; no
database); ``run_job_now`` runs a job once, in the calling thread (on an event loop
of its own), with its retries (the CLI's ``jobs run ID``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..assertions import Answer, first_failure, parse_rules
from ..config import Settings
from ..context import AppContext
from ..errors import BadRequest, Conflict, NotFound
from ..models import JobResult
from ..timeutil import utcnow
from . import store
from .executors import Executor, Outcome
from .executors.registry import EXECUTORS

__all__ = ["Attempt", "Executors", "perform", "retry_at", "run_job_now"]

log = logging.getLogger("scheduler.engine")


@dataclass(frozen=True)
class Attempt:
    """One attempt of a run, its record already written (``result_id``)."""
    job: store.JobSpec
    run_id: str
    number: int
    scheduled_at: datetime
    result_id: int
    manual: bool = False


class Executors:
    """One executor per job type (``executors.registry``), shared by every attempt of
    one event loop."""

    def __init__(self, settings: Settings, pool_size: int):
        self.by_type: dict[str, Executor] = {
            name: executor_type.from_settings(settings, pool_size)
            for name, executor_type in EXECUTORS.items()}

    def __getitem__(self, job_type: str) -> Executor:
        return self.by_type[job_type]

    async def close(self) -> None:
        for executor in self.by_type.values():
            await executor.close()


def _broken_rule(job: store.JobSpec, outcome: Outcome, duration_ms: int) -> str | None:
    """The error of the job's first success rule that fails on ``outcome``, if any."""
    if not job.assertions:
        return None
    answer = Answer(body=outcome.body, headers=outcome.headers, truncated=outcome.truncated,
                    duration_ms=duration_ms)
    try:
        return first_failure(parse_rules(job.assertions), answer)
    except BadRequest as exc:   # stored before a rule type changed: say so, do not crash
        return f"assertions cannot be checked: {exc.message}"


async def perform(attempt: Attempt, executors: Executors,
                  clock: Any = utcnow) -> store.Finished:
    """Execute one attempt and describe its result; never raises. (The engine counts
    it in the metrics when it records it, a pass's runs at once.)"""
    job = attempt.job
    started = clock()
    began = time.monotonic()
    executor = executors[job.type]
    try:
        outcome = await executor.execute(executor.prepare(job, attempt.run_id,
                                                          attempt.number))
    except Exception as exc:  # an executor bug must not lose the record
        outcome = Outcome(error=f"internal error: {type(exc).__name__}: {exc}")
    elapsed = time.monotonic() - began
    error = executor.judge(job, outcome) or _broken_rule(job, outcome, round(elapsed * 1000))
    success = error is None
    _log_attempt(attempt, success, outcome.status_code, error, elapsed, started)
    response = outcome.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return store.Finished(
        result_id=attempt.result_id, job_id=job.id, status_code=outcome.status_code,
        response=response, response_headers=outcome.headers,
        response_truncated=outcome.truncated, error=error, success=success,
        started_at=started, finished_at=started + timedelta(seconds=elapsed),
        duration_ms=round(elapsed * 1000),
        release=success or attempt.number >= job.max_attempts)


def _log_attempt(attempt: Attempt, success: bool, status_code: int | None, error: str | None,
                 elapsed: float, started: datetime) -> None:
    """One line per attempt: job, run id, attempt, outcome (never the endpoint: it may
    carry credentials)."""
    level = logging.INFO if success else logging.WARNING
    if not log.isEnabledFor(level):
        return
    outcome = "success" if success else "failure"
    duration_ms = round(elapsed * 1000)
    lateness_ms = round(max(0.0, (started - attempt.scheduled_at).total_seconds()) * 1000)
    # makeRecord + handle is Logger.log without the caller lookup (a stack walk per
    # run, for a file and line this line would always be).
    log.handle(log.makeRecord(
        log.name, level, __file__, 0, "run fetch_id=%d job_id=%s attempt=%d outcome=%s "
        "status=%s duration_ms=%d lateness_ms=%d%s", (
            attempt.job.id, attempt.run_id, attempt.number, outcome,
            "-" if status_code is None else status_code, duration_ms, lateness_ms,
            f" error={error}" if error else ""), None,
        extra={"fields": {"fetch_id": attempt.job.id, "job_id": attempt.run_id,
                          "attempt": attempt.number, "outcome": outcome,
                          "status_code": status_code, "duration_ms": duration_ms,
                          "lateness_ms": lateness_ms, "error": error}}))


def retry_at(job: store.JobSpec, failed: store.Finished, number: int) -> datetime:
    """When attempt ``number + 1`` is due: backoff × 2^(number−1) after the failure."""
    return failed.finished_at + timedelta(
        seconds=job.retry_backoff_seconds * 2 ** (number - 1))


def run_job_now(ctx: AppContext, job_id: int, *, wait_seconds: float = 30.0,
                node: str | None = None) -> list[JobResult]:
    """Run job ``job_id`` once now, in this thread, with its retries; its results.

    Like ``POST /fetch/{id}/run``: works on inactive jobs, issues a new run id for
    the run, leaves the job's own ``run_id`` and ``next_run_at`` alone, and never
    overlaps a run of the same job elsewhere (it waits up to ``wait_seconds`` for
    one to end, then raises Conflict). NotFound when there is no such job.
    """
    settings = ctx.settings
    node = node or f"run-now-{uuid.uuid4().hex[:12]}"
    lease = settings.scheduler.lease_seconds
    deadline = time.monotonic() + wait_seconds
    while True:
        with store.transaction():
            job = store.acquire_lease(job_id, node, utcnow(), lease)
            if job is None and not store.job_exists(job_id):
                raise NotFound("Fetch not found")
        if job is not None:
            break
        if time.monotonic() > deadline:
            raise Conflict("The job is running; try again when its run ends")
        time.sleep(0.1)
    executors = Executors(settings, pool_size=1)
    run_id = str(uuid.uuid4())
    result_ids: list[int] = []
    scheduled = utcnow()
    loop = asyncio.Runner()   # the attempts' event loop, kept for the connection pool
    try:
        for number in range(1, job.max_attempts + 1):
            with store.transaction():
                # No heartbeat here: the lease covers this attempt and its backoff.
                store.renew_leases(node, utcnow(), lease + job.timeout_seconds
                                   + job.retry_backoff_seconds * 2 ** (number - 1))
                [result_id] = store.open_attempts(
                    [store.RunStart(job, run_id, number, scheduled, manual=True)], utcnow())
            result_ids.append(result_id)
            finished = loop.run(perform(
                Attempt(job, run_id, number, scheduled, result_id, manual=True), executors))
            with store.transaction():
                store.finish_attempts([finished], node, utcnow())
            if finished.release:
                break
            scheduled = retry_at(job, finished, number)
            time.sleep(max(0.0, (scheduled - utcnow()).total_seconds()))
    finally:
        with store.transaction():
            store.release_lease(job_id, node)
        loop.run(executors.close())
        loop.close()
    return list(JobResult.select().where(JobResult.id.in_(result_ids)).order_by(JobResult.id))
