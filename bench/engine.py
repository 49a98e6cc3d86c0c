"""Engine throughput and lateness under N jobs on a short interval, and the API beside it.

Usage::

    .venv/bin/python bench/engine.py                       # 1,000 jobs every second
    .venv/bin/python bench/engine.py --jobs 10000 --interval 60 --window 20
    .venv/bin/python bench/engine.py --postgres            # the same on PostgreSQL

Runs ``scheduler.py serve`` (engine on, default settings) and a fast local target
(``target_server.py``), each in its own process. Then:

1. API idle: wrk ``GET /user/me`` (Bearer) with no jobs.
2. Seeding: N jobs through the services layer (as ``POST /fetch`` creates them, but
   in process, inactive), then one transaction activates them with first due times
   spread evenly over one interval, as jobs created at random times would be.
3. After a warm-up, a steady window: the results whose ``scheduled_at`` falls in it
   give runs/s, lateness (``started_at − scheduled_at``) p50/p99/max, runs per job
   min/max and failures, read from the database afterwards.
4. API loaded: the same wrk run while the engine works; then every job is paused and
   the API is measured idle again. The idle figure is the median of both idle runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (  # noqa: E402
    WrkResult,
    cpu_seconds,
    machine,
    percentile,
    project,
    python_server,
    run_wrk,
)

TARGET = Path(__file__).resolve().parent / "target_server.py"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def scratch_postgres() -> tuple[str, Any]:
    """A fresh PostgreSQL database for this run; returns its URL and a drop function."""
    import psycopg2

    name = f"bench_engine_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_ADMIN)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def seed(db_url: str, jobs: int, interval: int, target: str, lead: float) -> Any:
    """Create ``jobs`` inactive jobs, then activate them spread over one interval.

    Returns the time (naive UTC) of the first due run.
    """
    from scheduler_lib.config import load_settings
    from scheduler_lib.context import AppContext
    from scheduler_lib.db import database, open_database
    from scheduler_lib.models import Job, User
    from scheduler_lib.services import jobs as job_service
    from scheduler_lib.services import schedules
    from scheduler_lib.timeutil import utcnow

    open_database(db_url)
    settings = load_settings(flags={"database.url": db_url})
    ctx = AppContext(settings=settings, jwt_secret="unused", dummy_password_hash="unused")
    admin = User.get(User.username == "admin")
    schedule = schedules.create_schedule(
        ctx, admin, {"name": "bench", "type": "seconds", "value": interval})
    job_ids = []
    batch = 500
    for start in range(0, jobs, batch):
        with database.atomic():
            for i in range(start, min(start + batch, jobs)):
                job = job_service.create_job(ctx, admin, {
                    "name": f"bench {i}", "endpoint": f"{target}/job/{i}",
                    "execute_id": schedule.id, "is_active": False, "timeout_seconds": 10})
                job_ids.append(job.id)
    first = utcnow() + timedelta(seconds=lead)
    with database.atomic():
        for i, job_id in enumerate(job_ids):
            due = first + timedelta(seconds=interval * i / len(job_ids))
            Job.update(is_active=True, next_run_at=due).where(Job.id == job_id).execute()
    return first


def pause_all(db_url: str) -> None:
    from scheduler_lib.db import database
    from scheduler_lib.models import Job

    with database.atomic():
        Job.update(is_active=False, next_run_at=None).execute()


def window_figures(start: Any, end: Any, jobs: int, interval: int,
                   timeline: bool = False) -> dict[str, Any]:
    from scheduler_lib.models import JobResult

    rows = list(JobResult.select(JobResult.job, JobResult.scheduled_at, JobResult.started_at,
                                 JobResult.success)
                .where(JobResult.scheduled_at >= start, JobResult.scheduled_at < end,
                       JobResult.attempt == 1).tuples())
    seconds = (end - start).total_seconds()
    timed = [(scheduled, (started - scheduled).total_seconds() * 1000)
             for _, scheduled, started, _ in rows if started is not None]
    lateness = [late for _, late in timed]
    per_job: dict[int, int] = {}
    for job_id, *_ in rows:
        per_job[job_id] = per_job.get(job_id, 0) + 1
    counts = [per_job.get(job_id, 0) for job_id in per_job] + [0] * (jobs - len(per_job))
    if timeline:
        buckets: dict[int, list[float]] = {}
        for scheduled, late in timed:
            buckets.setdefault(int((scheduled - start).total_seconds()), []).append(late)
        for second, values in sorted(buckets.items()):
            print(f"    second {second:3}: {len(values):5} runs, lateness p50 "
                  f"{percentile(values, 50):6.1f} p99 {percentile(values, 99):6.1f} "
                  f"max {max(values):6.1f} ms")
    return {
        "window_s": seconds, "runs": len(rows), "expected": round(jobs * seconds / interval),
        "runs_per_s": len(rows) / seconds, "failures": sum(1 for r in rows if not r[3]),
        "late_p50": percentile(lateness, 50), "late_p99": percentile(lateness, 99),
        "late_max": max(lateness, default=float("nan")),
        "per_job_min": min(counts, default=0), "per_job_max": max(counts, default=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=1, help="seconds between runs of a job")
    parser.add_argument("--window", type=int, default=10, help="seconds of steady state measured")
    parser.add_argument("--warmup", type=float, default=4, help="seconds before the window")
    parser.add_argument("--postgres", action="store_true", help="run on a scratch PostgreSQL "
                        f"database (created through {POSTGRES_ADMIN})")
    parser.add_argument("--api-connections", type=int, default=16)
    parser.add_argument("--api-seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="scheduler.workers")
    parser.add_argument("--timeline", action="store_true", help="lateness per second")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="sample the server with py-spy during the window; print top N")
    args = parser.parse_args()

    from scheduler_lib.timeutil import utcnow

    drop = None
    db_url = None
    if args.postgres:
        db_url, drop = scratch_postgres()
    settings: dict[str, Any] = {"scheduler__enabled": True}
    if args.workers:
        settings["scheduler__workers"] = args.workers
    print(f"# bench/engine.py — {machine()}")
    print(f"# {args.jobs} jobs every {args.interval}s, {'PostgreSQL' if drop else 'SQLite'}, "
          f"window {args.window}s after {args.warmup}s warm-up; API: wrk GET /user/me "
          f"{args.api_connections} conn {args.api_seconds}s")
    try:
        with python_server(TARGET) as (_target, target_port), \
                project(db_url, **settings) as proj:
            token = proj.login()
            me = f"http://127.0.0.1:{proj.port}/user/me"

            def api() -> WrkResult:
                return run_wrk(me, connections=args.api_connections, duration=args.api_seconds,
                               headers={"Authorization": f"Bearer {token}"}, pid=proj.proc.pid)

            api()  # warm-up
            idle_before = api()
            print(f"  API idle:    {idle_before.row()}", flush=True)
            started = time.monotonic()
            first = seed(proj.db_url, args.jobs, args.interval,
                         f"http://127.0.0.1:{target_port}", lead=2.0)
            print(f"  seeded {args.jobs} jobs in {time.monotonic() - started:.1f}s", flush=True)
            begin = first + timedelta(seconds=args.warmup)
            time.sleep(max(0.0, (begin - utcnow()).total_seconds()))
            cpu_before = cpu_seconds(proj.proc.pid)
            if args.profile:
                from hotspots import sample
                stacks = sample(proj.proc.pid, args.window)
            else:
                time.sleep(args.window)
            end = utcnow()
            cpu_window = cpu_seconds(proj.proc.pid) - cpu_before
            loaded = api()
            print(f"  API loaded:  {loaded.row()}", flush=True)
            time.sleep(1.0)  # the window's last runs are recorded
            figures = window_figures(begin, end, args.jobs, args.interval, args.timeline)
            pause_all(proj.db_url)
            time.sleep(2.0)
            idle_after = api()
            print(f"  API idle:    {idle_after.row()}", flush=True)
    finally:
        if drop is not None:
            from scheduler_lib.db import database
            database.close()
            drop()

    if args.profile:
        from hotspots import top
        top(stacks, args.profile)
    idle_rps = statistics.median([idle_before.rps, idle_after.rps])
    idle_p99 = statistics.median([idle_before.p99_ms, idle_after.p99_ms])
    f = figures
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| runs/s in the window | {f['runs_per_s']:.0f} ({f['runs']} of {f['expected']} "
          f"due, {f['runs'] / max(f['expected'], 1):.0%}) |")
    print(f"| lateness p50 / p99 / max | {f['late_p50']:.1f} / {f['late_p99']:.1f} / "
          f"{f['late_max']:.1f} ms |")
    print(f"| runs per job in {f['window_s']:.0f}s, min / max | {f['per_job_min']} / "
          f"{f['per_job_max']} |")
    print(f"| failed runs | {f['failures']} |")
    print(f"| server CPU in the window | {cpu_window / f['window_s']:.0%} of one core, "
          f"{cpu_window / max(f['runs'], 1) * 1e6:.0f} us per run |")
    print(f"| API idle (median of before/after) | {idle_rps:.0f} rps, p99 {idle_p99:.1f} ms |")
    print(f"| API loaded | {loaded.rps:.0f} rps ({loaded.rps / idle_rps:.0%} of idle), "
          f"p50 {loaded.p50_ms:.1f} ms, p99 {loaded.p99_ms:.1f} ms "
          f"({loaded.p99_ms / idle_p99:.2f}x idle) |")


if __name__ == "__main__":
    main()
