"""Schedules, jobs and results through the API, for the engine tests.

``schedule`` and ``job`` create them (as the admin unless ``person`` is given; a
schedule fires every second unless told otherwise), ``results`` reads a job's results
oldest first and ``finished`` waits until it has so many completed ones;
``assert_on_time`` checks that runs started when they were due.
"""

from __future__ import annotations

from typing import Any

from scheduler_lib.timeutil import parse_iso

from .polling import wait_for
from .world import HOURLY, ok

__all__ = ["EVERY_SECOND", "HOURLY", "schedule", "job", "results", "finished", "get_job",
           "lateness", "assert_on_time", "ON_TIME", "HICCUP"]

EVERY_SECOND = {"name": "every second", "type": "seconds", "value": 1}


def schedule(server: Any, person: Any = None, **body: Any) -> dict:
    person = person or server.admin
    return ok(server.api.post("/fetch/execute", {**EVERY_SECOND, **body}, token=person.token),
              201)


def job(server: Any, endpoint: str, schedule_id: int, person: Any = None,
        **fields: Any) -> dict:
    person = person or server.admin
    body = {"name": "ping", "endpoint": endpoint, "execute_id": schedule_id, **fields}
    return ok(server.api.post("/fetch", body, token=person.token), 201)


def results(server: Any, job_id: int, person: Any = None) -> list[dict]:
    """The job's results, oldest first."""
    person = person or server.admin
    return list(reversed(ok(server.api.get(f"/fetch/{job_id}/data?limit=1000",
                                           token=person.token))))


def finished(server: Any, job_id: int, count: int, timeout: float = 10) -> list[dict]:
    """Wait until the job has ``count`` completed results; returns them all."""
    def ready() -> list[dict] | None:
        rows = results(server, job_id)
        done = [row for row in rows if row["duration_ms"] is not None or row["error"]]
        return rows if len(done) >= count else None
    return wait_for(ready, timeout, message=f"{count} results of job {job_id}")


def get_job(server: Any, job_id: int) -> dict:
    return ok(server.api.get(f"/fetch/{job_id}", token=server.admin.token))


def lateness(row: dict) -> float:
    return (parse_iso(row["started_at"]) - parse_iso(row["scheduled_at"])).total_seconds()


# A due run starts within 50 ms of its due time; on a loaded test machine (2 cores
# shared by many processes) the OS sometimes wakes a thread later than that, so a
# single run is allowed a scheduling hiccup and a series must be on time typically.
ON_TIME = 0.05
HICCUP = 0.3


def assert_on_time(rows: list[dict]) -> None:
    late = sorted(lateness(row) for row in rows)
    assert late[0] >= 0 and late[len(late) // 2] < ON_TIME and late[-1] < HICCUP, late
