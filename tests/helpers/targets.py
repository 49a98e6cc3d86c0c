"""Real local targets for job runs and notifications: a threaded HTTP server, a
WebSocket server, and what an SMTP server (aiosmtpd) keeps of the mail it gets.

The HTTP and WebSocket servers bind 127.0.0.1 on a free port, record every request
they get (method, path, headers, body, arrival time) and answer as configured. Use
them as context managers or through the ``http_target`` / ``ws_target`` fixtures of
conftest.py (``smtp_server`` gives an ``Inbox`` behind a real SMTP server). They never
raise into the test process: a client that went away is ignored. ``verify`` checks a
webhook signature as a receiver would.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from scheduler_lib.timeutil import utcnow

__all__ = ["Recorded", "HttpTarget", "WsTarget", "Inbox", "verify"]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: Any                      # naive UTC arrival time
    messages: list[str] = field(default_factory=list)   # websocket: what the client sent
    peer: Any = None             # the client's (address, port): one per connection


class _Target:
    """A local server answering from a thread, recording what it receives."""

    def __init__(self, server: Any) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def _shutdown(self) -> None:
        self._server.shutdown()

    def stop(self) -> None:
        self._shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self) -> int:
        with self._lock:
            return len(self.requests)


class HttpTarget(_Target):
    """Answers every request with ``status``/``body``/``headers`` after ``delay`` s.

    ``statuses`` (a list) overrides ``status`` for the first requests, one each.
    ``active``/``max_active`` count requests being handled at once.
    """

    def __init__(self) -> None:
        self.status = 200
        self.statuses: list[int] = []
        self.body: bytes = b'{"ok": true}'
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        self.delay = 0.0
        self.active = 0
        self.max_active = 0
        self._closing = threading.Event()
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        super().__init__(server)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _shutdown(self) -> None:
        self._closing.set()  # delayed answers end at once
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path,
                                          dict(handler.headers.items()), body, utcnow(),
                                          peer=handler.client_address))
            status = self.statuses.pop(0) if self.statuses else self.status
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                self._closing.wait(self.delay)
            handler.send_response(status)
            for name, value in self.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(self.body)))
            handler.end_headers()
            handler.wfile.write(self.body)
        except OSError:
            pass  # the scheduler gave up on this request (its timeout): expected
        finally:
            with self._lock:
                self.active -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle holds the
            # body until the client's (delayed) ACK of the headers, 40 ms per request.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                target._answer(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class WsTarget(_Target):
    """A WebSocket server: records the handshake and what the client sends, then
    sends ``messages``; closes afterwards when ``close`` is true, else waits for the
    client to leave. ``reject_status`` refuses the handshake with that HTTP status."""

    def __init__(self) -> None:
        self.messages: list[str] = ["hello", "world"]
        self.close = True
        self.reject_status: int | None = None
        super().__init__(serve(self._handle, "127.0.0.1", 0,
                               process_request=self._process_request))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.reject_status is not None:
            with self._lock:
                self.requests.append(Recorded(
                    "GET", request.path, dict(request.headers.raw_items()), b"", utcnow()))
            return connection.respond(HTTPStatus(self.reject_status), "refused\n")
        return None

    def _handle(self, ws: ServerConnection) -> None:
        record = Recorded("GET", ws.request.path, dict(ws.request.headers.raw_items()), b"",
                          utcnow())
        with self._lock:
            self.requests.append(record)
        try:
            try:
                first = ws.recv(timeout=0.5)
                record.messages.append(first if isinstance(first, str) else first.decode())
            except TimeoutError:
                pass
            for message in self.messages:
                ws.send(message)
            if self.close:
                ws.close()
                return
            while True:
                ws.recv()
        except ConnectionClosed:
            pass


class Inbox:
    """aiosmtpd handler keeping every mail received."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.mails.append((list(envelope.rcpt_tos),
                           message_from_bytes(envelope.content, policy=default_policy)))
        return "250 Message accepted for delivery"


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: HMAC-SHA256 of the exact body bytes, keyed with the secret."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)
