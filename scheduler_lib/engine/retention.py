"""Pruning old results and audit entries in the background.

Results older than ``retention.max_age_days`` go, and each job keeps only its newest
``retention.max_runs_per_job``; audit entries older than ``audit.max_age_days`` go.
Refresh tokens and revoked access-token ids past their token's expiry go too: an
expired token is refused by its signature check whatever the table says, so those
rows protect nothing. Deletes run in small batches, each its own short transaction,
so that pruning never holds the database for long and never blocks the API.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from ..db import database, release_connection
from ..timeutil import utcnow
from .store import execute, transaction

__all__ = ["prune_results", "prune_audit", "prune_expired_tokens", "RetentionTask"]

log = logging.getLogger("scheduler.retention")

BATCH = 500
# Clock skew between nodes: a token is forgotten this long after it expired.
_TOKEN_GRACE = timedelta(minutes=1)


def _delete_batches(where: str, params: tuple, stop: threading.Event | None,
                    table: str = "job_results") -> int:
    deleted = 0
    while stop is None or not stop.is_set():
        with transaction():
            count = execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                            f"WHERE {where} LIMIT ?)", (*params, BATCH)).rowcount
        deleted += count
        if count < BATCH:
            break
    return deleted


def prune_results(max_runs_per_job: int, max_age_days: int, now: datetime | None = None,
                  stop: threading.Event | None = None) -> int:
    """Delete results past the retention limits; returns how many went."""
    now = now or utcnow()
    deleted = _delete_batches("created_at < ?", (now - timedelta(days=max_age_days),), stop)
    crowded = [row[0] for row in execute(
        "SELECT fetch_id FROM job_results GROUP BY fetch_id HAVING COUNT(*) > ?",
        (max_runs_per_job,)).fetchall()]
    for job_id in crowded:
        if stop is not None and stop.is_set():
            break
        row = execute("SELECT id FROM job_results WHERE fetch_id = ? ORDER BY id DESC "
                      "LIMIT 1 OFFSET ?", (job_id, max_runs_per_job - 1)).fetchone()
        if row is not None:
            deleted += _delete_batches("fetch_id = ? AND id < ?", (job_id, row[0]), stop)
    return deleted


def prune_audit(max_age_days: int, now: datetime | None = None,
                stop: threading.Event | None = None) -> int:
    """Delete audit entries older than ``max_age_days``; returns how many went."""
    horizon = (now or utcnow()) - timedelta(days=max_age_days)
    return _delete_batches("at < ?", (horizon,), stop, table="audit_log")


def prune_expired_tokens(now: datetime | None = None) -> int:
    """Delete refresh tokens and revoked-token entries past their expiry."""
    horizon = (now or utcnow()) - _TOKEN_GRACE
    deleted = 0
    for table in ("refresh_tokens", "revoked_tokens"):
        with transaction():
            deleted += execute(f"DELETE FROM {table} WHERE expires_at < ?", (horizon,)).rowcount
    return deleted


class RetentionTask:
    """A thread pruning results and audit entries every ``interval`` seconds (first
    after ``delay``)."""

    def __init__(self, max_runs_per_job: int, max_age_days: int, *, interval: float = 300.0,
                 delay: float = 10.0, clock: Callable[[], datetime] = utcnow,
                 audit_max_age_days: int = 365):
        self.max_runs_per_job = max_runs_per_job
        self.max_age_days = max_age_days
        self.audit_max_age_days = audit_max_age_days
        self.interval = interval
        self.delay = delay
        self.clock = clock
        self.last_pruned = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        wait = self.delay
        try:
            while not self._stop.wait(wait):
                wait = self.interval
                try:
                    self.last_pruned = prune_results(self.max_runs_per_job, self.max_age_days,
                                                     self.clock(), self._stop)
                    if self.last_pruned:
                        log.info("pruned %d old results", self.last_pruned)
                    audit_pruned = prune_audit(self.audit_max_age_days, self.clock(), self._stop)
                    if audit_pruned:
                        log.info("pruned %d old audit entries", audit_pruned)
                    prune_expired_tokens(self.clock())
                except Exception:  # retried at the next interval
                    log.exception("pruning results failed")
                finally:
                    release_connection()   # PostgreSQL: back to the pool until next time
        finally:
            database.close()
