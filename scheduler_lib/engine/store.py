"""The engine's database work: claiming runs, leases, and the records of attempts.

All engine SQL lives here, in the common SQL of SQLite and PostgreSQL, as plain
statements (no ORM objects in the hot path). Every function runs in the calling
thread's connection; the dispatcher wraps a pass in ``transaction()`` so that the
records of the attempts that finished, the claims of the pass and the records of the
attempts it starts commit together, in one short write, with a few statements
whatever the number of runs (a batch is one statement, not one per run).

Claiming is a guarded write (``claim_due``): a node takes the due runs of a pass by
advancing each job's ``next_run_at``, issuing a new ``job_id`` and taking the job's
lease in one ``UPDATE … FROM (VALUES (id, <the job_id it read>, …), …) WHERE
<job_id unchanged> AND <lease free> RETURNING id``; the returned ids say which jobs
it won. While the lease is held (and renewed) nobody else claims the job, so a job
never overlaps itself. A node that dies leaves its leases to expire after
``scheduler.lease_seconds``; then another node may claim the job again.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .. import timing
from ..db import database, is_postgres
from ..notify.outbox import record_run_ends

__all__ = ["JobSpec", "Claim", "Finished", "transaction", "claim_due", "acquire_lease",
           "release_lease", "release_all", "renew_leases", "open_attempt", "open_attempts",
           "finish_attempts",
           "load_spec", "execute", "recover_interrupted", "take_over_leases", "reschedule_on_start",
           "earliest_due", "count_due", "count_active", "plan_run"]

log = logging.getLogger("scheduler.engine")

INTERRUPTED = "interrupted: the scheduler stopped before this run finished"


@dataclass(frozen=True)
class JobSpec:
    """What a run needs to know of its job, read when the run is claimed."""
    pk: int
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


@dataclass(frozen=True)
class Claim:
    """A run this node has claimed: its job, its ``job_id`` and when it was due."""
    spec: JobSpec
    job_id: str
    scheduled_at: datetime


@dataclass(frozen=True)
class Finished:
    """The completed record of one attempt (see API.md section 9)."""
    result_pk: int
    job_pk: int
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


_SPEC_COLUMNS = ("j.id, j.name, j.type, j.endpoint, j.method, j.payload, h.headers, "
                 "j.timeout_seconds, j.max_attempts, j.retry_backoff_seconds, "
                 "j.expected_status")
_SPEC_FROM = ("jobs j JOIN schedules s ON s.id = j.execute_id "
              "LEFT JOIN header_presets h ON h.id = j.header_id")
_LEASE_FREE = "(j.lease_owner IS NULL OR j.lease_expires_at < ?)"
_NEVER = datetime(1970, 1, 1)


def _sql(text: str) -> str:
    return text if database.param == "?" else text.replace("?", database.param)


def execute(text: str, params: Iterable[Any] = ()) -> Any:
    return database.execute_sql(_sql(text), tuple(params))


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _spec(row: tuple[Any, ...]) -> JobSpec:
    headers = row[6]
    expected = row[10]
    return JobSpec(
        pk=row[0], name=row[1], type=row[2], endpoint=row[3], method=row[4], payload=row[5],
        headers=json.loads(headers) if isinstance(headers, str) else dict(headers or {}),
        timeout_seconds=row[7], max_attempts=row[8], retry_backoff_seconds=row[9],
        expected_status=json.loads(expected) if isinstance(expected, str) else list(expected))


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


def _lapse_cutoff(now: datetime) -> datetime:
    """Leases that expired before this count as free.

    On SQLite (one node) that is any expired lease. On PostgreSQL none: a node that
    died left its runs in flight, and ``claims.take_over_interrupted`` runs them again
    (or releases the lease) before the job can be claimed anew.
    """
    return _NEVER if is_postgres() else now


def claim_due(node: str, now: datetime, limit: int, lease_seconds: int) -> list[Claim]:
    """Claim up to ``limit`` due runs for ``node``; call inside ``transaction()``.

    This is the one place runs are taken, with two statements whatever the number of
    runs. Candidates are active jobs whose ``next_run_at`` has come and whose lease is
    free or expired; each one's next due time is computed here. Then one guarded
    UPDATE claims them all: for each job it advances ``next_run_at`` (NULL after a
    one-shot), issues a new ``job_id`` and takes the lease, on condition that the job
    still has the ``job_id`` read and a free lease. Its ``RETURNING`` lists the jobs
    this node won; a job missing from it was taken by another node (or changed through
    the API) meanwhile and is skipped. Correct with several processes on one database.
    On PostgreSQL the candidates are read ``FOR UPDATE OF j SKIP LOCKED``: nodes
    claiming at the same instant take different jobs instead of waiting on each
    other's row locks (see ``claims``).
    """
    if limit <= 0:
        return []
    rows = execute(
        f"SELECT {_SPEC_COLUMNS}, j.job_id, j.next_run_at, s.type, s.value, s.cron, "
        f"s.timezone, s.is_repeat FROM {_SPEC_FROM} "
        f"WHERE j.is_active AND j.next_run_at <= ? AND {_LEASE_FREE} "
        "ORDER BY j.next_run_at LIMIT ?" + (" FOR UPDATE OF j SKIP LOCKED" if is_postgres()
                                             else ""),
        (now, _lapse_cutoff(now), limit)).fetchall()
    planned: dict[int, Claim] = {}
    values: list[Any] = []
    for row in rows:
        spec, old_job_id, due = _spec(row), row[11], _time(row[12])
        try:
            scheduled, following = plan_run(row[13], row[14], row[15], row[16],
                                            bool(row[17]), due, now)
        except (ValueError, KeyError, StopIteration) as exc:
            log.error("job %s: cannot compute its next run (%s); it stops until edited",
                      spec.pk, exc)
            execute("UPDATE jobs SET next_run_at = NULL WHERE id = ? AND job_id = ?",
                     (spec.pk, old_job_id))
            continue
        job_id = str(uuid.uuid4())
        planned[spec.pk] = Claim(spec, job_id, scheduled)
        values += (spec.pk, old_job_id, following, job_id)
    if not planned:
        return []
    row_marks = f"(?, ?, {_cast('?', 'TIMESTAMP')}, ?)"
    won = execute(
        f"WITH v (id, old_job_id, next_at, new_job_id) AS (VALUES "
        f"{', '.join([row_marks] * len(planned))}) "
        "UPDATE jobs SET next_run_at = v.next_at, job_id = v.new_job_id, lease_owner = ?, "
        "lease_expires_at = ? FROM v WHERE jobs.id = v.id AND jobs.job_id = v.old_job_id "
        "AND jobs.is_active AND jobs.next_run_at <= ? "
        "AND (jobs.lease_owner IS NULL OR jobs.lease_expires_at < ?) RETURNING jobs.id",
        (*values, node, now + timedelta(seconds=lease_seconds), now,
         _lapse_cutoff(now))).fetchall()
    winners = {row[0] for row in won}
    return [claim for pk, claim in planned.items() if pk in winners]


def _cast(expression: str, sql_type: str) -> str:
    """``expression`` as ``sql_type`` on PostgreSQL, where a column of VALUES holding only
    NULLs would be text; SQLite keeps the value as bound."""
    return f"CAST({expression} AS {sql_type})" if is_postgres() else expression


def acquire_lease(job_pk: int, node: str, now: datetime, lease_seconds: int,
                  *, active_only: bool = False) -> JobSpec | None:
    """Take a job's lease outside its schedule (run now, a retry); None if not free."""
    won = execute(
        "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ? "
        "AND (lease_owner IS NULL OR lease_expires_at < ?)"
        + (" AND is_active" if active_only else ""),
        (node, now + timedelta(seconds=lease_seconds), job_pk, _lapse_cutoff(now))).rowcount
    return load_spec(job_pk) if won == 1 else None


def holds_lease(job_pk: int, node: str, *, active_only: bool) -> bool:
    """Whether ``node`` still holds the job's lease (and the job still exists)."""
    row = execute("SELECT is_active FROM jobs WHERE id = ? AND lease_owner = ?",
                   (job_pk, node)).fetchone()
    return row is not None and (bool(row[0]) or not active_only)


def job_exists(job_pk: int) -> bool:
    return execute("SELECT 1 FROM jobs WHERE id = ?", (job_pk,)).fetchone() is not None


def load_spec(job_pk: int) -> JobSpec | None:
    row = execute(f"SELECT {_SPEC_COLUMNS} FROM {_SPEC_FROM} WHERE j.id = ?",
                   (job_pk,)).fetchone()
    return _spec(row) if row else None


def release_lease(job_pk: int, node: str) -> None:
    execute("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
             "WHERE id = ? AND lease_owner = ?", (job_pk, node))


def release_all(node: str) -> int:
    """Give back every lease of ``node`` (graceful stop)."""
    return execute("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
                    "WHERE lease_owner = ?", (node,)).rowcount


def renew_leases(node: str, now: datetime, lease_seconds: int) -> None:
    """Extend every lease ``node`` holds (its runs are still going)."""
    execute("UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ?",
             (now + timedelta(seconds=lease_seconds), node))


def open_attempt(spec: JobSpec, job_id: str, attempt: int, scheduled_at: datetime,
                 now: datetime) -> int:
    """Write the record of an attempt about to start; returns its id."""
    values = (spec.pk, job_id, f"{spec.name} [{spec.pk}-{job_id}]", attempt, scheduled_at,
              now, now, now)
    text = ("INSERT INTO job_results (fetch_id, job_id, name, attempt, scheduled_at, "
            "started_at, created_at, updated_at, response_headers, response_truncated, "
            "success) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', FALSE, FALSE)")
    if is_postgres():
        return execute(text + " RETURNING id", values).fetchone()[0]
    return execute(text, values).lastrowid


def open_attempts(starts: list[tuple[JobSpec, str, int, datetime]],
                  now: datetime) -> list[int]:
    """Write the records of attempts about to start, in one statement; their ids.

    ``starts`` holds (job, job_id, attempt number, scheduled_at); the ids come back in
    that order.
    """
    if not starts:
        return []
    values: list[Any] = []
    for spec, job_id, attempt, scheduled_at in starts:
        values += (spec.pk, job_id, f"{spec.name} [{spec.pk}-{job_id}]", attempt,
                   scheduled_at, now, now, now)
    marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, '{}', FALSE, FALSE)"] * len(starts))
    rows = execute(
        "INSERT INTO job_results (fetch_id, job_id, name, attempt, scheduled_at, "
        "started_at, created_at, updated_at, response_headers, response_truncated, "
        f"success) VALUES {marks} RETURNING id, job_id, attempt", values).fetchall()
    # RETURNING promises no order: match the rows by run and attempt.
    ids = {(job_id, attempt): pk for pk, job_id, attempt in rows}
    return [ids[(job_id, attempt)] for _, job_id, attempt, _ in starts]


def finish_attempts(records: list[Finished], node: str, now: datetime) -> None:
    """Complete attempt records, update their jobs, release finished runs' leases, and
    put the events of the runs that ended into the notification outbox
    (``notify.outbox.record_run_ends``), all in the caller's transaction.

    SQLite: three ``executemany`` for the batch (in process, cheap). PostgreSQL: two
    ``UPDATE … FROM (VALUES …)`` statements for the whole batch, sent in one round
    trip.
    """
    if not records:
        return
    if is_postgres():
        _finish_postgres(records, node, now)
        record_run_ends(records, now)
        return
    cursor = database.cursor()
    cursor.executemany(
        "UPDATE job_results SET status_code = ?, response = ?, response_headers = ?, "
        "response_truncated = ?, error = ?, success = ?, started_at = ?, finished_at = ?, "
        "duration_ms = ?, updated_at = ? WHERE id = ?",
        [(r.status_code, r.response, json.dumps(r.response_headers), r.response_truncated,
          r.error, r.success, r.started_at, r.finished_at, r.duration_ms, now, r.result_pk)
         for r in records])
    cursor.executemany("UPDATE jobs SET last_run_at = ?, last_status = ? WHERE id = ?",
                       [(r.started_at, "success" if r.success else "failure", r.job_pk)
                        for r in records])
    released = [(r.job_pk, node) for r in records if r.release]
    if released:
        cursor.executemany("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
                           "WHERE id = ? AND lease_owner = ?", released)
    record_run_ends(records, now)


# Every value cast: a column of VALUES holding only NULLs would otherwise be text.
_RESULT_ROW = ("(%s::bigint, %s::integer, %s::text, %s::text, %s::boolean, %s::text, "
               "%s::boolean, %s::timestamp, %s::timestamp, %s::integer)")
_JOB_ROW = "(%s::bigint, %s::timestamp, %s::text, %s::boolean)"


def _finish_postgres(records: list[Finished], node: str, now: datetime) -> None:
    results: list[Any] = [now]
    jobs: list[Any] = [node, node]
    for r in records:
        results += (r.result_pk, r.status_code, r.response, json.dumps(r.response_headers),
                    r.response_truncated, r.error, r.success, r.started_at, r.finished_at,
                    r.duration_ms)
        jobs += (r.job_pk, r.started_at, "success" if r.success else "failure", r.release)
    database.execute_sql(
        "UPDATE job_results SET status_code = v.status_code, response = v.response, "
        "response_headers = v.headers, response_truncated = v.truncated, error = v.error, "
        "success = v.success, started_at = v.started_at, finished_at = v.finished_at, "
        "duration_ms = v.duration_ms, updated_at = %s FROM (VALUES "
        f"{', '.join([_RESULT_ROW] * len(records))}) AS v (id, status_code, response, "
        "headers, truncated, error, success, started_at, finished_at, duration_ms) "
        "WHERE job_results.id = v.id; "
        "UPDATE jobs SET last_run_at = v.started_at, last_status = v.status, "
        "lease_owner = CASE WHEN v.release AND jobs.lease_owner = %s THEN NULL "
        "ELSE jobs.lease_owner END, lease_expires_at = CASE WHEN v.release AND "
        "jobs.lease_owner = %s THEN NULL ELSE jobs.lease_expires_at END FROM (VALUES "
        f"{', '.join([_JOB_ROW] * len(records))}) AS v (id, started_at, status, release) "
        "WHERE jobs.id = v.id", (*results, *jobs))


def fail_attempts(result_pks: list[int], error: str, now: datetime) -> int:
    """Mark attempts that will not finish as failed with ``error``."""
    if not result_pks:
        return 0
    marks = ", ".join("?" * len(result_pks))
    return execute(
        f"UPDATE job_results SET success = FALSE, error = ?, finished_at = ?, updated_at = ? "
        f"WHERE id IN ({marks}) AND finished_at IS NULL", (error, now, now, *result_pks)
    ).rowcount


def recover_interrupted(now: datetime) -> int:
    """Fail the attempts left unfinished by a node that died (its lease is gone)."""
    return execute(
        "UPDATE job_results SET success = FALSE, error = ?, finished_at = ?, updated_at = ? "
        "WHERE finished_at IS NULL AND started_at IS NOT NULL AND fetch_id IN "
        "(SELECT j.id FROM jobs j WHERE " + _LEASE_FREE + ")",
        (INTERRUPTED, now, now, now)).rowcount


def take_over_leases() -> int:
    """Drop every lease: on SQLite one node serves the database, so any lease found at
    start-up belongs to a process that is gone."""
    return execute("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
                    "WHERE lease_owner IS NOT NULL").rowcount


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
    for pk, job_id, due, kind, value, cron, zone, is_repeat in rows:
        due = _time(due)
        try:
            if due is None:
                following = timing.first_due(kind, value, cron, zone, now)
            elif misfire == "skip" and is_repeat:
                _, following = plan_run(kind, value, cron, zone, True, due, now)
            else:
                continue
        except (ValueError, KeyError, StopIteration) as exc:
            log.error("job %s: cannot compute its next run (%s)", pk, exc)
            continue
        changed += execute(
            "UPDATE jobs SET next_run_at = ?, job_id = ? WHERE id = ? AND job_id = ?",
            (following, str(uuid.uuid4()), pk, job_id)).rowcount
    return changed


def earliest_due() -> datetime | None:
    """The earliest due time of an active job whose lease is free."""
    row = execute("SELECT MIN(next_run_at) FROM jobs WHERE is_active "
                   "AND next_run_at IS NOT NULL AND lease_owner IS NULL").fetchone()
    return _time(row[0]) if row else None


def count_due(now: datetime) -> int:
    """Runs that are due and not claimed (waiting for a worker)."""
    return execute(f"SELECT COUNT(*) FROM jobs j WHERE j.is_active AND j.next_run_at <= ? "
                    f"AND {_LEASE_FREE}", (now, now)).fetchone()[0]


def count_active() -> int:
    return execute("SELECT COUNT(*) FROM jobs WHERE is_active").fetchone()[0]
