"""API.md section 4: API keys, and X-API-Key authentication."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from scheduler_lib.models import ApiKey
from scheduler_lib.timeutil import parse_iso, utcnow

KEY_FIELDS = {"id", "user_id", "name", "description", "scope", "prefix", "expires_at",
              "last_used_at", "created_at"}
# Checks whose outcome does not depend on the database run on SQLite only; the ones
# that store, revoke or count run on PostgreSQL too.
SQLITE_ONLY = pytest.mark.backends("sqlite")
RESOURCE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def create(server, person, **body):
    body.setdefault("name", "ci")
    r = server.api.post("/user/apikey", body, token=person.token)
    assert r.status == 201, r
    return r.data


def test_create_returns_the_key_once_and_stores_only_its_hash(server):
    alice = server.make_user("alice")
    r = server.api.post("/user/apikey", {"name": "ci", "description": "deploys"},
                        token=alice.token)
    assert r.status == 201 and r.message == "Api key created!", r
    data = r.data
    key = data.pop("key")
    assert set(data) == KEY_FIELDS
    assert data["user_id"] == alice.id and data["name"] == "ci"
    assert data["description"] == "deploys"
    assert data["expires_at"] is None and data["last_used_at"] is None
    assert RESOURCE_TIME.match(data["created_at"])
    # sk_ + 32 random bytes (43 url-safe characters); the prefix is its first characters.
    assert re.fullmatch(r"sk_[A-Za-z0-9_-]{43,}", key)
    assert key.startswith(data["prefix"]) and 6 <= len(data["prefix"]) < 16
    # Only a hash is stored: no column holds the key.
    row = ApiKey.get_by_id(data["id"])
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr(row.__data__)
    # Never shown again: not by get, not by list.
    got = server.api.get(f"/user/apikey/{data['id']}", token=alice.token)
    assert got.status == 200 and got.message == "Success!"
    assert got.data == data
    listed = server.api.get("/user/apikey", token=alice.token)
    assert listed.message == "List api keys" and listed.data == [data]
    assert key not in got.raw.decode() + listed.raw.decode()


@SQLITE_ONLY
def test_keys_are_random_and_distinct(server):
    keys = {create(server, server.admin, name=f"k{i}")["key"] for i in range(5)}
    assert len(keys) == 5
    assert len({k[:11] for k in keys}) == 5


def test_api_key_authenticates_as_its_owner_and_records_last_use(server):
    alice = server.make_user("alice")
    created = create(server, alice)
    r = server.api.get("/user/me", api_key=created["key"])
    assert r.status == 200 and r.data["username"] == "alice"
    used = server.api.get(f"/user/apikey/{created['id']}", token=alice.token).data
    first_use = parse_iso(used["last_used_at"])
    assert abs((utcnow() - first_use).total_seconds()) < 30
    # Written at most once a minute: a second use does not move it.
    server.api.get("/user/me", api_key=created["key"])
    again = server.api.get(f"/user/apikey/{created['id']}", token=alice.token).data
    assert again["last_used_at"] == used["last_used_at"]


@SQLITE_ONLY
def test_unknown_key_and_missing_credentials_are_401(server):
    create(server, server.admin)
    for key in ("sk_nope", "x", "sk_" + "A" * 43):
        r = server.api.get("/user/me", api_key=key)
        assert (r.status, r.message) == (401, "Invalid API Key"), r
    r = server.api.get("/user/apikey")
    assert (r.status, r.message) == (401, "Missing Authorization or x-api-key header")


def test_expired_key_is_401_expired(server):
    created = create(server, server.admin, expires_at=1)
    expires = parse_iso(created["expires_at"])
    assert timedelta(hours=23) < expires - utcnow() <= timedelta(days=1)
    assert server.api.get("/user/me", api_key=created["key"]).status == 200
    # Time passes (the only way to get there without waiting a day).
    ApiKey.update(expires_at=utcnow() - timedelta(seconds=1)).where(
        ApiKey.id == created["id"]).execute()
    r = server.api.get("/user/me", api_key=created["key"])
    assert (r.status, r.message) == (401, "Expired API Key!")


@SQLITE_ONLY
def test_bad_expires_at_is_400_naming_the_field(server):
    for value in (-1, 1.5, True, "5", None, [], {}, 10**12):
        r = server.api.post("/user/apikey", {"name": "k", "expires_at": value},
                            token=server.admin.token)
        assert r.status == 400 and "expires_at" in r.message, (value, r)
    assert server.api.get("/user/apikey", token=server.admin.token).data == []


@SQLITE_ONLY
def test_expires_at_zero_or_absent_means_never(server):
    assert create(server, server.admin, expires_at=0)["expires_at"] is None
    assert create(server, server.admin)["expires_at"] is None
    days = create(server, server.admin, expires_at=30)["expires_at"]
    delta = parse_iso(days) - utcnow()
    assert timedelta(days=29, hours=23) < delta <= timedelta(days=30)


@SQLITE_ONLY
def test_create_validates_every_field(server):
    cases = [
        ({}, "name"), ({"name": ""}, "name"), ({"name": 5}, "name"),
        ({"name": "k", "description": 3}, "description"),
        ({"name": "k", "user_id": 1}, "user_id"), ({"name": "k", "id": 7}, "id"),
        ({"name": "k", "key": "sk_chosen"}, "key"), ({"name": "k", "prefix": "sk_x"}, "prefix"),
    ]
    for body, field in cases:
        r = server.api.post("/user/apikey", body, token=server.admin.token)
        assert r.status == 400 and f"'{field}'" in r.message, (body, r)
    assert server.api.get("/user/apikey", token=server.admin.token).data == []


@SQLITE_ONLY
def test_update_changes_name_description_and_expiry(server):
    alice = server.make_user("alice")
    created = create(server, alice, expires_at=5)
    key = created.pop("key")
    path = f"/user/apikey/{created['id']}"
    r = server.api.patch(path, {"name": "renamed", "description": "new", "expires_at": 0},
                         token=alice.token)
    assert r.status == 200 and r.message == "Api key updated!", r
    assert r.data["name"] == "renamed" and r.data["description"] == "new"
    assert r.data["expires_at"] is None and r.data["prefix"] == created["prefix"]
    assert "key" not in r.data
    r = server.api.patch(path, {"expires_at": 2}, token=alice.token)
    assert parse_iso(r.data["expires_at"]) - utcnow() > timedelta(days=1, hours=23)
    assert server.api.patch(path, {"expires_at": -3}, token=alice.token).status == 400
    assert server.api.patch(path, {"user_id": server.admin.id}, token=alice.token).status == 400
    assert server.api.get(path, token=alice.token).data["user_id"] == alice.id
    # The key itself still works after an edit.
    assert server.api.get("/user/me", api_key=key).data["username"] == "alice"


@pytest.mark.parametrize("suffix", ["", "/rotate"])
def test_rotate_replaces_the_key_and_the_old_one_dies(server, suffix):
    alice = server.make_user("alice")
    created = create(server, alice, expires_at=7)
    old_key = created["key"]
    assert server.api.get("/user/me", api_key=old_key).status == 200
    r = server.api.post(f"/user/apikey/{created['id']}{suffix}", token=alice.token)
    assert r.status == 201 and r.message == "Api key rotated!", r
    new_key = r.data["key"]
    assert new_key != old_key and new_key.startswith(r.data["prefix"])
    assert r.data["id"] == created["id"] and r.data["expires_at"] == created["expires_at"]
    assert r.data["last_used_at"] is None
    r = server.api.get("/user/me", api_key=old_key)
    assert (r.status, r.message) == (401, "Invalid API Key")
    assert server.api.get("/user/me", api_key=new_key).data["username"] == "alice"
    listed = server.api.get("/user/apikey", token=alice.token).data
    assert [k["prefix"] for k in listed] == [new_key[:len(listed[0]["prefix"])]]


@SQLITE_ONLY
def test_rotate_can_renew_an_expired_key(server):
    created = create(server, server.admin, expires_at=1)
    ApiKey.update(expires_at=utcnow() - timedelta(seconds=1)).where(
        ApiKey.id == created["id"]).execute()
    r = server.api.post(f"/user/apikey/{created['id']}/rotate", {"expires_at": 3},
                        token=server.admin.token)
    assert r.status == 201, r
    assert parse_iso(r.data["expires_at"]) > utcnow() + timedelta(days=2)
    assert server.api.get("/user/me", api_key=r.data["key"]).status == 200
    r = server.api.post(f"/user/apikey/{created['id']}", {"expires_at": 0.5},
                        token=server.admin.token)
    assert r.status == 400 and "expires_at" in r.message


def test_delete_removes_the_key_and_it_stops_working(server):
    created = create(server, server.admin)
    path = f"/user/apikey/{created['id']}"
    r = server.api.delete(path, token=server.admin.token)
    assert r.status == 200 and r.message == "Api key deleted!" and "data" not in r.json
    assert server.api.get("/user/me", api_key=created["key"]).message == "Invalid API Key"
    r = server.api.get(path, token=server.admin.token)
    assert r.status == 404
    assert server.api.delete(path, token=server.admin.token).status == 404


def test_another_users_key_is_403_and_never_its_data(server):
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    created = create(server, alice, name="alice-secret-name")
    path = f"/user/apikey/{created['id']}"
    attempts = [
        ("GET", path, None), ("PATCH", path, {"name": "mine"}), ("DELETE", path, None),
        ("POST", path, None), ("POST", path + "/rotate", None),
    ]
    # Superusers included: a key is a personal credential.
    for person in (bob, server.admin):
        for method, url, body in attempts:
            kwargs = {"json": body} if body is not None else {}
            r = server.api.request(method, url, token=person.token, **kwargs)
            assert r.status == 403, (person.username, method, url, r)
            assert "data" not in r.json and "alice-secret-name" not in r.raw.decode()
        assert server.api.get("/user/apikey", token=person.token).data == []
    # Nothing changed, and alice's key still works.
    assert server.api.get(path, token=alice.token).data["name"] == "alice-secret-name"
    assert server.api.get("/user/me", api_key=created["key"]).data["username"] == "alice"


@SQLITE_ONLY
def test_missing_key_is_404(server):
    for method in ("GET", "PATCH", "DELETE", "POST"):
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
        r = server.api.request(method, "/user/apikey/999", token=server.admin.token, **kwargs)
        assert r.status == 404, (method, r)
    assert server.api.get("/user/apikey/abc", token=server.admin.token).status == 404


@SQLITE_ONLY
def test_list_is_paginated_and_only_the_callers(server):
    alice = server.make_user("alice")
    for i in range(3):
        create(server, alice, name=f"a{i}")
    create(server, server.admin, name="admin-key")
    r = server.api.get("/user/apikey?limit=2&offset=1", token=alice.token)
    assert r.status == 200 and r.headers["X-Total-Count"] == "3"
    assert [k["name"] for k in r.data] == ["a1", "a2"]
    assert server.api.get("/user/apikey?limit=0", token=alice.token).status == 400


@SQLITE_ONLY
def test_admin_key_callers_can_manage_their_keys(server):
    created = create(server, server.admin, scope="admin")
    r = server.api.post("/user/apikey", {"name": "second"}, api_key=created["key"])
    assert r.status == 201 and r.data["user_id"] == server.admin.id
    # Rotating the key in use: the answer carries the new key, the old one is dead.
    r = server.api.post(f"/user/apikey/{created['id']}/rotate", api_key=created["key"])
    assert r.status == 201
    assert server.api.get("/user/me", api_key=created["key"]).status == 401
    assert server.api.get("/user/me", api_key=r.data["key"]).status == 200


def test_deleting_the_owner_kills_the_key(server):
    alice = server.make_user("alice")
    created = create(server, alice)
    assert server.api.delete(f"/user/{alice.id}", token=server.admin.token).status == 200
    r = server.api.get("/user/me", api_key=created["key"])
    assert (r.status, r.message) == (401, "Invalid API Key")
    assert ApiKey.get_or_none(ApiKey.id == created["id"]) is None


@SQLITE_ONLY
def test_key_expiring_in_the_future_still_works_until_then(server):
    created = create(server, server.admin, expires_at=1)
    soon = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=30)
    ApiKey.update(expires_at=soon).where(ApiKey.id == created["id"]).execute()
    assert server.api.get("/user/me", api_key=created["key"]).status == 200
