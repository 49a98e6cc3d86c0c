"""Jobs ("fetch"): what to call, on which schedule, with which headers.

Each time a run is scheduled (on create, and when a PATCH changes ``execute_id``
or ``is_active``, or the schedule itself changes) the job gets a fresh ``run_id``
(``job_id`` on the wire) and ``next_run_at`` from now; inactive jobs have
``next_run_at`` null. Writes only touch the columns they change, so they never
overwrite what the engine records (``next_run_at`` after a run, ``last_run_at``,
``last_status``) with a stale value. Python names vs wire names: ``models``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import urlsplit

import peewee

from ..assertions import parse_rules
from ..context import AppContext
from ..db import database
from ..errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from ..models import HeaderPreset, Job, JobMember, JobResult, Schedule, User, job_json, running_jobs
from ..timeutil import utcnow
from . import access
from .headers import usable_preset
from .schedules import plan_next_run, usable_schedule

__all__ = ["JOB_TYPES", "METHODS", "STATUS_CLASSES", "PRESET_OWNER_RULE", "list_jobs",
           "jobs_json", "create_job", "get_job", "get_job_by_run_id", "update_job", "delete_job",
           "request_run", "payload_text", "check_expected_status", "check_assertions"]

JOB_TYPES = {"rest": ("http", "https"), "websocket": ("ws", "wss")}
METHODS = ("get", "post", "put", "patch", "delete")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# Columns a PATCH copies from the body as they are.
_PLAIN_FIELDS = ("name", "topic", "description", "timeout_seconds", "max_attempts",
                 "retry_backoff_seconds", "alert_after_failures", "pause_after_failures")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# API.md section 7: a preset's headers go only where its owner agreed to send them.
PRESET_OWNER_RULE = "Only the header preset's owner may change where its headers are sent"
# Fields that decide where (and how) a job's preset headers are sent.
_DESTINATION = ("type", "endpoint", "method")


def payload_text(value: Any, field: str = "payload") -> str | None:
    """A payload as stored: a string as it is, any other JSON value as its JSON text."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a number like 1e400 parsed as infinity: no JSON can show it
        raise BadRequest(f"Field '{field}' holds a number too large for JSON") from None


def check_expected_status(values: list[Any]) -> list[Any]:
    """Integers 100-599 and the strings "1xx"…"5xx"; BadRequest otherwise."""
    for index, value in enumerate(values):
        is_code = isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599
        if not (is_code or value in STATUS_CLASSES):
            raise BadRequest(f"Field 'expected_status[{index}]' must be a status code 100-599 "
                             'or one of "1xx"…"5xx"')
    return values


def check_assertions(rules: list[Any]) -> list[Any]:
    """Success rules as given, once each one parses (BadRequest naming
    ``assertions[i].field`` otherwise)."""
    parse_rules(rules)
    return rules


def _check_endpoint(kind: str, endpoint: str) -> str:
    schemes = JOB_TYPES[kind]
    wanted = " or ".join(f"{s}://" for s in schemes)
    try:
        parts = urlsplit(endpoint)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = None
    if (parts is None or not port_ok or parts.scheme.lower() not in schemes
            or not parts.hostname or _CONTROL.search(endpoint)):
        raise BadRequest(f"Field 'endpoint' must be a {wanted} URL for a {kind} job")
    return endpoint


def _check_method(method: str) -> str:
    lowered = method.lower()
    if lowered not in METHODS:
        raise BadRequest(f"Field 'method' must be one of: {', '.join(METHODS)}")
    return lowered


def list_jobs(user: User, query: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """A page of the jobs ``user`` may list, as their JSON shapes, and their total."""
    rows = Job.select().order_by(Job.id)
    if not access.check_all_flag(user, query):
        member_of = JobMember.select(JobMember.job).where(JobMember.user == user.id)
        rows = rows.where(Job.id.in_(member_of))
    return jobs_json(rows.limit(query["limit"]).offset(query["offset"])), rows.count()


def jobs_json(query: peewee.ModelSelect[Job]) -> list[dict[str, Any]]:
    """The JSON shapes of the jobs ``query`` selects (with one query for ``running``)."""
    # peewee's stubs type ``.dicts()`` rows as models.
    rows = list(cast(Iterable[dict[str, Any]], query.dicts()))
    running = running_jobs([row["id"] for row in rows])
    return [job_json(row, running=row["id"] in running) for row in rows]


def _check_job_limit(ctx: AppContext, user: User) -> None:
    """403 when ``user`` already owns ``limits.max_jobs_per_user`` jobs (0: no limit).

    Counted inside the creating transaction: on SQLite creates are serialised; on
    PostgreSQL two concurrent creates may pass the count together (one job over).
    """
    limit = ctx.settings.limits.max_jobs_per_user
    if not limit or user.is_superuser:
        return
    owned = JobMember.select().where(JobMember.user == user.id, JobMember.role == "owner").count()
    if owned >= limit:
        raise Forbidden(f"Job limit reached ({limit})")


def _check_preset_owner(user: User, job: Job) -> None:
    """403 unless ``user`` may send the job's preset headers to a new destination."""
    if job.header_preset_id is None or user.is_superuser:
        return
    owner = (HeaderPreset.select(HeaderPreset.user)
             .where(HeaderPreset.id == job.header_preset_id).scalar())
    if owner is not None and owner != user.id:
        raise Forbidden(PRESET_OWNER_RULE)


def create_job(ctx: AppContext, user: User, body: dict[str, Any], *,
               caller: access.Caller | None = None) -> Job:
    """Insert the job and make ``user`` its owner, in one transaction. ``caller`` (by
    default ``user``) must be allowed to use the schedule and preset the job names."""
    caller = user if caller is None else caller
    kind = body.get("type", "rest")
    now = utcnow()
    job = Job(
        name=body["name"], type=kind, endpoint=_check_endpoint(kind, body["endpoint"]),
        method=_check_method(body.get("method", "get")), topic=body.get("topic"),
        payload=payload_text(body.get("payload")), description=body.get("description", ""),
        is_active=body.get("is_active", True), run_id=str(uuid.uuid4()),
        timeout_seconds=body.get("timeout_seconds", 10), max_attempts=body.get("max_attempts", 1),
        retry_backoff_seconds=body.get("retry_backoff_seconds", 5),
        expected_status=check_expected_status(body.get("expected_status", ["2xx"])),
        assertions=check_assertions(body.get("assertions", [])),
        alert_after_failures=body.get("alert_after_failures", 1),
        pause_after_failures=body.get("pause_after_failures", 0),
        created_at=now, updated_at=now)
    try:
        with database.atomic():
            _check_job_limit(ctx, user)
            schedule = usable_schedule(caller, body["execute_id"])
            job.schedule_id = schedule.id
            if body.get("header_id") is not None:
                job.header_preset_id = usable_preset(caller, body["header_id"]).id
            plan_next_run(job, schedule, now)
            job.save(force_insert=True)
            JobMember.create(job=job.id, user=user.id, role="owner", created_at=now)
    except peewee.IntegrityError:
        # The schedule or preset was deleted between the check and the insert.
        raise BadRequest("Execute ID or Header ID no longer exists") from None
    ctx.jobs_changed()
    return job


def get_job(user: User, job_id: int) -> Job:
    return access.require(user, job_id, access.READ)


def get_job_by_run_id(user: User, run_id: str) -> Job:
    """The job a run belongs to (members only): the job whose next run ``run_id`` names,
    whose run-now request waiting to start carries it, or one of whose results does."""
    job = Job.get_or_none((Job.run_id == run_id) | (Job.run_requested_id == run_id))
    if job is not None:
        return access.require(user, job.id, access.READ)
    result = JobResult.select(JobResult.job).where(JobResult.run_id == run_id).first()
    if result is None:
        raise NotFound(f"No job with job_id {run_id}")
    return access.require(user, result.job_id, access.READ)


def request_run(ctx: AppContext, user: User, job_id: int) -> str:
    """Ask for a run of the job now, off schedule; returns the run's id.

    The request is kept on the job (``run_requested_id``) until an engine, on any node,
    starts it. At most one waits per job: another while one waits is a Conflict.
    """
    run_id = str(uuid.uuid4())
    with database.atomic():
        job = access.require(user, job_id, access.WRITE)
        if ctx.engine is None:
            raise ServiceUnavailable("The scheduler is not running on this node")
        queued = (Job.update(run_requested_id=run_id, run_requested_at=utcnow())
                  .where((Job.id == job.id) & Job.run_requested_id.is_null()).execute())
    if not queued:
        raise Conflict("A run of this job is already queued")
    ctx.jobs_changed()
    return run_id


def update_job(ctx: AppContext, user: User, job_id: int, changes: dict[str, Any]) -> Job:
    now = utcnow()
    try:
        with database.atomic():
            job = access.require(user, job_id, access.WRITE)
            changed: list[peewee.Field] = [Job.updated_at]
            reschedule = False
            before = {name: getattr(job, name) for name in _DESTINATION}

            def assign(field: peewee.Field, value: Any) -> None:
                if getattr(job, field.name) != value:
                    setattr(job, field.name, value)
                    changed.append(field)

            kind = changes.get("type", job.type)
            if "type" in changes or "endpoint" in changes:
                assign(Job.type, kind)
                assign(Job.endpoint, _check_endpoint(kind, changes.get("endpoint", job.endpoint)))
            if "method" in changes:
                assign(Job.method, _check_method(changes["method"]))
            if "payload" in changes:
                assign(Job.payload, payload_text(changes["payload"]))
            if "expected_status" in changes:
                assign(Job.expected_status, check_expected_status(changes["expected_status"]))
            if "assertions" in changes:
                assign(Job.assertions, check_assertions(changes["assertions"]))
            for name in _PLAIN_FIELDS:
                if name in changes:
                    assign(getattr(Job, name), changes[name])
            # Only a *changed* schedule or preset must be one the caller may use, so an
            # editor can update a job that keeps its owner's schedule.
            if "execute_id" in changes and changes["execute_id"] != job.schedule_id:
                job.schedule_id = usable_schedule(user, changes["execute_id"]).id
                changed.append(Job.schedule)
                reschedule = True
            if "header_id" in changes and changes["header_id"] != job.header_preset_id:
                preset_id = changes["header_id"]
                job.header_preset_id = (None if preset_id is None
                                        else usable_preset(user, preset_id).id)
                changed.append(Job.header_preset)
            # Checked against the preset the job has after this PATCH, so that an editor
            # may detach the owner's preset (or pick their own) and move the job at once.
            if any(getattr(job, name) != before[name] for name in _DESTINATION):
                _check_preset_owner(user, job)
            if "is_active" in changes and changes["is_active"] != job.is_active:
                assign(Job.is_active, changes["is_active"])
                reschedule = True
            if reschedule:
                plan_next_run(job, Schedule.get_by_id(job.schedule_id), now)
                changed += [Job.run_id, Job.next_run_at]
            job.updated_at = now
            job.save(only=changed)
    except peewee.IntegrityError:
        raise BadRequest("Execute ID or Header ID no longer exists") from None
    ctx.jobs_changed()
    return job


def delete_job(ctx: AppContext, user: User, job_id: int) -> None:
    """Delete the job with its results and members (owners and superusers)."""
    with database.atomic():
        job = access.require(user, job_id, access.OWNER)
        JobResult.delete().where(JobResult.job == job.id).execute()
        JobMember.delete().where(JobMember.job == job.id).execute()
        job.delete_instance()
    ctx.jobs_changed()
