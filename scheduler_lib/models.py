"""Peewee models (one per table of ``migrations``) and their JSON shapes.

Times are naive UTC datetimes; ``to_json`` methods render them with ``iso``. The
schema itself is owned by ``migrations``: these classes only map it.

Python names say what a thing is; columns and JSON keep the wire names of API.md
(docs/api.md, glossary): a job's schedule is ``Job.schedule`` on column
``execute_id``, its header preset ``Job.header_preset`` on ``header_id``, the id of a
run is ``run_id`` on column ``job_id``, and a member's or result's job is ``.job`` on
``fetch_id``. ``to_json``/``job_json`` map them back to the wire names. A foreign
key's ``*_id`` accessor (``job.schedule_id``) is declared as an annotation so the type
checker knows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import peewee

from .db import database
from .timeutil import iso

__all__ = [
    "BaseModel", "AppSetting", "User", "RefreshToken", "RevokedToken", "ApiKey",
    "Schedule", "HeaderPreset", "Job", "job_json", "JobMember", "JobResult", "IN_FLIGHT",
    "running_jobs", "Channel", "Subscription", "Delivery", "ALL_MODELS",
]


class JSONField(peewee.TextField):
    """A JSON value kept as its text."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float; ValueError when it overflows to infinity."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number too large for JSON")
    return value


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class AppSetting(BaseModel):
    key = peewee.CharField(primary_key=True)
    value = peewee.TextField()

    class Meta:
        table_name = "app_settings"


class User(BaseModel):
    id = peewee.BigAutoField()
    username = peewee.CharField()
    email = peewee.CharField()
    password_hash = peewee.CharField()
    is_superuser = peewee.BooleanField(default=False)
    token_version = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "users"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "is_superuser": self.is_superuser,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }

    def __repr__(self) -> str:  # never shows the hash
        return f"<User {self.id} {self.username}>"


class RefreshToken(BaseModel):
    jti = peewee.CharField(primary_key=True)
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    user_id: int
    family_id = peewee.CharField()
    expires_at = peewee.DateTimeField()
    revoked_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "refresh_tokens"


class RevokedToken(BaseModel):
    jti = peewee.CharField(primary_key=True)
    expires_at = peewee.DateTimeField()

    class Meta:
        table_name = "revoked_tokens"


class ApiKey(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    user_id: int
    name = peewee.CharField()
    description = peewee.TextField(default="")
    prefix = peewee.CharField()
    key_hash = peewee.CharField(unique=True)
    # read (GET only), write (everything on jobs and their resources) or admin
    # (also keys, the profile and superuser routes); see api/routing.required_scope.
    scope = peewee.CharField(default="write")
    expires_at = peewee.DateTimeField(null=True)
    last_used_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "api_keys"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "description": self.description,
            "scope": self.scope,
            "prefix": self.prefix,
            "expires_at": iso(self.expires_at),
            "last_used_at": iso(self.last_used_at),
            "created_at": iso(self.created_at),
        }


class Schedule(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    user_id: int
    name = peewee.CharField()
    is_repeat = peewee.BooleanField(default=True)
    type = peewee.CharField()
    value = peewee.BigIntegerField(null=True)
    cron = peewee.CharField(null=True)
    timezone = peewee.CharField(default="UTC")
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "schedules"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "is_repeat": self.is_repeat,
            "type": self.type,
            "value": self.value,
            "cron": self.cron,
            "timezone": self.timezone,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class HeaderPreset(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    user_id: int
    name = peewee.CharField()
    headers = JSONField()
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "header_presets"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "headers": self.headers,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class Job(BaseModel):
    id = peewee.BigAutoField()
    name = peewee.CharField()
    type = peewee.CharField(default="rest")
    endpoint = peewee.TextField()
    method = peewee.CharField(default="get")
    topic = peewee.TextField(null=True)
    payload = peewee.TextField(null=True)
    description = peewee.TextField(default="")
    schedule = peewee.ForeignKeyField(Schedule, column_name="execute_id",
                                      object_id_name="schedule_id", on_delete="RESTRICT")
    schedule_id: int
    header_preset = peewee.ForeignKeyField(HeaderPreset, column_name="header_id", null=True,
                                           object_id_name="header_preset_id",
                                           on_delete="SET NULL")
    header_preset_id: int | None
    is_active = peewee.BooleanField(default=True)
    # The id of the job's next scheduled run (a UUID; its results will carry it).
    run_id = peewee.CharField(column_name="job_id")
    next_run_at = peewee.DateTimeField(null=True)
    last_run_at = peewee.DateTimeField(null=True)
    last_status = peewee.CharField(null=True)
    timeout_seconds = peewee.IntegerField(default=10)
    max_attempts = peewee.IntegerField(default=1)
    retry_backoff_seconds = peewee.IntegerField(default=5)
    expected_status = JSONField(default=lambda: ["2xx"])
    assertions = JSONField(default=list)
    consecutive_failures = peewee.IntegerField(default=0)
    alert_after_failures = peewee.IntegerField(default=1)
    pause_after_failures = peewee.IntegerField(default=0)
    failure_alerted = peewee.BooleanField(default=False)
    # A run-now request waiting to start: its run id and when it was asked for.
    run_requested_id = peewee.CharField(null=True)
    run_requested_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "jobs"

    def to_json(self) -> dict[str, Any]:
        return job_json(self.__data__, running=bool(running_jobs([self.id])))


def job_json(row: dict[str, Any], *, running: bool) -> dict[str, Any]:
    """A job's JSON shape from its field values: ``Job.__data__`` or a ``.dicts()`` row.

    Listing jobs renders rows without making model instances, which cost most of a
    ``GET /fetch`` of 100 jobs (bench/wsgi.py). ``running``: an attempt of the job is
    in flight (``running_jobs``).
    """
    get = row.get
    return {
        "id": get("id"),
        "name": get("name"),
        "type": get("type"),
        "endpoint": get("endpoint"),
        "method": get("method"),
        "topic": get("topic"),
        "payload": get("payload"),
        "description": get("description"),
        "execute_id": get("schedule"),
        "header_id": get("header_preset"),
        "is_active": get("is_active"),
        "job_id": get("run_id"),
        "next_run_at": iso(get("next_run_at")),
        "last_run_at": iso(get("last_run_at")),
        "last_status": get("last_status"),
        "running": running,
        "timeout_seconds": get("timeout_seconds"),
        "max_attempts": get("max_attempts"),
        "retry_backoff_seconds": get("retry_backoff_seconds"),
        "expected_status": get("expected_status"),
        "assertions": get("assertions"),
        "consecutive_failures": get("consecutive_failures"),
        "alert_after_failures": get("alert_after_failures"),
        "pause_after_failures": get("pause_after_failures"),
        "created_at": iso(get("created_at")),
        "updated_at": iso(get("updated_at")),
    }


class JobMember(BaseModel):
    job = peewee.ForeignKeyField(Job, column_name="fetch_id", object_id_name="job_id",
                                 on_delete="CASCADE")
    job_id: int
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    user_id: int
    role = peewee.CharField()
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "job_members"
        primary_key = peewee.CompositeKey("job", "user")

    def to_json(self) -> dict[str, Any]:
        return {
            "fetch_id": self.job_id,
            "user_id": self.user_id,
            "username": self.user.username,
            "role": self.role,
            "created_at": iso(self.created_at),
        }


class JobResult(BaseModel):
    id = peewee.BigAutoField()
    job = peewee.ForeignKeyField(Job, column_name="fetch_id", object_id_name="job_id",
                                 on_delete="CASCADE")
    job_id: int
    # The run this attempt belongs to (None for a result recorded by hand).
    run_id = peewee.CharField(column_name="job_id", null=True)
    name = peewee.CharField()
    status_code = peewee.IntegerField(null=True)
    response = peewee.TextField(null=True)
    response_headers = JSONField(default=dict)
    response_truncated = peewee.BooleanField(default=False)
    error = peewee.TextField(null=True)
    success = peewee.BooleanField(default=False)
    attempt = peewee.IntegerField(default=1)
    scheduled_at = peewee.DateTimeField(null=True)
    started_at = peewee.DateTimeField(null=True)
    finished_at = peewee.DateTimeField(null=True)
    duration_ms = peewee.IntegerField(null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "job_results"

    @property
    def in_flight(self) -> bool:
        """The attempt has started and not finished: nothing about its outcome is known."""
        return self.started_at is not None and self.finished_at is None

    def to_json(self) -> dict[str, Any]:
        running = self.in_flight
        response: Any = self.response
        if response is not None:
            try:
                response = json.loads(response, parse_constant=_not_json,
                                      parse_float=_finite_float)
            except ValueError:
                pass  # not JSON (NaN or 1e999 included): shown as the text it is
        return {
            "id": self.id,
            "fetch_id": self.job_id,
            "job_id": self.run_id,
            "name": self.name,
            "status_code": None if running else self.status_code,
            "response": response,
            "response_headers": self.response_headers or {},
            "response_truncated": self.response_truncated,
            "error": None if running else self.error,
            "success": None if running else self.success,
            "attempt": self.attempt,
            "scheduled_at": iso(self.scheduled_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_ms": None if running else self.duration_ms,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class Channel(BaseModel):
    """Where notifications go (``notify/channels``); ``secret`` signs webhooks."""
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    user_id: int
    name = peewee.CharField()
    type = peewee.CharField()
    target = peewee.TextField()
    secret = peewee.CharField(null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "notify_channels"


class Subscription(BaseModel):
    """A channel subscribed to a job's events."""
    id = peewee.BigAutoField()
    job = peewee.ForeignKeyField(Job, column_name="fetch_id", object_id_name="job_id",
                                 on_delete="CASCADE")
    job_id: int
    channel = peewee.ForeignKeyField(Channel, column_name="channel_id", on_delete="CASCADE")
    channel_id: int
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    user_id: int
    events = JSONField()
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "notify_subscriptions"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fetch_id": self.job_id,
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "events": self.events,
            "created_at": iso(self.created_at),
        }


class Delivery(BaseModel):
    """One event for one channel: the outbox row and its delivery log."""
    id = peewee.BigAutoField()
    delivery_id = peewee.CharField()
    channel = peewee.ForeignKeyField(Channel, column_name="channel_id", on_delete="CASCADE")
    channel_id: int
    # None once the job is deleted (the log keeps what was sent).
    job = peewee.ForeignKeyField(Job, column_name="fetch_id", object_id_name="job_id", null=True,
                                 on_delete="SET NULL")
    job_id: int | None
    event = peewee.CharField()
    facts = JSONField()
    status = peewee.CharField()
    attempts = peewee.IntegerField(default=0)
    error = peewee.TextField(null=True)
    next_attempt_at = peewee.DateTimeField(null=True)
    claimed_by = peewee.CharField(null=True)
    claim_expires_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField()
    sent_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "notify_deliveries"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "channel_id": self.channel_id,
            "fetch_id": self.job_id,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "created_at": iso(self.created_at),
            "sent_at": iso(self.sent_at),
        }


IN_FLIGHT = JobResult.started_at.is_null(False) & JobResult.finished_at.is_null()


def running_jobs(job_ids: list[int]) -> set[int]:
    """Which of ``job_ids`` have an attempt in flight (one query for a page of jobs)."""
    if not job_ids:
        return set()
    rows = (JobResult.select(JobResult.job).distinct()
            .where(JobResult.job.in_(job_ids) & IN_FLIGHT).tuples())
    return {job_id for (job_id,) in cast(Iterable[tuple[int]], rows)}


ALL_MODELS = (AppSetting, User, RefreshToken, RevokedToken, ApiKey, Schedule,
              HeaderPreset, Job, JobMember, JobResult, Channel, Subscription, Delivery)
