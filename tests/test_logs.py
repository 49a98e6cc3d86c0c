"""Request logs: one line per request, text or JSON lines, with request id, no secrets."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal

import pytest
from helpers.polling import wait_for

from scheduler_lib import logs

PASSWORD = "bootstrap-Secret-pw1"


@pytest.fixture
def captured_logs():
    """Configure logging as ``serve`` does, into a buffer; restore pytest's afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("cheroot").level)
    buffer = io.StringIO()

    def configure(level: str = "info", fmt: str = "text") -> io.StringIO:
        logs.configure(level, fmt, stream=buffer)
        return buffer

    yield configure
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()   # writes what it holds, stops any writer thread
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("cheroot").setLevel(saved[2])


def access_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " scheduler.access: " in line]


def test_text_lines_name_method_path_status_duration_request_id_and_user(server,
                                                                         captured_logs):
    buffer = captured_logs("info", "text")
    server.api.get("/healthz", headers={"X-Request-ID": "text-1"})
    server.api.get("/user/me?x=1", token=server.admin.token, headers={"X-Request-ID": "text-2"})
    server.api.get("/nowhere", headers={"X-Request-ID": "text-3"})
    lines = wait_for(lambda: len(access_lines(buffer.getvalue())) >= 3 and
                     access_lines(buffer.getvalue()), message="three access lines")
    pattern = (r"\S+ \S+ INFO scheduler\.access: (GET) (\S+) (\d{3}) (\d+\.\d{2})ms "
               r"request_id=(\S+) user_id=(\S+)")
    parsed = [re.fullmatch(pattern, line).groups() for line in lines]
    assert [(p[1], p[2], p[4], p[5]) for p in parsed] == [
        ("/healthz", "200", "text-1", "-"),
        ("/user/me", "200", "text-2", str(server.admin.id)),   # no query string
        ("/nowhere", "404", "text-3", "-"),
    ]
    assert server.admin.token not in buffer.getvalue()


def test_job_runs_are_logged_with_job_id_and_outcome(server, captured_logs,
                                                     http_target):
    buffer = captured_logs("info", "json")
    token = server.admin.token
    schedule = server.api.post("/fetch/execute", {"name": "h", "type": "hours", "value": 1},
                               token=token).data
    secret_url = http_target.url.replace("http://", "http://user:url-secret@") + "/x?k=v"
    job = server.api.post("/fetch", {"name": "logged", "endpoint": secret_url,
                                     "execute_id": schedule["id"], "max_attempts": 2,
                                     "retry_backoff_seconds": 0}, token=token).data
    http_target.statuses = [500, 200]
    run_id = server.api.post(f"/fetch/{job['id']}/run", token=token).data["job_id"]

    def runs() -> list[dict]:
        entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
        return [e for e in entries if e["logger"] == "scheduler.engine"
                and e.get("job_id") == run_id]

    failed, succeeded = wait_for(lambda: len(runs()) >= 2 and runs(), message="two attempts")
    assert (failed["level"], failed["fetch_id"], failed["attempt"], failed["outcome"],
            failed["status_code"]) == ("warning", job["id"], 1, "failure", 500)
    assert failed["error"] == "unexpected status 500"
    assert (succeeded["level"], succeeded["attempt"], succeeded["outcome"],
            succeeded["status_code"]) == ("info", 2, "success", 200)
    assert succeeded["message"].startswith(
        f"run fetch_id={job['id']} job_id={run_id} attempt=2 outcome=success status=200 ")
    assert "url-secret" not in buffer.getvalue()


def test_level_from_config_silences_request_lines(server, captured_logs):
    buffer = captured_logs("warning", "text")
    assert server.api.get("/healthz").status == 200
    assert server.api.get("/user/me", token=server.admin.token).status == 200
    assert access_lines(buffer.getvalue()) == []


@pytest.mark.backends("sqlite")
def test_serve_writes_json_lines_without_secrets(tmp_path, serve_process):
    """The real entry point: ``serve`` with log.format = json, then SIGTERM."""
    config = tmp_path / "scheduler.toml"
    config.write_text(
        f'[server]\nport = 0\n[database]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
        f'[auth]\nbcrypt_rounds = 4\n[bootstrap]\nusername = "root"\npassword = "{PASSWORD}"\n'
        '[log]\nformat = "json"\nlevel = "info"\n[scheduler]\nenabled = false\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    stderr = tmp_path / "serve.stderr"
    node = serve_process(env, args=("--config", str(config)), cwd=tmp_path,
                         ready_path="/healthz", stderr_path=stderr).wait_ready()

    def entries() -> list[dict]:
        """The JSON lines written so far (a line still being written waits)."""
        return [json.loads(line) for line in stderr.read_text().splitlines(keepends=True)
                if line.endswith("\n") and line.strip()]

    api = node.api
    login = api.post("/login", {"identifier": "root", "password": PASSWORD},
                     headers={"X-Request-ID": "json-login"})
    tokens = login.data
    me = api.get("/user/me", token=tokens["access_token"], headers={"X-Request-ID": "json-me"})
    assert me.status == 200
    assert api.get("/user/me", api_key="sk-not-a-key").status == 401
    anonymous = api.get("/healthz")
    generated = anonymous.headers["X-Request-ID"]
    assert node.stop(signal.SIGTERM) == 0
    everything = node.output()
    access = {e["request_id"]: e for e in entries() if e["logger"] == "scheduler.access"}
    assert access["json-login"]["status"] == 200 and access["json-login"]["user_id"] is None
    me_line = access["json-me"]
    assert (me_line["method"], me_line["path"], me_line["route"], me_line["status"]) == \
        ("GET", "/user/me", "/user/me", 200)
    assert me_line["user_id"] == 1 and me_line["level"] == "info"
    assert isinstance(me_line["duration_ms"], float) and me_line["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", me_line["time"])
    assert me_line["message"].startswith("GET /user/me 200 ")
    assert access[generated]["path"] == "/healthz"
    assert any(e["path"] == "/user/me" and e["status"] == 401 for e in access.values())
    for secret in (PASSWORD, tokens["access_token"], tokens["refresh_token"], "sk-not-a-key"):
        assert secret not in everything
    assert any("stopped" in e["message"] for e in entries())
