"""API.md section 8: job members (/fetch/{fetch_id}/member) and the last-owner rule."""

from __future__ import annotations

from helpers.envelope import assert_envelope
from helpers.world import make_world, ok, snapshot


def test_member_crud(server):
    w = make_world(server)
    api, base = server.api, f"/fetch/{w.job['id']}/member"
    r = api.get(base, token=w.viewer.token)
    assert_envelope(r, 200, "List fetch members", base)
    assert [(m["user_id"], m["role"]) for m in r.data] == [
        (w.owner.id, "owner"), (w.editor.id, "editor"), (w.viewer.id, "viewer")]
    assert r.headers["X-Total-Count"] == "3"
    assert set(r.data[0]) == {"fetch_id", "user_id", "username", "role", "created_at"}
    assert [m["username"] for m in r.data] == [w.owner.username, w.editor.username,
                                               w.viewer.username]
    assert all(m["fetch_id"] == w.job["id"] for m in r.data)
    assert [m["user_id"] for m in ok(api.get(f"{base}?limit=1&offset=2",
                                             token=w.viewer.token))] == [w.viewer.id]

    r = api.post(base, {"user_id": w.outsider.id, "role": "viewer"}, token=w.owner.token)
    added = assert_envelope(r, 201, "Success add a member")["data"]
    assert (added["user_id"], added["role"]) == (w.outsider.id, "viewer")
    # The new member can read the job now.
    ok(api.get(f"/fetch/{w.job['id']}", token=w.outsider.token))

    r = api.get(f"{base}/{w.outsider.id}", token=w.editor.token)
    assert assert_envelope(r, 200, "Success")["data"] == added
    r = api.patch(f"{base}/{w.outsider.id}", {"role": "editor"}, token=w.owner.token)
    assert assert_envelope(r, 200, "Success update a member")["data"]["role"] == "editor"
    ok(api.patch(f"/fetch/{w.job['id']}", {"description": "edited"}, token=w.outsider.token))

    assert_envelope(api.delete(f"{base}/{w.outsider.id}", token=w.owner.token), 200,
                    "Member Deleted")
    assert_envelope(api.get(f"{base}/{w.outsider.id}", token=w.owner.token), 404)
    assert_envelope(api.get(f"/fetch/{w.job['id']}", token=w.outsider.token), 403,
                    "You are not a member of this project!")


def test_member_errors(server):
    w = make_world(server)
    api, base = server.api, f"/fetch/{w.job['id']}/member"
    owner = w.owner.token
    before = snapshot()
    assert_envelope(api.post(base, {"user_id": 9999, "role": "viewer"}, token=owner), 404)
    assert_envelope(api.post(base, {"username": "nobody", "role": "viewer"}, token=owner), 404,
                    "User nobody not found")
    assert_envelope(api.post(base, {"username": w.editor.username, "role": "viewer"},
                             token=owner), 409)
    r = api.post(base, {"user_id": w.editor.id, "role": "viewer"}, token=owner)
    assert_envelope(r, 409)
    assert_envelope(api.post(base, {"user_id": w.owner.id, "role": "owner"}, token=owner), 409)
    assert_envelope(api.patch(f"{base}/{w.outsider.id}", {"role": "viewer"}, token=owner), 404)
    assert_envelope(api.delete(f"{base}/{w.outsider.id}", token=owner), 404)
    assert_envelope(api.get(f"{base}/9999", token=owner), 404)
    assert_envelope(api.get("/fetch/9999/member", token=owner), 404)
    for body, message in [
        ({"role": "viewer"}, "Field 'user_id' or 'username' is required"),
        ({"user_id": w.outsider.id, "username": w.outsider.username, "role": "viewer"},
         "Field 'user_id' or 'username' is required (exactly one"),
        ({"username": "", "role": "viewer"}, "Field 'username'"),
        ({"username": 5, "role": "viewer"}, "Field 'username' must be a string"),
        ({"user_id": w.outsider.id}, "Field 'role' is required"),
        ({"user_id": w.outsider.id, "role": "admin"}, "Field 'role' must be one of"),
        ({"user_id": w.outsider.id, "role": "Owner"}, "Field 'role' must be one of"),
        ({"user_id": str(w.outsider.id), "role": "viewer"}, "Field 'user_id' must be an integer"),
        ({"user_id": 0, "role": "viewer"}, "Field 'user_id' must be at least 1"),
        ({"user_id": 10**20, "role": "viewer"}, "Field 'user_id' must be at most"),
        ({"user_id": w.outsider.id, "role": "viewer", "fetch_id": 1}, "Unknown field 'fetch_id'"),
    ]:
        r = api.post(base, body, token=owner)
        assert_envelope(r, 400)
        assert r.message.startswith(message), (body, r.message)
    for body, message in [({}, "Field 'role' is required"), ({"role": 1}, "Field 'role'"),
                          ({"role": "viewer", "user_id": 3}, "Unknown field 'user_id'")]:
        r = api.patch(f"{base}/{w.viewer.id}", body, token=owner)
        assert_envelope(r, 400)
        assert r.message.startswith(message), (body, r.message)
    assert snapshot() == before


def test_last_owner_cannot_be_removed_or_demoted(server):
    w = make_world(server)
    api, base = server.api, f"/fetch/{w.job['id']}/member"
    before = snapshot()
    for r in (api.patch(f"{base}/{w.owner.id}", {"role": "editor"}, token=w.owner.token),
              api.delete(f"{base}/{w.owner.id}", token=w.owner.token),
              api.delete(f"{base}/{w.owner.id}", token=server.admin.token)):
        assert_envelope(r, 400)
        assert "at least one owner" in r.message
    assert snapshot() == before
    # With a second owner the first may step down, then leave.
    ok(api.patch(f"{base}/{w.editor.id}", {"role": "owner"}, token=w.owner.token))
    ok(api.patch(f"{base}/{w.owner.id}", {"role": "owner"}, token=w.owner.token))
    ok(api.patch(f"{base}/{w.owner.id}", {"role": "viewer"}, token=w.owner.token))
    assert_envelope(api.delete(f"{base}/{w.editor.id}", token=w.editor.token), 400)
    ok(api.delete(f"{base}/{w.owner.id}", token=w.editor.token))
    roles = {m["user_id"]: m["role"] for m in ok(api.get(base, token=w.editor.token))}
    assert roles == {w.editor.id: "owner", w.viewer.id: "viewer"}


def test_only_owners_manage_members(server):
    w = make_world(server)
    api, base = server.api, f"/fetch/{w.job['id']}/member"
    before = snapshot()
    for person in (w.editor, w.viewer):
        for r in (api.post(base, {"user_id": w.outsider.id, "role": "viewer"},
                           token=person.token),
                  api.patch(f"{base}/{w.viewer.id}", {"role": "owner"}, token=person.token),
                  api.delete(f"{base}/{w.viewer.id}", token=person.token)):
            assert_envelope(r, 403)
    for r in (api.get(base, token=w.outsider.token),
              api.get(f"{base}/{w.owner.id}", token=w.outsider.token),
              api.post(base, {"user_id": w.outsider.id, "role": "owner"},
                       token=w.outsider.token)):
        assert_envelope(r, 403, "You are not a member of this project!")
    assert snapshot() == before
    # A superuser who is no member may manage them.
    ok(api.post(base, {"user_id": w.outsider.id, "role": "viewer"}, token=server.admin.token),
       201)


def test_member_added_by_username_or_email(server):
    """API.md section 8: a non-superuser owner adds a teammate by name, any case."""
    w = make_world(server)
    api, base = server.api, f"/fetch/{w.job['id']}/member"
    r = api.post(base, {"username": w.outsider.username.upper(), "role": "viewer"},
                 token=w.owner.token)
    added = assert_envelope(r, 201, "Success add a member")["data"]
    assert added == {**added, "user_id": w.outsider.id, "username": w.outsider.username,
                     "role": "viewer"}
    ok(api.delete(f"{base}/{w.outsider.id}", token=w.owner.token))
    r = api.post(base, {"username": w.outsider.email.upper(), "role": "editor"},
                 token=w.owner.token)
    assert ok(r, 201)["user_id"] == w.outsider.id
    got = ok(api.get(f"{base}/{w.outsider.id}", token=w.outsider.token))
    assert (got["username"], got["role"]) == (w.outsider.username, "editor")
