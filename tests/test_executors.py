"""Executors against real local targets: what is sent, what is recorded, how failures read."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime, timezone

import pytest
from helpers.http import free_port

from scheduler_lib import __version__
from scheduler_lib.config import load_settings
from scheduler_lib.engine.executors import Outcome, Request, rest
from scheduler_lib.engine.executors.registry import EXECUTORS
from scheduler_lib.engine.executors.rest import HttpExecutor, status_expected
from scheduler_lib.engine.executors.websocket import SEPARATOR, WebSocketExecutor
from scheduler_lib.engine.runner import Attempt, Executors, perform
from scheduler_lib.engine.store import JobSpec
from scheduler_lib.services.jobs import JOB_TYPES


def job_spec(endpoint: str, **fields) -> JobSpec:
    values = dict(id=7, name="ping", type="rest", endpoint=endpoint, method="post",
                  payload='{"a": 1}', headers={"X-Token": "t0k"}, timeout_seconds=5,
                  max_attempts=1, retry_backoff_seconds=1, expected_status=["2xx"])
    values.update(fields)
    return JobSpec(**values)


class Sync:
    """An executor driven from a test: each ``execute`` on one event loop kept for the
    executor's life (its connection pool belongs to that loop)."""

    def __init__(self, executor: HttpExecutor | WebSocketExecutor):
        self.executor = executor
        self.loop = asyncio.Runner()
        _open.append(self)

    def prepare(self, *args) -> Request:
        return self.executor.prepare(*args)

    def execute(self, request: Request) -> Outcome:
        return self.loop.run(self.executor.execute(request))

    def close(self) -> None:
        self.loop.run(self.executor.close())
        self.loop.close()


_open: list[Sync] = []


@pytest.fixture(autouse=True)
def _close_executors():
    yield
    while _open:
        _open.pop().close()


def http(**kw) -> Sync:
    return Sync(HttpExecutor(max_response_bytes=kw.pop("cap", 1024), **kw))


def test_rest_request_carries_method_preset_payload_and_scheduler_headers(http_target):
    http_target.body = b'{"pong": 1}'
    executor = http()
    outcome = executor.execute(executor.prepare(job_spec(http_target.url + "/hook?x=1"),
                                                "run-uuid", 2))
    assert outcome.error is None and outcome.status_code == 200
    assert outcome.body == b'{"pong": 1}' and not outcome.truncated
    assert outcome.headers["Content-Type"] == "application/json"
    [seen] = http_target.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/hook?x=1", b'{"a": 1}')
    assert seen.headers["X-Token"] == "t0k"
    assert seen.headers["User-Agent"] == f"scheduler/{__version__}"
    assert seen.headers["X-Scheduler-Job-Id"] == "run-uuid"
    assert seen.headers["X-Scheduler-Attempt"] == "2"
    assert seen.headers["Content-Type"] == "application/json"


def test_connections_are_reused(http_target):
    executor = http()
    for _ in range(3):
        assert executor.execute(Request(http_target.url)).status_code == 200
    assert len({seen.peer for seen in http_target.requests}) == 1


def test_body_past_the_cap_is_cut_and_flagged(http_target):
    http_target.body = b"x" * 5000
    outcome = http(cap=1000).execute(Request(http_target.url))
    assert outcome.truncated and outcome.body == b"x" * 1000
    http_target.body = b"y" * 1000
    outcome = http(cap=1000).execute(Request(http_target.url))
    assert not outcome.truncated and len(outcome.body) == 1000


def test_whole_request_timeout(http_target):
    http_target.delay = 3
    began = time.monotonic()
    outcome = http().execute(Request(http_target.url, timeout=1))
    assert outcome.status_code is None and outcome.error == "timeout after 1 s"
    assert 0.9 < time.monotonic() - began < 2.5


def test_connection_refused_and_dns_failure():
    outcome = http().execute(Request(f"http://127.0.0.1:{free_port()}/"))
    assert outcome.error == "connection refused" and outcome.status_code is None
    outcome = http().execute(Request("http://no-such-host.invalid/", timeout=5))
    assert outcome.error == "DNS lookup failed for no-such-host.invalid"


def test_redirects_are_not_followed(http_target):
    http_target.status = 302
    http_target.headers = {"Location": http_target.url + "/elsewhere"}
    outcome = http().execute(Request(http_target.url + "/start"))
    assert outcome.status_code == 302 and outcome.headers["Location"].endswith("/elsewhere")
    assert [r.path for r in http_target.requests] == ["/start"]


def test_private_targets_can_be_denied(http_target):
    outcome = http(deny_private_networks=True).execute(Request(http_target.url))
    assert outcome.status_code is None
    assert "private network" in outcome.error and http_target.count() == 0


def test_expected_status_matching():
    assert status_expected(204, ["2xx"]) and status_expected(404, [404, "5xx"])
    assert not status_expected(404, ["2xx"]) and not status_expected(None, ["2xx"])
    assert status_expected(503, ["5xx"]) and not status_expected(200, [201])


def ws(**kw) -> Sync:
    return Sync(WebSocketExecutor(max_response_bytes=kw.pop("cap", 1024), **kw))


def test_websocket_collects_messages_until_the_server_closes(ws_target):
    executor = ws()
    request = executor.prepare(job_spec(ws_target.url + "/feed", type="websocket",
                                    payload="subscribe"), "ws-run", 1)
    began = time.monotonic()
    outcome = executor.execute(request)
    assert time.monotonic() - began < 3
    assert outcome.error is None and outcome.status_code == 101
    assert outcome.body.decode() == "hello" + SEPARATOR + "world"
    [seen] = ws_target.requests
    assert seen.path == "/feed" and seen.messages == ["subscribe"]
    assert seen.headers["X-Scheduler-Job-Id"] == "ws-run"
    assert seen.headers["X-Scheduler-Attempt"] == "1"
    assert seen.headers["X-Token"] == "t0k"
    assert seen.headers["User-Agent"] == f"scheduler/{__version__}"


def test_websocket_collection_ends_at_the_timeout(ws_target):
    ws_target.close = False
    began = time.monotonic()
    outcome = ws().execute(Request(ws_target.url, timeout=1, body="hi"))
    assert 0.9 < time.monotonic() - began < 3
    assert outcome.error is None and outcome.status_code == 101
    assert outcome.body.decode() == "hello" + SEPARATOR + "world"


def test_websocket_refused_handshake_records_the_status(ws_target):
    ws_target.reject_status = 403
    outcome = ws().execute(Request(ws_target.url))
    assert outcome.status_code == 403 and "403" in outcome.error


def test_websocket_truncation_and_connection_refused(ws_target):
    ws_target.messages = ["a" * 300, "b" * 300, "c" * 300]
    outcome = ws(cap=500).execute(Request(ws_target.url))
    assert outcome.truncated and len(outcome.body) == 500 and outcome.error is None
    outcome = ws().execute(Request(f"ws://127.0.0.1:{free_port()}/"))
    assert outcome.error == "connection refused" and outcome.status_code is None


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///nohost"])
def test_bad_urls_are_errors_not_exceptions(url):
    assert http().execute(Request(url)).error.startswith("invalid URL")


def test_tls_failure_is_classified(http_target):
    # An https:// request to a plain HTTP port fails in the TLS handshake.
    outcome = http().execute(Request(http_target.url.replace("http://", "https://")))
    assert outcome.status_code is None and outcome.error.startswith("TLS error: "), outcome


def test_every_job_type_the_api_accepts_has_an_executor():
    assert set(EXECUTORS) == set(JOB_TYPES)


class EchoExecutor:
    """A job type made up for the test: it answers without any network."""

    @classmethod
    def from_settings(cls, settings, pool_size):
        return cls()

    def prepare(self, job, run_id, attempt):
        return Request(url=job.endpoint, body=f"{run_id}/{attempt}")

    async def execute(self, request):
        return Outcome(status_code=0, body=request.body.encode())

    def judge(self, job, outcome):
        return None if outcome.body.endswith(b"/1") else "echo disagreed"

    async def close(self):
        pass


def test_a_new_job_type_is_one_registration(monkeypatch):
    monkeypatch.setitem(EXECUTORS, "echo", EchoExecutor)
    executors = Executors(load_settings(environ={}), pool_size=1)
    job = job_spec("echo://anything", type="echo")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    first = asyncio.run(perform(Attempt(job, "run-1", 1, now, result_id=1), executors))
    second = asyncio.run(perform(Attempt(job, "run-1", 2, now, result_id=2), executors))
    assert (first.success, first.response, first.error) == (True, "run-1/1", None)
    assert (second.success, second.error) == (False, "echo disagreed")


class RawTarget:
    """A TCP server answering each request (read up to its blank line) with ``answer``,
    bytes as given, then closing when ``close`` is set: answers no HTTP library sends."""

    def __init__(self, answer: bytes, close: bool = False, answers_per_connection: int = 0):
        self.answer, self.close = answer, close
        # After this many answers, the next request's connection is closed unanswered.
        self.answers_per_connection = answers_per_connection
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed_by_client = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):   # the client may close first
            data = b""
            answered = 0
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    self.closed_by_client += 1
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, data = data.split(b"\r\n\r\n", 1)
                    self.requests.append(head)
                    if answered == self.answers_per_connection > 0:
                        return
                    conn.sendall(self.answer)
                    answered += 1
                    if self.close:
                        return

    def stop(self) -> None:
        self._server.close()


@pytest.fixture
def raw_target():
    targets: list[RawTarget] = []

    def start(answer: bytes, close: bool = False, answers_per_connection: int = 0) -> RawTarget:
        targets.append(RawTarget(answer, close, answers_per_connection))
        return targets[-1]

    yield start
    for target in targets:
        target.stop()


def test_chunked_and_until_close_bodies_are_read_whole(raw_target):
    chunked = raw_target(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    executor = http()
    for _ in range(2):
        outcome = executor.execute(Request(chunked.url))
        assert (outcome.status_code, outcome.body, outcome.error) == (200, b"abcdefg", None)
    assert chunked.connections == 1
    until_close = raw_target(b"HTTP/1.0 200 OK\r\nX-A: 1\r\nX-A: 2\r\n\r\nall of it", close=True)
    outcome = executor.execute(Request(until_close.url))
    assert (outcome.body, outcome.headers["X-A"], outcome.error) == (b"all of it", "1, 2", None)


def test_an_answer_cut_short_or_garbled_is_a_failure(raw_target):
    cut = raw_target(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", close=True)
    outcome = http().execute(Request(cut.url))
    assert outcome.status_code is None and outcome.error == "connection closed by the target"
    garbage = raw_target(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    outcome = http().execute(Request(garbage.url))
    assert outcome.error.startswith("connection error: invalid response")
    endless = raw_target(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000)
    outcome = http().execute(Request(endless.url))
    assert outcome.error == "connection error: invalid response (headers over 64 KiB)"
    # A small head and a big body in one write is an answer like any other.
    big = raw_target(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"b" * 200_000)
    outcome = http(cap=300_000).execute(Request(big.url))
    assert (outcome.error, len(outcome.body)) == (None, 200_000)


def test_head_answers_have_no_body_and_the_connection_is_kept(raw_target):
    target = raw_target(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
    executor = http()
    for _ in range(2):
        outcome = executor.execute(Request(target.url, method="HEAD"))
        assert (outcome.status_code, outcome.body, outcome.error) == (200, b"", None)
    assert target.connections == 1


def test_a_connection_the_target_closed_while_idle_is_not_reused(raw_target):
    target = raw_target(b"HTTP/1.1 204 No Content\r\n\r\n", close=True)
    executor = http()
    for _ in range(3):
        assert executor.execute(Request(target.url)).status_code == 204
    assert target.connections == 3


def test_a_kept_alive_connection_closed_at_reuse_is_retried_only_when_idempotent(raw_target):
    target = raw_target(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                        answers_per_connection=1)
    executor = http()
    assert executor.execute(Request(target.url)).body == b"ok"
    assert executor.execute(Request(target.url)).body == b"ok"   # on a second connection
    assert (target.connections, len(target.requests)) == (2, 3)
    outcome = executor.execute(Request(target.url, method="POST", body="{}"))
    assert outcome.error == "connection closed by the target"   # may have been acted on
    assert (target.connections, len(target.requests)) == (2, 4)


def test_idle_connections_are_closed_after_a_while(raw_target, monkeypatch):
    monkeypatch.setattr(rest, "_IDLE_SECONDS", 0.0)   # every idle connection is old
    first = raw_target(b"HTTP/1.1 204 No Content\r\n\r\n")
    second = raw_target(b"HTTP/1.1 204 No Content\r\n\r\n")
    executor = http()
    assert executor.execute(Request(first.url)).status_code == 204
    assert first.closed_by_client == 0
    assert executor.execute(Request(second.url)).status_code == 204
    deadline = time.monotonic() + 5
    while first.closed_by_client == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.closed_by_client == 1


def test_request_line_host_and_credentials(raw_target):
    target = raw_target(b"HTTP/1.1 204 No Content\r\n\r\n")
    port = target.url.rsplit(":", 1)[1]
    outcome = http().execute(Request(f"http://us%40er:p%3Ass@127.0.0.1:{port}/a b/é?q=1 2#frag",
                                     method="DELETE"))
    assert outcome.error is None
    [head] = target.requests
    lines = head.decode().split("\r\n")
    assert lines[0] == "DELETE /a%20b/%C3%A9?q=1%202 HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}" in lines
    assert f"Authorization: Basic {base64.b64encode(b'us@er:p:ss').decode()}" in lines
    assert "Content-Length: 0" in lines   # a method that may carry a body says it has none


def test_a_header_that_would_split_the_request_is_refused(raw_target):
    target = raw_target(b"HTTP/1.1 204 No Content\r\n\r\n")
    outcome = http().execute(Request(target.url, headers={"X-A": "1\r\nX-Injected: 2"}))
    assert outcome.error.startswith("invalid request") and target.requests == []


def test_https_with_a_trusted_certificate(tmp_path, monkeypatch):
    """TLS end to end: SNI and the certificate check by name, against a local server
    whose self-signed certificate the client is told to trust (SSL_CERT_FILE)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data:
                data += tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")

    threading.Thread(target=serve, daemon=True).start()
    try:
        outcome = http().execute(Request(f"https://localhost:{port}/"))
        assert (outcome.status_code, outcome.body, outcome.error) == (200, b"secure", None)
    finally:
        server.close()
