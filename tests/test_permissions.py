"""The permission matrix of the /fetch resources (API.md sections 5–9).

For every endpoint, every kind of caller — superuser (not a member), owner, editor,
viewer, non-member, anonymous — gets the expected status, and a denied write
changes no row. Destructive calls get a fresh target per caller. ``POST /fetch/{id}/run``
(the engine's) joins the table when that route exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers.world import ENDPOINT, HOURLY, World, create, make_job, make_world, snapshot

from scheduler_lib.api.app import all_routes
from scheduler_lib.errors import Forbidden
from scheduler_lib.models import User
from scheduler_lib.services import access, jobs

CALLERS = ("superuser", "owner", "editor", "viewer", "outsider", "anonymous")

# A call: (method, path, body) made for one caller, on a target prepared for it.
Call = tuple[str, str, Any]
Prepare = Callable[[World], Call]


def fresh_job(w: World) -> dict:
    """A job of the owner's with the editor and viewer as members."""
    job = make_job(w.server, w.owner, w.schedule["id"])
    for person, role in ((w.editor, "editor"), (w.viewer, "viewer")):
        create(w.server, w.owner, f"/fetch/{job['id']}/member",
               {"user_id": person.id, "role": role})
    return job


def fresh_result(w: World) -> dict:
    return create(w.server, w.owner, f"/fetch/{w.job['id']}/data", {"name": "r"})


def same(method: str, path: str, body: Any = None) -> Prepare:
    """Every caller calls the same target (reads and repeatable writes)."""
    return lambda w: (method, path.format(job=w.job["id"], run=w.job["job_id"],
                                          result=w.result["id"], owner=w.owner.id,
                                          viewer=w.viewer.id, schedule=w.schedule["id"],
                                          header=w.header["id"]), body)


def check(server, table: list[tuple[str, Prepare, tuple[int, ...]]]) -> None:
    w = make_world(server)
    w.result = fresh_result(w)
    w.newcomer = server.make_user("newcomer")
    failures = []
    for name, prepare, statuses in table:
        # Denied callers first, so no effect of an allowed call (a queued run writing
        # its result, say) can be mistaken for a change made by a denied one.
        pairs = sorted(zip(CALLERS, statuses, strict=True), key=lambda pair: pair[1] < 400)
        for caller, expected in pairs:
            method, path, body = prepare(w)
            before = snapshot()
            kwargs = {} if body is None else {"json": body}
            r = server.api.request(method, path, token=w.as_role(caller), **kwargs)
            if r.status != expected:
                failures.append(f"{name} as {caller}: {r.status} != {expected} ({r.raw[:120]!r})")
            if method != "GET" and r.status >= 400 and snapshot() != before:
                failures.append(f"{name} as {caller}: denied write changed rows")
    assert not failures, "\n".join(failures)


#                              superuser owner editor viewer outsider anonymous
READ = (200, 200, 200, 200, 403, 401)
WRITE = (200, 200, 200, 403, 403, 401)
OWNER = (200, 200, 403, 403, 403, 401)
MISSING = (404, 404, 404, 404, 404, 401)


def test_job_matrix(server):
    def delete_job(w: World) -> Call:
        return "DELETE", f"/fetch/{fresh_job(w)['id']}", None

    def run_job(w: World) -> Call:
        return "POST", f"/fetch/{fresh_job(w)['id']}/run", None

    table = [
        ("GET /fetch/{id}", same("GET", "/fetch/{job}"), READ),
        ("GET /fetch/{job_id}/job", same("GET", "/fetch/{run}/job"), READ),
        ("PATCH /fetch/{id}", same("PATCH", "/fetch/{job}", {"description": "x"}), WRITE),
        ("DELETE /fetch/{id}", delete_job, OWNER),
        ("GET /fetch/{missing}", same("GET", "/fetch/9999"), MISSING),
        ("PATCH /fetch/{missing}", same("PATCH", "/fetch/9999", {"name": "x"}), MISSING),
        ("DELETE /fetch/{missing}", same("DELETE", "/fetch/9999"), MISSING),
    ]
    if any(r.method == "POST" and r.path == "/fetch/{id}/run" for r in all_routes()):
        # A job each: one run-now at a time waits per job (the next one is a 409).
        table.append(("POST /fetch/{id}/run", run_job, (202, 202, 202, 403, 403, 401)))
    check(server, table)


def test_member_matrix(server):
    def add(w: World) -> Call:
        job = fresh_job(w)
        return "POST", f"/fetch/{job['id']}/member", {"user_id": w.newcomer.id, "role": "viewer"}

    def remove(w: World) -> Call:
        return "DELETE", f"/fetch/{fresh_job(w)['id']}/member/{w.viewer.id}", None

    check(server, [
        ("GET member list", same("GET", "/fetch/{job}/member"), READ),
        ("GET member", same("GET", "/fetch/{job}/member/{owner}"), READ),
        ("POST member", add, (201, 201, 403, 403, 403, 401)),
        ("PATCH member", same("PATCH", "/fetch/{job}/member/{viewer}", {"role": "viewer"}),
         OWNER),
        ("DELETE member", remove, OWNER),
        ("GET members of missing job", same("GET", "/fetch/9999/member"), MISSING),
        ("POST member to missing job",
         same("POST", "/fetch/9999/member", {"user_id": 1, "role": "viewer"}), MISSING),
    ])


def test_result_matrix(server):
    def delete_result(w: World) -> Call:
        return "DELETE", f"/fetch/{w.job['id']}/data/{fresh_result(w)['id']}", None

    check(server, [
        ("GET results", same("GET", "/fetch/{job}/data"), READ),
        ("POST result", same("POST", "/fetch/{job}/data", {"name": "x"}),
         (201, 201, 201, 403, 403, 401)),
        ("GET result", same("GET", "/fetch/{job}/data/{result}"), READ),
        ("PATCH result", same("PATCH", "/fetch/{job}/data/{result}", {"error": "e"}), WRITE),
        ("DELETE result", delete_result, OWNER),
        ("GET results of missing job", same("GET", "/fetch/9999/data"), MISSING),
        ("GET missing result", same("GET", "/fetch/{job}/data/9999"), (404, 404, 404, 404,
                                                                       403, 401)),
    ])


# Schedules and presets belong to their creator (the owner here); job roles do not count.
MINE = (200, 200, 403, 403, 403, 401)


@pytest.mark.parametrize("kind, ref", [("execute", "schedule"), ("header", "header")])
def test_schedule_and_preset_matrix(server, kind, ref):
    base = f"/fetch/{kind}"
    body = HOURLY if kind == "execute" else {"name": "h", "headers": {"A": "b"}}

    def delete(w: World) -> Call:
        return "DELETE", f"{base}/{create(w.server, w.owner, base, body)['id']}", None

    check(server, [
        (f"GET {base}/{{id}}", same("GET", f"{base}/{{{ref}}}"), MINE),
        (f"PATCH {base}/{{id}}", same("PATCH", f"{base}/{{{ref}}}", {"name": "n"}), MINE),
        (f"DELETE {base}/{{id}}", delete, MINE),
        (f"GET {base}/{{missing}}", same("GET", f"{base}/9999"), MISSING),
        (f"GET {base}", same("GET", base), (200, 200, 200, 200, 200, 401)),
        (f"GET {base}?all=true", same("GET", f"{base}?all=true"), (200, 403, 403, 403, 403,
                                                                   401)),
        (f"POST {base}", same("POST", base, body), (201, 201, 201, 201, 201, 401)),
    ])


def test_collection_matrix(server):
    def new_job(w: World) -> Call:
        # The owner's schedule: only the owner (and superusers) may use it.
        return "POST", "/fetch", {"name": "n", "endpoint": "http://127.0.0.1:9/",
                                  "execute_id": w.schedule["id"]}

    check(server, [
        ("GET /fetch", same("GET", "/fetch"), (200, 200, 200, 200, 200, 401)),
        ("GET /fetch?all=true", same("GET", "/fetch?all=true"), (200, 403, 403, 403, 403, 401)),
        ("POST /fetch", new_job, (201, 201, 403, 403, 403, 401)),
        ("GET preview", same("GET", "/fetch/execute/preview?type=hours&value=1"),
         (200, 200, 200, 200, 200, 401)),
    ])


def test_only_the_system_caller_gives_a_user_a_job_on_someone_elses_schedule(server):
    """What ``scheduler import`` does: the job is the owner's, the owner stays who they
    are (no borrowed superuser rights), and an API caller still cannot do it."""
    alice, bob = server.make_user("alice"), server.make_user("bob")
    schedule = create(server, alice, "/fetch/execute", HOURLY)
    body = {"name": "bobs", "endpoint": ENDPOINT, "execute_id": schedule["id"]}
    as_bob = User.get_by_id(bob.id)
    with pytest.raises(Forbidden):
        jobs.create_job(server.instance.ctx, as_bob, body)
    job = jobs.create_job(server.instance.ctx, as_bob, body, caller=access.SYSTEM)
    assert access.role_of(as_bob, job) == "owner"
    assert not User.get_by_id(bob.id).is_superuser
    assert server.api.get(f"/fetch/{job.id}", token=bob.token).status == 200
    assert server.api.get(f"/fetch/{job.id}", token=alice.token).status == 403
