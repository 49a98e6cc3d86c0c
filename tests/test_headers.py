"""API.md section 6: header presets (/fetch/header)."""

from __future__ import annotations

from helpers.envelope import assert_envelope
from helpers.world import HOURLY, create, make_job, ok, snapshot


def test_header_preset_crud(server):
    api, token = server.api, server.admin.token
    body = assert_envelope(api.post("/fetch/header", {"name": "json", "headers": {
        "Content-Type": "application/json", "X-Trace": "a b; c=d", "X-Empty": ""}}, token=token),
        201, "Header created!", "/fetch/header")
    preset = body["data"]
    assert set(preset) == {"id", "user_id", "name", "headers", "created_at", "updated_at"}
    assert preset["headers"] == {"Content-Type": "application/json", "X-Trace": "a b; c=d",
                                 "X-Empty": ""}
    assert preset["user_id"] == server.admin.id
    path = f"/fetch/header/{preset['id']}"

    assert assert_envelope(api.get(path, token=token), 200, "Success!")["data"] == preset
    r = api.get("/fetch/header", token=token)
    assert_envelope(r, 200, "List headers")
    assert r.data == [preset] and r.headers["X-Total-Count"] == "1"

    updated = assert_envelope(api.patch(path, {"headers": {"Accept": "text/plain"}},
                                        token=token), 200, "Header updated!")["data"]
    assert (updated["name"], updated["headers"]) == ("json", {"Accept": "text/plain"})
    assert updated["updated_at"] > preset["updated_at"]
    assert ok(api.patch(path, {"name": "plain"}, token=token))["headers"] == \
        {"Accept": "text/plain"}

    assert_envelope(api.delete(path, token=token), 200, "Header deleted!")
    assert_envelope(api.get(path, token=token), 404)
    assert_envelope(api.delete(path, token=token), 404)


def test_bad_presets_are_400_and_change_nothing(server):
    api, token = server.api, server.admin.token
    preset = ok(api.post("/fetch/header", {"name": "p", "headers": {"A": "1"}}, token=token), 201)
    before = snapshot()
    cases = [
        ({"headers": {}}, "Field 'name' is required"),
        ({"name": "x"}, "Field 'headers' is required"),
        ({"name": "", "headers": {}}, "Field 'name' must be at least"),
        ({"name": ["x"], "headers": {}}, "Field 'name' must be a string"),
        ({"name": "x", "headers": ["A: 1"]}, "Field 'headers' must be an object"),
        ({"name": "x", "headers": "A: 1"}, "Field 'headers' must be an object"),
        ({"name": "x", "headers": {"Bad Name": "1"}}, "Field 'headers' must have names"),
        ({"name": "x", "headers": {"X:Y": "1"}}, "Field 'headers' must have names"),
        ({"name": "x", "headers": {"": "1"}}, "Field 'headers' must have names"),
        ({"name": "x", "headers": {"X-A": 1}}, "Field 'headers.X-A' must be a string"),
        ({"name": "x", "headers": {"X-A": None}}, "Field 'headers.X-A' must be a string"),
        ({"name": "x", "headers": {"X-A": "1\r\nX-Evil: 2"}},
         "Field 'headers.X-A' must not contain CR, LF or NUL"),
        ({"name": "x", "headers": {"X-A": "1\n"}}, "Field 'headers.X-A' must not contain"),
        ({"name": "x", "headers": {"X-A": "a\rb"}}, "Field 'headers.X-A' must not contain"),
        ({"name": "x", "headers": {"X-A": "a\u2028b"}},
         "Field 'headers.X-A' must contain only printable Latin-1 characters"),
        ({"name": "x", "headers": {"X-A": "a\x7fb"}}, "Field 'headers.X-A' must contain only"),
        ({"name": "x", "headers": {}, "user_id": 1}, "Unknown field 'user_id'"),
    ]
    for body, message in cases:
        r = api.post("/fetch/header", body, token=token)
        assert_envelope(r, 400)
        assert r.message.startswith(message), (body, r.message)
        if "name" in body and "headers" in body and "user_id" not in body:
            patch = {"headers": body["headers"]} if body["name"] == "x" else {"name": body["name"]}
            r = api.patch(f"/fetch/header/{preset['id']}", patch, token=token)
            assert_envelope(r, 400)
    assert snapshot() == before


def test_presets_are_owner_only(server):
    api = server.api
    alice, bob = server.make_user("alice"), server.make_user("bob")
    mine = create(server, alice, "/fetch/header", {"name": "a", "headers": {"A": "1"}})
    create(server, bob, "/fetch/header", {"name": "b", "headers": {"B": "1"}})
    assert [p["id"] for p in ok(api.get("/fetch/header", token=alice.token))] == [mine["id"]]
    before = snapshot()
    path = f"/fetch/header/{mine['id']}"
    for r in (api.get(path, token=bob.token), api.patch(path, {"name": "z"}, token=bob.token),
              api.delete(path, token=bob.token)):
        assert_envelope(r, 403, "You are not the owner of this header!")
    assert snapshot() == before
    assert_envelope(api.get("/fetch/header?all=true", token=bob.token), 403)
    everyone = api.get("/fetch/header?all=true", token=server.admin.token)
    assert everyone.headers["X-Total-Count"] == "2"
    ok(api.patch(path, {"name": "by admin"}, token=server.admin.token))
    assert_envelope(api.get(path), 401)


def test_deleting_a_preset_detaches_it_from_jobs(server):
    api, token = server.api, server.admin.token
    schedule = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    preset = ok(api.post("/fetch/header", {"name": "p", "headers": {"A": "1"}}, token=token), 201)
    job = make_job(server, server.admin, schedule["id"], header_id=preset["id"])
    assert job["header_id"] == preset["id"]
    ok(api.delete(f"/fetch/header/{preset['id']}", token=token))
    after = ok(api.get(f"/fetch/{job['id']}", token=token))
    assert after["header_id"] is None
    assert (after["job_id"], after["next_run_at"]) == (job["job_id"], job["next_run_at"])
