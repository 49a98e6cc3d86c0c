"""The engine's database work: claiming runs, leases, and the records of attempts.

All engine SQL lives here, in the common SQL of SQLite and PostgreSQL, as plain
statements (no ORM objects in the hot path); what differs between the two is asked
of ``backend.backend()``. Every function runs in the calling
thread's connection; the dispatcher wraps a pass in ``transaction()`` so that the
records of the attempts that finished, the claims of the pass and the records of the
attempts it starts commit together, in one short write, with a few statements
whatever the number of runs (a batch is one statement, not one per run).

The SQL names columns as the schema does (the wire names of API.md): ``jobs.job_id``
and ``job_results.job_id`` hold run ids, ``job_results.fetch_id`` the job, and
``jobs.execute_id`` its schedule. Python names say what they are: ``run_id`` for a
run's id, ``job_id``/``job.id`` for a job's, ``result_id`` for a result's (see
``models``).

Claiming is a guarded write (``claim_due``): a node takes the due runs of a pass by
advancing each job's ``next_run_at``, giving the job a new run id for the run
after, and taking the job's lease in one ``UPDATE … FROM (VALUES (id, <the run id it
read>, …), …) WHERE <run id unchanged> AND <lease free> RETURNING id``; the returned
ids say which jobs it won. The run itself carries the run id the job showed
until then, so a client that read it finds that run's results. While the lease is
held (and renewed) nobody else claims the job, so a job never overlaps itself. A node
that dies leaves its leases to expire after ``scheduler.lease_seconds``; then another
node may claim the job again.

Run-now requests wait on the job itself (``run_requested_id``, at most one per job,
``services.jobs.request_run``); ``claim_requested`` takes them the same way, so any
node may start one and a pass reads at most as many as it has free workers.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import timing
from ..db import database
from ..notify.outbox import record_run_ends
from .backend import backend

__all__ = [
    "JobSpec", "RunStart", "Finished", "JOB_COLUMNS", "JOB_WIDTH", "JOB_FROM",
    "interrupted_error", "execute", "as_datetime", "job_from_row", "transaction", "plan_run",
    "claim_due", "claim_requested", "acquire_lease", "holds_lease", "job_exists", "load_job",
    "release_lease", "release_all", "release_idle_leases", "renew_leases", "take_over_leases",
    "open_attempts", "finish_attempts", "fail_attempts", "recover_interrupted",
    "reschedule_on_start", "earliest_due", "count_due",
]

log = logging.getLogger("scheduler.engine")


def interrupted_error(who: str, then: str = "") -> str:
    """The error recorded on an attempt that will not finish: ``who`` stopped first.

    The one source of these messages: "interrupted: the scheduler stopped before this
    run finished", "interrupted: node n1 stopped before this run finished; retried as
    attempt 2", …
    """
    return f"interrupted: {who} stopped before this run finished{then}"


@dataclass(frozen=True)
class JobSpec:
    """What a run needs to know of its job, read when the run is claimed."""
    id: int
    name: str
    type: str
    endpoint: str
    method: str
    payload: str | None
    headers: dict[str, str]
    timeout_seconds: int
    max_attempts: int
    retry_backoff_seconds: int
    expected_status: list[Any]
    assertions: list[dict[str, Any]] = field(default_factory=list)
    # Exempt from fetch.deny_private_networks: everyone who may change the job
    # (its owners and editors) is a superuser.
    allow_private_networks: bool = False


@dataclass(frozen=True)
class RunStart:
    """An attempt about to start, its lease held: a claimed run, a run-now, a retry."""
    job: JobSpec
    run_id: str
    number: int              # the attempt number, 1 for a new run
    scheduled_at: datetime   # when this attempt was due
    manual: bool = False     # a run-now (it and its retries also run while paused)


@dataclass(frozen=True)
class Finished:
    """The completed record of one attempt (see API.md section 9)."""
    result_id: int
    job_id: int
    status_code: int | None
    response: str | None
    response_headers: dict[str, str]
    response_truncated: bool
    error: str | None
    success: bool
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    release: bool          # the run ends with this attempt: give the job's lease back


# What ``job_from_row`` reads, from a query on ``JOB_FROM`` (other columns may follow).
JOB_COLUMNS = ("j.id, j.name, j.type, j.endpoint, j.method, j.payload, h.headers, "
                "j.timeout_seconds, j.max_attempts, j.retry_backoff_seconds, "
                "j.expected_status, j.assertions, NOT EXISTS (SELECT 1 FROM job_members m "
                "JOIN users u ON u.id = m.user_id WHERE m.fetch_id = j.id "
                "AND m.role IN ('owner', 'editor') AND NOT u.is_superuser)")
JOB_WIDTH = 13   # columns of JOB_COLUMNS: the columns after them start here
JOB_FROM = ("jobs j JOIN schedules s ON s.id = j.execute_id "
             "LEFT JOIN header_presets h ON h.id = j.header_id")
_LEASE_FREE = "(j.lease_owner IS NULL OR j.lease_expires_at < ?)"


def _sql(text: str) -> str:
    return text if database.param == "?" else text.replace("?", database.param)


def execute(text: str, params: Iterable[Any] = ()) -> Any:
    """Run one statement written with ``?`` marks on the open database; its cursor."""
    return database.execute_sql(_sql(text), tuple(params))


def as_datetime(value: Any) -> datetime | None:
    """A timestamp column's value as a datetime (SQLite returns text)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def job_from_row(row: tuple[Any, ...]) -> JobSpec:
    """The JobSpec of a row that starts with ``JOB_COLUMNS``."""
    headers = row[6]
    expected = row[10]
    return JobSpec(
        id=row[0], name=row[1], type=row[2], endpoint=row[3], method=row[4], payload=row[5],
        headers=json.loads(headers) if isinstance(headers, str) else dict(headers or {}),
        timeout_seconds=row[7], max_attempts=row[8], retry_backoff_seconds=row[9],
        expected_status=json.loads(expected) if isinstance(expected, str) else list(expected),
        assertions=json.loads(row[11]), allow_private_networks=bool(row[12]))


@contextmanager
def transaction() -> Iterator[None]:
    """One short write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
    with database.atomic():
        yield


def plan_run(kind: str, value: int | None, cron: str | None, zone: str, is_repeat: bool,
             due: datetime, now: datetime) -> tuple[datetime, datetime | None]:
    """For a run due at ``due`` and claimed at ``now``: (its scheduled_at, next due).

    Slots that passed while the job could not run (an overrun, downtime) collapse into
    one run at the latest passed slot; the next due time is then in the future. A
    one-shot schedule has no next due time.
    """
    if not is_repeat:
        return due, None
    latest = timing.next_due(kind, value, cron, zone, due, now)
    scheduled = latest if latest <= now else due
    return scheduled, timing.next_due(kind, value, cron, zone, scheduled, now)


def claim_due(node: str, now: datetime, limit: int, lease_seconds: int) -> list[RunStart]:
    """Claim up to ``limit`` due runs for ``node``; call inside ``transaction()``.

    This is the one place runs are taken, with two statements whatever the number of
    runs. Candidates are active jobs whose ``next_run_at`` has come and whose lease is
    free or expired; each one's next due time is computed here. Then one guarded
    UPDATE claims them all: for each job it advances ``next_run_at`` (NULL after a
    one-shot), gives the job a new run id for its next run (the run claimed keeps
    the one the job showed) and takes the lease, on condition that the job
    still has the run id read and a free lease. Its ``RETURNING`` lists the jobs
    this node won; a job missing from it was taken by another node (or changed through
    the API) meanwhile and is skipped. Correct with several processes on one database.
    On PostgreSQL the candidates are read ``FOR UPDATE OF j SKIP LOCKED``: nodes
    claiming at the same instant take different jobs instead of waiting on each
    other's row locks (see ``claims``).
    """
    if limit <= 0:
        return []
    rows = execute(
        f"SELECT {JOB_COLUMNS}, j.job_id, j.next_run_at, s.type, s.value, s.cron, "
        f"s.timezone, s.is_repeat FROM {JOB_FROM} "
        f"WHERE j.is_active AND j.next_run_at <= ? AND {_LEASE_FREE} "
        "ORDER BY j.next_run_at LIMIT ?" + backend().lock_candidates,
        (now, backend().lease_cutoff(now), limit)).fetchall()
    planned: dict[int, RunStart] = {}
    values: list[Any] = []
    for row in rows:
        rest = row[JOB_WIDTH:]
        job, old_run_id, due = job_from_row(row), rest[0], as_datetime(rest[1]) or now
        try:
            scheduled, following = plan_run(rest[2], rest[3], rest[4], rest[5],
                                            bool(rest[6]), due, now)
        except (ValueError, KeyError, StopIteration) as exc:
            log.error("job %s: cannot compute its next run (%s); it stops until edited",
                      job.id, exc)
            execute("UPDATE jobs SET next_run_at = NULL WHERE id = ? AND job_id = ?",
                     (job.id, old_run_id))
            continue
        planned[job.id] = RunStart(job, old_run_id, 1, scheduled)
        values += (job.id, old_run_id, following, str(uuid.uuid4()))
    if not planned:
        return []
    row_marks = f"(?, ?, {backend().typed('?', 'TIMESTAMP')}, ?)"
    won = execute(
        f"WITH v (id, old_job_id, next_at, new_job_id) AS (VALUES "
        f"{', '.join([row_marks] * len(planned))}) "
        "UPDATE jobs SET next_run_at = v.next_at, job_id = v.new_job_id, lease_owner = ?, "
        "lease_expires_at = ? FROM v WHERE jobs.id = v.id AND jobs.job_id = v.old_job_id "
        "AND jobs.is_active AND jobs.next_run_at <= ? "
        "AND (jobs.lease_owner IS NULL OR jobs.lease_expires_at < ?) RETURNING jobs.id",
        (*values, node, now + timedelta(seconds=lease_seconds), now,
         backend().lease_cutoff(now))).fetchall()
    winners = {row[0] for row in won}
    return [claim for job_id, claim in planned.items() if job_id in winners]


def claim_requested(node: str, now: datetime, limit: int, lease_seconds: int,
                    ) -> list[RunStart]:
    """Start up to ``limit`` waiting run-now requests (oldest first); call inside
    ``transaction()``.

    Like ``claim_due``: candidates are jobs with a request and a free lease, read with
    ``LIMIT`` (a pass never walks the whole queue); one guarded UPDATE clears each
    request and takes the lease if the request is still the one read. A request whose
    job is running waits on the job until its run ends (the lease is free again).
    """
    if limit <= 0:
        return []
    rows = execute(
        f"SELECT {JOB_COLUMNS}, j.run_requested_id, j.run_requested_at FROM {JOB_FROM} "
        f"WHERE j.run_requested_id IS NOT NULL AND {_LEASE_FREE} "
        "ORDER BY j.run_requested_at LIMIT ?" + backend().lock_candidates,
        (backend().lease_cutoff(now), limit)).fetchall()
    if not rows:
        return []
    requested = {row[0]: RunStart(job_from_row(row), row[JOB_WIDTH], 1,
                                  as_datetime(row[JOB_WIDTH + 1]) or now, manual=True)
                 for row in rows}
    won = execute(
        f"WITH v (id, run_id) AS (VALUES {', '.join(['(?, ?)'] * len(requested))}) "
        "UPDATE jobs SET run_requested_id = NULL, run_requested_at = NULL, lease_owner = ?, "
        "lease_expires_at = ? FROM v WHERE jobs.id = v.id AND jobs.run_requested_id = v.run_id "
        "AND (jobs.lease_owner IS NULL OR jobs.lease_expires_at < ?) RETURNING jobs.id",
        (*[value for start in requested.values() for value in (start.job.id, start.run_id)],
         node, now + timedelta(seconds=lease_seconds), backend().lease_cutoff(now))).fetchall()
    return [requested[row[0]] for row in won]


def acquire_lease(job_id: int, node: str, now: datetime, lease_seconds: int,
                  *, active_only: bool = False) -> JobSpec | None:
    """Take a job's lease outside its schedule (run now, a retry); None if not free."""
    won = execute(
        "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ? "
        "AND (lease_owner IS NULL OR lease_expires_at < ?)"
        + (" AND is_active" if active_only else ""),
        (node, now + timedelta(seconds=lease_seconds), job_id,
         backend().lease_cutoff(now))).rowcount
    return load_job(job_id) if won == 1 else None


def holds_lease(job_id: int, node: str, *, active_only: bool) -> bool:
    """Whether ``node`` still holds the job's lease (and the job still exists)."""
    row = execute("SELECT is_active FROM jobs WHERE id = ? AND lease_owner = ?",
                   (job_id, node)).fetchone()
    return row is not None and (bool(row[0]) or not active_only)


def job_exists(job_id: int) -> bool:
    return execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is not None


def load_job(job_id: int) -> JobSpec | None:
    row = execute(f"SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE j.id = ?",
                   (job_id,)).fetchone()
    return job_from_row(row) if row else None


def _release(condition: str, params: Iterable[Any] = ()) -> int:
    """Give back the leases of the jobs matching ``condition``; how many there were.
    Every release of a lease goes through here."""
    return execute("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
                   f"WHERE {condition}", params).rowcount


def release_lease(job_id: int, node: str) -> None:
    _release("id = ? AND lease_owner = ?", (job_id, node))


def release_all(node: str) -> int:
    """Give back every lease of ``node`` (graceful stop)."""
    return _release("lease_owner = ?", (node,))


def release_idle_leases(node: str, now: datetime) -> int:
    """Give back the expired leases of other nodes that have no attempt in flight (the
    node died between two attempts of a run, or right after claiming it)."""
    return _release(
        "lease_owner IS NOT NULL AND lease_owner <> ? AND lease_expires_at < ? AND NOT "
        "EXISTS (SELECT 1 FROM job_results r WHERE r.fetch_id = jobs.id AND "
        "r.finished_at IS NULL AND r.started_at IS NOT NULL)", (node, now))


def renew_leases(node: str, now: datetime, lease_seconds: int,
                 job_ids: Iterable[int] | None = None) -> None:
    """Extend the leases ``node`` holds (its runs are still going): those of ``job_ids``
    (looked up by primary key: cheap whatever the number of jobs), or every one."""
    expires = now + timedelta(seconds=lease_seconds)
    if job_ids is None:
        execute("UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ?", (expires, node))
        return
    ids = list(job_ids)
    if ids:
        execute(f"UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND id IN "
                f"({', '.join('?' * len(ids))})", (expires, node, *ids))


def open_attempts(starts: list[RunStart], now: datetime) -> list[int]:
    """Write the records of attempts about to start, in one statement; their ids, in the
    order of ``starts``."""
    if not starts:
        return []
    values: list[Any] = []
    for start in starts:
        job, run_id = start.job, start.run_id
        values += (job.id, run_id, f"{job.name} [{job.id}-{run_id}]", start.number,
                   start.scheduled_at, now, now, now)
    marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, '{}', FALSE, FALSE)"] * len(starts))
    rows = execute(
        "INSERT INTO job_results (fetch_id, job_id, name, attempt, scheduled_at, "
        "started_at, created_at, updated_at, response_headers, response_truncated, "
        f"success) VALUES {marks} RETURNING id, job_id, attempt", values).fetchall()
    # RETURNING promises no order: match the rows by run and attempt.
    ids = {(run_id, attempt): result_id for result_id, run_id, attempt in rows}
    return [ids[(start.run_id, start.number)] for start in starts]


def finish_attempts(records: list[Finished], node: str, now: datetime) -> None:
    """Record the end of attempts: complete their results, update their jobs' last run,
    give back the leases of the runs that ended (``Finished.release``), and put the
    events of the runs that ended into the notification outbox
    (``notify.outbox.record_run_ends``).

    A few statements for the whole batch (``Backend.write_finished``); this is the one
    transaction in which a run's end is recorded.
    """
    if not records:
        return
    backend().write_finished(records, now)
    ended = [r.job_id for r in records if r.release]
    if ended:
        _release(f"id IN ({', '.join('?' * len(ended))}) AND lease_owner = ?", (*ended, node))
    record_run_ends(records, now)


def fail_attempts(result_ids: list[int], error: str, now: datetime) -> int:
    """Mark attempts that will not finish as failed with ``error``."""
    if not result_ids:
        return 0
    marks = ", ".join("?" * len(result_ids))
    return execute(
        f"UPDATE job_results SET success = FALSE, error = ?, finished_at = ?, updated_at = ? "
        f"WHERE id IN ({marks}) AND finished_at IS NULL", (error, now, now, *result_ids)
    ).rowcount


def recover_interrupted(now: datetime) -> int:
    """Fail the attempts left unfinished by a node that died (its lease is gone)."""
    return execute(
        "UPDATE job_results SET success = FALSE, error = ?, finished_at = ?, updated_at = ? "
        "WHERE finished_at IS NULL AND started_at IS NOT NULL AND EXISTS "
        # Driven by the unfinished attempts (an index), not by every job.
        "(SELECT 1 FROM jobs j WHERE j.id = job_results.fetch_id AND " + _LEASE_FREE + ")",
        (interrupted_error("the scheduler"), now, now, now)).rowcount


def take_over_leases() -> int:
    """Drop every lease: on SQLite one node serves the database, so any lease found at
    start-up belongs to a process that is gone."""
    return _release("lease_owner IS NOT NULL")


def reschedule_on_start(now: datetime, misfire: str, grace: timedelta) -> int:
    """Schedule active jobs again after a restart; returns how many changed.

    Active jobs without a due time (repeating ones, or one-shots that never ran) get
    their first due time from now. With ``misfire = "skip"`` repeating jobs whose due
    time passed more than ``grace`` ago move to their next slot after now; with
    ``run_once`` they stay due, and the claim runs them once for all missed slots.
    """
    changed = 0
    rows = execute(
        "SELECT j.id, j.job_id, j.next_run_at, s.type, s.value, s.cron, s.timezone, "
        "s.is_repeat FROM jobs j JOIN schedules s ON s.id = j.execute_id WHERE j.is_active "
        "AND ((j.next_run_at IS NULL AND (s.is_repeat OR j.last_run_at IS NULL)) "
        "OR j.next_run_at < ?)", (now - grace,)).fetchall()
    for job_id, run_id, due_value, kind, value, cron, zone, is_repeat in rows:
        due = as_datetime(due_value)
        following: datetime | None
        try:
            if due is None:
                following = timing.first_due(kind, value, cron, zone, now)
            elif misfire == "skip" and is_repeat:
                _, following = plan_run(kind, value, cron, zone, True, due, now)
            else:
                continue
        except (ValueError, KeyError, StopIteration) as exc:
            log.error("job %s: cannot compute its next run (%s)", job_id, exc)
            continue
        # The job keeps its run id: the run it names is the one now due at ``following``.
        changed += execute("UPDATE jobs SET next_run_at = ? WHERE id = ? AND job_id = ?",
                           (following, job_id, run_id)).rowcount
    return changed


def earliest_due() -> datetime | None:
    """The earliest due time of an active job, or of a run-now request, whose lease is
    free (two index lookups)."""
    row = execute(
        "SELECT (SELECT MIN(next_run_at) FROM jobs WHERE is_active AND next_run_at IS NOT "
        "NULL AND lease_owner IS NULL), (SELECT MIN(run_requested_at) FROM jobs WHERE "
        "run_requested_id IS NOT NULL AND lease_owner IS NULL)").fetchone()
    times = [time for time in map(as_datetime, row or ()) if time is not None]
    return min(times) if times else None


def count_due(now: datetime) -> int:
    """Runs that are due or asked for and not claimed (waiting for a worker)."""
    return execute(f"SELECT COUNT(*) FROM jobs j WHERE ((j.is_active AND j.next_run_at <= ?) "
                   f"OR j.run_requested_id IS NOT NULL) AND {_LEASE_FREE}",
                   (now, now)).fetchone()[0]
