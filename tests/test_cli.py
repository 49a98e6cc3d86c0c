"""The operator's CLI: every command through Click's runner, and the real entry point.

CliRunner tests run on each backend (``database_url``); the command reads its
database from ``SCHEDULER_DATABASE_URL`` as an operator's would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import RULES, add_user, document, export_document, ok, one_line_error

from scheduler_lib import auth
from scheduler_lib.models import User

ROOT = Path(__file__).resolve().parent.parent


def test_create_user_and_list_users(run):
    add_user(run, "alice", superuser=True)
    add_user(run, "bob")
    table = ok(run("list-users")).splitlines()
    assert table[0].split() == ["ID", "USERNAME", "EMAIL", "SUPERUSER", "CREATED"]
    assert table[1].split()[:4] == ["1", "alice", "alice@example.com", "yes"]
    assert table[2].split()[:4] == ["2", "bob", "bob@example.com", "no"]
    users = json.loads(ok(run("list-users", "--json")))
    assert [(u["username"], u["is_superuser"]) for u in users] == [("alice", True), ("bob", False)]
    assert all("password" not in key for u in users for key in u)
    dup = run("create-user", "bob", "--email", "x@example.com", "--password-stdin",
              input="long-enough-1\n")
    assert "already taken" in one_line_error(dup, 1)


def test_set_password(run):
    add_user(run, "alice")
    out = ok(run("set-password", "alice", "--password-stdin", input="a-new-password\n"))
    assert "alice" in out
    user = User.get(User.username == "alice")
    assert auth.check_password("a-new-password", user.password_hash)
    assert user.token_version == 1
    # Prompted with confirmation when not on stdin.
    ok(run("set-password", "ALICE", input="prompted-pass\nprompted-pass\n"))
    assert auth.check_password("prompted-pass", User.get(User.username == "alice").password_hash)
    short = run("set-password", "alice", "--password-stdin", input="short\n")
    assert one_line_error(short, 1) == "Error: Field 'password' must be at least 8 characters"
    missing = run("set-password", "nobody", "--password-stdin", input="long-enough-1\n")
    assert one_line_error(missing, 1) == "Error: No user named 'nobody'"


def test_import_is_idempotent_and_export_round_trips(run, tmp_path):
    add_user(run, "alice")
    add_user(run, "bob")
    source = tmp_path / "in.json"
    source.write_text(export_document("http://127.0.0.1:9/never"))
    first = ok(run("import", str(source)))
    assert first.strip() == ("Created 2 schedule(s), 1 header preset(s), 0 channel(s), "
                             "2 job(s), 0 notification(s); already present: 0 schedule(s), "
                             "0 header preset(s), 0 channel(s), 0 job(s), 0 notification(s).")
    again = ok(run("import", input=source.read_text()))   # from stdin
    assert again.strip() == ("Created 0 schedule(s), 0 header preset(s), 0 channel(s), "
                             "0 job(s), 0 notification(s); already present: 2 schedule(s), "
                             "1 header preset(s), 0 channel(s), 2 job(s), 0 notification(s).")

    exported = json.loads(ok(run("export")))
    assert exported["format"] == "scheduler-export" and exported["version"] == 1
    assert [s["name"] for s in exported["schedules"]] == ["hourly", "nightly"]
    assert exported["schedules"][1]["cron"] == "0 3 * * *"
    assert exported["headers"][0]["headers"] == {"Authorization": "Bearer target-secret"}
    probe, report = exported["jobs"]
    refs = {s["ref"]: s["name"] for s in exported["schedules"]}
    assert refs[probe["execute_ref"]] == "hourly"
    assert probe["header_ref"] == exported["headers"][0]["ref"]
    assert probe["members"] == [{"username": "alice", "role": "owner"},
                                {"username": "bob", "role": "viewer"}]
    assert (probe["method"], probe["payload"], probe["timeout_seconds"]) == \
        ("post", '{"hello":1}', 5)
    assert report["is_active"] is False and report["header_ref"] is None
    assert probe["assertions"] == RULES and report["assertions"] == []
    assert "job_id" not in probe and "next_run_at" not in probe

    # Re-importing the export is a no-op; --output writes a file.
    out_file = tmp_path / "out.json"
    result = run("export", "--output", str(out_file), "--user", "bob")
    assert result.exit_code == 0 and "1 job(s)" in result.stderr
    bobs = json.loads(out_file.read_text())
    assert [j["name"] for j in bobs["jobs"]] == ["probe"]
    assert [s["name"] for s in bobs["schedules"]] == ["hourly"]   # travels with the job
    assert "Created 0 schedule(s), 0 header preset(s), 0 channel(s), 0 job(s)" in \
        ok(run("import", str(out_file)))


def test_channels_and_notifications_travel_without_secrets(run):
    add_user(run, "alice")
    doc = json.loads(export_document("http://127.0.0.1:9/never"))
    doc["channels"] = [
        {"ref": 1, "owner": "alice", "name": "hook", "type": "webhook",
         "target": "https://hooks.example.com/a"},
        {"ref": 2, "owner": "alice", "name": "slack", "type": "apprise",
         "target": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"},
        {"ref": 3, "owner": "alice", "name": "mail", "type": "email",
         "target": "ops@example.com"},
    ]
    doc["jobs"][0]["alert_after_failures"] = 3
    doc["jobs"][0]["notifications"] = [
        {"channel_ref": 1, "username": "alice", "events": ["failure", "recovery"]},
        {"channel_ref": 2, "username": "alice", "events": ["paused"]},
        {"channel_ref": 3, "username": "alice", "events": ["failure"]}]
    result = run("import", input=json.dumps(doc))
    assert result.exit_code == 0, result.output
    assert "2 channel(s), 2 job(s), 2 notification(s);" in result.stdout
    assert "channels[2]: E-mail is not configured on this server; left out" in result.stderr
    exported = ok(run("export"))
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in exported and "whsec_" not in exported
    again = json.loads(exported)
    assert [(c["name"], c["type"]) for c in again["channels"]] == [("hook", "webhook"),
                                                                   ("slack", "apprise")]
    assert "****" in again["channels"][1]["target"]
    probe = again["jobs"][0]
    assert probe["alert_after_failures"] == 3
    refs = {c["ref"]: c["name"] for c in again["channels"]}
    assert [(refs[n["channel_ref"]], n["events"]) for n in probe["notifications"]] == [
        ("hook", ["failure", "recovery"]), ("slack", ["paused"])]
    # The export imports again as a no-op, but a masked Apprise URL is no channel.
    result = run("import", input=exported)
    assert result.exit_code == 0, result.output
    assert "Created 0 schedule(s), 0 header preset(s), 0 channel(s), 0 job(s), " \
        "0 notification(s); already present: 2 schedule(s), 1 header preset(s), " \
        "1 channel(s), 2 job(s), 1 notification(s)." in result.stdout
    assert "without its secrets; create this channel again by hand" in result.stderr


def test_import_refuses_a_bad_success_rule_and_changes_nothing(run):
    add_user(run, "alice")
    bad = json.loads(export_document("http://127.0.0.1:9/never"))
    bad["jobs"][0]["assertions"] = [{"type": "body_regex", "value": "(a"}]
    refused = run("import", input=json.dumps(bad))
    assert "Field 'assertions[0].value' is not a regular expression RE2 accepts" in \
        one_line_error(refused, 1)
    assert json.loads(ok(run("export")))["jobs"] == []


def test_import_into_another_database_with_missing_users(run, tmp_path):
    add_user(run, "alice")
    add_user(run, "bob")
    ok(run("import", input=export_document("http://127.0.0.1:9/never")))
    exported = ok(run("export"))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    add_user_other = run("create-user", "carol", "--email", "c@example.com",
                         "--password-stdin", input="carol-password\n",
                         SCHEDULER_DATABASE_URL=other)
    ok(add_user_other)
    refused = run("import", input=exported, SCHEDULER_DATABASE_URL=other)
    assert one_line_error(refused, 1) == \
        "Error: schedules[0] (hourly): no user named 'alice' here (use --owner)"
    result = run("import", "--owner", "carol", input=exported, SCHEDULER_DATABASE_URL=other)
    assert result.exit_code == 0, result.output
    assert "Created 2 schedule(s), 1 header preset(s), 0 channel(s), 2 job(s)" in result.stdout
    assert "member 'bob' does not exist here" in result.stderr
    listed = json.loads(ok(run("jobs", "list", "--json", "--user", "carol",
                               SCHEDULER_DATABASE_URL=other)))
    assert [j["name"] for j in listed] == ["probe", "nightly-report"]
    assert listed[0]["is_active"] and listed[0]["next_run_at"] is not None
    assert listed[1]["next_run_at"] is None


def test_import_refuses_invalid_documents_and_changes_nothing(run):
    add_user(run, "alice")
    bad_job = json.loads(export_document("http://127.0.0.1:9/never"))
    bad_job["jobs"][1]["timeout_seconds"] = 0
    bad_job["jobs"][0]["members"] = [{"username": "alice", "role": "owner"}]
    result = run("import", input=json.dumps(bad_job))
    assert one_line_error(result, 1) == \
        "Error: jobs[1] (nightly-report): Field 'timeout_seconds' must be at least 1"
    empty = json.loads(ok(run("export")))
    assert empty["schedules"] == [] and empty["headers"] == [] and empty["jobs"] == []

    cases = {
        '{"format": "other"}': 'not a scheduler export (expected "format": "scheduler-export")',
        document(version=2): "unsupported export version 2",
        document(schedules=[{"ref": 1, "owner": "alice", "name": "x", "type": "weeks",
                             "value": 1}]): "schedules[0] (x): Field 'type' must be one of",
        document(jobs=[{"name": "j", "endpoint": "http://x", "execute_ref": 5,
                        "members": []}]): "jobs[0] (j): execute_ref 5 names no schedule",
        document(schedules=[{"ref": 1, "owner": "alice", "name": "x", "type": "hours",
                             "value": 1}],
                 jobs=[{"name": "j", "endpoint": "http://x", "execute_ref": 1,
                        "members": [{"username": "alice", "role": "boss"}]}]):
            "jobs[0] (j): members must be a list of {username, role} with role owner, "
            "editor or viewer",
        "[1, 2": "not valid JSON",
    }
    for text, expected in cases.items():
        message = one_line_error(run("import", input=text), 1)
        assert expected in message, (text, message)


def test_jobs_list_and_run(run, http_target):
    add_user(run, "alice")
    add_user(run, "bob")
    ok(run("import", input=export_document(http_target.url + "/hook")))
    table = ok(run("jobs", "list")).splitlines()
    assert table[0].split()[:5] == ["ID", "NAME", "TYPE", "METHOD", "ENDPOINT"]
    assert table[1].split()[:5] == ["1", "probe", "rest", "POST", http_target.url + "/hook"]
    assert table[2].split()[1] == "nightly-report" and " no " in table[2]
    assert table[0].split()[-1] == "RUNNING" and table[1].split()[-1] == "no"
    assert [j["name"] for j in json.loads(ok(run("jobs", "list", "--json", "--user", "bob")))] \
        == ["probe"]

    out = ok(run("jobs", "run", "1"))
    assert out.startswith("attempt 1: success, status 200, ")
    assert http_target.count() == 1
    request = http_target.requests[0]
    assert (request.method, request.path, request.body) == ("POST", "/hook", b'{"hello":1}')
    assert request.headers["Authorization"] == "Bearer target-secret"
    run_id = request.headers["X-Scheduler-Job-Id"]
    assert f"job_id {run_id}" in out

    http_target.status = 503
    failed = run("jobs", "run", "1")
    assert failed.exit_code == 1
    assert failed.stdout.startswith("attempt 1: failure, status 503, ")
    listed = json.loads(ok(run("jobs", "list", "--json")))
    assert listed[0]["last_status"] == "failure"
    assert one_line_error(run("jobs", "run", "99"), 1) == "Error: No job with id 99"


def test_usage_and_configuration_errors_exit_2(run, tmp_path):
    assert run("jobs", "run").exit_code == 2
    assert run("jobs", "run", "abc").exit_code == 2
    assert run("jobs", "run", "0").exit_code == 2
    assert run("list-users", "--nope").exit_code == 2
    assert run("set-password").exit_code == 2
    bad = run("list-users", SCHEDULER_AUTH_BCRYPT_ROUNDS="many")
    assert one_line_error(bad, 2) == ("Error: auth.bcrypt_rounds (from SCHEDULER_AUTH_BCRYPT_"
                                      "ROUNDS): expected a whole number, got 'many'")
    missing = run("--config", str(tmp_path / "none.toml"), "list-users")
    assert "not found" in one_line_error(missing, 2)
    for command in (["list-users"], ["set-password"], ["jobs", "list"], ["jobs", "run"],
                    ["export"], ["import"]):
        assert "--config" in ok(run(*command, "--help")), command


@pytest.mark.backends("sqlite")
def test_entry_point_as_a_subprocess(tmp_path):
    config = tmp_path / "scheduler.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
                      "[auth]\nbcrypt_rounds = 4\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}

    def scheduler(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "scheduler.py"), *args],
                              input=stdin, capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=60)

    created = scheduler("--config", str(config), "create-user", "ops", "--email",
                        "ops@example.com", "--superuser", "--password-stdin",
                        stdin="ops-password-1\n")
    assert created.returncode == 0, created.stderr
    listed = scheduler("list-users", "--config", str(config), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [u["username"] for u in json.loads(listed.stdout)] == ["ops"]
    missing = scheduler("set-password", "ghost", "--config", str(config), "--password-stdin",
                        stdin="whatever-123\n")
    assert (missing.returncode, missing.stderr) == (1, "Error: No user named 'ghost'\n")
    # An unexpected failure: one line, or the traceback with --debug.
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    broken = tmp_path / "broken.toml"
    broken.write_text(f'[database]\nurl = "sqlite:///{garbage}"\n')
    plain = scheduler("--config", str(broken), "list-users")
    assert plain.returncode == 1
    assert plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr
    assert "not a database" in plain.stderr
    debug = scheduler("--config", str(broken), "--debug", "list-users")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    usage = scheduler("jobs", "frobnicate")
    assert usage.returncode == 2
