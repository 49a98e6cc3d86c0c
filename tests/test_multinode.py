"""Three `scheduler.py serve` nodes on one fresh PostgreSQL database, one of them
killed with SIGKILL mid-run.

A local target records every request with its ``X-Scheduler-Job-Id`` and
``X-Scheduler-Attempt``. Checked: the nodes start together on an empty database
(one schema, one superuser); they share the runs; no scheduled run is claimed or
executed twice; the killed node's runs in flight are run again by a survivor once
its lease expires (same job id, next attempt), and every job keeps running.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers.backends import query
from helpers.polling import wait_for
from helpers.serve import ServeProcess, serve_environment
from helpers.targets import HttpTarget

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

JOBS = 200
LEASE_SECONDS = 3
TARGET_DELAY = 0.1     # each run keeps a worker ~0.1 s: about 20 runs in flight at once


def runs_started(node: ServeProcess) -> float:
    """Attempts ``node`` executed (its own /metrics)."""
    text = node.api.get("/metrics").raw.decode()
    return sum(float(v) for v in re.findall(
        r'^scheduler_job_runs_total\{[^}]*\} ([0-9.e+]+)$', text, re.M))


@pytest.fixture
def nodes(empty_postgres_database, serve_process) -> list[ServeProcess]:
    """Three `scheduler.py serve` nodes on the shared database, started together."""
    env = serve_environment(empty_postgres_database,
                            SCHEDULER_DATABASE_MAX_CONNECTIONS="8",
                            SCHEDULER_SERVER_THREADS="4",
                            SCHEDULER_SCHEDULER_WORKERS="16",
                            SCHEDULER_SCHEDULER_LEASE_SECONDS=str(LEASE_SECONDS),
                            SCHEDULER_SCHEDULER_SHUTDOWN_GRACE_SECONDS="5")
    return [serve_process(env, name=name) for name in ("a", "b", "c")]


def test_three_nodes_share_runs_once_and_survive_a_sigkill(nodes, empty_postgres_database):
    url = empty_postgres_database
    a, b, c = nodes
    # All three started at once on an empty database: one schema, one superuser.
    wait_for(lambda: all(node.ready() for node in nodes), 60, interval=0.1,
             message="three nodes to answer /readyz")
    for node in nodes:
        node.login()
    assert [row[0] for row in query(url, "SELECT username FROM users")] == ["admin"]

    with HttpTarget() as target:
        target.delay = TARGET_DELAY
        schedule = a.call("POST", "/fetch/execute",
                          {"name": "every second", "type": "seconds", "value": 1})

        def create(k: int) -> list[int]:   # a third of the jobs through each node
            return [nodes[k].call("POST", "/fetch", {
                "name": f"job {i}", "endpoint": f"{target.url}/job/{i}",
                "execute_id": schedule["id"]})["id"] for i in range(k, JOBS, 3)]

        with ThreadPoolExecutor(3) as pool:
            job_ids = [job_id for chunk in pool.map(create, range(3)) for job_id in chunk]
        assert len(set(job_ids)) == JOBS

        # Every node takes part before one dies.
        wait_for(lambda: all(runs_started(node) >= 20 for node in nodes), 30, interval=0.2,
                 message="every node to run jobs")
        def runs_of_b_in_flight() -> set[str]:
            return {row[0] for row in query(
                url, "SELECT r.job_id FROM job_results r JOIN jobs j ON j.id = r.fetch_id "
                "WHERE r.finished_at IS NULL AND j.lease_owner LIKE %s",
                (f"%-{b.process.pid}-%",))}
        wait_for(lambda: len(runs_of_b_in_flight()) >= 2, 10, interval=0.01,
                 message="node b mid-run")
        assert b.stop(signal.SIGKILL) == -signal.SIGKILL
        killed_at = time.monotonic()
        in_flight = runs_of_b_in_flight()   # what b left unfinished
        assert in_flight

        # b's leases expire after LEASE_SECONDS; a survivor takes its runs over.
        def recovered() -> bool:
            leases = query(url, "SELECT count(*) FROM jobs WHERE lease_owner LIKE %s",
                           (f"%-{b.process.pid}-%",))[0][0]
            open_runs = query(url, "SELECT count(*) FROM job_results WHERE job_id = ANY(%s) "
                              "AND finished_at IS NULL AND attempt = 1", (list(in_flight),))
            return leases == 0 and open_runs[0][0] == 0
        wait_for(recovered, LEASE_SECONDS + 10, interval=0.1, message="b's claims recovered")
        recovered_after = time.monotonic() - killed_at
        # b renewed its leases every third of LEASE_SECONDS: none could expire sooner.
        assert recovered_after >= LEASE_SECONDS * 2 / 3 - 0.2, recovered_after

        # Every job keeps running on the survivors.
        hits_before = Counter(r.path for r in list(target.requests))
        wait_for(lambda: all(Counter(r.path for r in list(target.requests))[f"/job/{i}"]
                             >= hits_before[f"/job/{i}"] + 2 for i in range(JOBS)),
                 20, interval=0.2, message="every job to run twice more after the recovery")
        wait_for(lambda: query(url, "SELECT count(*) FROM job_results WHERE job_id = ANY(%s) "
                               "AND attempt = 2 AND finished_at IS NOT NULL",
                               (list(in_flight),))[0][0] == len(in_flight),
                 10, interval=0.1, message="the repeated runs to finish")
        for node in (a, c):
            assert node.stop(signal.SIGTERM) == 0
        hits = list(target.requests)

    # No run executed twice, except b's interrupted ones, each repeated as the next
    # attempt (never the same attempt twice).
    by_run: dict[str, list[int]] = defaultdict(list)
    for hit in hits:
        by_run[hit.headers["X-Scheduler-Job-Id"]].append(int(hit.headers["X-Scheduler-Attempt"]))
    assert all(len(attempts) == len(set(attempts)) for attempts in by_run.values())
    repeated = {run for run, attempts in by_run.items() if len(attempts) > 1}
    assert repeated <= in_flight, repeated - in_flight
    # b's runs in flight were run again (attempt 2) and their first attempt closed.
    retried = {run for run, attempts in by_run.items() if 2 in attempts}
    repeats = query(url, "SELECT job_id, success, error FROM job_results "
                    "WHERE job_id = ANY(%s) AND attempt = 2", (list(in_flight),))
    assert len(repeats) == len(in_flight) and all(ok for _, ok, _ in repeats), repeats
    assert in_flight <= retried, in_flight - retried
    closed = query(url, "SELECT job_id, error FROM job_results WHERE job_id = ANY(%s) "
                   "AND attempt = 1", (list(in_flight),))
    assert closed and all("retried as attempt 2" in error for _, error in closed), closed
    # In the database: one run (one job_id) per scheduled slot of each job.
    doubles = query(url, "SELECT fetch_id, scheduled_at, count(DISTINCT job_id) FROM "
                    "job_results GROUP BY fetch_id, scheduled_at "
                    "HAVING count(DISTINCT job_id) > 1")
    assert doubles == []
    assert query(url, "SELECT count(*) FROM job_results WHERE finished_at IS NULL") == [(0,)]
    [([p50, p99],)] = query(url, "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP "
                         "(ORDER BY extract(epoch FROM started_at - scheduled_at)) "
                         "FROM job_results WHERE attempt = 1")
    print(f"\n{JOBS} jobs, {len(by_run)} runs, {len(hits)} requests, {len(in_flight)} runs "
          f"of the killed node retried, recovered {recovered_after:.1f}s after SIGKILL "
          f"(lease {LEASE_SECONDS}s); lateness p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
