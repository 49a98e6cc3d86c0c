"""Export and import of schedules, header presets, channels and jobs as one JSON document.

The document (``FORMAT``, version ``VERSION``)::

    {"format": "scheduler-export", "version": 1, "exported_at": "…Z",
     "schedules": [{"ref": 1, "owner": "alice", "name", "is_repeat", "type", "value",
                    "cron", "timezone"}],
     "headers":   [{"ref": 1, "owner": "alice", "name", "headers": {…}}],
     "channels":  [{"ref": 1, "owner": "alice", "name", "type", "target"}],
     "jobs":      [{"name", "type", "endpoint", "method", "topic", "payload",
                    "description", "is_active", "timeout_seconds", "max_attempts",
                    "retry_backoff_seconds", "expected_status", "assertions",
                    "alert_after_failures", "pause_after_failures", "execute_ref": 1,
                    "header_ref": null, "members": [{"username": "alice", "role": "owner"}],
                    "notifications": [{"channel_ref": 1, "username": "alice",
                                       "events": ["failure", "recovery"]}]}]}

``ref`` numbers only tie jobs to schedules, presets and channels inside the document
(they are the exporting database's ids). People are named by username. Results, run
state (``job_id``, ``next_run_at``, ``last_*``, ``consecutive_failures``), deliveries
and API keys are not exported.

Channels travel without secrets: a webhook gets a new signing secret when imported
(read it with ``POST /notify/channel/{id}/rotate-secret``), and a target is exported
as the API shows it, with passwords and tokens masked (``****``). A channel whose
target was masked (an Apprise URL, a webhook URL with a password) or that this server
cannot serve (e-mail without ``[smtp]``) is left out with a warning, and so are its
subscriptions: create it again by hand.

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
from ..models import Channel, HeaderPreset, Job, JobMember, Schedule, Subscription, User
from ..timeutil import iso, utcnow
from . import headers as header_service
from . import jobs as job_service
from . import notify as notify_service
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
            Section("channels", "channel", "channel(s)"),
            Section("jobs", "job", "job(s)"))
# Subscriptions travel inside their jobs ("notifications"); the report counts them too.
KINDS = (*(section.kind for section in SECTIONS), "subscription")
_PLURALS = {**{section.kind: section.plural for section in SECTIONS},
            "subscription": "notification(s)"}
_SCHEDULE_FIELDS = ("name", "is_repeat", "type", "value", "cron", "timezone")
_JOB_FIELDS = ("name", "type", "endpoint", "method", "topic", "payload", "description",
               "is_active", "timeout_seconds", "max_attempts", "retry_backoff_seconds",
               "expected_status", "assertions", "alert_after_failures", "pause_after_failures")
_CHANNEL_FIELDS = ("name", "type", "target")
MASK = "****"

Check = Callable[[str, dict[str, Any]], Any]


@dataclass
class ImportReport:
    """What an import created, what it found already there, and what it left out."""
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    existing: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        def counts(numbers: dict[str, int]) -> str:
            return ", ".join(f"{numbers[kind]} {_PLURALS[kind]}" for kind in KINDS)
        return f"Created {counts(self.created)}; already present: {counts(self.existing)}."


def export_data(ctx: AppContext, username: str | None = None) -> dict[str, Any]:
    """Every schedule, preset, channel and job (only ``username``'s and their jobs' if
    given)."""
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
    subscriptions: dict[int, list[dict[str, Any]]] = {}
    channel_ids: set[int] = set()
    for sub in Subscription.select().where(Subscription.job.in_([j.id for j in job_list]))\
            .order_by(Subscription.id):
        subscriptions.setdefault(sub.job_id, []).append(
            {"channel_ref": sub.channel_id, "username": names[sub.user_id], "events": sub.events})
        channel_ids.add(sub.channel_id)
    channels = Channel.select().order_by(Channel.id)
    if username is not None:
        channels = channels.where((Channel.user == user.id) | Channel.id.in_(list(channel_ids)))
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
        "channels": [{"ref": c.id, "owner": names[c.user_id],
                      **{k: v for k, v in notify_service.channel_json(ctx, c).items()
                         if k in _CHANNEL_FIELDS}} for c in channels],
        "jobs": [{**{name: getattr(j, name) for name in _JOB_FIELDS},
                  "execute_ref": j.schedule_id, "header_ref": j.header_preset_id,
                  "members": sorted(members.get(j.id, []),
                                    key=lambda m: (ROLES.index(m["role"]), m["username"])),
                  "notifications": subscriptions.get(j.id, [])}
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
        self.channels: dict[Any, int | None] = {}   # None: left out (warned)
        self.steps: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "schedule": self.schedule, "header": self.preset, "channel": self.channel,
            "job": self.job}

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

    def channel(self, where: str, item: dict[str, Any]) -> None:
        owner = self.owner(where, item.get("owner"))
        body: dict[str, Any] = {k: item.get(k) for k in _CHANNEL_FIELDS}
        self.check("channel", body)
        ref = item.get("ref")
        if MASK in body["target"]:
            self.report.warnings.append(f"{where}: its target was exported without its "
                                        "secrets; create this channel again by hand")
            self.channels[ref] = None
            return
        found = Channel.get_or_none((Channel.user == owner.id) & (Channel.name == body["name"])
                                    & (Channel.type == body["type"])
                                    & (Channel.target == body["target"]))
        if found is None:
            try:
                found, _ = notify_service.create_channel(self.ctx, owner, body)
            except BadRequest as exc:
                self.report.warnings.append(f"{where}: {exc.message}; left out")
                self.channels[ref] = None
                return
            self.report.created["channel"] += 1
        else:
            self.report.existing["channel"] += 1
        self.channels[ref] = found.id

    def subscriptions(self, where: str, job: Job, items: Any) -> None:
        if not isinstance(items, list):
            raise BadRequest("notifications must be a list of {channel_ref, username, events}")
        for index, item in enumerate(items):
            here = f"{where}.notifications[{index}]"
            if not isinstance(item, dict) or item.get("channel_ref") not in self.channels:
                raise BadRequest(f"{here}: channel_ref names no channel of this document")
            channel_id = self.channels[item["channel_ref"]]
            if channel_id is None:
                continue   # its channel was left out (warned)
            self.check("subscription", {"channel_id": channel_id, "events": item.get("events")})
            if Subscription.get_or_none((Subscription.job == job.id)
                                        & (Subscription.channel == channel_id)):
                self.report.existing["subscription"] += 1
                continue
            # The subscriber is the channel's owner, as through the API.
            Subscription.create(job=job.id, channel=channel_id,
                                user=Channel.get_by_id(channel_id).user_id,
                                events=list(dict.fromkeys(item["events"])), created_at=utcnow())
            self.report.created["subscription"] += 1

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
            self.subscriptions(where, found, item.get("notifications") or [])
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
        self.subscriptions(where, job, item.get("notifications") or [])


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
