"""One attempt of a run, from job to result: build the request, execute it, judge it.

``perform`` is what a worker thread does (no database); ``run_job_now`` runs a job
once, synchronously, in the calling thread, with its retries (the CLI's
``jobs run ID``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .. import __version__
from ..config import Settings
from ..context import AppContext
from ..errors import Conflict, NotFound
from ..metrics import RUN_LATENESS, RUNS, RUNS_IN_FLIGHT
from ..models import JobResult
from ..services.headers import is_reserved_header
from ..timeutil import utcnow
from . import store
from .executors import Outcome, Request
from .executors.http import HttpExecutor
from .executors.ws import WebSocketExecutor

__all__ = ["Attempt", "Executors", "build_request", "status_expected", "perform",
           "retry_at", "run_job_now", "USER_AGENT"]

USER_AGENT = f"scheduler/{__version__}"

log = logging.getLogger("scheduler.engine")

# Labelled children looked up once (``labels()`` takes a lock and hashes each time).
_RUNS_SUCCEEDED = RUNS.labels(outcome="success")
_RUNS_FAILED = RUNS.labels(outcome="failure")


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
    """The engine's executors, shared by every worker."""

    def __init__(self, settings: Settings, pool_size: int):
        cap, deny = settings.fetch.max_response_bytes, settings.fetch.deny_private_networks
        self.http = HttpExecutor(max_response_bytes=cap, deny_private_networks=deny,
                                 pool_size=pool_size)
        self.ws = WebSocketExecutor(max_response_bytes=cap, deny_private_networks=deny)

    def execute(self, job_type: str, request: Request) -> Outcome:
        executor = self.ws if job_type == "websocket" else self.http
        return executor.execute(request)

    def close(self) -> None:
        self.http.close()


def build_request(job: store.JobSpec, run_id: str, attempt: int) -> Request:
    """The request of an attempt: preset headers plus the scheduler's own.

    Framing and routing headers are dropped whatever the preset says (presets stored
    before they were refused may hold them)."""
    headers = {name: value for name, value in job.headers.items()
               if not is_reserved_header(name)}
    payload = job.payload
    if payload is not None and job.type != "websocket" and not any(
            name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = ("application/json" if _is_json(payload)
                                   else "text/plain; charset=utf-8")
    for name in [n for n in headers if n.lower() in (
            "user-agent", "x-scheduler-job-id", "x-scheduler-attempt")]:
        del headers[name]
    headers["User-Agent"] = USER_AGENT
    headers["X-Scheduler-Job-Id"] = run_id
    headers["X-Scheduler-Attempt"] = str(attempt)
    return Request(url=job.endpoint, method=job.method or "get", headers=headers,
                   body=payload, timeout=float(job.timeout_seconds),
                   allow_private_networks=job.allow_private_networks)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def status_expected(code: int | None, expected: list[Any]) -> bool:
    """Whether ``code`` is one of ``expected`` (integers and ``"2xx"``-style classes)."""
    if code is None:
        return False
    for item in expected:
        if isinstance(item, int) and item == code:
            return True
        if isinstance(item, str) and item[1:].lower() == "xx" and item[:1] == str(code // 100):
            return True
    return False


def _judge(job: store.JobSpec, outcome: Outcome) -> tuple[bool, str | None]:
    if outcome.error is not None:
        return False, outcome.error
    if job.type == "websocket":
        return outcome.status_code == 101, None
    if status_expected(outcome.status_code, job.expected_status):
        return True, None
    return False, f"unexpected status {outcome.status_code}"


def perform(attempt: Attempt, executors: Executors, clock: Any = utcnow) -> store.Finished:
    """Execute one attempt and describe its result; never raises."""
    job = attempt.job
    RUNS_IN_FLIGHT.inc()
    started = clock()
    RUN_LATENESS.observe(max(0.0, (started - attempt.scheduled_at).total_seconds()))
    began = time.monotonic()
    try:
        outcome = executors.execute(job.type, build_request(job, attempt.run_id,
                                                             attempt.number))
    except Exception as exc:  # an executor bug must not lose the record
        outcome = Outcome(error=f"internal error: {type(exc).__name__}: {exc}")
    finally:
        RUNS_IN_FLIGHT.dec()
    elapsed = time.monotonic() - began
    success, error = _judge(job, outcome)
    (_RUNS_SUCCEEDED if success else _RUNS_FAILED).inc()
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
    log.log(level, "run fetch_id=%d job_id=%s attempt=%d outcome=%s status=%s duration_ms=%d "
            "lateness_ms=%d%s", attempt.job.id, attempt.run_id, attempt.number, outcome,
            "-" if status_code is None else status_code, duration_ms, lateness_ms,
            f" error={error}" if error else "",
            extra={"fields": {"fetch_id": attempt.job.id, "job_id": attempt.run_id,
                              "attempt": attempt.number, "outcome": outcome,
                              "status_code": status_code, "duration_ms": duration_ms,
                              "lateness_ms": lateness_ms, "error": error}})


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
    try:
        for number in range(1, job.max_attempts + 1):
            with store.transaction():
                # No heartbeat here: the lease covers this attempt and its backoff.
                store.renew_leases(node, utcnow(), lease + job.timeout_seconds
                                   + job.retry_backoff_seconds * 2 ** (number - 1))
                [result_id] = store.open_attempts(
                    [store.RunStart(job, run_id, number, scheduled, manual=True)], utcnow())
            result_ids.append(result_id)
            finished = perform(Attempt(job, run_id, number, scheduled, result_id, manual=True),
                               executors)
            with store.transaction():
                store.finish_attempts([finished], node, utcnow())
            if finished.release:
                break
            scheduled = retry_at(job, finished, number)
            time.sleep(max(0.0, (scheduled - utcnow()).total_seconds()))
    finally:
        with store.transaction():
            store.release_lease(job_id, node)
        executors.close()
    return list(JobResult.select().where(JobResult.id.in_(result_ids)).order_by(JobResult.id))
