"""The server starts, answers in the envelope, and a login works."""

import re

ENVELOPE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_home_answers_in_envelope(server):
    r = server.api.get("/")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json
    assert body["success"] is True and body["status"] == 200
    assert body["message"] == "Scheduler API Running"
    assert body["path"] == "/"
    assert ENVELOPE_TIME.match(body["timestamp"])
    assert body["data"]["version"]


def test_admin_can_log_in(server):
    r = server.api.get("/user/me", token=server.admin.token)
    assert r.status == 200
    assert r.message == "Welcome admin!"
