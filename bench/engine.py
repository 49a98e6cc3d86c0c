"""Engine throughput and lateness under N jobs on a short interval, and the API beside it.

Usage::

    .venv/bin/python bench/engine.py --api-in-use --repeat 3   # the target's run, 3 times
    .venv/bin/python bench/engine.py                       # 1,000 jobs every second
    .venv/bin/python bench/engine.py --jobs 10000 --interval 60 --window 20
    .venv/bin/python bench/engine.py --jobs 100000 --interval 600 --window 15 \
        --api-connections 64
    .venv/bin/python bench/engine.py --postgres            # the same on PostgreSQL
    .venv/bin/python bench/engine.py --one-process         # engine inside serve

Runs ``scheduler.py serve`` (engine on, default settings) and a fast local target
(``target_server.py``), each in its own process. Then:

1. API idle: wrk ``GET /user/me`` (Bearer) with no jobs.
2. Seeding: N jobs through the services layer (in process, inactive) or, with
   ``--api-in-use``, through the API (``POST /fetch/execute``, then ``POST /fetch``
   on 8 connections); then one transaction activates them with first due times spread
   evenly over one interval, as jobs created at random times would be.
3. After a warm-up, a steady window: the results whose ``scheduled_at`` falls in it
   give runs/s, lateness (``started_at − scheduled_at``) p50/p99/max, runs per job
   min/max and failures, read from the database afterwards. With ``--api-in-use``
   the results are read through the API during the window (``GET /fetch/{id}/data``
   of random jobs, ``--reads`` per second) and their latency is compared with the
   same reads once the jobs are paused. The server's CPU time in the window (every
   process of it: user + system) divided by the runs gives the CPU per run (the
   engine process's share shown apart; on PostgreSQL the CPU of the database's
   backends is shown beside it); its resident memory (the sum over its processes)
   is sampled through the window.
4. API loaded: the same wrk run while the engine works; then every job is paused and
   the API is measured idle again. The idle figure is the median of both idle runs.

``--repeat N`` does all of it N times in a row, each on a fresh server and database,
prints every run (not the best) and a summary row per run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import threading
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
    rss_mb,
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


def postgres_cpu_seconds(db_url: str) -> float:
    """CPU time so far of the PostgreSQL backends serving ``db_url``'s database (the
    server's connections; PostgreSQL runs on this machine). Not in the server's own
    figure: shown beside it."""
    import psycopg2

    name = db_url.rsplit("/", 1)[1]
    with psycopg2.connect(POSTGRES_ADMIN) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                       "AND pid <> pg_backend_pid()", (name,))
        pids = [row[0] for row in cursor.fetchall()]
    admin.close()
    return sum(cpu_seconds(pid) for pid in pids)


def seed(db_url: str, jobs: int, interval: int, target: str) -> list[int]:
    """Create ``jobs`` inactive jobs through the services layer; their ids."""
    from scheduler_lib.config import load_settings
    from scheduler_lib.context import AppContext
    from scheduler_lib.db import database, open_database
    from scheduler_lib.models import User
    from scheduler_lib.services import jobs as job_service
    from scheduler_lib.services import schedules

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
    return job_ids


class Client:
    """One keep-alive connection to the server, with the admin's token."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.conn.request(method, path, body=None if body is None else json.dumps(body),
                          headers=self.headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())


def seed_through_api(port: int, token: str, jobs: int, interval: int, target: str,
                     connections: int = 8) -> list[int]:
    """Create a schedule and ``jobs`` inactive jobs with ``POST /fetch``; their ids."""
    status, body = Client(port, token).call(
        "POST", "/fetch/execute", {"name": "bench", "type": "seconds", "value": interval})
    if status != 201:
        raise RuntimeError(f"POST /fetch/execute: {status} {body}")
    schedule = body["data"]["id"]
    job_ids: list[int] = []
    numbers = iter(range(jobs))
    lock = threading.Lock()

    def create() -> None:
        client = Client(port, token)
        while True:
            with lock:
                i = next(numbers, None)
            if i is None:
                return
            status, body = client.call("POST", "/fetch", {
                "name": f"bench {i}", "endpoint": f"{target}/job/{i}", "execute_id": schedule,
                "is_active": False, "timeout_seconds": 10})
            if status != 201:
                raise RuntimeError(f"POST /fetch: {status} {body}")
            with lock:
                job_ids.append(body["data"]["id"])

    threads = [threading.Thread(target=create) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(job_ids) != jobs:
        raise RuntimeError(f"created {len(job_ids)} of {jobs} jobs")
    return sorted(job_ids)


def activate(job_ids: list[int], interval: int, lead: float) -> Any:
    """Activate the jobs in one transaction, first due times spread over one interval
    starting ``lead`` seconds from now; returns the first due time (naive UTC)."""
    from scheduler_lib.db import database
    from scheduler_lib.models import Job
    from scheduler_lib.timeutil import utcnow

    first = utcnow() + timedelta(seconds=lead)
    with database.atomic():
        for i, job_id in enumerate(job_ids):
            due = first + timedelta(seconds=interval * i / len(job_ids))
            Job.update(is_active=True, next_run_at=due).where(Job.id == job_id).execute()
    return first


class Reader:
    """Reads results through the API, ``rate`` per second, until stopped: ``GET
    /fetch/{id}/data?limit=10`` of a random job; keeps each request's latency."""

    def __init__(self, port: int, token: str, job_ids: list[int], rate: float):
        self.client = Client(port, token)
        self.job_ids, self.rate = job_ids, rate
        self.latencies_ms: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            began = time.monotonic()
            status, body = self.client.call("GET", f"/fetch/{random.choice(self.job_ids)}/data"
                                            "?limit=10")
            self.latencies_ms.append((time.monotonic() - began) * 1000)
            if status != 200:
                self.errors += 1
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))


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


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """One run on a fresh server and database; prints its figures and returns them."""
    from scheduler_lib.timeutil import utcnow

    drop = None
    db_url = None
    if args.postgres:
        db_url, drop = scratch_postgres()
    settings: dict[str, Any] = {"scheduler__enabled": True}
    if args.workers:
        settings["scheduler__workers"] = args.workers
    if args.one_process:
        settings["scheduler__engine_process"] = False
    print(f"# bench/engine.py — {machine()}")
    print(f"# {args.jobs} jobs every {args.interval}s, {'PostgreSQL' if drop else 'SQLite'}, "
          f"window {args.window}s after {args.warmup}s warm-up; "
          + (f"created through the API, {args.reads} result reads/s during the window; "
             if args.api_in_use else "") +
          f"API: wrk GET /user/me {args.api_connections} conn {args.api_seconds}s", flush=True)
    reads: dict[str, list[float]] = {}
    rss: list[float] = []
    try:
        with python_server(TARGET) as (_target, target_port), \
                project(db_url, **settings) as proj:
            token = proj.login()
            me = f"http://127.0.0.1:{proj.port}/user/me"
            target = f"http://127.0.0.1:{target_port}"

            def api() -> WrkResult:
                return run_wrk(me, connections=args.api_connections, duration=args.api_seconds,
                               headers={"Authorization": f"Bearer {token}"}, pid=proj.proc.pid)

            api()  # warm-up
            idle_before = api()
            print(f"  API idle:    {idle_before.row()}", flush=True)
            started = time.monotonic()
            if args.api_in_use:
                from scheduler_lib.db import open_database
                job_ids = seed_through_api(proj.port, token, args.jobs, args.interval, target)
                open_database(proj.db_url)
            else:
                job_ids = seed(proj.db_url, args.jobs, args.interval, target)
            first = activate(job_ids, args.interval, lead=2.0)
            print(f"  seeded {args.jobs} jobs in {time.monotonic() - started:.1f}s "
                  f"({'API' if args.api_in_use else 'in process'})", flush=True)
            # Runs due while the activation was being written started late: the
            # window begins a warm-up after both.
            begin = max(first, utcnow()) + timedelta(seconds=args.warmup)
            time.sleep(max(0.0, (begin - utcnow()).total_seconds()))
            rss.append(rss_mb(proj.proc.pid))
            cpu_before = cpu_seconds(proj.proc.pid)
            postgres_before = postgres_cpu_seconds(proj.db_url) if drop else 0.0
            engine_before = cpu_seconds(proj.proc.pid, children_only=True)
            reader = Reader(proj.port, token, job_ids, args.reads) if args.api_in_use else None
            if reader is not None:
                reader.__enter__()
            if args.profile:
                from hotspots import sample
                stacks = sample(proj.proc.pid, args.window)
            else:
                for _ in range(args.window):
                    time.sleep(1.0)
                    rss.append(rss_mb(proj.proc.pid))
            end = utcnow()
            cpu_window = cpu_seconds(proj.proc.pid) - cpu_before
            engine_window = cpu_seconds(proj.proc.pid, children_only=True) - engine_before
            postgres_window = (postgres_cpu_seconds(proj.db_url) - postgres_before
                               if drop else 0.0)
            if reader is not None:
                reader.__exit__()
                reads["loaded"] = reader.latencies_ms
            rss.append(rss_mb(proj.proc.pid))
            loaded = api()
            print(f"  API loaded:  {loaded.row()}", flush=True)
            time.sleep(1.0)  # the window's last runs are recorded
            figures = window_figures(begin, end, args.jobs, args.interval, args.timeline)
            pause_all(proj.db_url)
            time.sleep(2.0)
            if args.api_in_use:
                with Reader(proj.port, token, job_ids, args.reads) as idle_reader:
                    time.sleep(min(args.window, 5))
                reads["idle"] = idle_reader.latencies_ms
            idle_after = api()
            print(f"  API idle:    {idle_after.row()}", flush=True)
    finally:
        from scheduler_lib.db import database
        database.close()
        if drop is not None:
            drop()

    if args.profile:
        from hotspots import top
        top(stacks, args.profile)
    f = figures
    f["idle_rps"] = statistics.median([idle_before.rps, idle_after.rps])
    f["idle_p99"] = statistics.median([idle_before.p99_ms, idle_after.p99_ms])
    f["loaded_rps"], f["loaded_p99"] = loaded.rps, loaded.p99_ms
    f["cpu_us_per_run"] = cpu_window / max(f["runs"], 1) * 1e6
    f["cpu_share"] = cpu_window / f["window_s"]
    f["engine_cpu_us_per_run"] = engine_window / max(f["runs"], 1) * 1e6
    f["postgres_cpu_us_per_run"] = postgres_window / max(f["runs"], 1) * 1e6
    f["rss_max"] = max(rss)
    due_share = f["runs"] / max(f["expected"], 1)
    print()
    print("| figure | value | ratio |")
    print("|---|---:|---:|")
    print(f"| runs/s in the window | {f['runs_per_s']:.0f} ({f['runs']} of {f['expected']} due)"
          f" | {due_share:.1%} of due |")
    print(f"| lateness p50 / p99 / max | {f['late_p50']:.1f} / {f['late_p99']:.1f} / "
          f"{f['late_max']:.1f} ms | p99 {f['late_p99'] / 50:.2f}x the 50 ms target |")
    print(f"| runs per job in {f['window_s']:.0f}s, min / max | {f['per_job_min']} / "
          f"{f['per_job_max']} | |")
    print(f"| failed runs | {f['failures']} | |")
    print(f"| server CPU in the window | {f['cpu_share']:.0%} of one core, "
          f"{f['cpu_us_per_run']:.0f} us per run | {f['cpu_us_per_run'] / 400:.2f}x the "
          "400 us target |")
    if engine_window:
        print(f"| of which the engine process | {engine_window / f['window_s']:.0%} of one "
              f"core, {f['engine_cpu_us_per_run']:.0f} us per run | "
              f"{f['engine_cpu_us_per_run'] / f['cpu_us_per_run']:.0%} of the server's |")
    if postgres_window:
        print(f"| PostgreSQL's backends (not in the server's figure) | "
              f"{postgres_window / f['window_s']:.0%} of one core, "
              f"{f['postgres_cpu_us_per_run']:.0f} us per run | |")
    print(f"| server RSS in the window, max | {f['rss_max']:.0f} MB | |")
    if reads:
        for name in ("idle", "loaded"):
            f[f"read_{name}_p50"] = percentile(reads[name], 50)
            f[f"read_{name}_p99"] = percentile(reads[name], 99)
        print(f"| result reads during the window | {len(reads['loaded'])} reads, p50 "
              f"{f['read_loaded_p50']:.1f} ms, p99 {f['read_loaded_p99']:.1f} ms | p50 "
              f"{f['read_loaded_p50'] / f['read_idle_p50']:.2f}x idle "
              f"({f['read_idle_p50']:.1f} ms) |")
    print(f"| API idle (median of before/after) | {f['idle_rps']:.0f} rps, "
          f"p99 {f['idle_p99']:.1f} ms | |")
    print(f"| API loaded | {loaded.rps:.0f} rps, p50 {loaded.p50_ms:.1f} ms, "
          f"p99 {loaded.p99_ms:.1f} ms | {loaded.rps / f['idle_rps']:.0%} of idle rps, "
          f"p99 {loaded.p99_ms / f['idle_p99']:.2f}x idle |")
    print(flush=True)
    return f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=1, help="seconds between runs of a job")
    parser.add_argument("--window", type=int, default=10, help="seconds of steady state measured")
    parser.add_argument("--warmup", type=float, default=4, help="seconds before the window")
    parser.add_argument("--postgres", action="store_true", help="run on a scratch PostgreSQL "
                        f"database (created through {POSTGRES_ADMIN})")
    parser.add_argument("--api-in-use", action="store_true",
                        help="create the jobs through the API and read results through it "
                        "during the window")
    parser.add_argument("--reads", type=float, default=20,
                        help="result reads per second during the window (--api-in-use)")
    parser.add_argument("--api-connections", type=int, default=16)
    parser.add_argument("--api-seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="scheduler.workers")
    parser.add_argument("--one-process", action="store_true",
                        help="scheduler.engine_process = false: the engine inside serve")
    parser.add_argument("--repeat", type=int, default=1, help="consecutive runs, each printed")
    parser.add_argument("--timeline", action="store_true", help="lateness per second")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="sample the server with py-spy during the window; print top N")
    args = parser.parse_args()

    runs = [one_run(args) for _ in range(args.repeat)]
    if len(runs) > 1:
        print("| run | due runs made | lateness p50 / p99 / max ms | server CPU us/run "
              "(engine process) | RSS MB | API loaded / idle rps |")
        print("|---|---:|---:|---:|---:|---:|")
        for n, f in enumerate(runs, 1):
            print(f"| {n} | {f['runs'] / max(f['expected'], 1):.1%} | {f['late_p50']:.1f} / "
                  f"{f['late_p99']:.1f} / {f['late_max']:.1f} | {f['cpu_us_per_run']:.0f} "
                  f"({f['engine_cpu_us_per_run']:.0f})"
                  + (f" + PostgreSQL {f['postgres_cpu_us_per_run']:.0f}" if args.postgres else "")
                  + f" | {f['rss_max']:.0f} | "
                  f"{f['loaded_rps']:.0f} / {f['idle_rps']:.0f} = "
                  f"{f['loaded_rps'] / f['idle_rps']:.0%} |")


if __name__ == "__main__":
    main()
