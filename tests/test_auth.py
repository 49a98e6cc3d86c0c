"""API.md section 2: login, refresh with rotation and reuse detection, logout."""

from __future__ import annotations

import base64
import json
import threading
import time

import jwt
import pytest
from helpers.envelope import assert_envelope
from helpers.instance import ADMIN_PASSWORD
from helpers.polling import wait_for

from scheduler_lib.models import AppSetting, RefreshToken


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_login_by_username_or_email_returns_a_token_pair(server):
    for identifier in ("admin", "ADMIN", "admin@example.com", "Admin@Example.com"):
        r = server.api.post("/login", {"identifier": identifier, "password": ADMIN_PASSWORD})
        body = assert_envelope(r, 200, "Login success!", "/login")
        access, refresh = body["data"]["access_token"], body["data"]["refresh_token"]
        a, f = claims_of(access), claims_of(refresh)
        assert a["token_type"] == "access" and f["token_type"] == "refresh"
        assert a["sub"] == str(server.admin.id) and a["username"] == "admin"
        assert a["exp"] - a["iat"] == 900 and f["exp"] - f["iat"] == 604800
        assert a["jti"] != f["jti"]
        assert jwt.get_unverified_header(access)["alg"] == "HS256"


@pytest.mark.parametrize("identifier, password", [
    ("admin", "wrong-password"), ("nobody", ADMIN_PASSWORD), ("nobody@example.com", "x"),
])
def test_bad_credentials_are_401_with_one_message(server, identifier, password):
    r = server.api.post("/login", {"identifier": identifier, "password": password})
    assert_envelope(r, 401, "Invalid identifier or password")


def test_refresh_rotates_and_the_old_refresh_token_dies(server):
    pair = server.login("admin", ADMIN_PASSWORD)
    r = server.api.post("/refresh/token", {"refresh_token": pair["refresh_token"]})
    new = assert_envelope(r, 200, "Refresh success!")["data"]
    assert new["refresh_token"] != pair["refresh_token"]
    assert server.api.get("/user/me", token=new["access_token"]).status == 200
    again = server.api.post("/refresh/token", {"refresh_token": pair["refresh_token"]})
    assert_envelope(again, 401)


def test_refresh_reuse_revokes_the_whole_login_family(server):
    first = server.login("admin", ADMIN_PASSWORD)
    other_login = server.login("admin", ADMIN_PASSWORD)
    second = server.api.post("/refresh/token", {"refresh_token": first["refresh_token"]}).data
    # The stolen first token is presented again: the family is revoked ...
    reuse = server.api.post("/refresh/token", {"refresh_token": first["refresh_token"]})
    assert reuse.status == 401
    assert server.api.post("/refresh/token",
                           {"refresh_token": second["refresh_token"]}).status == 401
    # ... but another login's tokens are untouched.
    r = server.api.post("/refresh/token", {"refresh_token": other_login["refresh_token"]})
    assert r.status == 200


def test_concurrent_refresh_with_one_token_has_one_winner(server):
    pair = server.login("admin", ADMIN_PASSWORD)
    statuses: list[int] = []

    def attempt():
        statuses.append(server.api.post("/refresh/token",
                                        {"refresh_token": pair["refresh_token"]}).status)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses).count(200) <= 1 and len(statuses) == 4


def test_token_type_confusion_is_rejected(server):
    pair = server.login("admin", ADMIN_PASSWORD)
    assert_envelope(server.api.get("/user/me", token=pair["refresh_token"]), 401)
    assert_envelope(server.api.post("/refresh/token", {"refresh_token": pair["access_token"]}),
                    401)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_wrong_signature_and_garbage_are_rejected(server):
    claims = claims_of(server.admin.token)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    forged = jwt.encode(claims, "another-secret-of-enough-length-0123456789", algorithm="HS256")
    for token in (unsigned, forged, "garbage", "a.b.c"):
        assert_envelope(server.api.get("/user/me", token=token), 401)
    r = server.api.get("/user/me", headers={"Authorization": f"Basic {server.admin.token}"})
    assert_envelope(r, 401)


def test_expired_access_token_is_rejected(start_server):
    server = start_server(auth__access_ttl_seconds=1)
    token = server.admin.token
    wait_for(lambda: time.time() >= claims_of(token)["exp"] + 1, timeout=5)
    assert_envelope(server.api.get("/user/me", token=token), 401, "Token has expired")


def test_jwt_secret_is_generated_once_and_kept(server):
    secret = AppSetting.get(AppSetting.key == "jwt_secret").value
    assert len(secret) >= 32
    jwt.decode(server.admin.token, secret, algorithms=["HS256"])


def test_logout_revokes_refresh_and_access_token(server):
    alice = server.make_user("alice")
    r = server.api.post("/logout", {"refresh_token": alice.refresh_token}, token=alice.token)
    body = assert_envelope(r, 200, "Logout successful!", "/logout")
    assert "data" not in body
    assert_envelope(server.api.get("/user/me", token=alice.token), 401)
    r = server.api.post("/refresh/token", {"refresh_token": alice.refresh_token})
    assert_envelope(r, 401)


def test_logout_with_another_users_refresh_token_revokes_nothing(server):
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    r = server.api.post("/logout", {"refresh_token": bob.refresh_token}, token=alice.token)
    assert_envelope(r, 401, "Invalid token")
    assert server.api.get("/user/me", token=alice.token).status == 200
    assert server.api.post("/refresh/token", {"refresh_token": bob.refresh_token}).status == 200


def test_logout_requires_auth_and_a_body(server):
    assert_envelope(server.api.post("/logout", {"refresh_token": "x"}), 401)
    assert_envelope(server.api.post("/logout", {}, token=server.admin.token), 400,
                    "Field 'refresh_token' is required")


def test_password_change_revokes_refresh_tokens_and_older_access_tokens(server):
    alice = server.make_user("alice")
    r = server.api.patch("/user/me", {"password": "brand-new-pass",
                                      "current_password": alice.password}, token=alice.token)
    assert_envelope(r, 200, "Profile updated successfully!")
    assert_envelope(server.api.get("/user/me", token=alice.token), 401)
    assert server.api.post("/refresh/token", {"refresh_token": alice.refresh_token}).status == 401
    assert RefreshToken.select().where(RefreshToken.user == alice.id,
                                       RefreshToken.revoked_at.is_null()).count() == 0
    assert server.api.post("/login", {"identifier": "alice",
                                      "password": alice.password}).status == 401
    fresh = server.login("alice", "brand-new-pass")
    assert server.api.get("/user/me", token=fresh["access_token"]).status == 200


def test_deleted_users_tokens_stop_working_at_once(server):
    alice = server.make_user("alice")
    r = server.api.delete(f"/user/{alice.id}", token=server.admin.token)
    assert_envelope(r, 200)
    assert_envelope(server.api.get("/user/me", token=alice.token), 401)
    assert server.api.post("/refresh/token", {"refresh_token": alice.refresh_token}).status == 401


def test_slow_login_does_not_block_other_requests(start_server):
    server = start_server(auth__bcrypt_rounds=12, bootstrap__password="slow-admin-pass")
    started = threading.Event()
    done = threading.Event()

    def login():
        started.set()
        server.api.post("/login", {"identifier": "admin", "password": "slow-admin-pass"})
        done.set()

    thread = threading.Thread(target=login)
    thread.start()
    started.wait()
    # While the bcrypt check (a few hundred ms) runs, GET / keeps answering.
    answered_during_login = 0
    while not done.is_set():
        assert server.api.get("/").status == 200
        answered_during_login += 1
    thread.join()
    assert answered_during_login >= 3
