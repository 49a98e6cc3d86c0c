"""One running instance: the HTTP server (Cheroot) and, later, the engine.

``Instance.start()`` binds and serves in a background thread and returns, which is
what tests and ``serve`` both use; ``run_until_signalled`` adds SIGTERM/SIGINT
handling and a graceful stop.
"""

from __future__ import annotations

import logging
import signal
import threading

from cheroot import wsgi

from . import __version__
from .api.app import create_app
from .config import Settings
from .db import close_all, describe_url, open_database, release_connection
from .engine import Engine
from .services.setup import prepare

__all__ = ["Instance", "tune_cheroot"]

log = logging.getLogger("scheduler.server")

# Cheroot's defaults keep at most 10 idle keep-alive connections and listen with a
# backlog of 5: past that it closes connections after each response and clients
# reconnecting into the full backlog wait for a SYN retransmit (1 s, then 3 s),
# which is the whole p99 at 64 connections (see bench/README.md). Without a limit it
# also skips counting the idle connections under a lock after every response; idle
# ones are still closed after ``server.timeout`` seconds.
LISTEN_BACKLOG = 1024


def tune_cheroot(server: wsgi.Server) -> None:
    """Keep clients' connections alive and queue bursts of new ones instead of dropping them."""
    # cheroot's stubs type it int, but None (documented: no limit) is what we want.
    server.keep_alive_conn_limit = None  # type: ignore[assignment]
    server.request_queue_size = LISTEN_BACKLOG


class Instance:
    def __init__(self, settings: Settings):
        self.settings = settings
        open_database(settings.database.url, settings.database.max_connections)
        self.ctx, self.bootstrap = prepare(settings)
        release_connection()  # the HTTP and engine threads take their own
        self.app = create_app(self.ctx)
        self.http = wsgi.Server(
            (settings.server.host, settings.server.port), self.app,
            numthreads=settings.server.threads, server_name=f"scheduler/{__version__}")
        tune_cheroot(self.http)
        self._thread: threading.Thread | None = None
        # The scheduling engine, unless this node only serves the API.
        self.engine: Engine | None = None
        if settings.scheduler.enabled:
            self.engine = Engine(settings)
            self.ctx.engine = self.engine

    @property
    def port(self) -> int:
        return self.http.bind_addr[1]

    def start(self) -> None:
        """Bind, then serve in a background thread."""
        self.http.prepare()
        self._thread = threading.Thread(target=self.http.serve, name="http", daemon=True)
        self._thread.start()
        if self.engine is not None:
            self.engine.start()
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
