"""Wake-ups between nodes on one PostgreSQL database: LISTEN/NOTIFY.

A job or schedule changed through any node's API (``AppContext.jobs_changed``)
sends ``NOTIFY scheduler_jobs`` once the change is committed
(``db.announce_jobs_changed``). Every engine keeps one connection of its own that
``LISTEN``s on that channel and wakes its dispatcher when a notification arrives,
so a job created through node A is seen by node B within milliseconds, also when A
serves only the API (``scheduler.enabled = false``) or its workers are busy.

The dispatcher also looks at the database at least once a second
(``dispatcher.MAX_WAIT``): that poll is the fallback while the listening connection
is down (it reconnects every second) and covers changes made outside the API.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable
from typing import Any

import psycopg2

from ..db import JOBS_CHANNEL, connect_unpooled

__all__ = ["Listener"]

log = logging.getLogger("scheduler.engine")

RECONNECT_DELAY = 1.0


class Listener:
    """A thread that calls ``on_notify()`` whenever another node announces a change."""

    def __init__(self, on_notify: Callable[[], None],
                 connect: Callable[[], Any] = connect_unpooled):
        self._on_notify = on_notify
        self._connect = connect
        self._stopping = threading.Event()
        # Writing to this pipe interrupts the select() at once on stop().
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._loop, name="listener", daemon=True)
        self.listening = threading.Event()   # set while LISTEN is in effect

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            conn = None
            try:
                conn = self._connect()
                with conn.cursor() as cursor:
                    cursor.execute(f"LISTEN {JOBS_CHANNEL}")
                self.listening.set()
                # Changes made while we were not listening: look once now.
                self._on_notify()
                self._listen(conn)
            except (psycopg2.Error, OSError) as exc:
                log.warning("listening for other nodes' job changes failed (%s); "
                            "retrying in %ss, polling meanwhile", exc, RECONNECT_DELAY)
                self._stopping.wait(RECONNECT_DELAY)
            finally:
                self.listening.clear()
                if conn is not None:
                    conn.close()

    def _listen(self, conn: Any) -> None:
        while not self._stopping.is_set():
            readable, _, _ = select.select([conn, self._wake_r], [], [])
            if conn in readable:
                conn.poll()
                if conn.notifies:
                    conn.notifies.clear()
                    self._on_notify()
