"""The /fetch resource tests' world: people by role and one job they share.

``make_world(server)`` creates ``owner``, ``editor``, ``viewer`` and ``outsider``, an
hourly schedule and a header preset of the owner's, and a job of the owner's with
the editor and viewer as members. ``snapshot()`` reads every row of the /fetch
tables, to check that a rejected write changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scheduler_lib.models import HeaderPreset, Job, JobMember, JobResult, Schedule

# Long enough that no engine ever runs these jobs while a test looks at them.
HOURLY = {"name": "hourly", "type": "hours", "value": 1}
ENDPOINT = "http://127.0.0.1:9/never-called"


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of schedules, presets, jobs, members and results."""
    tables = {}
    for model in (Schedule, HeaderPreset, Job, JobMember, JobResult):
        order = [model.job, model.user] if model is JobMember else [model.id]
        tables[model.__name__] = list(model.select().order_by(*order).dicts())
    return tables


def ok(r, status: int = 200) -> Any:
    """The data of a success response, or fail showing the response."""
    assert r.status == status, r
    return r.data


@dataclass
class World:
    server: Any
    owner: Any
    editor: Any
    viewer: Any
    outsider: Any
    schedule: dict
    header: dict
    job: dict

    def as_role(self, role: str) -> str | None:
        """The token of the person with ``role`` (admin is the superuser; anonymous: None)."""
        if role == "anonymous":
            return None
        if role == "superuser":
            return self.server.admin.token
        return getattr(self, role).token


def create(server, person, path: str, body: dict) -> dict:
    return ok(server.api.post(path, body, token=person.token), 201)


def make_job(server, person, schedule_id: int, **fields: Any) -> dict:
    body = {"name": "ping", "endpoint": ENDPOINT, "execute_id": schedule_id, **fields}
    return create(server, person, "/fetch", body)


def make_world(server) -> World:
    owner, editor, viewer, outsider = (server.make_user(name) for name in
                                       ("owner", "editor", "viewer", "outsider"))
    schedule = create(server, owner, "/fetch/execute", HOURLY)
    header = create(server, owner, "/fetch/header",
                    {"name": "auth", "headers": {"X-Token": "secret"}})
    job = make_job(server, owner, schedule["id"], header_id=header["id"])
    for person, role in ((editor, "editor"), (viewer, "viewer")):
        create(server, owner, f"/fetch/{job['id']}/member", {"user_id": person.id, "role": role})
    return World(server, owner, editor, viewer, outsider, schedule, header, job)
