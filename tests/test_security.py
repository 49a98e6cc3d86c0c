"""Attacks on the authentication surface, tried against a real server.

Forged and misused tokens, revoked sessions, dead API keys, mass assignment on every
body route, other users' resources by id on every route, header injection, login
throttling (also across two nodes), login timing, and secrets in responses, logs
and the database.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import urllib3
from helpers.http import Client
from helpers.polling import wait_for
from helpers.serve import serve_environment
from helpers.victim import MARK, World, body_routes, build_world, db_snapshot, sample_body
from helpers.world import create

from scheduler_lib import auth, logs
from scheduler_lib.api.app import all_routes
from scheduler_lib.db import database
from scheduler_lib.models import User

# Checks whose outcome does not depend on the database run on SQLite only; the ones
# that store, revoke or count run on PostgreSQL too.
SQLITE_ONLY = pytest.mark.backends("sqlite")
THROTTLED = "Too many failed logins, try again later"


# --- helpers -----------------------------------------------------------------------------

def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unverified(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def assert_401(r, message: str | None = None) -> None:
    assert r.status == 401, r
    assert "data" not in r.json
    if message is not None:
        assert r.message == message, r


def client_from(server, source_ip: str) -> Client:
    """A client whose connections come from ``source_ip`` (any 127/8 address works)."""
    client = Client(server.url)
    client.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(30),
                                      source_address=(source_ip, 0))
    return client


def login_body(identifier: str, password: str) -> dict:
    return {"identifier": identifier, "password": password}


# --- forged and misused tokens -----------------------------------------------------------

@SQLITE_ONLY
def test_forged_tokens_are_401(server):
    access = server.admin.token
    claims = unverified(access)
    header, payload, signature = access.split(".")
    forged = {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg None": f"{b64({'alg': 'None', 'typ': 'JWT'})}.{payload}.",
        "alg none, signature kept": f"{b64({'alg': 'none'})}.{payload}.{signature}",
        "another secret": jwt.encode(claims, "not-the-secret-" * 4, algorithm="HS256"),
        "HS512 with the real secret": jwt.encode(claims, server.instance.ctx.jwt_secret,
                                                 algorithm="HS512"),
        "payload swapped": f"{header}.{b64({**claims, 'sub': '999'})}.{signature}",
        "signature cut": f"{header}.{payload}.",
        "garbage": "a.b.c",
        "empty": "",
    }
    for name, token in forged.items():
        r = server.api.get("/user/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status == 401, (name, r)
    for header_value in ("Basic YWRtaW46eA==", "Bearer", access, f"Token {access}"):
        assert server.api.get("/user/me", headers={"Authorization": header_value}).status == 401


@SQLITE_ONLY
def test_tokens_signed_with_the_real_secret_but_wrong_claims_are_401(server):
    secret = server.instance.ctx.jwt_secret
    now = int(time.time())
    good = {"sub": str(server.admin.id), "username": "admin", "iat": now, "exp": now + 60,
            "jti": "x" * 32, "token_type": "access", "ver": 0}
    variants = {
        "expired": {**good, "iat": now - 3600, "exp": now - 60},
        "no jti": {k: v for k, v in good.items() if k != "jti"},
        "no exp": {k: v for k, v in good.items() if k != "exp"},
        "non-numeric sub": {**good, "sub": "admin"},
        "unknown user": {**good, "sub": "424242"},
        "unknown token type": {**good, "token_type": "superuser"},
        "old token version": {**good, "ver": -1},
    }
    assert server.api.get("/user/me", token=jwt.encode(good, secret)).status == 200
    for name, claims in variants.items():
        r = server.api.get("/user/me", token=jwt.encode(claims, secret))
        assert r.status == 401, (name, r)
    expired = jwt.encode(variants["expired"], secret)
    assert_401(server.api.get("/user/me", token=expired), "Token has expired")


@SQLITE_ONLY
def test_token_types_are_not_interchangeable(server):
    person = server.make_user("alice")
    assert_401(server.api.get("/user/me", token=person.refresh_token))
    assert_401(server.api.post("/refresh/token", {"refresh_token": person.token}))
    assert_401(server.api.post("/logout", {"refresh_token": person.token}, token=person.token))
    # Nothing was consumed by the attempts.
    assert server.api.post("/refresh/token", {"refresh_token": person.refresh_token}).status == 200


def test_refresh_reuse_revokes_the_family_only(server):
    first = server.login("admin", server.admin.password)
    other = server.login("admin", server.admin.password)
    second = server.api.post("/refresh/token", {"refresh_token": first["refresh_token"]}).data
    assert_401(server.api.post("/refresh/token", {"refresh_token": first["refresh_token"]}))
    # The thief's reuse killed the legitimate successor too ...
    assert_401(server.api.post("/refresh/token", {"refresh_token": second["refresh_token"]}))
    # ... but not another login's tokens.
    assert server.api.post("/refresh/token", {"refresh_token": other["refresh_token"]}).status \
        == 200


def test_logout_then_reuse_is_401(server):
    person = server.make_user("alice")
    r = server.api.post("/logout", {"refresh_token": person.refresh_token}, token=person.token)
    assert r.status == 200, r
    assert_401(server.api.get("/user/me", token=person.token))
    assert_401(server.api.post("/refresh/token", {"refresh_token": person.refresh_token}))
    assert_401(server.api.post("/logout", {"refresh_token": person.refresh_token},
                               token=person.token))


def test_deleted_users_tokens_and_keys_stop_at_once(server):
    person = server.make_user("alice")
    key = create(server, person, "/user/apikey", {"name": "k"})["key"]
    assert server.api.get("/user/me", api_key=key).status == 200
    assert server.api.delete(f"/user/{person.id}", token=server.admin.token).status == 200
    assert_401(server.api.get("/user/me", token=person.token))
    assert_401(server.api.get("/user/me", api_key=key), "Invalid API Key")
    assert_401(server.api.post("/refresh/token", {"refresh_token": person.refresh_token}))
    # A new user reusing the id-less name gets nothing of the old sessions.
    newcomer = server.make_user("alice")
    assert_401(server.api.get("/user/me", token=person.token))
    assert newcomer.id != person.id


def test_api_key_after_rotation_or_deletion_is_401(server):
    person = server.make_user("alice")
    first = create(server, person, "/user/apikey", {"name": "a"})
    second = create(server, person, "/user/apikey", {"name": "b"})
    rotated = server.api.post(f"/user/apikey/{first['id']}/rotate", token=person.token).data
    assert_401(server.api.get("/user/me", api_key=first["key"]), "Invalid API Key")
    assert server.api.get("/user/me", api_key=rotated["key"]).status == 200
    assert server.api.delete(f"/user/apikey/{second['id']}", token=person.token).status == 200
    assert_401(server.api.get("/user/me", api_key=second["key"]), "Invalid API Key")
    # A key's hash, or its prefix, is not a key.
    assert_401(server.api.get("/user/me", api_key=auth.hash_api_key(rotated["key"])))
    assert_401(server.api.get("/user/me", api_key=rotated["prefix"]))


@SQLITE_ONLY
def test_password_change_kills_older_sessions(server):
    person = server.make_user("alice")
    r = server.api.patch("/user/me", {"password": "a-brand-new-pass",
                                      "current_password": person.password},
                         token=person.token)
    assert r.status == 200, r
    assert_401(server.api.get("/user/me", token=person.token))
    assert_401(server.api.post("/refresh/token", {"refresh_token": person.refresh_token}))
    assert server.api.post("/login", login_body("alice", person.password)).status == 401


# --- mass assignment ---------------------------------------------------------------------

# (method, path, field): routes that take one of the ownership fields on purpose.
LEGITIMATE_FIELDS = {
    ("POST", "/fetch/{fetch_id}/member", "user_id"),
    ("POST", "/user", "is_superuser"), ("PATCH", "/user/{id}", "is_superuser"),
    ("PATCH", "/user/me", "is_superuser"),  # accepted only when unchanged (else 403)
}


def test_every_body_schema_is_closed_and_takes_no_ownership_field():
    assert body_routes()
    for route in body_routes():
        schema = route.body
        assert schema.get("type") == "object" and schema.get("additionalProperties") is False, \
            route.path
        for name in ("id", "user_id", "is_superuser"):
            if name in schema.get("properties", {}):
                assert (route.method, route.path, name) in LEGITIMATE_FIELDS, (route, name)


def test_mass_assignment_is_refused_on_every_body_route(server):
    world = build_world(server, "mallory")
    mallory = world.victim
    before = db_snapshot()
    injections = {"is_superuser": True, "user_id": server.admin.id, "id": 424242}
    tried = 0
    for route in body_routes():
        path = world.resolve(route.path)
        for name, value in injections.items():
            if (route.method, route.path, name) in LEGITIMATE_FIELDS - {
                    ("PATCH", "/user/me", "is_superuser")}:
                continue
            body = {**sample_body(route, world, mallory), name: value}
            r = server.api.request(route.method, path, body, token=mallory.token)
            tried += 1
            assert r.status in (400, 401, 403), (route.method, path, body, r)
            assert "data" not in r.json
    assert tried >= 3 * 5
    assert db_snapshot() == before
    assert User.get_by_id(mallory.id).is_superuser is False
    me = server.api.get("/user/me", token=mallory.token).data
    assert me["is_superuser"] is False and me["id"] == mallory.id


# --- other users' resources --------------------------------------------------------------

def _victim_view(server, world: World) -> dict[str, Any]:
    """What the victim sees of their resources (compared before and after the attack)."""
    view = {}
    for route in all_routes():
        if route.method == "GET" and "{" in route.path and route.auth == "user":
            r = server.api.get(world.resolve(route.path), token=world.victim.token)
            assert r.status == 200, (route.path, r)
            view[route.path] = r.data
    return view


def test_another_users_resources_are_403_or_404_and_never_data(server):
    world = build_world(server)
    outsider = world.outsider
    outsider_key = create(server, outsider, "/user/apikey", {"name": "outsider"})["key"]
    before = _victim_view(server, world)
    assert len(before) >= 2 and MARK in json.dumps(before)
    attempted = set()
    for credentials in ({"token": outsider.token}, {"api_key": outsider_key}):
        for route in all_routes():
            if "{" not in route.path or route.auth == "none":
                continue
            path = world.resolve(route.path)
            body = sample_body(route, world, outsider)
            kwargs = {"json": body} if body is not None else {}
            r = server.api.request(route.method, path, **credentials, **kwargs)
            assert r.status in (403, 404), (route.method, path, r)
            assert "data" not in r.json and MARK not in r.raw.decode(), (route.method, path, r)
            attempted.add((route.method, route.path))
    assert _victim_view(server, world) == before
    assert server.api.get("/user/me", api_key=world.key).data["id"] == world.victim.id
    # Every kind of resource was attacked.
    for kind_path in ("/user/apikey/{id}", "/fetch/execute/{id}", "/fetch/header/{id}",
                      "/fetch/{id}", "/fetch/{fetch_id}/member/{user_id}",
                      "/fetch/{fetch_id}/data/{id}", "/notify/channel/{id}"):
        assert {("GET", kind_path), ("DELETE", kind_path)} <= attempted, kind_path


@SQLITE_ONLY
def test_lists_never_show_another_users_resources(server):
    world = build_world(server)
    for route in all_routes():
        if route.method != "GET" or "{" in route.path or route.auth != "user":
            continue
        for query in ("", "?all=true"):
            r = server.api.get(route.path + query, token=world.outsider.token)
            assert r.status in (200, 400, 403), (route.path, query, r)
            assert MARK not in r.raw.decode(), (route.path, query)


# --- header injection --------------------------------------------------------------------

@SQLITE_ONLY
def test_header_presets_refuse_cr_lf_and_bad_names(server):
    person = server.make_user("alice")
    good = create(server, person, "/fetch/header", {"name": "ok", "headers": {"X-A": "b"}})
    bad_headers = [
        {"X-A": "b\r\nX-Injected: 1"}, {"X-A": "b\nX-Injected: 1"}, {"X-A": "b\rc"},
        {"X-A\r\nX-Injected": "1"}, {"X A": "b"}, {"X-A:": "b"}, {"": "b"},
        {"X-A": "b\r\n\r\nGET / HTTP/1.1"}, {"X-A": "b\x00"}, {"X-A": "\r\n"},
    ]
    before = db_snapshot()
    for headers in bad_headers:
        r = server.api.post("/fetch/header", {"name": "evil", "headers": headers},
                            token=person.token)
        assert r.status == 400, (headers, r)
        r = server.api.patch(f"/fetch/header/{good['id']}", {"headers": headers},
                             token=person.token)
        assert r.status == 400, (headers, r)
    assert db_snapshot() == before


# --- login throttling --------------------------------------------------------------------

def test_failures_for_one_identifier_throttle_it_from_that_address(start_server):
    server = start_server(auth__login_max_failures=3)
    server.make_user("alice")
    server.make_user("bob")
    for _ in range(3):
        assert server.api.post("/login", login_body("alice", "wrong-password")).status == 401
    r = server.api.post("/login", login_body("alice", "alice-password"))
    assert (r.status, r.message) == (429, THROTTLED), r
    assert 1 <= int(r.headers["Retry-After"]) <= 300
    assert "data" not in r.json
    # Other identifiers from this address, and this identifier from elsewhere, go on.
    assert server.api.post("/login", login_body("bob", "bob-password")).status == 200
    other = client_from(server, "127.0.0.2")
    assert other.post("/login", login_body("alice", "alice-password")).status == 200
    # The identifier is matched case-insensitively.
    assert server.api.post("/login", login_body("ALICE", "alice-password")).status == 429


def test_one_address_failing_across_identifiers_is_throttled(start_server):
    server = start_server(auth__login_max_failures=2)
    sprayer = client_from(server, "127.0.0.3")
    for i in range(2 * 5):
        r = sprayer.post("/login", login_body(f"user{i}", "guess-123"))
        assert r.status == 401, (i, r)
    r = sprayer.post("/login", login_body("admin", server.admin.password))
    assert (r.status, r.message) == (429, THROTTLED)
    assert int(r.headers["Retry-After"]) >= 1
    assert server.api.post("/login", login_body("admin", server.admin.password)).status == 200


@SQLITE_ONLY
def test_throttle_lifts_after_the_window_and_success_forgives(start_server):
    server = start_server(auth__login_max_failures=2, auth__login_window_seconds=2)
    for _ in range(2):
        server.api.post("/login", login_body("admin", "wrong-password"))
    r = server.api.post("/login", login_body("admin", server.admin.password))
    assert r.status == 429 and int(r.headers["Retry-After"]) <= 2
    wait_for(lambda: server.api.post(
        "/login", login_body("admin", server.admin.password)).status == 200, timeout=10)
    # That success cleared the count: one more failure is a 401, not a 429.
    assert server.api.post("/login", login_body("admin", "wrong-password")).status == 401
    assert server.api.post("/login", login_body("admin", server.admin.password)).status == 200


def test_throttle_state_is_shared_by_nodes_on_one_database(start_server, serve_process):
    server = start_server(auth__login_max_failures=2)
    second = serve_process(serve_environment(
        server.settings.database.url, SCHEDULER_AUTH_LOGIN_MAX_FAILURES="2",
        SCHEDULER_SCHEDULER_ENABLED="false"), ready_path="/healthz").wait_ready()
    for _ in range(2):
        assert server.api.post("/login", login_body("admin", "nope-nope")).status == 401
    r = second.api.post("/login", login_body("admin", server.admin.password))
    assert (r.status, r.message) == (429, THROTTLED)


# --- login timing and concurrency --------------------------------------------------------

def _timed_login(client: Client, identifier: str, password: str) -> float:
    started = time.perf_counter()
    r = client.post("/login", login_body(identifier, password))
    assert r.status == 401, r
    return time.perf_counter() - started


@pytest.mark.backends("sqlite")
def test_unknown_user_and_wrong_password_take_similar_time(start_server):
    server = start_server(auth__bcrypt_rounds=9)
    server.make_user("alice")
    unknown, wrong = [], []
    for i in range(6):  # interleaved, so that load changes hit both alike
        unknown.append(_timed_login(server.api, f"ghost{i}", "some-password"))
        wrong.append(_timed_login(server.api, "alice" if i % 2 else "alice@example.com",
                                  "some-password"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2.0, (unknown, wrong)


@pytest.mark.backends("sqlite")
def test_slow_and_throttled_logins_do_not_block_other_requests(start_server):
    server = start_server(auth__bcrypt_rounds=11, auth__login_max_failures=2)
    one_login = _timed_login(server.api, "admin", "wrong-password")
    stop = threading.Event()
    outcomes: list[int] = []

    def hammer(source_ip: str) -> None:
        client = client_from(server, source_ip)
        n = 0
        while not stop.is_set():
            n += 1
            outcomes.append(client.post("/login", login_body(f"ghost{n}", "guess")).status)
            time.sleep(0.01)

    threads = [threading.Thread(target=hammer, args=(ip,)) for ip in ("127.0.0.4", "127.0.0.5")]
    for thread in threads:
        thread.start()
    try:
        latencies = []
        for _ in range(15):
            t0 = time.perf_counter()
            assert server.api.get("/").status == 200
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert 401 in outcomes
    # bcrypt releases the GIL: a GET waits for no hash (holding it would cost ~one login).
    assert statistics.median(latencies) < one_login / 4, (latencies, one_login)
    # A throttled login is answered before any hash is computed.
    _timed_login(server.api, "admin", "wrong-password")
    t0 = time.perf_counter()
    assert server.api.post("/login", login_body("admin", server.admin.password)).status == 429
    assert time.perf_counter() - t0 < one_login / 4


# --- secrets never leak ------------------------------------------------------------------

class RecordingClient(Client):
    def __init__(self, base_url: str):
        super().__init__(base_url)
        self.responses: list[tuple[str, str, bytes]] = []

    def request(self, method: str, path: str, *args: Any, **kwargs: Any):
        r = super().request(method, path, *args, **kwargs)
        self.responses.append((method, path, r.raw))
        return r


@pytest.fixture
def debug_logs(caplog) -> Iterator[pytest.LogCaptureFixture]:
    """The product's own logging set-up at its most verbose level, captured."""
    root = logging.getLogger()
    names = ("", "peewee", "cheroot", "scheduler")
    saved = (root.handlers[:], {name: logging.getLogger(name).level for name in names})
    logs.configure("debug", "json", stream=io.StringIO())
    root.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        root.handlers[:] = saved[0]
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


@SQLITE_ONLY
def test_no_response_log_or_row_holds_a_secret(server, debug_logs):
    caplog = debug_logs
    api = RecordingClient(server.url)
    admin = server.admin.token
    password, new_password = "alice-secret-pw-1", "alice-secret-pw-2"
    created = api.post("/user", {"username": "alice", "email": "alice@example.com",
                                 "password": password}, token=admin).data
    api.post("/login", login_body("alice", "alice-wrong-pw-3"))
    api.post("/login", login_body("ghost", password))
    api.post("/login", {"identifier": password, "password": password})  # typed in the wrong box
    tokens = api.post("/login", login_body("alice", password)).data
    api.post("/user", {"username": "x", "email": "bad", "password": password}, token=admin)
    api.post("/user", {"username": "bob", "email": "b@example.com", "password": "p" * 80},
             token=admin)
    api.post("/user", body=b'{"password": "' + password.encode() + b'"',
             headers={"Content-Type": "application/json"}, token=admin)
    api.patch("/user/me", {"password": new_password, "current_password": "wrong-wrong"},
              token=tokens["access_token"])
    api.patch("/user/me", {"password": new_password, "current_password": password},
              token=tokens["access_token"])
    api.post("/login", login_body("alice", new_password))
    key_answer = api.post("/user/apikey", {"name": "k"}, token=admin).data
    key = key_answer["key"]
    rotated = api.post(f"/user/apikey/{key_answer['id']}", token=admin).data["key"]
    api.get("/user/me", api_key=key)
    api.get("/user/me", api_key=rotated)
    api.get("/user/me", api_key=rotated[:-1])
    api.get(f"/user/{created['id']}", token=admin)
    api.get("/user", token=admin)
    api.get("/openapi.json")
    api.get("/metrics")

    hashes = [row.password_hash for row in User.select()]
    secrets_anywhere = [password, new_password, server.admin.password,
                        server.instance.ctx.jwt_secret, *hashes]
    formatter = logs.JsonFormatter()
    lines = "\n".join([caplog.text] + [formatter.format(rec) for rec in caplog.records])
    assert caplog.records, "the log capture saw nothing"
    for secret in secrets_anywhere + [key, rotated, tokens["refresh_token"],
                                      tokens["access_token"]]:
        assert secret not in lines, "a secret reached the logs"
    for method, path, raw in api.responses:
        text = raw.decode()
        for secret in secrets_anywhere:
            assert secret not in text, (method, path)
        if not (method == "POST" and path.startswith("/user/apikey")):
            assert key not in text and rotated not in text, (method, path)
    # What is stored: bcrypt hashes, sha256 of keys; no password, key or secret in clear
    # (the JWT secret lives in app_settings by design, so it is left out here).
    assert all(h.startswith("$2b$") for h in hashes)
    stored = json.dumps(db_snapshot())
    stored += repr(database.execute_sql("SELECT * FROM login_failures").fetchall())
    for secret in (password, new_password, server.admin.password, key, rotated):
        assert secret not in stored
