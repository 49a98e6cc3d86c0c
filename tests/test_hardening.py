"""Issue 14: what a teammate, a leaked key or a stranger could do, tried against a real server.

Preset secrets redirected by an editor, memory exhausted by anonymous requests,
API keys as master keys, request smuggling through presets, private networks
reached despite ``fetch.deny_private_networks``, racing refresh tokens, login
throttling per account and behind proxies, file modes, response headers, limits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import stat
import sys
import threading
from pathlib import Path

import pytest
import urllib3
from helpers.instance import instance_settings
from helpers.polling import wait_for
from helpers.world import create

from scheduler_lib import logs, netguard
from scheduler_lib.clientaddr import parse_trusted_proxies, resolve_client_address
from scheduler_lib.db import database
from scheduler_lib.engine.executors import Outcome, Request
from scheduler_lib.engine.executors.rest import HttpExecutor
from scheduler_lib.engine.executors.websocket import WebSocketExecutor
from scheduler_lib.engine.retention import prune_expired_tokens
from scheduler_lib.models import ApiKey, RefreshToken

ROOT = Path(__file__).resolve().parent.parent
SQLITE_ONLY = pytest.mark.backends("sqlite")
SCOPE_DENIED = "API key scope does not allow this"
PRESET_RULE = "Only the header preset's owner may change where its headers are sent"
THROTTLED = "Too many failed logins, try again later"


def schedule(server, person) -> int:
    return create(server, person, "/fetch/execute",
                  {"name": "hourly", "type": "hours", "value": 1})["id"]


def job(server, person, endpoint: str, **fields) -> dict:
    body = {"name": "j", "endpoint": endpoint, "execute_id": schedule(server, person), **fields}
    return create(server, person, "/fetch", body)


def key(server, person, scope: str | None = None) -> dict:
    body = {"name": f"k-{scope}"} | ({"scope": scope} if scope else {})
    return create(server, person, "/user/apikey", body)


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as it is; the status, headers and body the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server stopped reading at its limit
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


# --- a teammate and the owner's secrets (API.md section 7) --------------------------------

def test_an_editor_cannot_send_the_owners_preset_elsewhere(server, http_target):
    owner, editor = server.make_user("owner"), server.make_user("editor")
    preset = create(server, owner, "/fetch/header",
                    {"name": "partner", "headers": {"Authorization": "Bearer PARTNER-SECRET"}})
    data = job(server, owner, http_target.url, header_id=preset["id"])
    assert server.api.post(f"/fetch/{data['id']}/member", {"user_id": editor.id, "role": "editor"},
                           token=owner.token).status == 201
    path = f"/fetch/{data['id']}"
    for change in ({"endpoint": "http://attacker.example/steal"}, {"method": "post"},
                   {"type": "websocket", "endpoint": "ws://attacker.example/"}):
        r = server.api.patch(path, change, token=editor.token)
        assert (r.status, r.message) == (403, PRESET_RULE), (change, r)
    after = server.api.get(path, token=owner.token).data
    assert (after["endpoint"], after["method"], after["header_id"]) == (
        data["endpoint"], "get", preset["id"])
    # What does not move the headers is allowed, and so is dropping the preset first.
    assert server.api.patch(path, {"name": "renamed", "endpoint": data["endpoint"]},
                            token=editor.token).status == 200
    r = server.api.patch(path, {"header_id": None, "endpoint": "http://elsewhere.example/"},
                         token=editor.token)
    assert r.status == 200 and r.data["header_id"] is None
    # The owner and superusers may point the preset anywhere.
    assert server.api.patch(path, {"header_id": preset["id"], "method": "put"},
                            token=owner.token).status == 200
    assert server.api.patch(path, {"method": "delete"}, token=server.admin.token).status == 200


# --- strangers and the server's memory (API.md section 1) ---------------------------------

@SQLITE_ONLY
def test_oversized_request_line_or_headers_are_431_in_the_envelope(start_server):
    server = start_server(server__max_header_bytes=4096)
    port = server.instance.port
    status, headers, body = raw_request(
        port, b"GET /user/me HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    assert status == 431 and headers["Connection"] == "close"
    assert headers["Content-Type"] == "application/json"
    envelope = __import__("json").loads(body)
    assert (envelope["status"], envelope["message"], envelope["success"]) == (
        431, "Request header fields too large", False)
    status, _, body = raw_request(port, b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\n\r\n")
    assert status == 431 and b"Request header fields too large" in body
    # Under the limit all is as before.
    assert server.api.get("/", headers={"X-Fine": "a" * 2000}).status == 200


@SQLITE_ONLY
def test_made_up_methods_are_405_and_one_metrics_label(server):
    for i in range(30):
        r = server.api.request(f"BREW{i}", "/user/me")
        assert r.status == 405 and r.message == "Method not allowed" and r.headers["Allow"]
    metrics = server.api.get("/metrics").raw.decode()
    assert "BREW" not in metrics
    assert 'method="OTHER",route="(unmatched)",status="405"' in metrics


@SQLITE_ONLY
def test_memory_stays_flat_under_anonymous_floods():
    """bench/anonymous_flood.py with fewer requests (the bench runs 10,000)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import anonymous_flood as flood
    finally:
        sys.path.remove(str(ROOT / "bench"))
    before, after, statuses = flood.measure(1500)
    assert set(statuses) == {404, 405, 431}, statuses
    assert after.metrics_bytes - before.metrics_bytes <= flood.METRICS_GROWTH_LIMIT_BYTES
    assert after.rss_mib - before.rss_mib <= flood.RSS_GROWTH_LIMIT_MIB, (before, after)


# --- API key scopes (API.md section 4) ---------------------------------------------------

def test_key_scopes_limit_what_a_leaked_key_can_do(server):
    alice = server.make_user("alice")
    read, write, admin = (key(server, alice, s)["key"] for s in ("read", "write", "admin"))
    assert key(server, alice)["scope"] == "write"   # the default
    body = {"name": "s", "type": "hours", "value": 1}
    # read: GET only.
    assert server.api.get("/fetch", api_key=read).status == 200
    r = server.api.post("/fetch/execute", body, api_key=read)
    assert (r.status, r.message) == (403, SCOPE_DENIED)
    # write: resources, but neither keys nor the account.
    assert server.api.post("/fetch/execute", body, api_key=write).status == 201
    for method, path, payload in (("GET", "/user/apikey", None),
                                  ("POST", "/user/apikey", {"name": "more"}),
                                  ("DELETE", "/user/apikey", None),
                                  ("PATCH", "/user/me", {"email": "thief@example.com"})):
        kwargs = {} if payload is None else {"json": payload}
        r = server.api.request(method, path, api_key=write, **kwargs)
        assert (r.status, r.message) == (403, SCOPE_DENIED), (method, path, r)
    assert server.api.get("/user/me", token=alice.token).data["email"] == "alice@example.com"
    assert ApiKey.select().where(ApiKey.user == alice.id).count() == 4
    # admin: everything the token can.
    assert server.api.post("/user/apikey", {"name": "more"}, api_key=admin).status == 201
    assert server.api.patch("/user/me", {"email": "alice2@example.com"},
                            api_key=admin).status == 200


def test_a_superusers_write_key_cannot_use_superuser_routes(server):
    write, admin = (key(server, server.admin, scope)["key"] for scope in ("write", "admin"))
    for path in ("/user", "/fetch?all=true"):
        r = server.api.get(path, api_key=write)
        assert (r.status, r.message) == (403, SCOPE_DENIED), path
        assert server.api.get(path, api_key=admin).status == 200
    r = server.api.patch(f"/user/{server.admin.id}", {"password": "taken-over-123"},
                         api_key=write)
    assert (r.status, r.message) == (403, SCOPE_DENIED)


def test_scope_can_be_lowered_never_raised_and_all_keys_deleted_at_once(server):
    alice = server.make_user("alice")
    created = key(server, alice, "write")
    path = f"/user/apikey/{created['id']}"
    assert server.api.patch(path, {"scope": "admin"}, token=alice.token).status == 403
    r = server.api.patch(path, {"scope": "read"}, token=alice.token)
    assert r.status == 200 and r.data["scope"] == "read"
    assert server.api.patch(path, {"scope": "write"}, token=alice.token).status == 403
    assert server.api.patch(path, {"scope": "owner"}, token=alice.token).status == 400
    key(server, alice, "admin")
    bob_key = key(server, server.make_user("bob"))["key"]
    r = server.api.delete("/user/apikey", token=alice.token)
    assert (r.status, r.message, r.data) == (200, "Api keys deleted!", {"deleted": 2})
    assert server.api.get("/user/me", api_key=created["key"]).status == 401
    assert server.api.get("/user/me", api_key=bob_key).status == 200


def test_migration_gives_existing_keys_write(backend, tmp_path, request):
    from scheduler_lib import migrations
    from scheduler_lib.db import close_all, open_database

    database_url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
                    else request.getfixturevalue("empty_postgres_database"))

    open_database(database_url)
    try:
        with database.atomic():
            for step in migrations.MIGRATIONS:
                if step.NAME < "0050":
                    step.apply(migrations._runner())
        database.execute_sql(
            "INSERT INTO users (username, email, password_hash, is_superuser, token_version, "
            "created_at, updated_at) VALUES ('old', 'old@example.com', 'x', "
            f"{'false' if 'postgres' in database_url else '0'}, 0, "
            "'2024-01-01 00:00:00', '2024-01-01 00:00:00')")
        database.execute_sql(
            "INSERT INTO api_keys (user_id, name, description, prefix, key_hash, created_at, "
            "updated_at) SELECT id, 'old', '', 'sk_old', 'hash', created_at, created_at "
            "FROM users")
        database.execute_sql("CREATE TABLE schema_migrations (name VARCHAR(200) PRIMARY KEY, "
                             "applied_at TIMESTAMP NOT NULL)")
        for step in migrations.MIGRATIONS:
            if step.NAME < "0050":
                database.execute_sql(
                    f"INSERT INTO schema_migrations VALUES ('{step.NAME}', '2024-01-01')")
        assert "0050_security" in migrations.migrate()   # later migrations may follow
        assert [row.scope for row in ApiKey.select()] == ["write"]
    finally:
        close_all()


# --- smuggling through presets (API.md section 6) ----------------------------------------

@SQLITE_ONLY
def test_presets_refuse_framing_and_routing_headers_and_bad_names(server):
    for name in ("Host", "content-length", "Transfer-Encoding", "Connection", "Keep-Alive",
                 "Upgrade", "TE", "Trailer", "Proxy-Authorization", "Sec-WebSocket-Key"):
        r = server.api.post("/fetch/header", {"name": "p", "headers": {name: "1"}},
                            token=server.admin.token)
        assert r.status == 400 and name in r.message, (name, r)
    r = server.api.post("/fetch/header", {"name": "p", "headers": {"X-Ok\n": "1"}},
                        token=server.admin.token)
    assert r.status == 400, r
    assert server.api.get("/fetch/header", token=server.admin.token).data == []


def test_framing_headers_stored_before_the_rule_are_never_sent(server, http_target):
    preset = create(server, server.admin, "/fetch/header",
                    {"name": "p", "headers": {"X-Keep": "yes"}})
    # A preset stored before the rule existed (written straight to the table).
    from scheduler_lib.models import HeaderPreset
    HeaderPreset.update(headers={"X-Keep": "yes", "Content-Length": "0", "Host": "evil",
                                 "Connection": "close"}).where(
        HeaderPreset.id == preset["id"]).execute()
    data = job(server, server.admin, http_target.url, method="post", payload="abc",
               header_id=preset["id"])
    assert server.api.post(f"/fetch/{data['id']}/run", token=server.admin.token).status == 202
    wait_for(lambda: http_target.count() == 1, message="the run")
    [seen] = http_target.requests
    assert seen.headers["X-Keep"] == "yes" and seen.body == b"abc"
    assert seen.headers["Host"] == http_target.url.split("//", 1)[1]
    assert seen.headers["Content-Length"] == "3"


# --- private networks -------------------------------------------------------------------

@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("100.64.0.1", False), ("169.254.169.254", False),
    ("192.0.2.1", False), ("198.18.0.1", False), ("224.0.0.1", False), ("0.0.0.0", False),
    ("::1", False), ("fd00::1", False), ("fe80::1", False), ("::ffff:127.0.0.1", False),
    ("2002:7f00:1::", False), ("2002:808:808::", True),
])
def test_only_globally_routable_unicast_is_public(address, public):
    assert netguard.is_public_address(ipaddress.ip_address(address)) is public


def test_the_address_checked_is_the_address_connected_to(http_target, monkeypatch):
    """DNS rebinding: a name that is public when checked and local when connected."""
    real = socket.getaddrinfo
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.88.99.1", 80))]])

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.test":
            return next(answers, None) or real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = http_target.url.replace("127.0.0.1", "rebind.test") + "/"
    outcome = execute_once(HttpExecutor(max_response_bytes=1024, deny_private_networks=True),
                           Request(url, timeout=1))
    assert outcome.status_code is None and http_target.count() == 0, outcome
    # The next resolution is local: refused before any connection.
    outcome = execute_once(HttpExecutor(max_response_bytes=1024, deny_private_networks=True),
                           Request(url, timeout=1))
    assert "private network" in outcome.error and http_target.count() == 0


def execute_once(executor: HttpExecutor | WebSocketExecutor, request: Request) -> Outcome:
    """One attempt on an event loop of its own, then the executor closed."""
    async def attempt() -> Outcome:
        try:
            return await executor.execute(request)
        finally:
            await executor.close()
    return asyncio.run(attempt())


def test_websocket_jobs_ignore_proxy_settings_and_are_guarded(ws_target, monkeypatch):
    for name in ("all_proxy", "ALL_PROXY", "http_proxy", "https_proxy", "HTTP_PROXY",
                 "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")   # nothing listens there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    open_ws = WebSocketExecutor(max_response_bytes=1024)
    outcome = execute_once(open_ws, Request(ws_target.url, body="hi", timeout=2))
    assert outcome.status_code == 101 and outcome.error is None, outcome
    guarded = WebSocketExecutor(max_response_bytes=1024, deny_private_networks=True)
    outcome = execute_once(guarded, Request(ws_target.url, body="hi", timeout=2))
    assert outcome.status_code is None and "private network" in outcome.error
    exempt = execute_once(guarded, Request(ws_target.url, body="hi", timeout=2,
                                           allow_private_networks=True))
    assert exempt.status_code == 101


def test_deny_private_networks_spares_superusers_jobs_only(start_server, http_target):
    server = start_server(fetch__deny_private_networks=True)
    alice = server.make_user("alice")
    users_job = job(server, alice, http_target.url)
    admins_job = job(server, server.admin, http_target.url)
    for data, person in ((users_job, alice), (admins_job, server.admin)):
        assert server.api.post(f"/fetch/{data['id']}/run", token=person.token).status == 202

    def results(data, person):
        rows = server.api.get(f"/fetch/{data['id']}/data", token=person.token).data
        return [row for row in rows if row["duration_ms"] is not None]   # finished

    wait_for(lambda: results(users_job, alice) and results(admins_job, server.admin),
             message="both runs")
    [refused] = results(users_job, alice)
    assert refused["success"] is False and "private network" in refused["error"]
    [allowed] = results(admins_job, server.admin)
    assert allowed["success"] is True and http_target.count() == 1, allowed
    # A non-superuser editor makes the superuser's job an ordinary one.
    assert server.api.post(f"/fetch/{admins_job['id']}/member",
                           {"user_id": alice.id, "role": "editor"},
                           token=server.admin.token).status == 201
    assert server.api.post(f"/fetch/{admins_job['id']}/run",
                           token=server.admin.token).status == 202
    wait_for(lambda: len(results(admins_job, server.admin)) == 2, message="the second run")
    assert "private network" in results(admins_job, server.admin)[0]["error"]


# --- sessions and throttling ------------------------------------------------------------

def test_racing_refresh_never_leaves_two_live_sessions(server):
    server.make_user("alice")
    for _round in range(15):
        token = server.login("alice", "alice-password")["refresh_token"]
        barrier = threading.Barrier(2)
        answers: list[int] = []

        def present(token=token, barrier=barrier, answers=answers):
            client = type(server.api)(server.url)
            barrier.wait()
            answers.append(client.post("/refresh/token", {"refresh_token": token}).status)

        threads = [threading.Thread(target=present) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) in ([200, 401], [401, 401]), answers
        family = RefreshToken.get(RefreshToken.jti == _jti(token)).family_id
        live = (RefreshToken.select()
                .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_null())
                .count())
        assert live == 0, f"a reuse must revoke the family, {live} token(s) alive"


def _jti(token: str) -> str:
    import jwt
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def test_username_and_email_share_one_budget_and_accounts_have_their_own(start_server):
    server = start_server(auth__login_max_failures=2, auth__login_max_failures_per_account=3)
    server.make_user("alice")
    body = {"identifier": "alice", "password": "wrong-password"}
    assert server.api.post("/login", body).status == 401
    assert server.api.post("/login", body | {"identifier": "alice@example.com"}).status == 401
    r = server.api.post("/login", {"identifier": "alice", "password": "alice-password"})
    assert (r.status, r.message) == (429, THROTTLED)
    # Across addresses: the account's own limit.
    other = client_from(server, "127.0.0.2")
    assert other.post("/login", body).status == 401
    r = client_from(server, "127.0.0.3").post(
        "/login", {"identifier": "alice@example.com", "password": "alice-password"})
    assert (r.status, r.message) == (429, THROTTLED)
    assert server.api.post("/login", {"identifier": "admin",
                                      "password": server.admin.password}).status == 200


def client_from(server, source_ip: str):
    client = type(server.api)(server.url)
    client.http = urllib3.PoolManager(retries=False, source_address=(source_ip, 0))
    return client


@SQLITE_ONLY
def test_forwarded_for_is_believed_only_from_trusted_proxies(start_server):
    server = start_server(auth__login_max_failures=2, server__trusted_proxies="127.0.0.5")
    proxy, stranger = client_from(server, "127.0.0.5"), client_from(server, "127.0.0.6")
    wrong = {"identifier": "admin", "password": "wrong-password"}
    right = {"identifier": "admin", "password": server.admin.password}
    for _ in range(2):
        assert proxy.post("/login", wrong, headers={"X-Forwarded-For": "203.0.113.7"}).status == 401
    r = proxy.post("/login", right, headers={"X-Forwarded-For": "203.0.113.7"})
    assert r.status == 429   # the client behind the proxy is throttled...
    assert proxy.post("/login", right, headers={"X-Forwarded-For": "203.0.113.8"}).status == 200
    # ...and a stranger cannot pick an address to dodge its own count.
    for spoofed in ("198.51.100.1", "198.51.100.2"):
        assert stranger.post("/login", wrong, headers={"X-Forwarded-For": spoofed}).status == 401
    r = stranger.post("/login", right, headers={"X-Forwarded-For": "198.51.100.3"})
    assert r.status == 429


def test_client_address_resolution_and_ipv6_buckets():
    from scheduler_lib.services.throttle import address_bucket
    trusted = parse_trusted_proxies("10.0.0.0/8, ::1")
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 5.6.7.8, 10.0.0.9"}
    assert resolve_client_address(environ, trusted) == "5.6.7.8"
    assert resolve_client_address(environ | {"REMOTE_ADDR": "8.8.8.8"}, trusted) == "8.8.8.8"
    assert resolve_client_address(environ | {"HTTP_X_FORWARDED_FOR": "junk"}, trusted) == \
        "10.0.0.2"
    assert resolve_client_address(environ, ()) == "10.0.0.2"
    assert address_bucket("2001:db8:1:2:aaaa::1") == address_bucket("2001:db8:1:2:bbbb::9")
    assert address_bucket("2001:db8:1:3::1") != address_bucket("2001:db8:1:2::1")
    assert address_bucket("::ffff:1.2.3.4") == "1.2.3.4"
    with pytest.raises(ValueError, match="proxy.local"):
        parse_trusted_proxies("10.0.0.1, proxy.local")


# --- files, headers, limits, retention ---------------------------------------------------

@SQLITE_ONLY
def test_database_files_are_owner_only_and_serve_warns_about_wider_ones(tmp_path, caplog):
    from scheduler_lib.server import Instance

    old_umask = os.umask(0o022)
    try:
        instance = Instance(instance_settings(str(tmp_path / "new.db")))
        instance.start()
        assert instance.http  # serving
        for name in ("new.db", "new.db-wal", "new.db-shm"):
            path = tmp_path / name
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        instance.stop()
        (tmp_path / "new.db").chmod(0o644)
        with caplog.at_level(logging.WARNING, logger="scheduler.server"):
            Instance(instance_settings(str(tmp_path / "new.db"))).stop()
        assert any("readable by other users" in r.getMessage() for r in caplog.records)
    finally:
        os.umask(old_umask)


def test_auth_answers_are_not_stored_and_nothing_is_sniffed(server):
    r = server.api.post("/login", {"identifier": "admin", "password": server.admin.password})
    assert r.headers["Cache-Control"] == "no-store"
    assert server.api.post("/login", {"identifier": "admin", "password": "nope-nope"}).headers[
        "Cache-Control"] == "no-store"
    r = server.api.post("/refresh/token", {"refresh_token": r.data["refresh_token"]})
    assert r.headers["Cache-Control"] == "no-store"
    created = key(server, server.admin)
    r = server.api.post("/user/apikey", {"name": "x"}, token=server.admin.token)
    assert r.headers["Cache-Control"] == "no-store"
    r = server.api.post(f"/user/apikey/{created['id']}/rotate", token=server.admin.token)
    assert r.headers["Cache-Control"] == "no-store"
    for path in ("/", "/nope", "/ui/", "/metrics", "/user/me"):
        assert server.api.get(path).headers["X-Content-Type-Options"] == "nosniff", path
    assert server.api.request("BREW", "/").headers["X-Content-Type-Options"] == "nosniff"


def test_job_limit_per_user(start_server):
    server = start_server(limits__max_jobs_per_user=2)
    alice = server.make_user("alice")
    for _ in range(2):
        job(server, alice, "http://example.com/")
    body = {"name": "j", "endpoint": "http://example.com/", "execute_id": schedule(server, alice)}
    r = server.api.post("/fetch", body, token=alice.token)
    assert (r.status, r.message) == (403, "Job limit reached (2)")
    assert len(server.api.get("/fetch", token=alice.token).data) == 2
    for _ in range(3):   # superusers are exempt
        job(server, server.admin, "http://example.com/")


def test_expired_refresh_tokens_are_pruned(server):
    from datetime import timedelta

    from scheduler_lib.timeutil import utcnow
    server.login("admin", server.admin.password)
    total = RefreshToken.select().count()
    assert prune_expired_tokens() == 0
    assert prune_expired_tokens(utcnow() + timedelta(days=8)) == total
    assert RefreshToken.select().count() == 0


def test_the_log_queue_drops_and_counts_instead_of_growing(tmp_path):
    with open(tmp_path / "log.txt", "w") as stream:
        handler = logs._Deferred(logging.StreamHandler(stream), interval=3600, capacity=100)
        try:
            for i in range(150):
                handler.handle(logging.LogRecord("scheduler.test", logging.INFO, __file__, 0,
                                                 "line %d", (i,), None))
            assert len(handler._records) == 100
        finally:
            handler.close()
    text = (tmp_path / "log.txt").read_text()
    assert "line 99" in text and "line 100" not in text
    assert "50 log records dropped" in text


@SQLITE_ONLY
def test_export_files_are_owner_only(database_url, tmp_path):
    from click.testing import CliRunner

    from scheduler_lib.cli import cli
    target = tmp_path / "export.json"
    target.write_text("old")
    target.chmod(0o644)
    result = CliRunner().invoke(cli, ["export", "-o", str(target)],
                                env={"SCHEDULER_DATABASE_URL": database_url})
    database.close()
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert '"scheduler-export"' in target.read_text()
