"""API.md section 7: jobs (/fetch), their validation and when their next run is."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from helpers.envelope import assert_envelope
from helpers.world import ENDPOINT, HOURLY, create, make_job, make_world, ok, snapshot

from scheduler_lib.models import JobMember
from scheduler_lib.timeutil import parse_iso, utcnow

JOB_FIELDS = {"id", "name", "type", "endpoint", "method", "topic", "payload", "description",
              "execute_id", "header_id", "is_active", "job_id", "next_run_at", "last_run_at",
              "last_status", "running", "timeout_seconds", "max_attempts",
              "retry_backoff_seconds", "expected_status", "assertions", "consecutive_failures",
              "alert_after_failures", "pause_after_failures", "created_at", "updated_at"}


def test_create_job_with_defaults(server):
    api, token = server.api, server.admin.token
    schedule = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    start = utcnow()
    r = api.post("/fetch", {"name": "ping", "endpoint": ENDPOINT, "execute_id": schedule["id"]},
                 token=token)
    job = assert_envelope(r, 201, "Fetch Api Created!", "/fetch")["data"]
    assert set(job) == JOB_FIELDS
    assert {k: job[k] for k in ("type", "method", "topic", "payload", "description",
                                "header_id", "is_active", "last_run_at", "last_status",
                                "running", "timeout_seconds", "max_attempts",
                                "retry_backoff_seconds", "expected_status", "assertions",
                                "consecutive_failures", "alert_after_failures",
                                "pause_after_failures")} == {
        "type": "rest", "method": "get", "topic": None, "payload": None, "description": "",
        "header_id": None, "is_active": True, "last_run_at": None, "last_status": None,
        "running": False, "timeout_seconds": 10, "max_attempts": 1, "retry_backoff_seconds": 5,
        "expected_status": ["2xx"], "assertions": [], "consecutive_failures": 0,
        "alert_after_failures": 1, "pause_after_failures": 0}
    assert str(uuid.UUID(job["job_id"])) == job["job_id"]
    due = parse_iso(job["next_run_at"])
    assert start + timedelta(hours=1) <= due <= utcnow() + timedelta(hours=1)
    # The creator is the owner, written with the job.
    members = ok(api.get(f"/fetch/{job['id']}/member", token=token))
    assert [(m["user_id"], m["role"]) for m in members] == [(server.admin.id, "owner")]

    body = assert_envelope(api.get(f"/fetch/{job['id']}", token=token), 200, "Success")
    assert body["data"] == job
    found = assert_envelope(api.get(f"/fetch/{job['job_id']}/job", token=token), 200, "Success")
    assert found["data"]["id"] == job["id"]
    assert_envelope(api.get(f"/fetch/{uuid.uuid4()}/job", token=token), 404)


def test_all_fields_and_payload_storage(server):
    api, token = server.api, server.admin.token
    schedule = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    full = {"name": "push", "type": "websocket", "endpoint": "wss://example.com/ws",
            "method": "POST", "topic": "news", "payload": {"b": [1, 2], "a": "é"},
            "description": "d", "execute_id": schedule["id"], "is_active": False,
            "timeout_seconds": 300, "max_attempts": 10, "retry_backoff_seconds": 0,
            "expected_status": [101, "2xx", 418, "5xx"]}
    job = ok(api.post("/fetch", full, token=token), 201)
    assert job["method"] == "post" and job["type"] == "websocket"
    assert json.loads(job["payload"]) == full["payload"]
    assert job["next_run_at"] is None and job["is_active"] is False
    assert job["expected_status"] == [101, "2xx", 418, "5xx"]
    for payload, stored in [("plain text", "plain text"), ('{"kept": "as sent"}',
                                                           '{"kept": "as sent"}'),
                            (42, "42"), (True, "true"), ([1, "x"], '[1,"x"]'), (None, None)]:
        data = ok(api.patch(f"/fetch/{job['id']}", {"payload": payload}, token=token))
        assert data["payload"] == stored, payload


def test_bad_job_input_is_400_and_changes_nothing(server):
    api, token = server.api, server.admin.token
    schedule = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    base = {"name": "x", "endpoint": ENDPOINT, "execute_id": schedule["id"]}
    target = make_job(server, server.admin, schedule["id"])
    cases = [
        ({"endpoint": ENDPOINT, "execute_id": 1}, "Field 'name' is required"),
        ({"name": "x", "execute_id": 1}, "Field 'endpoint' is required"),
        ({"name": "x", "endpoint": ENDPOINT}, "Field 'execute_id' is required"),
        ({"name": ""}, "Field 'name' must be at least 1"),
        ({"name": 3}, "Field 'name' must be a string"),
        ({"type": "grpc"}, "Field 'type' must be one of: rest, websocket"),
        ({"endpoint": "ftp://example.com/"}, "Field 'endpoint' must be a http:// or https://"),
        ({"endpoint": "ws://example.com/"}, "Field 'endpoint' must be a http:// or https://"),
        ({"endpoint": "http://"}, "Field 'endpoint' must be a http://"),
        ({"endpoint": "http://exa mple.com/"}, "Field 'endpoint' must be a http://"),
        ({"endpoint": "http://example.com:99999/"}, "Field 'endpoint' must be a http://"),
        ({"endpoint": "not a url"}, "Field 'endpoint' must be a http://"),
        ({"type": "websocket"}, "Field 'endpoint' must be a ws:// or wss://"),
        ({"endpoint": 5}, "Field 'endpoint' must be a string"),
        ({"method": "head"}, "Field 'method' must be one of: get, post, put, patch, delete"),
        ({"method": 1}, "Field 'method' must be a string"),
        ({"topic": 1}, "Field 'topic' must be a string or null"),
        ({"description": None}, "Field 'description' must be a string"),
        ({"execute_id": "1"}, "Field 'execute_id' must be an integer"),
        ({"execute_id": 0}, "Field 'execute_id' must be at least 1"),
        ({"execute_id": 10**20}, "Field 'execute_id' must be at most"),
        ({"header_id": 10**20}, "Field 'header_id' must be at most"),
        ({"execute_id": 999}, "Execute ID not found. Please create execute first."),
        ({"header_id": 999}, "Header ID not found. Please create header first."),
        ({"header_id": "1"}, "Field 'header_id' must be an integer or null"),
        ({"is_active": "true"}, "Field 'is_active' must be a boolean"),
        ({"is_active": 1}, "Field 'is_active' must be a boolean"),
        ({"timeout_seconds": 0}, "Field 'timeout_seconds' must be at least 1"),
        ({"timeout_seconds": 301}, "Field 'timeout_seconds' must be at most 300"),
        ({"timeout_seconds": 1.5}, "Field 'timeout_seconds' must be an integer"),
        ({"max_attempts": 0}, "Field 'max_attempts' must be at least 1"),
        ({"max_attempts": 11}, "Field 'max_attempts' must be at most 10"),
        ({"retry_backoff_seconds": -1}, "Field 'retry_backoff_seconds' must be at least 0"),
        ({"retry_backoff_seconds": "5"}, "Field 'retry_backoff_seconds' must be an integer"),
        ({"expected_status": []}, "Field 'expected_status' must have at least 1"),
        ({"expected_status": "2xx"}, "Field 'expected_status' must be an array"),
        ({"expected_status": [99]}, "Field 'expected_status[0]' must be at least 100"),
        ({"expected_status": [200, 600]}, "Field 'expected_status[1]' must be at most 599"),
        ({"expected_status": ["6xx"]}, "Field 'expected_status[0]' must be a status code"),
        ({"expected_status": ["2XX"]}, "Field 'expected_status[0]' must be a status code"),
        ({"expected_status": [True]}, "Field 'expected_status[0]' must be a status code"),
        ({"expected_status": [200.0]}, "Field 'expected_status[0]' must be a status code"),
        ({"job_id": str(uuid.uuid4())}, "Unknown field 'job_id'"),
        ({"next_run_at": None}, "Unknown field 'next_run_at'"),
    ]
    before = snapshot()
    for change, message in cases:
        body = change if message.endswith("is required") else {**base, **change}
        r = api.post("/fetch", body, token=token)
        assert_envelope(r, 400)
        assert r.message.startswith(message), (body, r.message)
        if not message.endswith("is required"):
            r = api.patch(f"/fetch/{target['id']}", change, token=token)
            assert_envelope(r, 400)
            assert r.message.startswith(message), (change, r.message)
    assert snapshot() == before
    r = api.post("/fetch", body=b'{"name": "x", "endpoint": "http://a", "execute_id": %d, '
                 b'"payload": {"n": -1e400}}' % schedule["id"], token=token,
                 headers={"Content-Type": "application/json"})
    assert_envelope(r, 400)
    assert r.message == "Field 'payload.n' holds a number too large for JSON"
    # Non-object bodies and malformed JSON.
    for raw in (b"[]", b"null", b"{", b'"x"'):
        r = api.post("/fetch", body=raw, headers={"Content-Type": "application/json"},
                     token=token)
        assert_envelope(r, 400)
    assert snapshot() == before


def test_another_users_schedule_or_preset_is_403(server):
    api = server.api
    alice, bob = server.make_user("alice"), server.make_user("bob")
    alices = create(server, alice, "/fetch/execute", HOURLY)
    alices_header = create(server, alice, "/fetch/header", {"name": "h", "headers": {}})
    bobs = create(server, bob, "/fetch/execute", HOURLY)
    before = snapshot()
    r = api.post("/fetch", {"name": "x", "endpoint": ENDPOINT, "execute_id": alices["id"]},
                 token=bob.token)
    assert_envelope(r, 403, "You are not the owner of this api execute!")
    r = api.post("/fetch", {"name": "x", "endpoint": ENDPOINT, "execute_id": bobs["id"],
                            "header_id": alices_header["id"]}, token=bob.token)
    assert_envelope(r, 403, "You are not the owner of this header!")
    assert snapshot() == before
    # A superuser may use anyone's schedule.
    ok(api.post("/fetch", {"name": "x", "endpoint": ENDPOINT, "execute_id": alices["id"]},
                token=server.admin.token), 201)


def test_editor_keeps_owners_schedule_but_cannot_pick_it(server):
    w = make_world(server)
    api = server.api
    path = f"/fetch/{w.job['id']}"
    # The job keeps the owner's schedule and preset: the editor may still update it.
    data = assert_envelope(api.patch(path, {"name": "renamed", "execute_id": w.schedule["id"],
                                            "header_id": w.header["id"]},
                                     token=w.editor.token), 200, "Fetch Api Updated!")["data"]
    assert data["name"] == "renamed" and data["job_id"] == w.job["job_id"]
    other = create(server, w.owner, "/fetch/execute", {**HOURLY, "name": "other"})
    before = snapshot()
    r = api.patch(path, {"execute_id": other["id"]}, token=w.editor.token)
    assert_envelope(r, 403, "You are not the owner of this api execute!")
    assert snapshot() == before
    mine = create(server, w.editor, "/fetch/execute", {**HOURLY, "name": "editor's"})
    data = ok(api.patch(path, {"execute_id": mine["id"], "header_id": None},
                        token=w.editor.token))
    assert (data["execute_id"], data["header_id"]) == (mine["id"], None)
    assert data["job_id"] != w.job["job_id"]


def test_next_run_and_job_id_follow_the_schedule(server):
    api, token = server.api, server.admin.token
    hourly = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    daily = ok(api.post("/fetch/execute", {"name": "d", "type": "days", "value": 1},
                        token=token), 201)
    job = make_job(server, server.admin, hourly["id"])
    path = f"/fetch/{job['id']}"

    # Editing what is called does not reschedule.
    data = ok(api.patch(path, {"endpoint": "https://example.com/x", "timeout_seconds": 3},
                        token=token))
    assert (data["job_id"], data["next_run_at"]) == (job["job_id"], job["next_run_at"])
    assert parse_iso(data["updated_at"]) > parse_iso(job["updated_at"])

    # Deactivating clears next_run_at; re-activating schedules from now with a new job_id.
    data = ok(api.patch(path, {"is_active": False}, token=token))
    assert data["next_run_at"] is None and data["job_id"] == job["job_id"]
    assert_envelope(api.get(f"/fetch/{job['job_id']}/job", token=token), 200)
    start = utcnow()
    data = ok(api.patch(path, {"is_active": True}, token=token))
    assert data["job_id"] != job["job_id"]
    due = parse_iso(data["next_run_at"])
    assert start + timedelta(hours=1) <= due <= utcnow() + timedelta(hours=1)
    assert_envelope(api.get(f"/fetch/{job['job_id']}/job", token=token), 404)
    assert ok(api.get(f"/fetch/{data['job_id']}/job", token=token))["id"] == job["id"]

    # Same is_active again: nothing is rescheduled.
    again = ok(api.patch(path, {"is_active": True, "execute_id": hourly["id"]}, token=token))
    assert (again["job_id"], again["next_run_at"]) == (data["job_id"], data["next_run_at"])

    # A new schedule: a new run from now.
    start = utcnow()
    moved = ok(api.patch(path, {"execute_id": daily["id"]}, token=token))
    assert moved["job_id"] != data["job_id"]
    assert start + timedelta(days=1) <= parse_iso(moved["next_run_at"])
    assert parse_iso(moved["next_run_at"]) <= utcnow() + timedelta(days=1)

    # An inactive job given a new schedule stays without a next run.
    ok(api.patch(path, {"is_active": False}, token=token))
    assert ok(api.patch(path, {"execute_id": hourly["id"]}, token=token))["next_run_at"] is None

    # A cron schedule: the next match.
    cron = ok(api.post("/fetch/execute", {"name": "c", "type": "cron", "cron": "0 0 1 1 *"},
                       token=token), 201)
    data = ok(api.post("/fetch", {"name": "n", "endpoint": ENDPOINT, "execute_id": cron["id"]},
                       token=token), 201)
    due = parse_iso(data["next_run_at"])
    assert (due.month, due.day, due.hour, due.minute) == (1, 1, 0, 0) and due > utcnow()


def test_job_lists_and_all_flag(server):
    w = make_world(server)
    api = server.api
    own = make_job(server, w.outsider, create(server, w.outsider, "/fetch/execute",
                                              HOURLY)["id"])
    for person, expected in ((w.owner, [w.job["id"]]), (w.viewer, [w.job["id"]]),
                             (w.outsider, [own["id"]])):
        r = api.get("/fetch", token=person.token)
        assert_envelope(r, 200, "Success")
        assert [j["id"] for j in r.data] == expected
        assert r.headers["X-Total-Count"] == str(len(expected))
    assert api.get("/fetch", token=server.admin.token).data == []
    r = api.get("/fetch?all=true&limit=1", token=server.admin.token)
    assert r.headers["X-Total-Count"] == "2" and [j["id"] for j in r.data] == [w.job["id"]]
    assert_envelope(api.get("/fetch?all=true", token=w.owner.token), 403)
    assert_envelope(api.get("/fetch?offset=-1", token=w.owner.token), 400)
    assert_envelope(api.get("/fetch"), 401)


def test_delete_job_takes_results_and_members(server):
    w = make_world(server)
    api = server.api
    path = f"/fetch/{w.job['id']}"
    create(server, w.editor, f"{path}/data", {"name": "by hand", "status_code": 200})
    assert_envelope(api.delete(path, token=w.owner.token), 200, "Fetch Api Deleted!")
    assert_envelope(api.get(path, token=w.owner.token), 404)
    assert_envelope(api.get(f"{path}/data", token=w.owner.token), 404)
    assert JobMember.select().where(JobMember.job == w.job["id"]).count() == 0
    assert snapshot()["JobResult"] == []
    # The schedule is free again.
    ok(api.delete(f"/fetch/execute/{w.schedule['id']}", token=w.owner.token))


def test_non_integer_ids_are_404(server):
    api, token = server.api, server.admin.token
    for path in ("/fetch/abc", "/fetch/0", "/fetch/-1", "/fetch/1.5", "/fetch/1/data/x",
                 "/fetch/execute/x", "/fetch/header/0"):
        assert_envelope(api.patch(path, {}, token=token), 404)
