"""The audit log (API.md section 12): one entry per change, login and logout.

An entry is written in the transaction of the change it records, so a change never
commits without its entry and a rejected change leaves none. Three writers:

- the API: every successful POST/PATCH/DELETE gets its entry from the one request
  wrapper (``api/routing.py``), which runs the handler and ``record`` in one
  ``db.unit_of_work``; the session routes write their own (``services/sessions.py``),
  because a failed login and a detected token reuse are recorded although the
  request fails;
- the CLI (``set-password``, ``create-user``, ``import``): ``cli_actor()``;
- the engine (a job paused by ``pause_after_failures``): ``record_system``.

``changed`` holds field *names* only, so secrets (passwords, preset values, keys,
channel secrets) never reach an entry. Entries are never changed through the API;
the retention pass (``engine/retention.py``) drops those older than
``audit.max_age_days``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import peewee

from ..models import BaseModel, JobMember, JSONField, User
from ..timeutil import iso, utcnow
from .access import Caller
from .results import parse_since

__all__ = ["AuditEntry", "Actor", "VIA", "record", "record_system", "cli_actor",
           "changed_fields", "refine_action", "list_entries"]

VIA = ("token", "apikey", "cli", "system")
# Request fields that prove who is asking rather than change anything.
_NOT_CHANGES = frozenset({"current_password"})
_MAX_ADDR_LENGTH = 64


class AuditEntry(BaseModel):
    """One entry (table created by migration 0080)."""
    id = peewee.BigAutoField()
    at = peewee.DateTimeField()
    user_id = peewee.BigIntegerField(null=True)
    username = peewee.CharField(null=True)
    via = peewee.CharField()
    api_key_id = peewee.BigIntegerField(null=True)
    action = peewee.CharField()
    resource = peewee.CharField(null=True)
    resource_id = peewee.BigIntegerField(null=True)
    job_id = peewee.BigIntegerField(column_name="fetch_id", null=True)   # the job concerned
    changed = JSONField()
    remote_addr = peewee.CharField(null=True)
    request_id = peewee.CharField(null=True)

    class Meta:
        table_name = "audit_log"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "at": iso(self.at), "user_id": self.user_id,
            "username": self.username, "via": self.via, "api_key_id": self.api_key_id,
            "action": self.action, "resource": self.resource,
            "resource_id": self.resource_id, "fetch_id": self.job_id,
            "changed": self.changed, "remote_addr": self.remote_addr,
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class Actor:
    """Who acts, and through what: the user (None for the CLI and the engine), ``via``
    one of ``VIA``, the API key used, the client address and the request id."""
    via: str
    user_id: int | None = None
    username: str | None = None
    api_key_id: int | None = None
    remote_addr: str | None = None
    request_id: str | None = None

    def as_user(self, user: User | None) -> Actor:
        """The same actor acting as ``user`` (None: no account, e.g. a failed login
        naming nobody)."""
        if user is None:
            return replace(self, user_id=None, username=None)
        return replace(self, user_id=user.id, username=user.username)


_SYSTEM = Actor(via="system")


def cli_actor() -> Actor:
    """The operator at the command line (not a user of the scheduler)."""
    return Actor(via="cli")


def record(actor: Actor, action: str, *, resource: str | None = None,
           resource_id: int | None = None, job_id: int | None = None,
           changed: Iterable[str] = ()) -> AuditEntry:
    """Write one entry in the current transaction (call it inside the change's own)."""
    return AuditEntry.create(
        at=utcnow(), user_id=actor.user_id, username=actor.username, via=actor.via,
        api_key_id=actor.api_key_id, action=action, resource=resource,
        resource_id=resource_id, job_id=job_id, changed=sorted(changed),
        remote_addr=(actor.remote_addr or "")[:_MAX_ADDR_LENGTH] or None,
        request_id=actor.request_id)


def record_system(action: str, *, resource: str | None = None, resource_id: int | None = None,
                  job_id: int | None = None, changed: Iterable[str] = ()) -> AuditEntry:
    """An entry for a change the engine made (e.g. ``job.pause`` by
    ``pause_after_failures``), written inside the engine's open transaction."""
    return record(_SYSTEM, action, resource=resource, resource_id=resource_id,
                  job_id=job_id, changed=changed)


def changed_fields(body: Mapping[str, Any], before: Mapping[str, Any],
                   after: Mapping[str, Any]) -> list[str]:
    """The names of the request's fields that changed the resource.

    ``before``/``after`` are the resource's JSON around the write ({} when there is
    none, e.g. on create). A field the resource does not show (a password) counts as
    changed when sent; one it shows counts when its shown value differs.
    """
    return sorted(name for name in body if name not in _NOT_CHANGES
                  and not (name in before and name in after and before[name] == after[name]))


def refine_action(action: str, changed: list[str], after: Mapping[str, Any]) -> str:
    """``job.update`` that switched ``is_active`` is ``job.pause`` or ``job.resume``,
    so "who paused this job" is one filter."""
    if action == "job.update" and "is_active" in changed and "is_active" in after:
        return "job.resume" if after["is_active"] else "job.pause"
    return action


def list_entries(caller: Caller, query: Mapping[str, Any]) -> tuple[list[AuditEntry], int]:
    """Newest first. A superuser (and ``SYSTEM``, the operator at the CLI) sees every
    entry; anyone else the entries of the jobs they are a member of and their own
    actions."""
    rows = AuditEntry.select()
    if isinstance(caller, User) and not caller.is_superuser:
        member_of = JobMember.select(JobMember.job).where(JobMember.user == caller.id)
        rows = rows.where(AuditEntry.job_id.in_(member_of) | (AuditEntry.user_id == caller.id))
    # Query parameters (wire names) and the columns they filter.
    for name, field in (("user_id", AuditEntry.user_id), ("fetch_id", AuditEntry.job_id),
                        ("action", AuditEntry.action)):
        if query.get(name) is not None:
            rows = rows.where(field == query[name])
    if query.get("since") is not None:
        rows = rows.where(AuditEntry.at >= parse_since(query["since"]))
    total = rows.count()
    page = rows.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return list(page.limit(query["limit"]).offset(query["offset"])), total
