"""The sender: one thread per process delivering the outbox, never in the engine's way.

A loop claims due ``pending`` deliveries (``claim_due``: a guarded UPDATE … RETURNING
on rows read ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, as runs are claimed) and hands
them to a few sending threads; each delivery is sent by the node that claimed it. A
send that fails is tried again after ``notify.retry_backoff_seconds`` × 2^(tries−1),
up to ``notify.max_attempts`` tries, then the delivery is ``failed`` with the last
error. A claim lasts ``CLAIM_SECONDS``: a node that dies mid-send leaves its claims to
expire, and another node (or the same one after a restart) sends them, so across a
crash a delivery is at-least-once; SQLite has one node, which drops every claim at
start-up. Outcomes are recorded guarded by the claim, so a node whose claim expired
cannot overwrite the outcome of the node that took over.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from ..config import Settings
from ..db import database, is_postgres, release_connection
from ..metrics import DELIVERIES, DELIVERY_LATENCY
from ..timeutil import utcnow
from .channels import ChannelInfo, Transport, TransportError, transport_for
from .events import Message
from .outbox import as_datetime, deliveries_added, execute

__all__ = ["Sender", "CLAIM_SECONDS", "public_url"]

log = logging.getLogger("scheduler.notify")

CLAIM_SECONDS = 120     # longer than any one send (webhook 10 s, SMTP its timeout)
POLL_SECONDS = 0.5      # other nodes' deliveries and due retries are seen this often
SETTLE_SECONDS = 0.01   # after a wake-up: lets the run's transaction commit first
SEND_THREADS = 4        # a slow receiver holds one of these, not the others
ERROR_CHARS = 500


def public_url(settings: Settings) -> str:
    """``server.public_url``, or the address this server listens on."""
    if settings.server.public_url:
        return settings.server.public_url
    return f"http://{settings.server.host}:{settings.server.port}"


class Sender:
    """Delivers the outbox of one process (``Sender(settings, node_id).start()``)."""

    def __init__(self, settings: Settings, node_id: str,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.node_id = node_id
        self.clock = clock
        self.max_attempts = settings.notify.max_attempts
        self.backoff = settings.notify.retry_backoff_seconds
        self.public_url = public_url(settings)
        # One transport per channel type, made when first needed and shared by the
        # sending threads (their HTTP connection pools are reused between deliveries).
        self._transports: dict[str, Transport] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="notify-send")
        self._busy = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop claiming; sends in progress finish (each has its own timeout)."""
        self._stopping.set()
        deliveries_added.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        try:
            self._start_up()
            while not self._stopping.is_set():
                try:
                    self._dispatch()
                except Exception:  # a failed look (database down) must not end the loop
                    log.exception("notification pass failed; retrying")
                if deliveries_added.wait(POLL_SECONDS):
                    deliveries_added.clear()
                    self._stopping.wait(SETTLE_SECONDS)
        finally:
            release_connection()

    def _start_up(self) -> None:
        """SQLite: one node per database, so every claim left is of a process that died."""
        if is_postgres():
            return
        while not self._stopping.is_set():
            try:
                with database.atomic():
                    execute("UPDATE notify_deliveries SET claimed_by = NULL, "
                             "claim_expires_at = NULL WHERE claimed_by IS NOT NULL "
                             "AND status = 'pending'")
                return
            except Exception:  # e.g. the database is busy: try again
                log.exception("notification start-up failed; retrying")
                self._stopping.wait(1.0)

    def _dispatch(self) -> None:
        with self._lock:
            free = SEND_THREADS - self._busy
        if free <= 0:
            return
        claimed = self.claim_due(self.clock(), free)
        for delivery_pk in claimed:
            with self._lock:
                self._busy += 1
            self._pool.submit(self._send_one, delivery_pk)
        release_connection()

    def claim_due(self, now: datetime, limit: int) -> list[int]:
        """Claim up to ``limit`` deliveries that are due; their ids."""
        free = "(claimed_by IS NULL OR claim_expires_at < ?)"
        due = (f"status = 'pending' AND next_attempt_at <= ? AND {free}")
        # A read first: an idle outbox costs no write transaction (SQLite's write lock).
        if execute(f"SELECT 1 FROM notify_deliveries WHERE {due} LIMIT 1",
                    (now, now)).fetchone() is None:
            return []
        with database.atomic():
            ids = [row[0] for row in execute(
                f"SELECT id FROM notify_deliveries WHERE {due} ORDER BY next_attempt_at, id "
                "LIMIT ?" + (" FOR UPDATE SKIP LOCKED" if is_postgres() else ""),
                (now, now, limit)).fetchall()]
            if not ids:
                return []
            won = execute(
                "UPDATE notify_deliveries SET claimed_by = ?, claim_expires_at = ? "
                f"WHERE id IN ({', '.join('?' * len(ids))}) AND status = 'pending' "
                f"AND {free} RETURNING id",
                (self.node_id, now + timedelta(seconds=CLAIM_SECONDS), *ids, now)).fetchall()
        return sorted(row[0] for row in won)

    def _send_one(self, delivery_pk: int) -> None:
        try:
            self.deliver(delivery_pk)
        except Exception:  # the claim lapses and the delivery is tried again later
            log.exception("delivery %s: sending failed unexpectedly", delivery_pk)
        finally:
            release_connection()
            with self._lock:
                self._busy -= 1
            deliveries_added.set()   # a sending thread is free: look again

    def deliver(self, delivery_pk: int) -> None:
        """Send one claimed delivery and record the outcome."""
        row = execute(
            "SELECT d.delivery_id, d.event, d.facts, d.attempts, d.created_at, c.id, c.type, "
            "c.target, c.secret, u.is_superuser FROM notify_deliveries d "
            "JOIN notify_channels c ON c.id = d.channel_id JOIN users u ON u.id = c.user_id "
            "WHERE d.id = ? AND d.claimed_by = ?", (delivery_pk, self.node_id)).fetchone()
        release_connection()   # no connection held while the network is slow
        if row is None:
            return   # the channel was deleted, or the claim was lost
        (delivery_id, event, facts, attempts, created_at, channel_pk, kind, target, secret,
         superuser) = row
        message = Message.from_facts(event, delivery_id, json.loads(facts), self.public_url)
        channel = ChannelInfo(channel_pk, kind, target, secret, bool(superuser))
        try:
            self._transport(kind).notify(channel, message)
        except TransportError as exc:
            self._record_failure(delivery_pk, kind, attempts + 1, str(exc)[:ERROR_CHARS])
            return
        except Exception as exc:  # a transport's bug counts as a failed try, not a loop
            log.exception("delivery %s (%s): the transport failed unexpectedly",
                          delivery_pk, kind)
            self._record_failure(delivery_pk, kind, attempts + 1,
                                 f"internal error: {type(exc).__name__}")
            return
        now = self.clock()
        with database.atomic():
            execute("UPDATE notify_deliveries SET status = 'sent', attempts = ?, error = NULL, "
                     "sent_at = ?, next_attempt_at = NULL, claimed_by = NULL, "
                     "claim_expires_at = NULL WHERE id = ? AND claimed_by = ?",
                     (attempts + 1, now, delivery_pk, self.node_id))
        DELIVERIES.labels(kind, "sent").inc()
        DELIVERY_LATENCY.labels(kind).observe(
            max(0.0, (now - (as_datetime(created_at) or now)).total_seconds()))

    def _transport(self, kind: str) -> Transport:
        with self._lock:
            if kind not in self._transports:
                self._transports[kind] = transport_for(kind, self.settings)
            return self._transports[kind]

    def _record_failure(self, delivery_pk: int, kind: str, attempts: int, error: str) -> None:
        now = self.clock()
        final = attempts >= self.max_attempts
        next_at = None if final else now + timedelta(
            seconds=self.backoff * 2 ** (attempts - 1))
        with database.atomic():
            execute("UPDATE notify_deliveries SET status = ?, attempts = ?, error = ?, "
                     "next_attempt_at = ?, claimed_by = NULL, claim_expires_at = NULL "
                     "WHERE id = ? AND claimed_by = ?",
                     ("failed" if final else "pending", attempts, error, next_at,
                      delivery_pk, self.node_id))
        DELIVERIES.labels(kind, "failed" if final else "retry").inc()
        log.warning("delivery %s (%s) attempt %d failed%s: %s", delivery_pk, kind, attempts,
                    "; giving up" if final else f"; next try at {next_at:%H:%M:%S}", error)
