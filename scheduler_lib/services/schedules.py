"""Schedules ("api execute"): when jobs run. Owned by their creator.

A schedule is an interval (``seconds``/``minutes``/``hours``/``days`` × ``value``)
or a 5-field cron expression (or ``@hourly``…``@yearly``) in an IANA time zone.
Cron expressions are validated on write and stored as written, with runs of
whitespace collapsed (aliases stay aliases). Changing when a schedule fires
reschedules, at once, every active job that uses it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import peewee

from ..context import AppContext
from ..db import database
from ..errors import BadRequest, Conflict, NotFound
from ..models import Job, Schedule, User
from ..timeutil import iso, utcnow
from ..timing import INTERVAL_UNITS, check_timezone, cron_preview, first_due, normalize_cron
from . import access

__all__ = ["SCHEDULE_TYPES", "MAX_INTERVAL_SECONDS", "list_schedules", "create_schedule",
           "get_schedule", "update_schedule", "delete_schedule", "usable_schedule",
           "plan_next_run", "preview", "TIMING_FIELDS"]

SCHEDULE_TYPES = (*INTERVAL_UNITS, "cron")
# Ten years: longer intervals are almost certainly a mistake (and overflow dates).
MAX_INTERVAL_SECONDS = 10 * 366 * 86400
TIMING_FIELDS = ("is_repeat", "type", "value", "cron", "timezone")
_WHAT = "api execute"


def _validated(ctx: AppContext, fields: dict[str, Any], what: str = "Field") -> dict[str, Any]:
    """The timing fields of a would-be schedule, checked and cleaned.

    Interval schedules keep ``cron`` null and cron schedules keep ``value`` null.
    ``what`` names the fields in messages (body fields or query parameters).
    """
    kind = fields["type"]
    zone = fields.get("timezone") or "UTC"
    try:
        check_timezone(zone)
    except ValueError:
        raise BadRequest(f"{what} 'timezone' must be an IANA time zone name, "
                         "e.g. UTC or Europe/Berlin") from None
    if kind == "cron":
        cron = fields.get("cron")
        if cron is None:
            raise BadRequest(f"{what} 'cron' is required when type is cron")
        try:
            normalize_cron(cron)
        except ValueError as exc:
            raise BadRequest(f"{what} 'cron' is not a valid cron expression: {exc}") from None
        return {"type": kind, "value": None, "cron": " ".join(cron.split()), "timezone": zone}
    value = fields.get("value")
    if value is None:
        raise BadRequest(f"{what} 'value' is required when type is {kind}")
    seconds = INTERVAL_UNITS[kind] * value
    minimum = ctx.settings.scheduler.min_interval_seconds
    if value < 1 or seconds < minimum:
        raise BadRequest(f"{what} 'value' must give an interval of at least {max(minimum, 1)} "
                         "second(s)")
    if seconds > MAX_INTERVAL_SECONDS:
        raise BadRequest(f"{what} 'value' must give an interval of at most 10 years")
    return {"type": kind, "value": value, "cron": None, "timezone": zone}


def plan_next_run(job: Job, schedule: Schedule, now: datetime) -> None:
    """Schedule ``job``'s next run from ``now``: a fresh ``run_id`` and ``next_run_at``.

    An inactive job gets no next run (``next_run_at`` null) and keeps its ``run_id``.
    """
    if not job.is_active:
        job.next_run_at = None
        return
    job.run_id = str(uuid.uuid4())
    job.next_run_at = first_due(schedule.type, schedule.value, schedule.cron,
                                schedule.timezone, now)


def list_schedules(user: User, query: dict[str, Any]) -> tuple[list[Schedule], int]:
    rows = Schedule.select().order_by(Schedule.id)
    if not access.check_all_flag(user, query):
        rows = rows.where(Schedule.user == user.id)
    return list(rows.limit(query["limit"]).offset(query["offset"])), rows.count()


def create_schedule(ctx: AppContext, user: User, body: dict[str, Any]) -> Schedule:
    timing = _validated(ctx, body)
    now = utcnow()
    return Schedule.create(user=user.id, name=body["name"], is_repeat=body.get("is_repeat", True),
                           created_at=now, updated_at=now, **timing)


def get_schedule(user: User, schedule_id: int) -> Schedule:
    """The schedule if ``user`` may see it: 404 missing, 403 someone else's."""
    return access.owned_row(user, Schedule, schedule_id, _WHAT,
                            NotFound(f"Api execute with id {schedule_id} not found"))


def usable_schedule(user: access.Caller, schedule_id: int) -> Schedule:
    """A schedule a job of ``user`` may use: unknown → 400, someone else's → 403."""
    return access.owned_row(user, Schedule, schedule_id, _WHAT,
                            BadRequest("Execute ID not found. Please create execute first."))


def _reschedule_jobs(schedule: Schedule, now: datetime) -> int:
    """Give every active job on ``schedule`` a new next run; one-shot jobs that ran stay done."""
    count = 0
    for job in Job.select().where(Job.schedule == schedule.id, Job.is_active == True):  # noqa: E712
        if not schedule.is_repeat and job.next_run_at is None and job.last_run_at is not None:
            continue
        plan_next_run(job, schedule, now)
        job.updated_at = now
        job.save(only=[Job.run_id, Job.next_run_at, Job.updated_at])
        count += 1
    return count


def update_schedule(ctx: AppContext, user: User, schedule_id: int,
                    changes: dict[str, Any]) -> Schedule:
    with database.atomic():
        schedule = get_schedule(user, schedule_id)
        before = {name: getattr(schedule, name) for name in TIMING_FIELDS}
        for name, value in _validated(ctx, {**before, **changes}).items():
            setattr(schedule, name, value)
        schedule.name = changes.get("name", schedule.name)
        schedule.is_repeat = changes.get("is_repeat", schedule.is_repeat)
        now = utcnow()
        schedule.updated_at = now
        schedule.save()
        after = {name: getattr(schedule, name) for name in TIMING_FIELDS}
        if after != before:
            _reschedule_jobs(schedule, now)
    ctx.jobs_changed()
    return schedule


def delete_schedule(ctx: AppContext, user: User, schedule_id: int) -> None:
    try:
        with database.atomic():
            schedule = get_schedule(user, schedule_id)
            used = Job.select().where(Job.schedule == schedule.id).count()
            if used:
                raise Conflict(f"Api execute with id {schedule_id} is still used by {used} "
                               "job(s); delete them or move them to another schedule first")
            schedule.delete_instance()
    except peewee.IntegrityError:
        # A job started using it between the check and the delete.
        raise Conflict(f"Api execute with id {schedule_id} is still used by a job") from None
    ctx.jobs_changed()


def preview(ctx: AppContext, query: dict[str, Any]) -> list[str]:
    """The next ``count`` due times of a would-be schedule, from now, as ISO strings."""
    timing = _validated(ctx, query, "Query parameter")
    now = utcnow()
    count = query["count"]
    if timing["type"] == "cron":
        times = cron_preview(timing["cron"], timing["timezone"], now, count)
    else:
        step = timedelta(seconds=INTERVAL_UNITS[timing["type"]] * timing["value"])
        times = [now + step * k for k in range(1, count + 1)]
    return [iso(t) for t in times]
