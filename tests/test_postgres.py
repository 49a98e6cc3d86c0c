"""What is specific to PostgreSQL: migrations under the advisory lock, the connection
pool, and the wake-ups between nodes (LISTEN/NOTIFY)."""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
from helpers.polling import wait_for

from scheduler_lib import migrations
from scheduler_lib.db import JOBS_CHANNEL
from scheduler_lib.engine import Engine

pytestmark = [pytest.mark.postgres, pytest.mark.backends("postgres")]

ROOT = Path(__file__).resolve().parent.parent


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def init_db(url: str) -> subprocess.Popen:
    env = {**os.environ, "SCHEDULER_DATABASE_URL": url}
    return subprocess.Popen([sys.executable, str(ROOT / "scheduler.py"), "init-db"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_init_db_from_three_processes_at_once_migrates_once(empty_postgres_database):
    processes = [init_db(empty_postgres_database) for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    # One of them applied everything, under the advisory lock; the others found it done.
    applied = [out for out in outputs if "Applied" in out]
    assert len(applied) == 1 and sum("is up to date" in out for out in outputs) == 2, outputs
    names = [row[0] for row in query(empty_postgres_database,
                                     "SELECT name FROM schema_migrations ORDER BY name")]
    assert names == sorted(m.NAME for m in migrations.MIGRATIONS)
    again = init_db(empty_postgres_database)
    assert again.communicate(timeout=60)[0].decode().startswith("Database ")
    assert again.returncode == 0


def test_unique_names_and_booleans_behave_as_on_sqlite(server):
    alice = server.make_user("alice")
    # lower() unique index: another case of the same name is a 409, not a 500.
    r = server.api.post("/user", {"username": "ALICE", "email": "other@example.com",
                                  "password": "password-123"}, token=server.admin.token)
    assert r.status == 409, r
    r = server.api.post("/user", {"username": "bob", "email": "Alice@Example.com",
                                  "password": "password-123"}, token=server.admin.token)
    assert r.status == 409, r
    r = server.api.patch(f"/user/{alice.id}", {"is_superuser": True}, token=server.admin.token)
    assert r.status == 200 and r.data["is_superuser"] is True, r


def test_a_small_pool_serves_many_concurrent_requests(start_server):
    server = start_server(database__max_connections=3, server__threads=16)
    token = server.admin.token

    def me(_: int) -> int:
        return server.api.get("/user/me", token=token).status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(me, range(200)))
    assert statuses == [200] * 200
    # The pool of the process is the bound: its own connections plus the listener's.
    url = server.settings.database.url
    name = url.rsplit("/", 1)[1]
    used = query(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                 "application_name = 'scheduler'", (name,))[0][0]
    assert used <= 3 + 1, used


def test_api_changes_notify_other_nodes(server):
    r = server.api.post("/fetch/execute", {"name": "hourly", "type": "hours", "value": 1},
                        token=server.admin.token)
    assert r.status == 201, r
    with closing(psycopg2.connect(server.settings.database.url)) as conn:
        conn.autocommit = True
        conn.cursor().execute(f"LISTEN {JOBS_CHANNEL}")
        r = server.api.post("/fetch", {"name": "ping", "endpoint": "http://127.0.0.1:9/",
                                       "execute_id": r.data["id"]}, token=server.admin.token)
        assert r.status == 201, r

        def notified() -> bool:
            if select.select([conn], [], [], 0.05)[0]:
                conn.poll()
            return any(n.channel == JOBS_CHANNEL for n in conn.notifies)
        wait_for(notified, 5, interval=0, message="a NOTIFY for the new job")


def test_another_nodes_notify_wakes_the_dispatcher_at_once(server):
    engine = server.instance.engine
    assert engine is not None
    wait_for(lambda: engine._listener is not None and engine._listener.listening.is_set(), 5,
             message="the engine to LISTEN")
    delays = []
    with closing(psycopg2.connect(server.settings.database.url)) as conn:
        conn.autocommit = True
        for _ in range(5):
            # Idle, the dispatcher sleeps up to a second between passes.
            wait_for(lambda: time.monotonic() - engine.last_tick > 0.05, 2, interval=0.01)
            before = engine.last_tick
            sent = time.monotonic()
            conn.cursor().execute(f"NOTIFY {JOBS_CHANNEL}")
            wait_for(lambda b=before: engine.last_tick != b, 3, interval=0.002)
            delays.append(engine.last_tick - sent)
    # Without the notification the next pass would come 0-1 s later (0.5 s typically).
    assert statistics.median(delays) < 0.15, delays


def test_a_live_node_keeps_a_run_longer_than_its_lease(start_server, http_target):
    server = start_server(scheduler__lease_seconds=1)   # the shortest allowed
    # A second engine on the same database: another node, ready to take over any
    # run whose lease lapses.
    other = Engine(server.settings, node_id="other-node")
    other.start()
    try:
        http_target.delay = 4.5   # several leases long
        token = server.admin.token
        schedule = server.api.post("/fetch/execute", {"name": "h", "type": "hours", "value": 1},
                                   token=token).data
        job = server.api.post("/fetch", {"name": "slow", "endpoint": http_target.url,
                                         "execute_id": schedule["id"], "timeout_seconds": 20},
                              token=token).data
        assert server.api.post(f"/fetch/{job['id']}/run", token=token).status == 202

        def results() -> list[dict]:
            return server.api.get(f"/fetch/{job['id']}/data", token=token).data
        rows = wait_for(lambda: (r := results()) and all(x["duration_ms"] is not None
                                                         for x in r) and r, 15)
    finally:
        other.stop(grace=0)
    # Renewed while it ran: never taken over, one attempt, one request.
    assert [(r["attempt"], r["success"], r["error"]) for r in rows] == [(1, True, None)]
    assert http_target.count() == 1
