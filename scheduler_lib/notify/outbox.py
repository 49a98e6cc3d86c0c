"""The outbox: failure streaks and the deliveries of a run's events.

``record_run_ends`` is the engine's one hook (called by ``store.finish_attempts``
inside the transaction that records the attempts): for every run that ended it
updates the job's streak (``consecutive_failures``, ``failure_alerted``), pauses the
job when ``pause_after_failures`` is reached, and writes one ``pending`` delivery
per subscribed channel and event. The deliveries therefore exist exactly when the
run's end is recorded, whatever happens to the process next; ``sender.py`` sends them.

The streak rules (``next_streak``), per ended run:

- success: the streak ends (0 failures); ``success`` fires, and ``recovery`` too
  when the streak's ``failure`` had fired;
- failure: one more failure; ``failure`` fires once per streak, at the first failed
  run that makes ``consecutive_failures`` reach ``alert_after_failures``; an active
  job whose count reaches ``pause_after_failures`` (> 0) is paused and ``paused`` fires.

Runs closed as interrupted (the process stopped mid-run) are not results of the
target and change no streak. Work per batch: one SELECT of the ended runs' jobs (with
whether anyone subscribed to them); more only for the jobs whose streak changed or
whose subscribers may want what happened.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..db import database
from ..services import audit
from ..timeutil import iso
from .events import job_facts, run_facts

__all__ = ["Streak", "next_streak", "record_run_ends", "deliveries_added", "NewDelivery",
           "insert_deliveries", "execute", "as_datetime"]

# Set when deliveries were written, so that this process's sender looks at once.
deliveries_added = threading.Event()


class EndedAttempt(Protocol):
    """What the outbox reads of a finished attempt (``engine.store.Finished``)."""

    @property
    def result_id(self) -> int: ...
    @property
    def job_id(self) -> int: ...
    @property
    def success(self) -> bool: ...
    @property
    def release(self) -> bool: ...


@dataclass(frozen=True)
class Streak:
    """A job's failure streak after a run, and what the run fired."""
    failures: int
    alerted: bool
    pause: bool
    events: tuple[str, ...]


def next_streak(failures: int, alerted: bool, success: bool, alert_after: int,
                pause_after: int, active: bool) -> Streak:
    """The streak after one more run that ended with ``success`` (rules above)."""
    if success:
        return Streak(0, False, False, ("success", "recovery") if alerted else ("success",))
    failures += 1
    events: list[str] = []
    if not alerted and failures >= alert_after:
        alerted = True
        events.append("failure")
    pause = active and 0 < pause_after <= failures
    if pause:
        events.append("paused")
    return Streak(failures, alerted, pause, tuple(events))


def execute(text: str, params: Iterable[Any] = ()) -> Any:
    """One statement with ``?`` placeholders, on either backend, in this thread's
    connection (the engine's ``store.execute``, which this module cannot import)."""
    if database.param != "?":
        text = text.replace("?", database.param)
    return database.execute_sql(text, tuple(params))


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def as_datetime(value: Any) -> datetime | None:
    """A time read with raw SQL (SQLite gives text) as a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def record_run_ends(records: Sequence[EndedAttempt], now: datetime) -> int:
    """Update the streaks of the runs that ended in ``records`` and write the deliveries
    of their events; call inside the transaction that records them. Returns how many
    deliveries were written."""
    ended = {record.job_id: record for record in records if record.release}
    if not ended:
        return 0
    rows = execute(
        "SELECT j.id, j.consecutive_failures, j.failure_alerted, j.alert_after_failures, "
        "j.pause_after_failures, j.is_active, EXISTS (SELECT 1 FROM notify_subscriptions s "
        f"WHERE s.fetch_id = j.id) FROM jobs j WHERE j.id IN ({_marks(len(ended))})",
        list(ended)).fetchall()
    changed: list[tuple[Any, ...]] = []
    fired: dict[int, tuple[str, ...]] = {}
    for job_id, failures, alerted, alert_after, pause_after, active, subscribed in rows:
        streak = next_streak(failures, bool(alerted), ended[job_id].success, alert_after,
                             pause_after, bool(active))
        if (streak.failures, streak.alerted) != (failures, bool(alerted)) or streak.pause:
            changed.append((streak.failures, streak.alerted, streak.pause, streak.pause,
                            streak.pause, now, job_id))
        if subscribed:
            fired[job_id] = streak.events
    if changed:
        cursor = database.cursor()
        cursor.executemany(
            "UPDATE jobs SET consecutive_failures = ?, failure_alerted = ?, "
            "is_active = CASE WHEN ? THEN FALSE ELSE is_active END, "
            "next_run_at = CASE WHEN ? THEN NULL ELSE next_run_at END, "
            "updated_at = CASE WHEN ? THEN ? ELSE updated_at END "
            "WHERE id = ?".replace("?", database.param), changed)
        # Recorded in this same transaction: a pause never commits without its entry.
        for job_id in (row[-1] for row in changed if row[2]):
            audit.record_system("job.pause", resource="job", resource_id=job_id, job_id=job_id,
                                changed=("is_active",))
    results = {job_id: record.result_id for job_id, record in ended.items()}
    return _write_deliveries(fired, results, now)


def _write_deliveries(fired: dict[int, tuple[str, ...]], results: dict[int, int],
                      now: datetime) -> int:
    """One pending delivery per (event, subscribed channel) of the jobs in ``fired``."""
    jobs = [job_id for job_id, events in fired.items() if events]
    if not jobs:
        return 0
    wanted: list[tuple[int, int, str]] = []   # (job, channel, event)
    for job_id, channel_id, events in execute(
            "SELECT fetch_id, channel_id, events FROM notify_subscriptions "
            f"WHERE fetch_id IN ({_marks(len(jobs))}) ORDER BY id", jobs).fetchall():
        subscribed = set(json.loads(events))
        wanted += [(job_id, channel_id, event) for event in fired[job_id]
                   if event in subscribed]
    if not wanted:
        return 0
    facts = _facts({job for job, _, _ in wanted}, results, now)
    return insert_deliveries([NewDelivery(channel, job, event, facts[job])
                              for job, channel, event in wanted], now)


def _facts(jobs: set[int], results: dict[int, int], now: datetime) -> dict[int, dict[str, Any]]:
    """The payload facts (``occurred_at``, ``job``, ``run``) of each job's ended run."""
    facts: dict[int, dict[str, Any]] = {}
    job_rows = execute(
        "SELECT id, name, type, method, endpoint, consecutive_failures FROM jobs "
        f"WHERE id IN ({_marks(len(jobs))})", sorted(jobs)).fetchall()
    result_ids = [results[job_id] for job_id in sorted(jobs)]
    runs = {row[0]: row for row in execute(
        "SELECT id, job_id, attempt, status_code, success, error, scheduled_at, started_at, "
        f"finished_at, duration_ms FROM job_results WHERE id IN ({_marks(len(result_ids))})",
        result_ids).fetchall()}
    for job_id, name, kind, method, endpoint, failures in job_rows:
        job = job_facts({"id": job_id, "name": name, "type": kind, "method": method,
                         "endpoint": endpoint, "consecutive_failures": failures})
        run = runs.get(results[job_id])
        facts[job_id] = {"occurred_at": iso(now), "job": job, "run": None if run is None else
                     run_facts({"result_id": run[0], "job_id": run[1], "attempt": run[2],
                                "status_code": run[3], "success": bool(run[4]),
                                "error": run[5], "scheduled_at": iso(as_datetime(run[6])),
                                "started_at": iso(as_datetime(run[7])),
                                "finished_at": iso(as_datetime(run[8])),
                                "duration_ms": run[9]})}
    return facts


@dataclass(frozen=True)
class NewDelivery:
    """A delivery about to be written."""
    channel_id: int
    job_id: int | None
    event: str
    facts: dict[str, Any]
    delivery_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def insert_deliveries(items: Sequence[NewDelivery], now: datetime, *, status: str = "pending",
                      attempts: int = 0, error: str | None = None) -> int:
    """Write deliveries; this process's sender is woken for pending ones."""
    if not items:
        return 0
    sent_at = now if status == "sent" else None
    next_at = now if status == "pending" else None
    cursor = database.cursor()
    cursor.executemany(
        "INSERT INTO notify_deliveries (delivery_id, channel_id, fetch_id, event, facts, "
        "status, attempts, error, next_attempt_at, created_at, sent_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)".replace("?", database.param),
        [(item.delivery_id, item.channel_id, item.job_id, item.event,
          json.dumps(item.facts, separators=(",", ":")), status, attempts, error, next_at,
          now, sent_at) for item in items])
    if status == "pending":
        deliveries_added.set()
    return len(items)
