"""Engines built by the test: an injected clock (cron across DST), two nodes on one
database, ``run_job_now``, and retention."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from helpers.engine_api import HOURLY, finished, job, results, schedule
from helpers.polling import wait_for

from scheduler_lib import timing
from scheduler_lib.db import database
from scheduler_lib.engine import Engine, run_job_now
from scheduler_lib.engine.retention import RetentionTask, prune_results
from scheduler_lib.models import Job, JobResult
from scheduler_lib.timeutil import parse_iso, utcnow


def started_engine(server, **kw) -> Engine:
    engine = Engine(server.settings, **kw)
    engine.start()
    wait_for(lambda: engine.last_tick is not None, 5, message="engine start")
    return engine


def test_cron_in_a_time_zone_across_spring_forward(start_server, http_target):
    # Engine time runs 12 hours per real second from 2026-03-07 00:00 UTC, so three
    # nightly runs take a few seconds; leases are made long enough for that clock.
    server = start_server(scheduler__enabled=False, scheduler__lease_seconds=10**8)
    sched = schedule(server, name="nightly", type="cron", cron="30 2 * * *",
                     timezone="America/New_York")
    j = job(server, http_target.url, sched["id"])
    base, origin, speed = datetime(2026, 3, 7), time.monotonic(), 43200

    def clock() -> datetime:
        return base + timedelta(seconds=(time.monotonic() - origin) * speed)

    first = timing.first_due("cron", None, "30 2 * * *", "America/New_York", base)
    Job.update(next_run_at=first).where(Job.id == j["id"]).execute()
    engine = started_engine(server, clock=clock)
    server.instance.ctx.engine = engine
    try:
        rows = finished(server, j["id"], 3, timeout=20)
    finally:
        engine.stop(grace=5)
        server.instance.ctx.engine = None
    # 02:30 EST is 07:30 UTC; on the 8th 02:30 does not exist (clocks jump from 02:00
    # to 03:00 EDT), so the run is at the jump; from the 9th 02:30 EDT is 06:30 UTC.
    assert [row["scheduled_at"] for row in rows[:3]] == [
        "2026-03-07T07:30:00.000000Z", "2026-03-08T07:00:00.000000Z",
        "2026-03-09T06:30:00.000000Z"]
    assert all(row["success"] for row in rows)


@pytest.mark.parametrize("policy", ["run_once", "skip"])
def test_misfire_policy_for_runs_missed_while_down(start_server, http_target, policy):
    server = start_server(scheduler__enabled=False, scheduler__misfire=policy)
    sched = schedule(server)                   # every second
    j = job(server, http_target.url, sched["id"])
    # The job was due 10.1 s ago: ten slots passed while no engine ran; the latest
    # passed 0.1 s ago, the next comes 0.9 s from now.
    now = utcnow()
    Job.update(next_run_at=now - timedelta(seconds=10.1)).where(Job.id == j["id"]).execute()
    shown = Job.get_by_id(j["id"]).run_id
    engine = started_engine(server)
    try:
        first, second = finished(server, j["id"], 2, timeout=10)[:2]
    finally:
        engine.stop(grace=5)
    latest_missed = now - timedelta(seconds=0.1)
    expected = latest_missed if policy == "run_once" else latest_missed + timedelta(seconds=1)
    assert parse_iso(first["scheduled_at"]) == expected    # run_once: one catch-up run
    assert first["job_id"] == shown   # the run the job named before the restart
    assert parse_iso(second["scheduled_at"]) == expected + timedelta(seconds=1)
    missed_runs = [r for r in results(server, j["id"]) if parse_iso(r["scheduled_at"]) < now]
    assert len(missed_runs) == (1 if policy == "run_once" else 0)   # never a burst


def test_two_engines_on_one_database_claim_each_run_once(server, http_target):
    other = started_engine(server, node_id="second-node")
    try:
        sched = schedule(server)
        jobs = [job(server, http_target.url, sched["id"], name=f"j{n}") for n in range(4)]
        for j in jobs:
            finished(server, j["id"], 3, timeout=10)
    finally:
        other.stop(grace=5)
    for j in jobs:
        rows = results(server, j["id"])
        assert len({row["scheduled_at"] for row in rows}) == len(rows)   # no slot twice
        assert len({row["job_id"] for row in rows}) == len(rows)
    sent = [r.headers["X-Scheduler-Job-Id"] for r in http_target.requests]
    assert len(sent) == len(set(sent))


def test_run_job_now_runs_synchronously_with_retries(server, http_target):
    http_target.statuses = [502]
    sched = schedule(server, **HOURLY)
    j = job(server, http_target.url, sched["id"], max_attempts=2, retry_backoff_seconds=1)
    began = time.monotonic()
    rows = run_job_now(server.instance.ctx, j["id"])
    assert 1 <= time.monotonic() - began < 5
    assert [(r.attempt, r.status_code, r.success) for r in rows] == [(1, 502, False),
                                                                    (2, 200, True)]
    assert rows[0].run_id == rows[1].run_id != j["job_id"]
    assert rows[1].scheduled_at >= rows[0].finished_at + timedelta(seconds=1)
    after = Job.get_by_id(j["id"])
    assert after.run_id == j["job_id"] and after.last_status == "success"
    assert after.to_json()["next_run_at"] == j["next_run_at"]


def test_run_now_taken_by_a_failed_pass_waits_for_the_next(start_server, http_target):
    # While job_results is away every pass fails (the attempt's record cannot be
    # written); the run-now request the failed passes took must not be lost (their
    # transactions roll back: the request waits on the job again).
    server = start_server(scheduler__enabled=False)
    sched = schedule(server, **HOURLY)
    j = job(server, http_target.url, sched["id"], is_active=False)
    engine = started_engine(server)
    server.instance.ctx.engine = engine
    try:
        database.execute_sql("ALTER TABLE job_results RENAME TO job_results_away")
        try:
            asked = time.monotonic()
            r = server.api.post(f"/fetch/{j['id']}/run", token=server.admin.token)
            assert r.status == 202, r
            job_id = r.data["job_id"]
            # The failed pass waits MAX_WAIT before the next: two passes have failed.
            wait_for(lambda: engine.last_tick > asked + 1.2, 5, message="two failed passes")
            assert not http_target.requests
        finally:
            database.execute_sql("ALTER TABLE job_results_away RENAME TO job_results")
        rows = finished(server, j["id"], 1)
    finally:
        engine.stop(grace=5)
        server.instance.ctx.engine = None
    assert [(row["job_id"], row["success"]) for row in rows] == [(job_id, True)]
    assert len(http_target.requests) == 1


def _add_results(job_id: int, count: int, created_at: datetime) -> None:
    JobResult.insert_many([
        {"job": job_id, "name": "r", "created_at": created_at, "updated_at": created_at}
        for _ in range(count)]).execute()


def test_retention_prunes_by_count_and_by_age(server):
    sched = schedule(server, **HOURLY)
    busy, old = (job(server, "http://127.0.0.1:9/", sched["id"], name=n)["id"]
                 for n in ("busy", "old"))
    now = utcnow()
    _add_results(busy, 10, now)
    _add_results(old, 3, now - timedelta(days=40))
    _add_results(old, 2, now - timedelta(days=1))
    newest_busy = [r.id for r in JobResult.select().where(JobResult.job == busy)][-4:]
    assert prune_results(max_runs_per_job=4, max_age_days=30, now=now) == 6 + 3
    assert [r.id for r in JobResult.select().where(JobResult.job == busy)] == newest_busy
    assert JobResult.select().where(JobResult.job == old).count() == 2
    assert prune_results(max_runs_per_job=4, max_age_days=30, now=now) == 0


def test_retention_task_prunes_in_the_background(server):
    sched = schedule(server, **HOURLY)
    job_id = job(server, "http://127.0.0.1:9/", sched["id"])["id"]
    _add_results(job_id, 1200, utcnow())
    task = RetentionTask(max_runs_per_job=5, max_age_days=30, interval=0.2, delay=0)
    task.start()
    try:
        wait_for(lambda: JobResult.select().where(JobResult.job == job_id).count() == 5, 10)
        assert server.api.get("/healthz").status == 200
    finally:
        task.stop()
