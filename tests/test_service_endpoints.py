"""/healthz, /readyz, /metrics and the request id every response carries."""

from __future__ import annotations

import re
import sqlite3
import time

import pytest
from helpers.polling import wait_for
from prometheus_client.parser import text_string_to_metric_families


def scrape(server, **kw) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of GET /metrics by (name, sorted labels)."""
    r = server.api.get("/metrics", **kw)
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.raw.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_answers_without_auth(server):
    r = server.api.get("/healthz")
    assert r.status == 200
    assert r.json["success"] is True
    assert r.message == "OK"
    assert r.json["path"] == "/healthz"
    assert "data" not in r.json


def test_readyz_is_ready_once_the_engine_ticks(server):
    assert server.instance.ctx.engine is not None
    r = wait_for(lambda: (resp := server.api.get("/readyz")).status == 200 and resp,
                 timeout=10, message="readyz 200")
    assert r.message == "Ready"
    assert r.json["success"] is True


def test_readyz_without_engine_when_the_scheduler_is_disabled(start_server):
    server = start_server(scheduler__enabled=False)
    assert server.instance.ctx.engine is None
    r = server.api.get("/readyz")
    assert (r.status, r.message) == (200, "Ready")


def test_readyz_reports_a_stalled_scheduler_loop(server):
    engine = server.instance.ctx.engine
    wait_for(lambda: server.api.get("/readyz").status == 200, message="ready")
    engine.request_stop()  # the loop ends: nothing updates last_tick any more
    wait_for(lambda: not engine.alive, message="engine loop ended")
    engine.last_tick = time.monotonic() - 60   # as if it had stopped a minute ago
    r = server.api.get("/readyz")
    assert r.status == 503
    assert r.json["success"] is False
    assert re.fullmatch(r"Scheduler loop has not ticked for \d+ s", r.message), r.message
    assert server.api.get("/healthz").status == 200


@pytest.mark.backends("sqlite")
def test_readyz_reports_a_database_that_does_not_answer(start_server):
    server = start_server(scheduler__enabled=False)
    assert server.api.get("/readyz").status == 200
    # Fold the WAL into the file, then overwrite the file's header: every read fails.
    with sqlite3.connect(server.db_path) as other:
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(server.db_path, "r+b") as fh:
        fh.write(b"this is no longer a database" * 8)
    r = server.api.get("/readyz")
    assert (r.status, r.message) == (503, "Database is not answering")
    assert server.api.get("/healthz").status == 200


def test_request_id_is_honoured_or_generated_on_every_response(server):
    mine = server.api.get("/healthz", headers={"X-Request-ID": "client-id.42:a_b"})
    assert mine.headers["X-Request-ID"] == "client-id.42:a_b"
    generated = server.api.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    assert server.api.get("/healthz").headers["X-Request-ID"] != generated.headers["X-Request-ID"]
    # Unsafe or oversized ids are replaced, never echoed.
    for bad in ("has space", "x" * 129, "semi;colon", "<script>"):
        r = server.api.get("/healthz", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"]), bad
    # Errors carry it too: Bottle's own 404/405, an API error, a 401.
    for r in (server.api.get("/no/such/path", headers={"X-Request-ID": "r1"}),
              server.api.put("/healthz", headers={"X-Request-ID": "r1"}),
              server.api.get("/user/me", headers={"X-Request-ID": "r1"}),
              server.api.post("/login", body=b"{", headers={"X-Request-ID": "r1",
                                                            "Content-Type": "application/json"})):
        assert r.status in (400, 401, 404, 405), r
        assert r.headers["X-Request-ID"] == "r1", r
    assert "GET" in server.api.put("/healthz").headers["Allow"]


def test_metrics_count_requests_by_route_template_and_status(server):
    before = scrape(server)
    alice = server.make_user("alice")
    for _ in range(3):
        assert server.api.get("/user/me", token=alice.token).status == 200
    assert server.api.get(f"/user/{alice.id}", token=server.admin.token).status == 200
    assert server.api.get("/user/999999", token=server.admin.token).status == 404
    assert server.api.get("/user/me").status == 401
    assert server.api.get("/no/such/thing").status == 404
    after = scrape(server)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    total = "scheduler_http_requests_total"
    # login_as in make_user also read /user/me once
    assert moved(total, method="GET", route="/user/me", status="200") == 4
    assert moved(total, method="GET", route="/user/me", status="401") == 1
    assert moved(total, method="GET", route="/user/{id}", status="200") == 1
    assert moved(total, method="GET", route="/user/{id}", status="404") == 1
    assert moved(total, method="GET", route="(unmatched)", status="404") == 1
    assert moved(total, method="POST", route="/user", status="201") == 1
    assert not any("/user/999999" in str(key) for key in after)  # templates, not raw paths
    latency = "scheduler_http_request_duration_seconds_count"
    assert moved(latency, method="GET", route="/user/me") == 5
    assert sample(after, "scheduler_http_request_duration_seconds_bucket", method="GET",
                  route="/user/me", le="+Inf") >= 5


def test_metrics_show_job_runs_and_active_jobs(server, http_target):
    token = server.admin.token
    before = scrape(server)
    schedule = server.api.post("/fetch/execute", {"name": "hourly", "type": "hours",
                                                  "value": 1}, token=token)
    assert schedule.status == 201, schedule
    job = server.api.post("/fetch", {"name": "probe", "endpoint": http_target.url + "/ok",
                                     "execute_id": schedule.data["id"]}, token=token)
    assert job.status == 201, job
    http_target.statuses = [200, 500]
    results = f"/fetch/{job.data['id']}/data"
    for count in (1, 2):
        r = server.api.post(f"/fetch/{job.data['id']}/run", token=token)
        assert r.status == 202, r
        wait_for(lambda n=count: len(server.api.get(results, token=token).data) >= n,
                 message="run result")
    after = wait_for(lambda: (s := scrape(server)) and
                     sample(s, "scheduler_job_runs_total", outcome="failure")
                     > sample(before, "scheduler_job_runs_total", outcome="failure") and s,
                     message="failure counted")
    assert sample(after, "scheduler_job_runs_total", outcome="success") \
        >= sample(before, "scheduler_job_runs_total", outcome="success") + 1
    assert sample(after, "scheduler_job_run_lateness_seconds_count") \
        >= sample(before, "scheduler_job_run_lateness_seconds_count") + 2
    assert sample(after, "scheduler_active_jobs") >= 1
    assert ("scheduler_job_runs_in_flight", ()) in after
    assert ("scheduler_job_runs_waiting", ()) in after


def test_metrics_can_require_a_superuser(start_server):
    server = start_server(metrics__require_auth=True)
    r = server.api.get("/metrics")
    assert r.status == 401
    assert r.json["success"] is False
    alice = server.make_user("alice")
    assert server.api.get("/metrics", token=alice.token).status == 403
    samples = scrape(server, token=server.admin.token)
    assert ("scheduler_http_requests_total", (("method", "GET"), ("route", "/metrics"),
                                              ("status", "401"))) in samples
    # Health checks stay open.
    assert server.api.get("/healthz").status == 200
