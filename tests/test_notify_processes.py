"""The outbox across processes: a delivery in flight when `serve` is killed with SIGKILL
is sent after the restart, and two PostgreSQL nodes send each delivery exactly once."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
from collections import Counter

import pytest
from helpers.backends import query
from helpers.polling import wait_for
from helpers.serve import serve_environment
from helpers.targets import HttpTarget

pytestmark = pytest.mark.slow


def deliveries_in(db_path) -> list[dict]:
    with sqlite3.connect(db_path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM notify_deliveries ORDER BY id")]


def failing_job_with_webhook(node, job_url: str, hook_url: str, name: str = "broken") -> dict:
    """A job failing every second, paused at its first failure, whose failure is sent to
    a webhook channel; returns the channel (with its secret)."""
    schedule = node.call("POST", "/fetch/execute", {"name": "1s", "type": "seconds", "value": 1})
    channel = node.call("POST", "/notify/channel",
                        {"name": "hook", "type": "webhook", "target": hook_url})
    job = node.call("POST", "/fetch", {"name": name, "endpoint": job_url,
                                       "execute_id": schedule["id"], "pause_after_failures": 1})
    node.call("POST", f"/fetch/{job['id']}/notify",
              {"channel_id": channel["id"], "events": ["failure"]})
    return channel


def test_a_delivery_in_flight_at_sigkill_is_sent_after_restart(serving, http_target, tmp_path):
    db_path = tmp_path / "scheduler.db"
    http_target.delay = 30          # the receiver hangs: the send is in flight
    public = {"SCHEDULER_SERVER_PUBLIC_URL": "https://cron.example.com"}
    first = serving(**public)
    with HttpTarget() as job_target:
        job_target.status = 500
        failing_job_with_webhook(first, job_target.url, http_target.url)
        wait_for(lambda: http_target.count() >= 1, 15, message="the webhook in flight")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    [pending] = deliveries_in(db_path)
    assert pending["status"] == "pending" and pending["claimed_by"] is not None
    http_target.delay = 0
    second = serving(**public)
    wait_for(lambda: deliveries_in(db_path)[0]["status"] == "sent", 15,
             message="the delivery sent after the restart")
    first_try, resent = http_target.requests
    assert first_try.body == resent.body
    assert resent.headers["X-Scheduler-Delivery"] == pending["delivery_id"]
    [listed] = second.call("GET", "/notify/delivery")
    assert listed["status"] == "sent" and listed["attempts"] == 1


@pytest.mark.postgres
def test_two_postgres_nodes_send_each_delivery_once(empty_postgres_database, serve_process,
                                                    http_target):
    url = empty_postgres_database
    env = serve_environment(url, SCHEDULER_DATABASE_MAX_CONNECTIONS="8",
                            SCHEDULER_SERVER_THREADS="4")
    nodes = [serve_process(env, name=name) for name in ("a", "b")]
    wait_for(lambda: all(node.ready() for node in nodes), 60, interval=0.1,
             message="two nodes to answer /readyz")
    for node in nodes:
        node.login()
    http_target.delay = 0.2     # each send holds a sending thread a while
    with HttpTarget() as job_target:
        job_target.status = 500
        jobs = 12
        for i in range(jobs):
            failing_job_with_webhook(nodes[i % 2], f"{job_target.url}/{i}",
                                     http_target.url, name=f"job {i}")
        wait_for(lambda: query(url, "SELECT COUNT(*) FROM notify_deliveries "
                                    "WHERE status = 'sent'")[0][0] == jobs, 30,
                 message="every delivery sent")
    sent_ids = {row[0] for row in query(url, "SELECT delivery_id FROM notify_deliveries")}
    received = Counter(h.headers["X-Scheduler-Delivery"] for h in http_target.requests)
    assert set(received) == sent_ids and set(received.values()) == {1}
    assert {json.loads(h.body)["event"] for h in http_target.requests} == {"failure"}
    sent_by = [sum(float(v) for v in re.findall(
        r'^scheduler_notify_deliveries_total\{[^}]*outcome="sent"\} ([0-9.e+]+)$',
        node.api.get("/metrics").raw.decode(), re.M)) for node in nodes]
    assert sum(sent_by) == jobs
