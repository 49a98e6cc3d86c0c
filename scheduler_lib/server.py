"""One running instance: the HTTP server (Cheroot), the engine and the notification sender.

``Instance.start()`` binds and serves in a background thread and returns, which is
what tests and ``serve`` both use; ``run_until_signalled`` adds SIGTERM/SIGINT
handling and a graceful stop. The engine runs in a child process that this one
supervises (``engine.process``, ``scheduler.engine_process``, the default), or in
threads of this process.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi

from . import __version__
from .api.app import create_app
from .api.routing import envelope
from .config import Settings
from .db import close_all, describe_url, exposed_database_files, open_database, release_connection
from .engine.node import default_node_id
from .engine.process import EngineProcess
from .notify.sender import Sender
from .services.setup import prepare

if TYPE_CHECKING:
    from .engine.dispatcher import Engine

__all__ = ["Instance", "tune_cheroot", "HEADERS_TOO_LARGE", "with_security_headers"]

log = logging.getLogger("scheduler.server")

# Cheroot's defaults keep at most 10 idle keep-alive connections and listen with a
# backlog of 5: past that it closes connections after each response and clients
# reconnecting into the full backlog wait for a SYN retransmit (1 s, then 3 s),
# which is the whole p99 at 64 connections (see bench/README.md). Without a limit it
# also skips counting the idle connections under a lock after every response; idle
# ones are still closed after ``server.timeout`` seconds.
LISTEN_BACKLOG = 1024


HEADERS_TOO_LARGE = "Request header fields too large"


class _HeaderLimitedRequest(cheroot_server.HTTPRequest):
    """Cheroot's request, answering an oversized request line or header block with 431.

    Cheroot stops reading at ``max_request_header_size`` (in 256-byte steps, so a
    huge header never sits in memory) and answers 414 or 413 in plain text; API.md
    wants 431 in the envelope, and the connection closed (the rest is unread).
    """

    def simple_response(self, status: Any, msg: Any = "") -> None:
        if self.ready or str(status)[:3] not in ("413", "414"):
            super().simple_response(status, msg)
            return
        raw_path = getattr(self, "path", None) or b"/"
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
        body = envelope(431, HEADERS_TOO_LARGE, path)
        head = (f"{self.server.protocol} 431 Request Header Fields Too Large\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                "X-Content-Type-Options: nosniff\r\n"
                "Connection: close\r\n\r\n").encode("latin-1")
        self.close_connection = True
        try:
            self.conn.wfile.write(head + body)
        except OSError as exc:  # the client went away: as Cheroot's simple_response does
            if exc.args and exc.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _HeaderLimitedRequest


def tune_cheroot(server: wsgi.Server) -> None:
    """Keep clients' connections alive and queue bursts of new ones instead of dropping them."""
    # cheroot's stubs type it int, but None (documented: no limit) is what we want.
    server.keep_alive_conn_limit = None  # type: ignore[assignment]
    server.request_queue_size = LISTEN_BACKLOG


def with_security_headers(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """``app`` adding ``X-Content-Type-Options: nosniff`` to every response it gives."""
    def secured(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not any(name.lower() == "x-content-type-options" for name, _ in headers):
                headers.append(("X-Content-Type-Options", "nosniff"))
            return start_response(status, headers, exc_info)
        return app(environ, start)
    return secured


class Instance:
    def __init__(self, settings: Settings):
        self.settings = settings
        open_database(settings.database.url, settings.database.max_connections)
        self.ctx, self.bootstrap = prepare(settings)
        release_connection()  # the HTTP and engine threads take their own
        for name in exposed_database_files(settings.database.url):
            log.warning("%s is readable by other users of this machine and holds secrets "
                        "(JWT secret, preset credentials): chmod 600 it", name)
        self.app = create_app(self.ctx)
        self.http = wsgi.Server(
            (settings.server.host, settings.server.port), with_security_headers(self.app),
            numthreads=settings.server.threads, server_name=f"scheduler/{__version__}")
        self.http.max_request_header_size = settings.server.max_header_bytes
        self.http.ConnectionClass = _Connection
        tune_cheroot(self.http)
        self._thread: threading.Thread | None = None
        # The scheduling engine, unless this node only serves the API.
        self.engine: Engine | EngineProcess | None = None
        if settings.scheduler.enabled:
            if settings.scheduler.engine_process:
                self.engine = EngineProcess(settings)
            else:
                from .engine.dispatcher import Engine
                self.engine = Engine(settings)
            self.ctx.engine = self.engine
        # Every node sends notifications (API-only nodes too): the outbox's claims
        # share the work.
        self.sender = Sender(settings, self.engine.node_id if self.engine else default_node_id())

    @property
    def port(self) -> int:
        return self.http.bind_addr[1]

    def start(self) -> None:
        """Bind, then serve in a background thread."""
        self.http.prepare()
        if not self.settings.server.public_url:   # links name the port actually bound
            self.sender.public_url = f"http://{self.settings.server.host}:{self.port}"
        self._thread = threading.Thread(target=self.http.serve, name="http", daemon=True)
        self._thread.start()
        if self.engine is not None:
            self.engine.start()
        self.sender.start()
        log.info("serving on http://%s:%d (database %s)", self.settings.server.host, self.port,
                 describe_url(self.settings.database.url))

    def stop(self) -> None:
        """Stop claiming runs and accepting requests, finish the requests in progress
        and the running jobs (up to ``scheduler.shutdown_grace_seconds``), close the
        database."""
        if self.engine is not None:
            self.engine.request_stop()
        self.http.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.engine is not None:
            self.engine.stop()
        self.sender.stop()
        close_all()
        log.info("stopped")

    def run_until_signalled(self) -> None:
        stop = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            log.info("received %s, shutting down", signal.Signals(signum).name)
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not stop.wait(1.0):
                if self._thread is not None and not self._thread.is_alive():
                    raise RuntimeError("the HTTP server stopped unexpectedly")
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
