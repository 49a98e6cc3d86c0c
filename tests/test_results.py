"""API.md section 9: results (/fetch/{fetch_id}/data): listing, filters, manual writes."""

from __future__ import annotations

from datetime import timedelta

from helpers.envelope import assert_envelope
from helpers.world import HOURLY, make_job, make_world, ok, snapshot

from scheduler_lib.models import JobResult
from scheduler_lib.timeutil import iso, utcnow

RESULT_FIELDS = {"id", "fetch_id", "job_id", "name", "status_code", "response",
                 "response_headers", "response_truncated", "error", "success", "attempt",
                 "scheduled_at", "started_at", "finished_at", "duration_ms", "created_at",
                 "updated_at"}


def test_record_read_update_delete(server):
    w = make_world(server)
    api, base = server.api, f"/fetch/{w.job['id']}/data"
    r = api.post(base, {"name": "manual", "status_code": 201, "response": {"ok": [1, 2]},
                        "response_headers": {"Content-Type": "application/json"}},
                 token=w.editor.token)
    result = assert_envelope(r, 201, "Fetch data created!", base)["data"]
    assert set(result) == RESULT_FIELDS
    assert {k: result[k] for k in ("fetch_id", "job_id", "name", "status_code", "response",
                                   "response_headers", "response_truncated", "error",
                                   "success", "attempt", "scheduled_at", "started_at",
                                   "duration_ms")} == {
        "fetch_id": w.job["id"], "job_id": None, "name": "manual", "status_code": 201,
        "response": {"ok": [1, 2]}, "response_headers": {"Content-Type": "application/json"},
        "response_truncated": False, "error": None, "success": True, "attempt": 1,
        "scheduled_at": None, "started_at": None, "duration_ms": None}
    # The response is kept as text: JSON text comes back parsed, other text as it is.
    assert JobResult.get_by_id(result["id"]).response == '{"ok":[1,2]}'

    r = api.get(f"{base}/{result['id']}", token=w.viewer.token)
    assert assert_envelope(r, 200, "Success!")["data"] == result

    r = api.patch(f"{base}/{result['id']}", {"response": "plain <b>text</b>", "error": "late",
                                             "success": False, "status_code": None},
                  token=w.editor.token)
    data = assert_envelope(r, 200, "Fetch data updated!")["data"]
    assert (data["response"], data["error"], data["success"], data["status_code"]) == \
        ("plain <b>text</b>", "late", False, None)
    assert data["updated_at"] > result["updated_at"] and data["name"] == "manual"

    assert_envelope(api.delete(f"{base}/{result['id']}", token=w.owner.token), 200,
                    "Fetch data deleted!")
    assert_envelope(api.get(f"{base}/{result['id']}", token=w.owner.token), 404)


def test_responses_that_are_not_json_stay_text(server):
    w = make_world(server)
    base = f"/fetch/{w.job['id']}/data"
    for text, shown in [("NaN", "NaN"), ("1e400", "1e400"), ("[Infinity]", "[Infinity]"),
                        ("12", 12), ("null", None), ('"s"', "s"), ("", "")]:
        r = server.api.post(base, {"name": "r", "response": text}, token=w.owner.token)
        assert r.status == 201, r
        assert r.data["response"] == shown, text
        assert ok(server.api.get(f"{base}/{r.data['id']}", token=w.owner.token))["response"] \
            == shown


def test_success_defaults_to_2xx(server):
    w = make_world(server)
    base = f"/fetch/{w.job['id']}/data"
    for body, success in [({"status_code": 204}, True), ({"status_code": 302}, False),
                          ({"status_code": 500}, False), ({}, False),
                          ({"status_code": 500, "success": True}, True),
                          ({"status_code": 200, "success": False}, False)]:
        data = ok(server.api.post(base, {"name": "r", **body}, token=w.owner.token), 201)
        assert data["success"] is success, body


def test_list_newest_first_with_pages_and_filters(server):
    w = make_world(server)
    api, base, token = server.api, f"/fetch/{w.job['id']}/data", w.viewer.token
    ids = [ok(api.post(base, {"name": f"r{i}", "status_code": 200 if i % 2 else 500},
                       token=w.owner.token), 201)["id"] for i in range(5)]
    r = api.get(base, token=token)
    assert_envelope(r, 200, "List fetch data", base)
    assert [x["id"] for x in r.data] == ids[::-1] and r.headers["X-Total-Count"] == "5"
    r = api.get(f"{base}?limit=2&offset=1", token=token)
    assert [x["id"] for x in r.data] == ids[3:1:-1] and r.headers["X-Total-Count"] == "5"
    r = api.get(f"{base}?status=success", token=token)
    assert [x["id"] for x in r.data] == [ids[3], ids[1]] and r.headers["X-Total-Count"] == "2"
    r = api.get(f"{base}?status=failure&limit=1", token=token)
    assert [x["id"] for x in r.data] == [ids[4]] and r.headers["X-Total-Count"] == "3"

    # since is inclusive on created_at; give the rows distinct, known times.
    start = utcnow() - timedelta(hours=5)
    for n, result_id in enumerate(ids):
        JobResult.update(created_at=start + timedelta(hours=n)).where(
            JobResult.id == result_id).execute()
    since = iso(start + timedelta(hours=2))
    r = api.get(f"{base}?since={since}", token=token)
    assert [x["id"] for x in r.data] == ids[:1:-1] and r.headers["X-Total-Count"] == "3"
    offset_form = (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "%2B00:00"
    r = api.get(f"{base}?since={offset_form}&status=success", token=token)
    assert [x["id"] for x in r.data] == [ids[3]]
    assert ok(api.get(f"{base}?since=2999-01-01T00:00:00Z", token=token)) == []

    for query in ("?since=yesterday", "?since=2025-13-01", "?status=ok", "?limit=1001",
                  "?offset=x"):
        r = api.get(base + query, token=token)
        assert_envelope(r, 400)
        name = query[1:].split("=")[0]
        assert f"'{name}'" in r.message, r.message


def test_another_jobs_result_is_404(server):
    w = make_world(server)
    api = server.api
    other = make_job(server, w.owner, w.schedule["id"])
    theirs = ok(api.post(f"/fetch/{other['id']}/data", {"name": "x"}, token=w.owner.token), 201)
    path = f"/fetch/{w.job['id']}/data/{theirs['id']}"
    before = snapshot()
    assert_envelope(api.get(path, token=w.owner.token), 404)
    assert_envelope(api.patch(path, {"name": "y"}, token=w.owner.token), 404)
    assert_envelope(api.delete(path, token=w.owner.token), 404)
    assert_envelope(api.get(path, token=server.admin.token), 404)
    assert snapshot() == before


def test_bad_result_input_is_400_and_changes_nothing(server):
    api, token = server.api, server.admin.token
    schedule = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    job = make_job(server, server.admin, schedule["id"])
    base = f"/fetch/{job['id']}/data"
    result = ok(api.post(base, {"name": "r"}, token=token), 201)
    before = snapshot()
    for body, message in [
        ({"status_code": 200}, "Field 'name' is required"),
        ({"name": ""}, "Field 'name' must be at least 1"),
        ({"name": 1}, "Field 'name' must be a string"),
        ({"name": "r", "status_code": "200"}, "Field 'status_code' must be an integer or null"),
        ({"name": "r", "status_code": 99}, "Field 'status_code' must be at least 100"),
        ({"name": "r", "status_code": 600}, "Field 'status_code' must be at most 599"),
        ({"name": "r", "response_headers": []}, "Field 'response_headers' must be an object"),
        ({"name": "r", "response_headers": {"A": 1}}, "Field 'response_headers.A' must be a"),
        ({"name": "r", "error": 5}, "Field 'error' must be a string or null"),
        ({"name": "r", "success": "yes"}, "Field 'success' must be a boolean"),
        ({"name": "r", "success": None}, "Field 'success' must be a boolean"),
        ({"name": "r", "job_id": "x"}, "Unknown field 'job_id'"),
        ({"name": "r", "scheduled_at": None}, "Unknown field 'scheduled_at'"),
    ]:
        r = api.post(base, body, token=token)
        assert_envelope(r, 400)
        assert r.message.startswith(message), (body, r.message)
        if "name" in body:
            r = api.patch(f"{base}/{result['id']}", body, token=token)
            assert_envelope(r, 400)
            assert r.message.startswith(message), (body, r.message)
    r = api.post(base, body=b'{"name": "r", "response": [1e400]}', token=token,
                 headers={"Content-Type": "application/json"})
    assert_envelope(r, 400)
    assert r.message == "Field 'response[0]' holds a number too large for JSON"
    assert snapshot() == before
