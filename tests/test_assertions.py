"""Success rules (API.md section 7, ``assertions``) through the real server against
local targets: every rule type and operator passing and failing, validation, retries,
WebSocket bodies, cut bodies, and a regex that would backtrack forever."""

from __future__ import annotations

import re

from helpers.engine_api import HOURLY, assert_on_time, finished, get_job, job, schedule
from helpers.polling import wait_for
from helpers.targets import HttpTarget

from scheduler_lib import db, migrations
from scheduler_lib.assertions import RULES
from scheduler_lib.migrations import m0060_assertions
from scheduler_lib.models import Job

BODY = (b'{"status": "ok", "count": 5, "version": "5", "tags": ["a", "b"], '
        b'"items": [{"n": 1}, {"n": 2}], "nested": {"x": null}, "note": "' + b"n" * 300 + b'"}')


def json_path(path: str, op: str, *value) -> dict:
    return {"type": "json_path", "path": path, "op": op, **({"value": value[0]} if value else {})}


def header(name: str, op: str, *value) -> dict:
    return {"type": "header", "name": name, "op": op, **({"value": value[0]} if value else {})}


# (rule, the result's error: None when the rule holds)
CASES = [
    ({"type": "body_contains", "value": '"ok"'}, None),
    ({"type": "body_contains", "value": "degraded"},
     'assertion failed: body contains "degraded" (not found)'),
    ({"type": "body_not_contains", "value": "error"}, None),
    ({"type": "body_not_contains", "value": "tags"},
     'assertion failed: body does not contain "tags" (found)'),
    ({"type": "body_regex", "value": r'"count":\s*\d+'}, None),
    ({"type": "body_regex", "value": "^up"}, "assertion failed: body matches /^up/ (no match)"),
    (json_path("$.status", "==", "ok"), None),
    (json_path("$.status", "==", "degraded"),
     'assertion failed: $.status == "degraded" (got "ok")'),
    # Numbers and strings are different JSON values; 5 and 5.0 are the same number.
    (json_path("$.count", "==", 5), None),
    (json_path("$.count", "==", 5.0), None),
    (json_path("$.count", "==", "5"), 'assertion failed: $.count == "5" (got 5)'),
    (json_path("$.version", "==", 5), 'assertion failed: $.version == 5 (got "5")'),
    (json_path("$.status", "!=", "down"), None),
    (json_path("$.status", "!=", "ok"), 'assertion failed: $.status != "ok" (got "ok")'),
    (json_path("$.count", "<", 6), None),
    (json_path("$.count", "<", 5), "assertion failed: $.count < 5 (got 5)"),
    (json_path("$.count", "<=", 5), None),
    (json_path("$.count", "<=", 4), "assertion failed: $.count <= 4 (got 5)"),
    (json_path("$.count", ">", 4), None),
    (json_path("$.count", ">", 5), "assertion failed: $.count > 5 (got 5)"),
    (json_path("$.count", ">=", 5), None),
    (json_path("$.count", ">=", 6), "assertion failed: $.count >= 6 (got 5)"),
    (json_path("$.version", ">", 4), 'assertion failed: $.version > 4 (got "5")'),
    (json_path("$.status", "<", "p"), None),
    (json_path("$.tags", "contains", "a"), None),
    (json_path("$.tags", "contains", "c"),
     'assertion failed: $.tags contains "c" (got ["a","b"])'),
    (json_path("$.status", "contains", "k"), None),
    (json_path("$.items[*].n", "contains", 2), None),     # several values: their array
    (json_path("$.tags[?match(@, '[ab]')]", "exists"), None),
    (json_path("$.nested.x", "exists"), None),           # null is a value
    (json_path("$.missing", "exists"), "assertion failed: $.missing exists (nothing at this path)"),
    (json_path("$.missing", "==", 1), "assertion failed: $.missing == 1 (nothing at this path)"),
    # What was seen is cut to a readable length.
    (json_path("$.note", "==", "short"),
     'assertion failed: $.note == "short" (got "' + "n" * 118 + "…)"),
    (json_path("$.missing", "not_exists"), None),
    (json_path("$.status", "not_exists"), 'assertion failed: $.status does not exist (got "ok")'),
    (header("content-type", "contains", "json"), None),
    (header("X-Build", "==", "2026.1"), None),
    (header("x-build", "!=", "2026.1"),
     'assertion failed: header x-build != "2026.1" (got "2026.1")'),
    (header("X-Build", "contains", "2027"),
     'assertion failed: header X-Build contains "2027" (got "2026.1")'),
    (header("X-Missing", "exists"), "assertion failed: header X-Missing exists (no such header)"),
    (header("X-Missing", "not_exists"), None),
    (header("X-Build", "not_exists"),
     'assertion failed: header X-Build does not exist (got "2026.1")'),
    ({"type": "max_duration_ms", "value": 5000}, None),
]


def run_now(server, job_id: int) -> None:
    r = server.api.post(f"/fetch/{job_id}/run", token=server.admin.token)
    assert r.status == 202, r


def run_each_rule(server, url: str, cases: list[tuple[dict, str | None]]):
    """One job per rule against ``url``, run at once; yields (rule, wanted error, result)."""
    sched = schedule(server, **HOURLY)
    jobs = [job(server, url, sched["id"], name=f"rule {i}", assertions=[rule])
            for i, (rule, _) in enumerate(cases)]
    for created in jobs:
        run_now(server, created["id"])
    for created, (rule, error) in zip(jobs, cases, strict=True):
        [row] = finished(server, created["id"], 1)
        yield rule, error, row


def test_every_rule_type_and_operator_passes_and_fails(server, http_target):
    http_target.body = BODY
    http_target.headers = {"Content-Type": "application/json", "X-Build": "2026.1"}
    for rule, error, row in run_each_rule(server, http_target.url, CASES):
        assert (row["error"], row["success"]) == (error, error is None), rule
        assert row["status_code"] == 200 and row["response"]["status"] == "ok"


def test_rules_are_checked_in_order_after_the_status(server, http_target):
    http_target.body = b"<html>maintenance</html>"
    http_target.headers = {"Content-Type": "text/html"}
    sched = schedule(server, **HOURLY)
    rules = [{"type": "body_not_contains", "value": "error"},
             json_path("$.status", "==", "ok"), {"type": "body_contains", "value": "ok"}]
    ordered = job(server, http_target.url, sched["id"], assertions=rules)
    http_target.status = 503
    run_now(server, ordered["id"])
    [bad_status] = finished(server, ordered["id"], 1)
    assert bad_status["error"] == "unexpected status 503"     # the status decides first
    http_target.status = 200
    run_now(server, ordered["id"])
    rows = finished(server, ordered["id"], 2)
    assert rows[1]["error"] == 'assertion failed: $.status == "ok" (the body is not JSON)'
    assert get_job(server, ordered["id"])["last_status"] == "failure"


def test_a_slow_answer_fails_max_duration(server, http_target):
    http_target.delay = 0.3
    sched = schedule(server, **HOURLY)
    slow = job(server, http_target.url, sched["id"],
               assertions=[{"type": "max_duration_ms", "value": 100}])
    run_now(server, slow["id"])
    [row] = finished(server, slow["id"], 1)
    took = re.fullmatch(r"assertion failed: takes under 100 ms \(took (\d+) ms\)", row["error"])
    assert took and int(took.group(1)) >= 300 and row["success"] is False
    assert row["duration_ms"] >= 300


def test_a_failed_rule_is_retried_like_a_bad_status(server, http_target):
    http_target.body = b'{"status": "degraded"}'
    sched = schedule(server, **HOURLY)
    flaky = job(server, http_target.url, sched["id"], max_attempts=3, retry_backoff_seconds=1,
                assertions=[json_path("$.status", "==", "ok")])
    run_now(server, flaky["id"])
    [first] = finished(server, flaky["id"], 1)
    assert first["error"] == 'assertion failed: $.status == "ok" (got "degraded")'
    http_target.body = b'{"status": "ok"}'      # the retry, a second later, sees this
    first, second = finished(server, flaky["id"], 2)
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert second["success"] is True and second["error"] is None
    assert second["job_id"] == first["job_id"]
    wait_for(lambda: get_job(server, flaky["id"])["last_status"] == "success")
    assert len(finished(server, flaky["id"], 2)) == 2   # no third attempt


def test_websocket_rules_read_the_joined_messages_and_the_handshake(server, ws_target):
    ws_target.messages = ["hello", '{"status": "ok"}']
    sched = schedule(server, **HOURLY)
    common = dict(type="websocket", timeout_seconds=2)
    good = job(server, ws_target.url, sched["id"], name="good", **common, assertions=[
        {"type": "body_contains", "value": '"status": "ok"'},
        {"type": "body_regex", "value": "^hello\n---\n"},
        header("Upgrade", "==", "websocket")])
    bad = job(server, ws_target.url, sched["id"], name="bad", **common,
              assertions=[json_path("$.status", "exists")])
    run_now(server, good["id"])
    run_now(server, bad["id"])
    [ok_row] = finished(server, good["id"], 1)
    [bad_row] = finished(server, bad["id"], 1)
    assert ok_row["status_code"] == 101 and ok_row["success"] is True, ok_row
    assert bad_row["status_code"] == 101 and bad_row["success"] is False
    assert bad_row["error"] == "assertion failed: $.status exists (the body is not JSON)"


def test_a_body_cut_at_the_cap_is_checked_as_received(start_server, http_target):
    server = start_server(fetch__max_response_bytes=100)
    http_target.body = b"z" * 500 + b"END"
    http_target.headers = {"Content-Type": "text/plain"}
    cases = [({"type": "body_contains", "value": "END"},
              'assertion failed: body contains "END" (not found; the body was cut at 100 '
              'bytes by fetch.max_response_bytes)'),
             ({"type": "body_contains", "value": "zzz"}, None),
             ({"type": "body_not_contains", "value": "zzz"},
              'assertion failed: body does not contain "zzz" (found)'),   # the cut did not decide
             ({"type": "max_duration_ms", "value": 5000}, None)]
    for rule, error, row in run_each_rule(server, http_target.url, cases):
        assert row["response_truncated"] is True and row["error"] == error, rule


def test_a_backtracking_regex_cannot_stall_the_engine(start_server, http_target):
    """``(a+)+$`` on a long run of a's that ends in another character takes a
    backtracking engine longer than the universe has; RE2 answers at once. With two
    workers, a stalled match would also make the other job late."""
    server = start_server(scheduler__workers=2)
    http_target.body = b"a" * 100_000 + b"!"
    http_target.headers = {"Content-Type": "text/plain"}
    with HttpTarget() as other_target:
        sched = schedule(server)     # every second
        evil = job(server, http_target.url, sched["id"], name="evil",
                   assertions=[{"type": "body_regex", "value": "(a+)+$"}])
        other = job(server, other_target.url, sched["id"], name="other")
        evil_rows = finished(server, evil["id"], 3, timeout=15)
        other_rows = finished(server, other["id"], 3, timeout=15)
    assert all(row["error"] == "assertion failed: body matches /(a+)+$/ (no match)"
               for row in evil_rows[:3])
    assert all(row["duration_ms"] < 1000 for row in evil_rows[:3])
    assert all(row["success"] for row in other_rows[:3])
    assert_on_time(other_rows[:3])


def test_rules_are_stored_validated_and_replaced(server, http_target):
    sched = schedule(server, **HOURLY)
    rules = [json_path("$.status", "==", "ok"), {"type": "max_duration_ms", "value": 500}]
    created = job(server, http_target.url, sched["id"], assertions=rules)
    assert created["assertions"] == rules
    assert job(server, http_target.url, sched["id"])["assertions"] == []
    job_id, token = created["id"], server.admin.token
    bad_rules = [
        ([{"value": "x"}], "Field 'assertions[0].type' is required"),
        ([{"type": "body_size"}], "Field 'assertions[0].type' must be one of: "
         "body_contains, body_not_contains, body_regex, json_path, header, max_duration_ms"),
        (["ok"], "Field 'assertions[0]' must be an object"),
        ([{"type": "body_contains"}], "Field 'assertions[0].value' is required"),
        ([{"type": "body_contains", "value": 5}], "Field 'assertions[0].value' must be a string"),
        ([{"type": "body_contains", "value": "x", "path": "$"}],
         "Unknown field 'assertions[0].path'"),
        ([rules[0], {"type": "body_regex", "value": "(a"}],
         "Field 'assertions[1].value' is not a regular expression RE2 accepts: "
         "missing ): (a"),
        ([{"type": "body_regex", "value": r"(a)\1"}],
         "Field 'assertions[0].value' is not a regular expression RE2 accepts: "
         "invalid escape sequence: \\1"),
        ([json_path("status", "==", "ok")],
         "Field 'assertions[0].path' must be an RFC 9535 JSONPath, starting with $"),
        ([json_path("$.a[", "==", "ok")], "Field 'assertions[0].path' is not an RFC 9535 JSONPath"),
        ([json_path("$..a..b", "exists")], "Field 'assertions[0].path' is not an RFC 9535 "
         "JSONPath: the descendant segment '..' may appear only once"),
        ([{"type": "json_path", "path": "$.a", "op": "=="}],
         "Field 'assertions[0].value' is required for =="),
        ([json_path("$.a", "~=", 1)], "Field 'assertions[0].op' must be one of: "
         "==, !=, <, <=, >, >=, contains, exists, not_exists"),
        ([json_path("$.a", "<", [1])], "Field 'assertions[0].value' must be a number or a "
         "string for <"),
        ([json_path("$.a", "exists", 1)], "Field 'assertions[0].value' must be absent for exists"),
        ([header("X-A", "<", "1")], "Field 'assertions[0].op' must be one of: "
         "==, !=, contains, exists, not_exists"),
        ([header("X-A", "==")], "Field 'assertions[0].value' is required for =="),
        ([{"type": "header", "op": "exists"}], "Field 'assertions[0].name' is required"),
        ([{"type": "max_duration_ms", "value": "500"}],
         "Field 'assertions[0].value' must be an integer"),
        ([{"type": "max_duration_ms", "value": 0}],
         "Field 'assertions[0].value' must be at least 1"),
        ([{"type": "max_duration_ms", "value": 500}] * 21,
         "Field 'assertions' must have at most 20 items"),
        ({"type": "max_duration_ms", "value": 500}, "Field 'assertions' must be an array"),
    ]
    for bad, message in bad_rules:
        body = {"name": "bad", "endpoint": http_target.url, "execute_id": sched["id"],
                "assertions": bad}
        r = server.api.post("/fetch", body, token=token)
        assert r.status == 400 and r.message.startswith(message), (bad, r)
        r = server.api.patch(f"/fetch/{job_id}", {"assertions": bad}, token=token)
        assert r.status == 400 and r.message.startswith(message), (bad, r)
    assert get_job(server, job_id)["assertions"] == rules
    r = server.api.patch(f"/fetch/{job_id}", {"assertions": rules[1:]}, token=token)
    assert r.status == 200 and r.data["assertions"] == rules[1:]
    r = server.api.patch(f"/fetch/{job_id}", {"assertions": []}, token=token)
    assert r.status == 200 and get_job(server, job_id)["assertions"] == []


def test_openapi_shows_the_rule_types_as_a_discriminated_one_of(server):
    document = server.api.get("/openapi.json").json

    def resolve(schema: dict) -> dict:
        while "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    body = resolve(document["paths"]["/fetch"]["post"]["requestBody"]["content"]
                   ["application/json"]["schema"])
    items = resolve(resolve(body["properties"]["assertions"])["items"])
    assert items["discriminator"]["propertyName"] == "type"
    variants = [resolve(variant) for variant in items["oneOf"]]
    assert [v["properties"]["type"]["const"] for v in variants] == list(RULES)
    mapping = items["discriminator"]["mapping"]     # type -> the variant's component
    assert [mapping[v["properties"]["type"]["const"]].rsplit("/", 1)[1]
            for v in variants] == [v["title"] for v in variants]
    json_path_rule = variants[list(RULES).index("json_path")]
    assert json_path_rule["required"] == ["type", "path", "op"]


def test_the_migration_keeps_existing_jobs_and_gives_them_no_rules(backend, tmp_path,
                                                                    request, monkeypatch):
    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_database"))
    db.open_database(url)
    try:
        before = tuple(m for m in migrations.MIGRATIONS if m is not m0060_assertions)
        with monkeypatch.context() as patch:
            patch.setattr(migrations, "MIGRATIONS", before)
            migrations.migrate()
        now = "2026-01-01 00:00:00"
        for statement, values in (
                ("INSERT INTO users (username, email, password_hash, created_at, updated_at) "
                 "VALUES (?, ?, ?, ?, ?)", ("old", "old@example.com", "x", now, now)),
                ("INSERT INTO schedules (user_id, name, type, value, created_at, updated_at) "
                 "VALUES (1, ?, ?, 1, ?, ?)", ("hourly", "hours", now, now)),
                ("INSERT INTO jobs (name, endpoint, execute_id, job_id, created_at, updated_at) "
                 "VALUES (?, ?, 1, ?, ?, ?)", ("old job", "http://example.com", "r1", now, now))):
            db.database.execute_sql(statement.replace("?", db.database.param), values)
        assert migrations.migrate() == [m0060_assertions.NAME]
        [job] = Job.select()
        assert (job.name, job.endpoint, job.expected_status, job.assertions) == \
            ("old job", "http://example.com", ["2xx"], [])
    finally:
        db.close_all()
