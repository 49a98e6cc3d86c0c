"""Export and import of schedules, header presets and jobs as one JSON document.

The document (``FORMAT``, version ``VERSION``)::

    {"format": "scheduler-export", "version": 1, "exported_at": "…Z",
     "schedules": [{"ref": 1, "owner": "alice", "name", "is_repeat", "type", "value",
                    "cron", "timezone"}],
     "headers":   [{"ref": 1, "owner": "alice", "name", "headers": {…}}],
     "jobs":      [{"name", "type", "endpoint", "method", "topic", "payload",
                    "description", "is_active", "timeout_seconds", "max_attempts",
                    "retry_backoff_seconds", "expected_status", "assertions",
                    "execute_ref": 1,
                    "header_ref": null, "members": [{"username": "alice", "role": "owner"}]}]}

``ref`` numbers only tie jobs to schedules and presets inside the document (they are
the exporting database's ids). People are named by username. Results, run state
(``job_id``, ``next_run_at``, ``last_*``) and API keys are not exported.

Import is one transaction (a bad item changes nothing) and idempotent: a schedule
or preset with the same owner, name and content, or a job with the same name,
type, method, endpoint and schedule, is reused instead of created again. Items
are checked by ``check(kind, body)`` (the CLI passes the API's own request-body
validation) and then created through the same services the API uses, by the
system caller (``access.SYSTEM``) on behalf of each item's owner.

A new kind of item is one ``Section`` in ``SECTIONS`` (import order: an item refers
only to items of earlier sections), its list in ``export_data`` and its step in
``_Importer.steps``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..context import AppContext
from ..db import database
from ..errors import ApiError, BadRequest, NotFound
from ..models import HeaderPreset, Job, JobMember, Schedule, User
from ..timeutil import iso, utcnow
from . import headers as header_service
from . import jobs as job_service
from . import schedules as schedule_service
from .access import ROLES, SYSTEM
from .users import get_user_by_username

__all__ = ["FORMAT", "VERSION", "Section", "SECTIONS", "KINDS", "ImportReport", "export_data",
           "import_data"]

FORMAT = "scheduler-export"
VERSION = 1


@dataclass(frozen=True)
class Section:
    """One list of the document."""
    key: str      # its key in the document: "schedules"
    kind: str     # what ``check`` validates and the report counts: "schedule"
    plural: str   # how the report's summary names several: "schedule(s)"


# In import order.
SECTIONS = (Section("schedules", "schedule", "schedule(s)"),
            Section("headers", "header", "header preset(s)"),
            Section("jobs", "job", "job(s)"))
KINDS = tuple(section.kind for section in SECTIONS)
_SCHEDULE_FIELDS = ("name", "is_repeat", "type", "value", "cron", "timezone")
_JOB_FIELDS = ("name", "type", "endpoint", "method", "topic", "payload", "description",
               "is_active", "timeout_seconds", "max_attempts", "retry_backoff_seconds",
               "expected_status", "assertions")

Check = Callable[[str, dict[str, Any]], Any]


@dataclass
class ImportReport:
    """What an import created, what it found already there, and what it left out."""
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    existing: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        def counts(numbers: dict[str, int]) -> str:
            return ", ".join(f"{numbers[s.kind]} {s.plural}" for s in SECTIONS)
        return f"Created {counts(self.created)}; already present: {counts(self.existing)}."


def export_data(username: str | None = None) -> dict[str, Any]:
    """Every schedule, preset and job (only ``username``'s and their jobs' if given)."""
    names = {user.id: user.username for user in User.select(User.id, User.username)}
    schedules = Schedule.select().order_by(Schedule.id)
    presets = HeaderPreset.select().order_by(HeaderPreset.id)
    jobs = Job.select().order_by(Job.id)
    if username is not None:
        user = get_user_by_username(username)
        mine = JobMember.select(JobMember.job).where(JobMember.user == user.id)
        jobs = jobs.where(Job.id.in_(mine))
        job_list = list(jobs)
        # A job's schedule and preset travel with it, whoever owns them.
        schedules = schedules.where((Schedule.user == user.id)
                                    | Schedule.id.in_([j.schedule_id for j in job_list]))
        presets = presets.where((HeaderPreset.user == user.id)
                                | HeaderPreset.id.in_([j.header_preset_id for j in job_list
                                                       if j.header_preset_id is not None]))
    else:
        job_list = list(jobs)
    members: dict[int, list[dict[str, str]]] = {}
    for member in JobMember.select().where(JobMember.job.in_([j.id for j in job_list])):
        members.setdefault(member.job_id, []).append(
            {"username": names[member.user_id], "role": member.role})
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": iso(utcnow()),
        "schedules": [{"ref": s.id, "owner": names[s.user_id],
                       **{name: getattr(s, name) for name in _SCHEDULE_FIELDS}}
                      for s in schedules],
        "headers": [{"ref": p.id, "owner": names[p.user_id], "name": p.name,
                     "headers": p.headers} for p in presets],
        "jobs": [{**{name: getattr(j, name) for name in _JOB_FIELDS},
                  "execute_ref": j.schedule_id, "header_ref": j.header_preset_id,
                  "members": sorted(members.get(j.id, []),
                                    key=lambda m: (ROLES.index(m["role"]), m["username"]))}
                 for j in job_list],
    }


class _Importer:
    def __init__(self, ctx: AppContext, check: Check, fallback_owner: User | None):
        self.ctx = ctx
        self.check = check
        self.fallback = fallback_owner
        self.report = ImportReport()
        self.users: dict[str, User | None] = {}
        self.schedules: dict[Any, int] = {}
        self.presets: dict[Any, int] = {}
        self.steps: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "schedule": self.schedule, "header": self.preset, "job": self.job}

    def user(self, username: Any) -> User | None:
        if not isinstance(username, str):
            return None
        if username not in self.users:
            try:
                self.users[username] = get_user_by_username(username)
            except NotFound:
                self.users[username] = None
        return self.users[username]

    def owner(self, where: str, username: Any) -> User:
        user = self.user(username)
        if user is not None:
            return user
        if self.fallback is None:
            raise BadRequest(f"no user named {username!r} here (use --owner)")
        self.report.warnings.append(f"{where}: no user named {username!r}; "
                                    f"given to {self.fallback.username}")
        return self.fallback

    def schedule(self, where: str, item: dict[str, Any]) -> None:
        owner = self.owner(where, item.get("owner"))
        body = {k: item[k] for k in _SCHEDULE_FIELDS if item.get(k) is not None}
        self.check("schedule", body)
        cron = " ".join(body["cron"].split()) if body.get("cron") else None
        found = Schedule.get_or_none(
            (Schedule.user == owner.id) & (Schedule.name == body["name"])
            & (Schedule.type == body["type"]) & (Schedule.value.is_null(True) if
                                                 body.get("value") is None else
                                                 Schedule.value == body["value"])
            & (Schedule.cron.is_null(True) if cron is None else Schedule.cron == cron)
            & (Schedule.timezone == body.get("timezone", "UTC"))
            & (Schedule.is_repeat == body.get("is_repeat", True)))
        if found is None:
            found = schedule_service.create_schedule(self.ctx, owner, body)
            self.report.created["schedule"] += 1
        else:
            self.report.existing["schedule"] += 1
        self.schedules[item.get("ref")] = found.id

    def preset(self, where: str, item: dict[str, Any]) -> None:
        owner = self.owner(where, item.get("owner"))
        body = {"name": item.get("name"), "headers": item.get("headers")}
        self.check("header", body)
        found = next((p for p in HeaderPreset.select().where(
            (HeaderPreset.user == owner.id) & (HeaderPreset.name == body["name"]))
            if p.headers == body["headers"]), None)
        if found is None:
            found = header_service.create_preset(owner, body)
            self.report.created["header"] += 1
        else:
            self.report.existing["header"] += 1
        self.presets[item.get("ref")] = found.id

    def job(self, where: str, item: dict[str, Any]) -> None:
        if item.get("execute_ref") not in self.schedules:
            raise BadRequest(f"execute_ref {item.get('execute_ref')!r} names no "
                             "schedule of this document")
        header_ref = item.get("header_ref")
        if header_ref is not None and header_ref not in self.presets:
            raise BadRequest(f"header_ref {header_ref!r} names no header preset "
                             "of this document")
        body = {k: item[k] for k in _JOB_FIELDS if item.get(k) is not None}
        body["execute_id"] = self.schedules[item["execute_ref"]]
        if header_ref is not None:
            body["header_id"] = self.presets[header_ref]
        self.check("job", body)
        members = item.get("members") or []
        if not isinstance(members, list) or not all(
                isinstance(m, dict) and m.get("role") in ROLES for m in members):
            raise BadRequest("members must be a list of {username, role} with "
                             "role owner, editor or viewer")
        owners = [m for m in members if m["role"] == "owner"]
        first_owner = owners[0]["username"] if owners else None
        owner = self.owner(where, first_owner)
        found = Job.get_or_none(
            (Job.name == body["name"]) & (Job.type == body.get("type", "rest"))
            & (Job.method == body.get("method", "get").lower())
            & (Job.endpoint == body["endpoint"]) & (Job.schedule == body["execute_id"]))
        if found is not None:
            self.report.existing["job"] += 1
            return
        # The exported job may use another user's schedule or preset: the system may.
        job = job_service.create_job(self.ctx, owner, body, caller=SYSTEM)
        now = utcnow()
        for member in members:
            user = self.user(member.get("username"))
            if user is None:
                self.report.warnings.append(f"{where}: member {member.get('username')!r} "
                                            "does not exist here; left out")
            elif user.id != owner.id:
                JobMember.insert(job=job.id, user=user.id, role=member["role"],
                                 created_at=now).on_conflict_ignore().execute()
        self.report.created["job"] += 1


def _items(document: dict[str, Any], key: str) -> list[Any]:
    items = document.get(key, [])
    if not isinstance(items, list):
        raise BadRequest(f"'{key}' must be a list")
    return items


def import_data(ctx: AppContext, document: Any, *, check: Check,
                fallback_owner: User | None = None) -> ImportReport:
    """Create what ``document`` holds and this database lacks; see the module docstring."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BadRequest(f"not a scheduler export (expected \"format\": \"{FORMAT}\")")
    if document.get("version") != VERSION:
        raise BadRequest(f"unsupported export version {document.get('version')!r} "
                         f"(this scheduler reads version {VERSION})")
    importer = _Importer(ctx, check, fallback_owner)
    with database.atomic():
        for section in SECTIONS:
            step = importer.steps[section.kind]
            for index, item in enumerate(_items(document, section.key)):
                where = f"{section.key}[{index}]"
                if not isinstance(item, dict):
                    raise BadRequest(f"{where}: must be an object")
                try:
                    step(where, item)
                except ApiError as exc:
                    name = item.get("name")
                    label = f"{where} ({name})" if isinstance(name, str) else where
                    raise BadRequest(f"{label}: {exc.message}") from None
    ctx.jobs_changed()
    return importer.report
