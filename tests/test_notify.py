"""Notifications end to end with real parts: a local webhook receiver that checks every
signature byte for byte, a real SMTP server (aiosmtpd) on a free port, Apprise's
``json://`` to a local receiver, failing receivers, failure streaks and pausing."""

from __future__ import annotations

import json
import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from helpers.http import free_port
from helpers.polling import wait_for
from helpers.targets import HttpTarget, Inbox, verify
from helpers.world import ok

from scheduler_lib.notify.outbox import next_streak


@pytest.fixture
def tls_files(tmp_path, monkeypatch) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 that this process trusts (SSL_CERT_FILE
    is where ``ssl.create_default_context`` looks); returns (certificate, key)."""
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    return cert, key


def login_only(user: str, password: str):
    """An aiosmtpd authenticator that accepts one login."""
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login, auth_data.password) == (user.encode(), password.encode())
        return AuthResult(success=ok)
    return authenticate


def every_second(api, token) -> int:
    return ok(api.post("/fetch/execute", {"name": "1s", "type": "seconds", "value": 1},
                       token=token), 201)["id"]


def make_job(api, token, endpoint: str, **fields) -> dict:
    body = {"name": "checkout", "endpoint": endpoint, "execute_id": every_second(api, token),
            **fields}
    return ok(api.post("/fetch", body, token=token), 201)


def webhook(api, token, url: str) -> dict:
    return ok(api.post("/notify/channel", {"name": "hook", "type": "webhook", "target": url},
                       token=token), 201)


def deliveries(api, token, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return ok(api.get(f"/notify/delivery?{query}", token=token))


def test_streak_rules():
    assert next_streak(0, False, False, 3, 0, True).events == ()
    failing = next_streak(2, False, False, 3, 0, True)
    assert failing.events == ("failure",) and failing.alerted and failing.failures == 3
    assert next_streak(3, True, False, 3, 0, True).events == ()       # once per streak
    assert next_streak(4, True, True, 3, 0, True).events == ("success", "recovery")
    assert next_streak(1, False, True, 3, 0, True).events == ("success",)
    paused = next_streak(4, True, False, 3, 5, True)
    assert paused.pause and paused.events == ("paused",)
    assert not next_streak(4, True, False, 3, 5, False).pause         # already inactive


def test_webhook_channel_crud_secret_shown_once_and_rotated(server):
    api, token = server.api, server.admin.token
    created = webhook(api, token, "https://user:hunter2@hooks.example.com/x")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["target"] == "https://user:****@hooks.example.com/x"
    shown = ok(api.get(f"/notify/channel/{created['id']}", token=token))
    assert "secret" not in shown and "hunter2" not in json.dumps(shown)
    listed = api.get("/notify/channel", token=token)
    assert listed.message == "List channels" and listed.headers["X-Total-Count"] == "1"
    assert "secret" not in listed.data[0]
    rotated = api.post(f"/notify/channel/{created['id']}/rotate-secret", token=token)
    assert rotated.status == 201 and rotated.message == "Secret rotated!"
    assert rotated.data["secret"] != created["secret"]
    r = api.patch(f"/notify/channel/{created['id']}", {"name": "ops"}, token=token)
    assert r.message == "Channel updated!" and r.data["name"] == "ops"
    r = api.patch(f"/notify/channel/{created['id']}", {"target": "ftp://x"}, token=token)
    assert r.status == 400 and "target" in r.message
    assert api.delete(f"/notify/channel/{created['id']}", token=token).message == \
        "Channel deleted!"
    assert api.get(f"/notify/channel/{created['id']}", token=token).status == 404


@pytest.mark.parametrize("body, fragment", [
    ({"name": "x", "type": "sms", "target": "1"}, "type"),
    ({"name": "x", "type": "webhook", "target": "mailto:x"}, "target"),
    ({"name": "x", "type": "apprise", "target": "nosuchservice://abc"}, "Apprise"),
    ({"name": "x", "type": "email", "target": "ops@example.com"}, "E-mail is not configured"),
    ({"name": "x", "type": "webhook"}, "target"),
])
def test_bad_channels_are_400_and_change_nothing(server, body, fragment):
    api, token = server.api, server.admin.token
    r = api.post("/notify/channel", body, token=token)
    assert r.status == 400 and fragment in r.message, r
    assert ok(api.get("/notify/channel", token=token)) == []


def test_another_users_channel_is_403(server):
    api = server.api
    alice, bob = server.make_user("alice"), server.make_user("bob")
    channel = webhook(api, alice.token, "https://hooks.example.com/a")
    job = make_job(api, bob.token, "https://example.invalid/", is_active=False)
    for r in (api.get(f"/notify/channel/{channel['id']}", token=bob.token),
              api.post(f"/notify/channel/{channel['id']}/test", token=bob.token),
              api.post(f"/notify/channel/{channel['id']}/rotate-secret", token=bob.token),
              api.delete(f"/notify/channel/{channel['id']}", token=bob.token),
              api.post(f"/fetch/{job['id']}/notify",
                       {"channel_id": channel["id"], "events": ["failure"]}, token=bob.token)):
        assert r.status == 403, r
    assert ok(api.get("/notify/channel", token=bob.token)) == []
    r = api.post(f"/fetch/{job['id']}/notify", {"channel_id": 999, "events": ["failure"]},
                 token=bob.token)
    assert r.status == 400 and r.message == "Channel ID not found"
    # Alice is no member of Bob's job: her own channel cannot go on it either.
    r = api.post(f"/fetch/{job['id']}/notify",
                 {"channel_id": channel["id"], "events": ["failure"]}, token=alice.token)
    assert r.status == 403


def test_subscriptions_crud_and_duplicates(server):
    api, token = server.api, server.admin.token
    channel = webhook(api, token, "https://hooks.example.com/a")
    job = make_job(api, token, "https://example.invalid/", is_active=False)
    path = f"/fetch/{job['id']}/notify"
    r = api.post(path, {"channel_id": channel["id"], "events": ["failure", "recovery"]},
                 token=token)
    assert r.status == 201 and r.message == "Notification added"
    sub = r.data
    assert sub["events"] == ["failure", "recovery"] and sub["fetch_id"] == job["id"]
    r = api.post(path, {"channel_id": channel["id"], "events": ["success"]}, token=token)
    assert r.status == 409
    for events in ([], ["sometimes"], "failure"):
        r = api.post(path, {"channel_id": channel["id"], "events": events}, token=token)
        assert r.status == 400 and "events" in r.message
    r = api.patch(f"{path}/{sub['id']}", {"events": ["paused"]}, token=token)
    assert r.message == "Notification updated" and r.data["events"] == ["paused"]
    assert [s["id"] for s in ok(api.get(path, token=token))] == [sub["id"]]
    assert api.delete(f"{path}/{sub['id']}", token=token).message == "Notification deleted"
    assert ok(api.get(path, token=token)) == []


def test_failure_streak_sends_one_signed_failure_then_recovery(server, http_target):
    """A job that fails three times in a row (alert after 2) and then heals: exactly one
    failure webhook and one recovery webhook, each signed over its exact bytes."""
    api, token = server.api, server.admin.token
    job_target = HttpTarget().start()
    try:
        job_target.status = 503
        channel = webhook(api, token, http_target.url + "/hook")
        job = make_job(api, token, job_target.url, alert_after_failures=2)
        ok(api.post(f"/fetch/{job['id']}/notify",
                    {"channel_id": channel["id"], "events": ["failure", "recovery"]},
                    token=token), 201)
        wait_for(lambda: ok(api.get(f"/fetch/{job['id']}", token=token))
                 ["consecutive_failures"] >= 3, 15, message="three failed runs")
        job_target.status = 200
        wait_for(lambda: http_target.count() >= 2, 15, message="failure and recovery webhooks")
        wait_for(lambda: job_target.count() >= 6, 15, message="more healthy runs")
    finally:
        job_target.stop()
    hooks = http_target.requests
    assert [h.headers["X-Scheduler-Event"] for h in hooks] == ["failure", "recovery"]
    for hook in hooks:
        assert hook.method == "POST" and hook.path == "/hook"
        assert hook.headers["Content-Type"] == "application/json"
        assert hook.headers["User-Agent"].startswith("scheduler/")
        assert verify(channel["secret"], hook.body, hook.headers["X-Scheduler-Signature"])
        assert not verify(channel["secret"], hook.body + b" ",
                          hook.headers["X-Scheduler-Signature"])
    failure = json.loads(hooks[0].body)
    assert failure["event"] == "failure"
    assert failure["delivery_id"] == hooks[0].headers["X-Scheduler-Delivery"]
    assert failure["job"]["id"] == job["id"] and failure["job"]["consecutive_failures"] == 2
    assert failure["job"]["url"].endswith(f"/ui/#/jobs/{job['id']}")
    run = failure["run"]
    assert run["status_code"] == 503 and run["success"] is False
    assert run["error"] == "unexpected status 503" and run["attempt"] == 1
    result = [r for r in ok(api.get(f"/fetch/{job['id']}/data?limit=100", token=token))
              if r["id"] == run["result_id"]]
    assert result and result[0]["job_id"] == run["job_id"]
    recovery = json.loads(hooks[1].body)
    assert recovery["run"]["success"] is True and recovery["job"]["consecutive_failures"] == 0
    listed = deliveries(api, token, fetch_id=job["id"])
    assert [(d["event"], d["status"], d["attempts"]) for d in listed] == [
        ("recovery", "sent", 1), ("failure", "sent", 1)]
    assert ok(api.get(f"/fetch/{job['id']}", token=token))["consecutive_failures"] == 0


def test_pause_after_failures_pauses_the_job_and_fires_paused(server, http_target):
    api, token = server.api, server.admin.token
    job_target = HttpTarget().start()
    try:
        job_target.status = 500
        channel = webhook(api, token, http_target.url)
        job = make_job(api, token, job_target.url, alert_after_failures=1,
                       pause_after_failures=2)
        ok(api.post(f"/fetch/{job['id']}/notify",
                    {"channel_id": channel["id"], "events": ["paused", "failure"]},
                    token=token), 201)
        paused = wait_for(lambda: (j := ok(api.get(f"/fetch/{job['id']}", token=token)))
                          and not j["is_active"] and j, 15, message="the job paused")
        wait_for(lambda: http_target.count() >= 2, 10, message="two webhooks")
        runs_when_paused = job_target.count()
    finally:
        job_target.stop()
    assert paused["consecutive_failures"] == 2 and paused["next_run_at"] is None
    assert runs_when_paused == 2
    events = [json.loads(h.body)["event"] for h in http_target.requests]
    assert events == ["failure", "paused"]
    # The engine's pause is in the audit log as the system's (API.md section 12).
    pauses = ok(api.get(f"/audit?fetch_id={job['id']}&action=job.pause", token=token))
    assert [(e["via"], e["user_id"], e["changed"]) for e in pauses] == \
        [("system", None, ["is_active"])]


def test_failing_receiver_is_retried_and_the_log_says_why(start_server, http_target):
    server = start_server(notify__retry_backoff_seconds=0)
    api, token = server.api, server.admin.token
    http_target.statuses = [500, 502]
    channel = webhook(api, token, http_target.url)
    job_target = HttpTarget().start()
    try:
        job_target.status = 500
        job = make_job(api, token, job_target.url)
        ok(api.post(f"/fetch/{job['id']}/notify",
                    {"channel_id": channel["id"], "events": ["failure"]}, token=token), 201)
        [sent] = wait_for(lambda: deliveries(api, token, status="sent"), 15,
                          message="the delivery sent on its third try")
    finally:
        job_target.stop()
    assert sent["attempts"] == 3 and sent["error"] is None and sent["sent_at"]
    ids = {h.headers["X-Scheduler-Delivery"] for h in http_target.requests}
    assert len(http_target.requests) == 3 and ids == {sent["delivery_id"]}
    # A receiver that never answers 2xx: the delivery fails after notify.max_attempts.
    http_target.status = 404
    r = api.post(f"/notify/channel/{channel['id']}/test", token=token)
    assert r.status == 502 and r.message == "Test notification failed: unexpected status 404"
    [logged] = deliveries(api, token, status="failed")
    assert logged["event"] == "test" and logged["error"] == "unexpected status 404"
    # A failed test keeps its delivery row but writes no audit entry.
    assert ok(api.get("/audit?action=channel.test", token=token)) == []


def test_email_channel_mails_through_smtp(start_server, smtp_server, http_target):
    inbox, port = smtp_server
    server = start_server(smtp__host="127.0.0.1", smtp__port=port, smtp__security="none",
                          smtp__from="scheduler@example.com",
                          server__public_url="https://cron.example.com")
    api, token = server.api, server.admin.token
    channel = ok(api.post("/notify/channel", {"name": "ops mail", "type": "email",
                                              "target": "ops@example.com"}, token=token), 201)
    assert "secret" not in channel
    r = api.post(f"/notify/channel/{channel['id']}/test", token=token)
    assert r.status == 200 and r.message == "Test notification sent", r
    tests = ok(api.get("/audit?action=channel.test", token=token))   # a sent test is audited
    assert [(e["resource"], e["resource_id"], e["via"]) for e in tests] == \
        [("channel", channel["id"], "token")]
    http_target.status = 500
    job = make_job(api, token, http_target.url)
    ok(api.post(f"/fetch/{job['id']}/notify",
                {"channel_id": channel["id"], "events": ["failure"]}, token=token), 201)
    wait_for(lambda: len(inbox.mails) >= 2, 15, message="the failure mail")
    (test_to, test_mail), (to, mail) = inbox.mails[:2]
    assert test_to == to == ["ops@example.com"]
    assert test_mail["Subject"] == "[scheduler] Test notification"
    assert mail["Subject"] == '[scheduler] Job "checkout" failed'
    assert mail["From"] == "scheduler@example.com" and mail["X-Scheduler-Event"] == "failure"
    body = mail.get_content()
    assert "Event: failure" in body and "status 500" in body
    assert "Error: unexpected status 500" in body
    assert f"https://cron.example.com/ui/#/jobs/{job['id']}" in body


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
# aiosmtpd cannot see the implicit TLS below it, and says so.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_email_over_tls_with_a_login(start_server, tls_files, security):
    """STARTTLS on a plain port, or implicit TLS, with the certificate checked and the
    login the server requires."""
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    # Implicit TLS wraps the socket below aiosmtpd, which then cannot tell that the
    # session is encrypted: it must offer AUTH without STARTTLS.
    tls = ({"tls_context": context, "require_starttls": True} if security == "starttls"
           else {"ssl_context": context, "auth_require_tls": False})
    controller = Controller(inbox, hostname="127.0.0.1", port=port, auth_required=True,
                            authenticator=login_only("mailer", "smtp-secret-9"), **tls)
    controller.start()
    try:
        server = start_server(smtp__host="127.0.0.1", smtp__port=port,
                              smtp__security=security, smtp__username="mailer",
                              smtp__password="smtp-secret-9", smtp__from="cron@example.com")
        api, token = server.api, server.admin.token
        channel = ok(api.post("/notify/channel", {"name": "m", "type": "email",
                                                  "target": "ops@example.com"}, token=token), 201)
        r = api.post(f"/notify/channel/{channel['id']}/test", token=token)
        assert r.status == 200, r
        [(to, mail)] = inbox.mails
        assert to == ["ops@example.com"] and mail["From"] == "cron@example.com"
    finally:
        controller.stop()


def test_email_to_an_smtp_server_that_is_down_fails_with_the_reason(start_server):
    server = start_server(smtp__host="127.0.0.1", smtp__port=free_port(), smtp__security="none")
    api, token = server.api, server.admin.token
    channel = ok(api.post("/notify/channel", {"name": "m", "type": "email",
                                              "target": "ops@example.com"}, token=token), 201)
    r = api.post(f"/notify/channel/{channel['id']}/test", token=token)
    assert r.status == 502 and "cannot reach the SMTP server" in r.message


def test_apprise_json_url_reaches_a_local_receiver_and_is_masked(server, http_target):
    api, token = server.api, server.admin.token
    port = http_target.url.rsplit(":", 1)[1]
    target = f"json://robot:s3cr3t-pass@127.0.0.1:{port}/alerts"
    channel = ok(api.post("/notify/channel", {"name": "apprise", "type": "apprise",
                                              "target": target}, token=token), 201)
    assert "s3cr3t-pass" not in json.dumps(channel) and "****" in channel["target"]
    listed = api.get("/notify/channel", token=token)
    assert "s3cr3t-pass" not in listed.raw.decode()
    r = api.post(f"/notify/channel/{channel['id']}/test", token=token)
    assert r.status == 200, r
    [request] = http_target.requests
    assert request.path == "/alerts"
    assert request.headers["Authorization"].startswith("Basic ")
    sent = json.loads(request.body)
    assert sent["title"] == "[scheduler] Test notification" and "test notification" in \
        sent["message"]
    http_target.status = 500
    r = api.post(f"/notify/channel/{channel['id']}/test", token=token)
    assert r.status == 502 and "s3cr3t-pass" not in r.raw.decode()
    assert "s3cr3t-pass" not in api.get("/notify/delivery", token=token).raw.decode()


def test_private_targets_are_refused_when_denied(start_server, http_target):
    server = start_server(fetch__deny_private_networks=True)
    api = server.api
    user = server.make_user("carol")
    for kind, target in (("webhook", http_target.url),
                         ("apprise", "json://" + http_target.url.split("//", 1)[1])):
        channel = ok(api.post("/notify/channel", {"name": kind, "type": kind, "target": target},
                              token=user.token), 201)
        r = api.post(f"/notify/channel/{channel['id']}/test", token=user.token)
        assert r.status == 502 and "private network" in r.message, r
    assert http_target.count() == 0


def test_metrics_count_deliveries(server, http_target):
    api, token = server.api, server.admin.token
    channel = webhook(api, token, http_target.url)
    http_target.status = 500
    job = make_job(api, token, http_target.url)
    ok(api.post(f"/fetch/{job['id']}/notify",
                {"channel_id": channel["id"], "events": ["failure"]}, token=token), 201)
    wait_for(lambda: deliveries(api, token, status="pending") and
             deliveries(api, token, status="pending")[0]["attempts"] >= 1, 15,
             message="a failed try")
    text = api.get("/metrics").raw.decode()
    assert 'scheduler_notify_deliveries_total{channel_type="webhook",outcome="retry"}' in text
    assert "scheduler_notify_delivery_latency_seconds_bucket" in text


def test_a_slow_receiver_holds_up_neither_other_channels_nor_runs(server, http_target):
    """The slow channel's delivery is claimed first; the fast one still arrives long
    before the slow one answers, and the job keeps running meanwhile."""
    api, token = server.api, server.admin.token
    slow = HttpTarget().start()
    job_target = HttpTarget().start()
    try:
        slow.delay = 5
        job_target.status = 500
        channels = [webhook(api, token, slow.url), webhook(api, token, http_target.url)]
        job = make_job(api, token, job_target.url)
        for channel in channels:
            ok(api.post(f"/fetch/{job['id']}/notify",
                        {"channel_id": channel["id"], "events": ["failure"]}, token=token), 201)
        wait_for(lambda: slow.count() == 1, 10, message="the slow receiver called")
        wait_for(lambda: http_target.count() == 1, 2, message="the fast receiver, meanwhile")
        runs_before = job_target.count()
        wait_for(lambda: job_target.count() >= runs_before + 2, 4,
                 message="runs going on while the slow receiver holds its delivery")
        assert slow.active == 1
    finally:
        slow.stop()
        job_target.stop()


def test_migration_keeps_existing_jobs_and_gives_them_the_defaults(backend, tmp_path, request):
    """A database from before notifications: its job keeps everything and gets
    consecutive_failures 0, alert_after_failures 1, pause_after_failures 0."""
    from scheduler_lib import migrations
    from scheduler_lib.db import close_all, database, open_database
    from scheduler_lib.models import Job

    database_url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
                    else request.getfixturevalue("empty_postgres_database"))
    open_database(database_url)
    try:
        with database.atomic():
            database.execute_sql("CREATE TABLE schema_migrations (name VARCHAR(200) "
                                 "PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
            for step in migrations.MIGRATIONS:
                if step.NAME < "0070":
                    step.apply(migrations._runner())
                    database.execute_sql("INSERT INTO schema_migrations VALUES "
                                         f"('{step.NAME}', '2024-01-01')")
            database.execute_sql(
                "INSERT INTO users (username, email, password_hash, created_at, updated_at) "
                "VALUES ('old', 'old@example.com', 'x', '2024-01-01', '2024-01-01')")
            database.execute_sql(
                "INSERT INTO schedules (user_id, name, type, value, created_at, updated_at) "
                "SELECT id, 'hourly', 'hours', 1, created_at, created_at FROM users")
            database.execute_sql(
                "INSERT INTO jobs (name, endpoint, execute_id, job_id, created_at, updated_at) "
                "SELECT 'old job', 'https://example.com/', id, 'j-1', created_at, created_at "
                "FROM schedules")
        assert "0070_notifications" in migrations.migrate()
        job = Job.get()
        assert (job.name, job.endpoint, job.run_id) == ("old job", "https://example.com/", "j-1")
        assert (job.consecutive_failures, job.alert_after_failures, job.pause_after_failures,
                job.failure_alerted) == (0, 1, 0, False)
    finally:
        close_all()
