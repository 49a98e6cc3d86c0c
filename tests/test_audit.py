"""API.md section 12: the audit log, through the real server on both databases.

Each kind of write leaves exactly one entry naming its actor and ``via``; a rejected
write leaves none (a failed login does leave one); no entry holds a secret; a user
sees the entries of their jobs and their own actions; entries are pruned after
``audit.max_age_days``; the CLI's writes are ``via: "cli"``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import urllib3
from helpers.cli import add_user, export_document
from helpers.cli import ok as cli_ok
from helpers.envelope import assert_envelope
from helpers.polling import wait_for
from helpers.world import HOURLY, create, make_job, make_world, ok, snapshot

from scheduler_lib.db import database, is_postgres
from scheduler_lib.engine.retention import RetentionTask, prune_audit
from scheduler_lib.services.audit import AuditEntry
from scheduler_lib.timeutil import utcnow


class Log:
    """The entries written since the last look, read straight from the database."""

    def __init__(self) -> None:
        self.seen = AuditEntry.select().count() and max(e.id for e in AuditEntry.select())

    def new(self) -> list[dict[str, Any]]:
        rows = [e.to_json() for e in
                AuditEntry.select().where(AuditEntry.id > self.seen).order_by(AuditEntry.id)]
        if rows:
            self.seen = rows[-1]["id"]
        return rows

    def one(self, action: str, person: Any, *, via: str = "token", **fields: Any
            ) -> dict[str, Any]:
        """Exactly one new entry: ``action`` by ``person`` (None: nobody) through ``via``."""
        rows = self.new()
        assert len(rows) == 1, rows
        entry = rows[0]
        expected = {"action": action, "via": via,
                    "user_id": person.id if person is not None else None,
                    "username": person.username if person is not None else None, **fields}
        assert {key: entry[key] for key in expected} == expected, entry
        return entry

    def none(self) -> None:
        assert self.new() == []


def test_each_write_leaves_one_entry_with_its_actor(server):
    api, admin = server.api, server.admin
    log = Log()

    r = api.post("/user", {"username": "alice", "email": "alice@example.com",
                           "password": "alice-password"}, token=admin.token)
    alice_id = ok(r, 201)["id"]
    entry = log.one("user.create", admin, resource="user", resource_id=alice_id, fetch_id=None,
                    changed=["email", "password", "username"], api_key_id=None)
    assert entry["request_id"] == r.headers["X-Request-ID"]
    assert entry["remote_addr"] == "127.0.0.1"
    assert entry["at"].endswith("Z")

    alice = server.login_as("alice", "alice-password")
    log.one("login", alice, resource="user", resource_id=alice.id)
    bob = server.make_user("bob")
    log.new()  # its create and login

    ok(api.patch("/user/me", {"email": "alice@example.org", "username": "alice"},
                 token=alice.token))
    log.one("user.update", alice, resource_id=alice.id, changed=["email"])
    ok(api.patch("/user/me", {"password": "alice-password-2", "current_password":
                              "alice-password"}, token=alice.token))
    log.one("user.update", alice, changed=["password"])
    alice = server.login_as("alice", "alice-password-2")
    log.new()
    ok(api.patch(f"/user/{bob.id}", {"is_superuser": False}, token=admin.token))
    log.one("user.update", admin, resource_id=bob.id, changed=[])

    schedule = create(server, alice, "/fetch/execute", HOURLY)
    log.one("schedule.create", alice, resource="schedule", resource_id=schedule["id"],
            changed=["name", "type", "value"], fetch_id=None)
    ok(api.patch(f"/fetch/execute/{schedule['id']}", {"value": 2, "name": "hourly"},
                 token=alice.token))
    log.one("schedule.update", alice, resource_id=schedule["id"], changed=["value"])
    preset = create(server, alice, "/fetch/header", {"name": "h", "headers": {"X-A": "1"}})
    log.one("header.create", alice, resource="header", resource_id=preset["id"],
            changed=["headers", "name"])
    ok(api.patch(f"/fetch/header/{preset['id']}", {"headers": {"X-A": "2"}}, token=alice.token))
    log.one("header.update", alice, changed=["headers"])

    job = make_job(server, alice, schedule["id"])
    log.one("job.create", alice, resource="job", resource_id=job["id"], fetch_id=job["id"],
            changed=["endpoint", "execute_id", "name"])
    ok(api.post(f"/fetch/{job['id']}/member", {"username": "BOB", "role": "editor"},
                token=alice.token), 201)
    log.one("member.add", alice, resource="member", resource_id=bob.id, fetch_id=job["id"],
            changed=["role", "username"])
    ok(api.patch(f"/fetch/{job['id']}/member/{bob.id}", {"role": "viewer"}, token=alice.token))
    log.one("member.update", alice, resource_id=bob.id, fetch_id=job["id"], changed=["role"])
    ok(api.patch(f"/fetch/{job['id']}/member/{bob.id}", {"role": "editor"}, token=alice.token))
    log.new()

    # The teammate pauses the job: a job.pause by bob; the same again changes nothing.
    ok(api.patch(f"/fetch/{job['id']}", {"is_active": False}, token=bob.token))
    log.one("job.pause", bob, resource="job", resource_id=job["id"], fetch_id=job["id"],
            changed=["is_active"])
    ok(api.patch(f"/fetch/{job['id']}", {"is_active": False}, token=bob.token))
    log.one("job.update", bob, changed=[])
    ok(api.patch(f"/fetch/{job['id']}", {"is_active": True, "description": "back"},
                 token=alice.token))
    log.one("job.resume", alice, changed=["description", "is_active"])
    ok(api.post(f"/fetch/{job['id']}/run", token=bob.token), 202)
    log.one("job.run", bob, resource="job", resource_id=job["id"], fetch_id=job["id"])

    result = create(server, bob, f"/fetch/{job['id']}/data", {"name": "by hand"})
    log.one("result.create", bob, resource="result", resource_id=result["id"],
            fetch_id=job["id"], changed=["name"])
    ok(api.patch(f"/fetch/{job['id']}/data/{result['id']}", {"error": "x"}, token=bob.token))
    log.one("result.update", bob, resource_id=result["id"], changed=["error"])
    ok(api.delete(f"/fetch/{job['id']}/data/{result['id']}", token=alice.token))
    log.one("result.delete", alice, resource_id=result["id"], fetch_id=job["id"], changed=[])

    key = create(server, alice, "/user/apikey", {"name": "ci"})
    log.one("apikey.create", alice, resource="apikey", resource_id=key["id"], changed=["name"])
    ok(api.patch(f"/user/apikey/{key['id']}", {"description": "for CI"}, token=alice.token))
    log.one("apikey.update", alice, resource_id=key["id"], changed=["description"])
    rotated = ok(api.post(f"/user/apikey/{key['id']}/rotate", token=alice.token), 201)
    log.one("apikey.rotate", alice, resource_id=key["id"])
    ok(api.patch(f"/fetch/{job['id']}", {"name": "by key"}, api_key=rotated["key"]))
    log.one("job.update", alice, via="apikey", api_key_id=key["id"], changed=["name"])

    ok(api.delete(f"/fetch/{job['id']}/member/{bob.id}", token=alice.token))
    log.one("member.remove", alice, resource_id=bob.id, fetch_id=job["id"])
    ok(api.delete(f"/fetch/{job['id']}", token=alice.token))
    log.one("job.delete", alice, resource_id=job["id"], fetch_id=job["id"])
    ok(api.delete(f"/fetch/header/{preset['id']}", token=alice.token))
    log.one("header.delete", alice, resource_id=preset["id"])
    ok(api.delete(f"/fetch/execute/{schedule['id']}", token=alice.token))
    log.one("schedule.delete", alice, resource_id=schedule["id"])
    ok(api.delete(f"/user/apikey/{key['id']}", token=alice.token))
    log.one("apikey.delete", alice, resource_id=key["id"])

    # Sessions: refresh, logout, reuse of a spent refresh token, failed logins.
    pair = ok(api.post("/refresh/token", {"refresh_token": alice.refresh_token}))
    log.one("token.refresh", alice, resource="user", resource_id=alice.id)
    assert_envelope(api.post("/refresh/token", {"refresh_token": alice.refresh_token}), 401)
    log.one("token.reuse", alice, resource_id=alice.id)
    bob_again = server.login_as("bob", bob.password)
    log.new()
    ok(api.post("/logout", {"refresh_token": bob_again.refresh_token}, token=bob_again.token))
    log.one("logout", bob, resource_id=bob.id)
    assert_envelope(api.post("/login", {"identifier": "BOB@example.com", "password": "nope"}),
                    401)
    log.one("login.failed", bob, resource_id=bob.id)
    assert_envelope(api.post("/login", {"identifier": "ghost", "password": "nope"}), 401)
    log.one("login.failed", None, resource_id=None)
    assert pair  # the refreshed pair was issued

    ok(api.delete(f"/user/{bob.id}", token=admin.token))
    log.one("user.delete", admin, resource="user", resource_id=bob.id)


def test_rejected_writes_leave_no_entry(server):
    w = make_world(server)
    api, job = server.api, w.job
    reader = create(server, w.owner, "/user/apikey", {"name": "reader", "scope": "read"})
    log = Log()
    before = snapshot()
    refused = [
        api.patch(f"/fetch/{job['id']}", {"is_active": False}, api_key=reader["key"]),    # 403
        api.patch(f"/fetch/{job['id']}", {"is_active": "no"}, token=w.owner.token),      # 400
        api.patch(f"/fetch/{job['id']}", {"is_active": False}, token=w.viewer.token),    # 403
        api.patch(f"/fetch/{job['id']}", {"is_active": False}, token=w.outsider.token),  # 403
        api.patch("/fetch/999999", {"is_active": False}, token=w.owner.token),           # 404
        api.post(f"/fetch/{job['id']}/member", {"username": w.editor.username,
                                                 "role": "viewer"}, token=w.owner.token),  # 409
        api.patch(f"/fetch/{job['id']}/member/{w.owner.id}", {"role": "viewer"},
                  token=w.owner.token),                                                # 400
        api.delete(f"/fetch/execute/{w.schedule['id']}", token=w.owner.token),           # 409
        api.patch(f"/fetch/{job['id']}", {"is_active": False}),                          # 401
        api.post("/fetch", {"name": "x", "endpoint": "ftp://x", "execute_id":
                            w.schedule["id"]}, token=w.owner.token),                      # 400
        api.patch("/user/me", {"password": "another-pass", "current_password": "wrong"},
                  token=w.owner.token),                                                  # 403
        api.post("/logout", {"refresh_token": w.editor.refresh_token},
                 token=w.owner.token),                                                   # 401
    ]
    assert [r.status for r in refused] == [403, 400, 403, 403, 404, 409, 400, 409, 401, 400, 403,
                                           401]
    log.none()
    assert snapshot() == before


def test_a_change_never_commits_without_its_entry(server):
    """When the entry cannot be written, the change it records rolls back with it."""
    w = make_world(server)
    log = Log()
    if is_postgres():
        database.execute_sql("CREATE FUNCTION audit_down() RETURNS trigger AS "
                             "$$ BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql")
        database.execute_sql("CREATE TRIGGER audit_down BEFORE INSERT ON audit_log "
                             "FOR EACH ROW EXECUTE FUNCTION audit_down()")
    else:
        database.execute_sql("CREATE TRIGGER audit_down BEFORE INSERT ON audit_log "
                             "BEGIN SELECT RAISE(ABORT, 'audit down'); END")
    before = snapshot()
    r = server.api.patch(f"/fetch/{w.job['id']}", {"is_active": False}, token=w.owner.token)
    assert_envelope(r, 500, "Internal server error")
    r = server.api.post(f"/fetch/{w.job['id']}/member", {"user_id": w.outsider.id,
                                                         "role": "viewer"},
                        token=w.owner.token)
    assert_envelope(r, 500)
    assert snapshot() == before
    database.execute_sql("DROP TRIGGER audit_down" + (" ON audit_log" if is_postgres() else ""))
    log.none()
    ok(server.api.patch(f"/fetch/{w.job['id']}", {"is_active": False}, token=w.owner.token))
    log.one("job.pause", w.owner)


def test_entries_never_hold_secret_values(server):
    api, admin = server.api, server.admin
    secrets = ["first-Secret-pw-1", "second-Secret-pw-2", "wrong-Secret-pw-3",
               "preset-Secret-value-4", "payload-Secret-5", "typed-in-username-Secret-6"]
    person = server.make_user("carol", password=secrets[0])
    ok(api.patch("/user/me", {"password": secrets[1], "current_password": secrets[0]},
                 token=person.token))
    ok(api.patch(f"/user/{person.id}", {"password": secrets[0]}, token=admin.token))
    assert_envelope(api.post("/login", {"identifier": "carol", "password": secrets[2]}), 401)
    # People type passwords into the user name field: a failed login naming nobody
    # keeps no trace of what was typed.
    assert_envelope(api.post("/login", {"identifier": secrets[5], "password": "x"}), 401)
    person = server.login_as("carol", secrets[0])
    schedule = create(server, person, "/fetch/execute", HOURLY)
    preset = create(server, person, "/fetch/header",
                    {"name": "auth", "headers": {"Authorization": secrets[3]}})
    ok(api.patch(f"/fetch/header/{preset['id']}", {"headers": {"X-Key": secrets[3]}},
                 token=person.token))
    make_job(server, person, schedule["id"], header_id=preset["id"], payload=secrets[4])
    key = create(server, person, "/user/apikey", {"name": "k"})
    rotated = ok(api.post(f"/user/apikey/{key['id']}", token=person.token), 201)
    secrets += [key["key"], rotated["key"]]

    rows = database.execute_sql("SELECT * FROM audit_log").fetchall()
    assert len(rows) >= 12
    dump = json.dumps([[str(value) for value in row] for row in rows])
    listed = api.get("/audit?limit=1000", token=admin.token)
    for secret in secrets:
        assert secret not in dump, secret
        assert secret.encode() not in listed.raw, secret
    assert {"password"} <= {name for e in ok(listed) for name in e["changed"]}


def test_visibility_and_filters(server):
    """The "done when" of issue 18: the owner sees who paused their shared job."""
    w = make_world(server)
    api = server.api
    other = make_job(server, w.outsider, create(server, w.outsider, "/fetch/execute",
                                                HOURLY)["id"])
    ok(api.patch(f"/fetch/{w.job['id']}", {"is_active": False}, token=w.editor.token))
    ok(api.patch(f"/fetch/{other['id']}", {"description": "mine"}, token=w.outsider.token))

    r = api.get(f"/audit?fetch_id={w.job['id']}", token=w.owner.token)
    entries = assert_envelope(r, 200, "List audit entries", "/audit")["data"]
    assert r.headers["X-Total-Count"] == str(len(entries))
    newest = entries[0]
    assert (newest["action"], newest["username"], newest["via"]) == \
        ("job.pause", "editor", "token")
    # Newest first; the job's history reaches back to its creation by the owner.
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    assert entries[-1]["action"] == "job.create"
    assert all(e["fetch_id"] == w.job["id"] for e in entries)

    def actions(person, query: str = "") -> list[tuple[str, int | None, int | None]]:
        rows = ok(api.get(f"/audit?limit=1000{query}", token=person.token))
        return [(e["action"], e["user_id"], e["fetch_id"]) for e in rows]

    # The viewer sees the job's entries and their own login, not the outsider's job.
    seen = actions(w.viewer)
    assert ("job.pause", w.editor.id, w.job["id"]) in seen
    assert ("login", w.viewer.id, None) in seen
    assert all(fetch in (w.job["id"], None) for _, _, fetch in seen)
    assert all(user == w.viewer.id for _, user, fetch in seen if fetch is None)
    # The outsider sees their own job and actions only.
    seen = actions(w.outsider)
    assert ("job.update", w.outsider.id, other["id"]) in seen
    assert all(fetch in (other["id"], None) for _, _, fetch in seen)
    assert all(user == w.outsider.id for _, user, fetch in seen if fetch != other["id"])
    assert actions(w.outsider, f"&fetch_id={w.job['id']}") == []
    # A superuser sees everything; filters combine.
    everything = actions(server.admin)
    assert ("job.update", w.outsider.id, other["id"]) in everything
    assert ("user.create", server.admin.id, None) in everything
    assert actions(server.admin, f"&user_id={w.editor.id}&action=job.pause") == \
        [("job.pause", w.editor.id, w.job["id"])]
    assert actions(server.admin, "&since=2999-01-01T00:00:00Z") == []
    assert len(actions(server.admin, "&since=2000-01-01T00:00:00Z")) == len(everything)
    page = ok(api.get("/audit?limit=2&offset=1", token=server.admin.token))
    assert [e["action"] for e in page] == [a for a, _, _ in everything[1:3]]

    for query, field in (("since=yesterday", "since"), ("fetch_id=x", "fetch_id"),
                         ("user_id=0", "user_id"), ("limit=0", "limit")):
        r = api.get(f"/audit?{query}", token=w.owner.token)
        assert_envelope(r, 400)
        assert f"'{field}'" in r.message
    assert_envelope(api.get("/audit"), 401)
    # Entries cannot be changed or deleted through the API.
    for method in ("POST", "PATCH", "DELETE"):
        assert_envelope(api.request(method, "/audit", token=server.admin.token), 405)


def test_api_key_actions_carry_the_key(server):
    w = make_world(server)
    key = create(server, w.editor, "/user/apikey", {"name": "robot"})
    log = Log()
    ok(server.api.patch(f"/fetch/{w.job['id']}", {"is_active": False}, api_key=key["key"]))
    log.one("job.pause", w.editor, via="apikey", api_key_id=key["id"])
    ok(server.api.post(f"/fetch/{w.job['id']}/data", {"name": "n"}, api_key=key["key"]), 201)
    log.one("result.create", w.editor, via="apikey", api_key_id=key["id"])
    shown = ok(server.api.get("/audit?action=job.pause", api_key=key["key"]))
    assert [(e["via"], e["api_key_id"]) for e in shown] == [("apikey", key["id"])]


def test_retention_prunes_old_entries(server):
    w = make_world(server)
    total = AuditEntry.select().count()
    old = list(AuditEntry.select().order_by(AuditEntry.id).limit(3))
    (AuditEntry.update(at=utcnow() - timedelta(days=40))
     .where(AuditEntry.id.in_([e.id for e in old])).execute())
    assert prune_audit(max_age_days=60) == 0
    task = RetentionTask(max_runs_per_job=1000, max_age_days=30, interval=0.2, delay=0,
                         audit_max_age_days=30)
    task.start()
    try:
        wait_for(lambda: AuditEntry.select().count() == total - 3, message="pruned entries")
    finally:
        task.stop()
    assert AuditEntry.get_or_none(AuditEntry.id == old[0].id) is None
    ok(server.api.patch(f"/fetch/{w.job['id']}", {"is_active": False}, token=w.owner.token))
    assert prune_audit(max_age_days=1) == 0


def test_cli_writes_are_entries_via_cli(run, tmp_path):
    add_user(run, "alice")
    add_user(run, "bob")
    cli_ok(run("set-password", "alice", "--password-stdin", input="a-new-password\n"))
    source = tmp_path / "in.json"
    source.write_text(export_document("http://127.0.0.1:9/never"))
    cli_ok(run("import", str(source)))
    failed = run("set-password", "alice", "--password-stdin", input="short\n")
    assert failed.exit_code == 1

    entries = json.loads(cli_ok(run("audit", "--json")))
    assert [(e["action"], e["via"], e["user_id"], e["resource_id"], e["changed"])
            for e in reversed(entries)] == [
        ("user.create", "cli", None, 1, ["email", "is_superuser", "password", "username"]),
        ("user.create", "cli", None, 2, ["email", "is_superuser", "password", "username"]),
        ("user.update", "cli", None, 1, ["password"]),
        ("import", "cli", None, None, ["header", "job", "schedule"]),
    ]
    assert "a-new-password" not in json.dumps(entries)
    table = cli_ok(run("audit")).splitlines()
    assert table[0].split() == ["AT", "USER", "VIA", "ACTION", "RESOURCE", "JOB", "CHANGED",
                                "ADDRESS"]
    assert table[1].split()[1:4] == ["-", "cli", "import"]
    only_alice = json.loads(cli_ok(run("audit", "--json", "--since", entries[-1]["at"],
                                       "--action", "user.update")))
    assert [e["resource_id"] for e in only_alice] == [1]
    assert json.loads(cli_ok(run("audit", "--json", "--user", "alice"))) == []
    assert json.loads(cli_ok(run("audit", "--json", "--job", "1"))) == []
    bad = run("audit", "--since", "yesterday")
    assert bad.exit_code == 1 and "since" in bad.stderr


def test_system_entries_share_the_engines_transaction(server):
    """``record_system`` is what the engine calls when it pauses a job: its entry
    commits or rolls back with the engine's own change, and members see it."""
    from scheduler_lib.models import Job
    from scheduler_lib.services import audit

    w = make_world(server)
    log = Log()

    def pause(then_fail: bool) -> None:
        with database.atomic():
            Job.update(is_active=False).where(Job.id == w.job["id"]).execute()
            audit.record_system("job.pause", resource="job", resource_id=w.job["id"],
                                job_id=w.job["id"], changed=["is_active"])
            if then_fail:
                raise RuntimeError("the engine's transaction fails")

    with pytest.raises(RuntimeError):
        pause(then_fail=True)
    log.none()
    assert Job.get_by_id(w.job["id"]).is_active is True
    pause(then_fail=False)
    log.one("job.pause", None, via="system", fetch_id=w.job["id"], changed=["is_active"],
            remote_addr=None, request_id=None, api_key_id=None)
    seen = ok(server.api.get(f"/audit?fetch_id={w.job['id']}&action=job.pause",
                             token=w.viewer.token))
    assert [(e["via"], e["user_id"]) for e in seen] == [("system", None)]


def test_engine_wake_ups_wait_for_the_commit(server):
    """Inside a request's transaction ``ctx.jobs_changed()`` must not wake the engine
    before the change is visible to it: ``after_commit`` runs once the unit commits,
    never after a rollback, and at once outside a unit."""
    from scheduler_lib.db import after_commit, unit_of_work

    calls: list[str] = []
    with unit_of_work():
        after_commit(lambda: calls.append("outer"))
        with unit_of_work():
            after_commit(lambda: calls.append("inner"))
        assert calls == []
    assert calls == ["outer", "inner"]
    with pytest.raises(RuntimeError), unit_of_work():
        after_commit(lambda: calls.append("rolled back"))
        raise RuntimeError("fails")
    after_commit(lambda: calls.append("now"))
    assert calls == ["outer", "inner", "now"]


def test_remote_addr_honours_trusted_proxies(start_server):
    """The entry names the client behind a trusted proxy, never one a stranger claims."""
    server = start_server(server__trusted_proxies="127.0.0.1")
    log = Log()
    headers = {"X-Forwarded-For": "203.0.113.7"}
    assert server.api.post("/login", {"identifier": "admin", "password": "nope"},
                           headers=headers).status == 401
    log.one("login.failed", server.admin, remote_addr="203.0.113.7")
    r = server.api.post("/fetch/execute", HOURLY, token=server.admin.token, headers=headers)
    ok(r, 201)
    log.one("schedule.create", server.admin, remote_addr="203.0.113.7")
    stranger = type(server.api)(server.url)
    stranger.http = urllib3.PoolManager(retries=False, source_address=("127.0.0.6", 0))
    ok(stranger.post("/fetch/execute", HOURLY, token=server.admin.token, headers=headers), 201)
    log.one("schedule.create", server.admin, remote_addr="127.0.0.6")
