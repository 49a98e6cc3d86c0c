"""API.md section 3: profiles and user management, with every rule and rejected write."""

from __future__ import annotations

import pytest
from helpers.envelope import assert_envelope

from scheduler_lib.models import User


def snapshot() -> list[tuple]:
    """Every user row, to check that a rejected write changed nothing."""
    return [(u.id, u.username, u.email, u.password_hash, u.is_superuser, u.token_version,
             u.updated_at) for u in User.select().order_by(User.id)]


def test_me_and_profile_shape(server):
    body = assert_envelope(server.api.get("/user/me", token=server.admin.token), 200,
                           "Welcome admin!", "/user/me")
    assert set(body["data"]) == {"id", "username", "email", "is_superuser", "created_at",
                                 "updated_at"}
    assert body["data"]["is_superuser"] is True


def test_create_user_as_superuser(server):
    r = server.api.post("/user", {"username": "arbath", "email": "arbath@teknohole.com",
                                  "password": "arbath123"}, token=server.admin.token)
    body = assert_envelope(r, 201, "User arbath has been created successfully!", "/user")
    assert body["data"]["is_superuser"] is False
    assert body["data"]["created_at"] == body["data"]["updated_at"]
    assert "password" not in r.raw.decode() and "$2b$" not in r.raw.decode()
    assert server.login("arbath", "arbath123")["access_token"]


@pytest.mark.parametrize("username, email", [
    ("Admin", "other@example.com"), ("other", "ADMIN@example.com"),
])
def test_duplicates_are_409_case_insensitive(server, username, email):
    before = snapshot()
    r = server.api.post("/user", {"username": username, "email": email, "password": "password1"},
                        token=server.admin.token)
    assert_envelope(r, 409)
    assert snapshot() == before


@pytest.mark.parametrize("body, message", [
    ({"username": "ab", "email": "a@b.io", "password": "password1"}, "Field 'username'"),
    ({"username": "a b c", "email": "a@b.io", "password": "password1"}, "Field 'username'"),
    ({"username": "x" * 151, "email": "a@b.io", "password": "password1"}, "Field 'username'"),
    ({"username": "abc", "email": "not-an-email", "password": "password1"}, "Field 'email'"),
    ({"username": "abc", "email": "a@b.io", "password": "short"}, "Field 'password'"),
    ({"username": "abc", "email": "a@b.io", "password": "é" * 40}, "Field 'password'"),
    ({"username": "abc", "email": "a@b.io", "password": "password1", "is_superuser": "yes"},
     "Field 'is_superuser' must be a boolean"),
    ({"username": "abc", "email": "a@b.io", "password": "password1", "is_superuser": 1},
     "Field 'is_superuser' must be a boolean"),
    ({"username": "abc", "email": "a@b.io", "password": "password1", "id": 7},
     "Unknown field 'id'"),
    ({"username": "abc", "email": "a@b.io"}, "Field 'password' is required"),
    ({"username": 12345, "email": "a@b.io", "password": "password1"},
     "Field 'username' must be a string"),
])
def test_create_user_bad_input_is_400_and_changes_nothing(server, body, message):
    before = snapshot()
    r = server.api.post("/user", body, token=server.admin.token)
    assert_envelope(r, 400)
    assert r.message.startswith(message), r.message
    assert snapshot() == before


def test_list_and_get_users(server):
    alice = server.make_user("alice")
    body = assert_envelope(server.api.get("/user", token=server.admin.token), 200,
                           "List of all users")
    assert [u["username"] for u in body["data"]] == ["admin", "alice"]
    r = server.api.get(f"/user/{alice.id}", token=server.admin.token)
    assert assert_envelope(r, 200, "Success")["data"]["username"] == "alice"


def test_patch_me_changes_username_and_email(server):
    alice = server.make_user("alice")
    before = server.api.get("/user/me", token=alice.token).data
    r = server.api.patch("/user/me", {"username": "alice2", "email": "alice2@example.com"},
                         token=alice.token)
    data = assert_envelope(r, 200, "Profile updated successfully!")["data"]
    assert data["username"] == "alice2" and data["email"] == "alice2@example.com"
    assert data["updated_at"] > before["updated_at"]
    assert data["created_at"] == before["created_at"]


def test_patch_me_with_unchanged_is_superuser_is_accepted(server):
    alice = server.make_user("alice")
    r = server.api.patch("/user/me", {"username": "alice", "is_superuser": False},
                         token=alice.token)
    assert_envelope(r, 200)


def test_patch_me_cannot_escalate(server):
    alice = server.make_user("alice")
    before = snapshot()
    r = server.api.patch("/user/me", {"is_superuser": True}, token=alice.token)
    assert_envelope(r, 403)
    assert snapshot() == before


@pytest.mark.parametrize("body", [
    {"password": "new-password-1"},
    {"password": "new-password-1", "current_password": "wrong-password"},
])
def test_patch_me_password_needs_current_password(server, body):
    alice = server.make_user("alice")
    before = snapshot()
    r = server.api.patch("/user/me", body, token=alice.token)
    assert_envelope(r, 403, "Current password is incorrect")
    assert snapshot() == before


def test_patch_me_duplicate_username_is_409(server):
    alice = server.make_user("alice")
    before = snapshot()
    assert_envelope(server.api.patch("/user/me", {"username": "ADMIN"}, token=alice.token), 409)
    assert snapshot() == before


def test_patch_user_as_superuser(server):
    alice = server.make_user("alice")
    r = server.api.patch(f"/user/{alice.id}", {"is_superuser": True, "email": "a@example.org"},
                         token=server.admin.token)
    body = assert_envelope(r, 200, f"User with id {alice.id} has been updated successfully!")
    assert body["data"]["is_superuser"] is True
    assert server.api.get("/user", token=alice.token).status == 200


def test_patch_user_password_logs_the_user_out(server):
    alice = server.make_user("alice")
    r = server.api.patch(f"/user/{alice.id}", {"password": "set-by-admin"},
                         token=server.admin.token)
    assert_envelope(r, 200)
    assert server.api.get("/user/me", token=alice.token).status == 401
    assert server.login("alice", "set-by-admin")


def test_last_superuser_cannot_be_demoted(server):
    before = snapshot()
    r = server.api.patch(f"/user/{server.admin.id}", {"is_superuser": False},
                         token=server.admin.token)
    assert_envelope(r, 400, "Cannot demote the last superuser")
    assert snapshot() == before
    # With a second superuser the demotion is allowed.
    server.make_user("root2", superuser=True)
    r = server.api.patch(f"/user/{server.admin.id}", {"is_superuser": False},
                         token=server.admin.token)
    assert_envelope(r, 200)


def test_superuser_cannot_delete_themself(server):
    server.make_user("root2", superuser=True)
    before = snapshot()
    r = server.api.delete(f"/user/{server.admin.id}", token=server.admin.token)
    assert_envelope(r, 400, "You cannot delete yourself")
    assert snapshot() == before


def test_delete_user(server):
    alice = server.make_user("alice")
    r = server.api.delete(f"/user/{alice.id}", token=server.admin.token)
    body = assert_envelope(r, 200, f"User with id {alice.id} has been deleted successfully!")
    assert "data" not in body
    assert_envelope(server.api.get(f"/user/{alice.id}", token=server.admin.token), 404)
    assert_envelope(server.api.delete(f"/user/{alice.id}", token=server.admin.token), 404)


def test_deleted_username_can_be_reused(server):
    alice = server.make_user("alice")
    server.api.delete(f"/user/{alice.id}", token=server.admin.token)
    assert server.make_user("alice").id != alice.id


def test_non_superuser_cannot_manage_users(server):
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    before = snapshot()
    for method, path, body in (
        ("POST", "/user", {"username": "eve", "email": "e@x.io", "password": "password1"}),
        ("PATCH", f"/user/{bob.id}", {"username": "bobby"}),
        ("DELETE", f"/user/{bob.id}", None),
    ):
        kwargs = {} if body is None else {"json": body}
        assert_envelope(server.api.request(method, path, token=alice.token, **kwargs), 403)
    assert snapshot() == before
