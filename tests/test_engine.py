"""The engine end to end: a real server, jobs created through the API, real targets.

Each test waits with deadline-bounded polling for the results it expects; checks
that something did *not* happen wait until the engine's clock has passed the moment
it would have happened.
"""

from __future__ import annotations

from datetime import timedelta

from helpers.engine_api import (
    HICCUP,
    HOURLY,
    assert_on_time,
    finished,
    get_job,
    job,
    lateness,
    results,
    schedule,
)
from helpers.polling import wait_for
from helpers.world import make_world

from scheduler_lib.models import Job
from scheduler_lib.timeutil import parse_iso, utcnow


def pass_moment(moment, server) -> None:
    """Wait until the engine has passed ``moment`` (plus a margin to act on it)."""
    wait_for(lambda: utcnow() > moment + timedelta(seconds=0.4), 5, message="time to pass")
    engine = server.instance.engine
    tick = engine.last_tick
    wait_for(lambda: engine.last_tick != tick, 3, message="a dispatcher pass")


def test_interval_job_runs_on_time_and_records_every_field(server, http_target):
    sched = schedule(server)
    created_at = utcnow()
    j = job(server, http_target.url + "/tick", sched["id"], method="post", payload={"a": 1})
    rows = finished(server, j["id"], 3, timeout=8)[:3]
    due = parse_iso(j["next_run_at"])
    assert abs((due - created_at).total_seconds() - 1) < 0.2
    assert_on_time(rows)
    for n, row in enumerate(rows):
        assert parse_iso(row["scheduled_at"]) == due + timedelta(seconds=n)   # fixed rate
        assert row["success"] is True and row["status_code"] == 200 and row["attempt"] == 1
        assert row["response"] == {"ok": True} and row["response_truncated"] is False
        assert row["error"] is None and row["duration_ms"] >= 0
        assert row["response_headers"]["Content-Type"] == "application/json"
        assert row["name"] == f"ping [{j['id']}-{row['job_id']}]"
        assert row["fetch_id"] == j["id"]
    assert len({row["job_id"] for row in rows}) == 3
    sent = http_target.requests[:3]
    assert [r.headers["X-Scheduler-Job-Id"] for r in sent] == [row["job_id"] for row in rows]
    assert all(r.body == b'{"a":1}' and r.method == "POST" for r in sent)
    current = get_job(server, j["id"])
    assert current["last_status"] == "success" and current["last_run_at"] is not None
    assert parse_iso(current["next_run_at"]) > parse_iso(rows[-1]["scheduled_at"])
    metrics = server.api.get("/metrics").raw.decode()
    assert 'scheduler_job_runs_total{outcome="success"}' in metrics
    assert "scheduler_job_run_lateness_seconds_bucket" in metrics


def test_one_shot_runs_once(server, http_target):
    sched = schedule(server, is_repeat=False)
    j = job(server, http_target.url, sched["id"])
    [row] = finished(server, j["id"], 1)
    assert row["success"] and 0 <= lateness(row) < HICCUP
    assert get_job(server, j["id"])["next_run_at"] is None
    pass_moment(parse_iso(row["scheduled_at"]) + timedelta(seconds=1), server)
    assert len(results(server, j["id"])) == 1 and http_target.count() == 1


def test_pause_and_resume(server, http_target):
    sched = schedule(server)
    j = job(server, http_target.url, sched["id"], is_active=False)
    assert j["next_run_at"] is None   # the engine only claims jobs with a due time
    r = server.api.patch(f"/fetch/{j['id']}", {"is_active": True}, token=server.admin.token)
    assert r.status == 200 and r.data["next_run_at"] is not None
    finished(server, j["id"], 1)
    r = server.api.patch(f"/fetch/{j['id']}", {"is_active": False}, token=server.admin.token)
    assert r.status == 200
    paused_at, count = utcnow(), len(results(server, j["id"]))
    wait_for(lambda: all(row["duration_ms"] is not None for row in results(server, j["id"])), 5)
    pass_moment(paused_at + timedelta(seconds=1.5), server)
    assert len(results(server, j["id"])) <= count + 1   # a run claimed before the pause
    assert get_job(server, j["id"])["next_run_at"] is None


def test_retries_with_exponential_backoff(server, http_target):
    http_target.statuses = [500, 503]
    sched = schedule(server, **HOURLY)
    j = job(server, http_target.url, sched["id"], max_attempts=3, retry_backoff_seconds=1)
    r = server.api.post(f"/fetch/{j['id']}/run", token=server.admin.token)
    assert r.status == 202, r
    rows = finished(server, j["id"], 3, timeout=10)
    assert [row["attempt"] for row in rows] == [1, 2, 3]
    assert [row["status_code"] for row in rows] == [500, 503, 200]
    assert [row["success"] for row in rows] == [False, False, True]
    assert rows[0]["error"] == "unexpected status 500"
    assert {row["job_id"] for row in rows} == {r.data["job_id"]}
    for n in (1, 2):   # backoff 1 s × 2^(n-1) after the end of the failed attempt
        failed_end = parse_iso(rows[n - 1]["started_at"]) + timedelta(
            milliseconds=rows[n - 1]["duration_ms"])
        gap = (parse_iso(rows[n]["scheduled_at"]) - failed_end).total_seconds()
        assert abs(gap - 2 ** (n - 1)) < 0.01, (n, gap)
        assert 0 <= lateness(rows[n]) < HICCUP
    assert [r.headers["X-Scheduler-Attempt"] for r in http_target.requests] == ["1", "2", "3"]
    assert get_job(server, j["id"])["last_status"] == "success"


def test_timeout_is_a_failure_without_response(start_server, http_target):
    server = start_server(scheduler__shutdown_grace_seconds=0)
    http_target.delay = 3
    sched = schedule(server, **HOURLY)
    j = job(server, http_target.url, sched["id"], timeout_seconds=1)
    server.api.post(f"/fetch/{j['id']}/run", token=server.admin.token)
    [row] = finished(server, j["id"], 1)
    assert row["error"] == "timeout after 1 s" and row["status_code"] is None
    assert row["response_headers"] == {} and row["success"] is False
    assert 900 <= row["duration_ms"] < 2000
    assert get_job(server, j["id"])["last_status"] == "failure"


def test_expected_status_decides_success(server, http_target):
    http_target.status = 404
    sched = schedule(server, **HOURLY)
    wanted = job(server, http_target.url, sched["id"], expected_status=[404, "5xx"])
    unwanted = job(server, http_target.url, sched["id"], expected_status=["2xx"])
    for j in (wanted, unwanted):
        server.api.post(f"/fetch/{j['id']}/run", token=server.admin.token)
    [good] = finished(server, wanted["id"], 1)
    [bad] = finished(server, unwanted["id"], 1)
    assert good["success"] is True and good["error"] is None and good["status_code"] == 404
    assert bad["success"] is False and bad["error"] == "unexpected status 404"


def test_response_past_the_cap_is_truncated(start_server, http_target):
    server = start_server(fetch__max_response_bytes=100)
    http_target.body = b"z" * 500
    http_target.headers = {"Content-Type": "text/plain"}
    sched = schedule(server, **HOURLY)
    j = job(server, http_target.url, sched["id"])
    server.api.post(f"/fetch/{j['id']}/run", token=server.admin.token)
    [row] = finished(server, j["id"], 1)
    assert row["response_truncated"] is True and row["response"] == "z" * 100
    assert row["success"] is True


def test_websocket_job(server, ws_target):
    sched = schedule(server)
    j = job(server, ws_target.url + "/stream", sched["id"], type="websocket",
            payload="subscribe", timeout_seconds=2)
    row = finished(server, j["id"], 1)[0]
    assert row["status_code"] == 101 and row["success"] is True and row["error"] is None
    assert row["response"] == "hello\n---\nworld" and lateness(row) < HICCUP
    seen = ws_target.requests[0]
    assert seen.messages == ["subscribe"] and seen.path == "/stream"
    assert seen.headers["X-Scheduler-Job-Id"] == row["job_id"]


def test_run_now_keeps_the_schedule_and_checks_roles(server, http_target):
    world = make_world(server)
    job_id = world.job["id"]
    Job.update(endpoint=http_target.url + "/now", is_active=False, next_run_at=None).where(
        Job.id == job_id).execute()
    before = get_job(server, job_id)
    asked = utcnow()
    r = server.api.post(f"/fetch/{job_id}/run", token=world.editor.token)
    assert r.status == 202 and r.message == "Run queued", r
    [row] = finished(server, job_id, 1)
    assert row["job_id"] == r.data["job_id"] != before["job_id"]
    assert abs((parse_iso(row["scheduled_at"]) - asked).total_seconds()) < 0.5
    assert lateness(row) < HICCUP and row["success"]
    after = get_job(server, job_id)
    assert (after["job_id"], after["next_run_at"]) == (before["job_id"], before["next_run_at"])
    assert after["last_status"] == "success"
    assert http_target.requests[0].headers["X-Token"] == "secret"   # the header preset
    for person, status in ((world.viewer, 403), (world.outsider, 403)):
        assert server.api.post(f"/fetch/{job_id}/run", token=person.token).status == status
    assert server.api.post("/fetch/999999/run", token=world.owner.token).status == 404
    assert server.api.post(f"/fetch/{job_id}/run").status == 401


def test_schedule_change_reschedules_at_once(server, http_target):
    sched = schedule(server, **HOURLY)
    j = job(server, http_target.url, sched["id"])
    assert parse_iso(j["next_run_at"]) > utcnow() + timedelta(minutes=59)
    r = server.api.patch(f"/fetch/execute/{sched['id']}", {"type": "seconds", "value": 1},
                         token=server.admin.token)
    assert r.status == 200, r
    [row, *_] = finished(server, j["id"], 1, timeout=5)
    assert lateness(row) < HICCUP


def test_a_job_never_overlaps_itself(start_server, http_target):
    server = start_server(scheduler__shutdown_grace_seconds=5)
    http_target.delay = 1.3
    sched = schedule(server)
    j = job(server, http_target.url, sched["id"], timeout_seconds=5)
    rows = finished(server, j["id"], 3, timeout=12)[:3]
    assert http_target.max_active == 1
    due = parse_iso(j["next_run_at"])
    for previous, row in zip(rows, rows[1:], strict=False):
        previous_end = parse_iso(previous["started_at"]) + timedelta(
            milliseconds=previous["duration_ms"])
        started = parse_iso(row["started_at"])
        assert started >= previous_end - timedelta(milliseconds=2)
        assert started - previous_end < timedelta(seconds=HICCUP)   # right after
        # Slots that passed during the overrun collapse into the latest one (no burst).
        slot = (parse_iso(row["scheduled_at"]) - due).total_seconds()
        assert slot == int(slot) and 0 < lateness(row) < 1 + HICCUP


def test_deleting_a_job_stops_it(server, http_target):
    sched = schedule(server)
    j = job(server, http_target.url, sched["id"])
    finished(server, j["id"], 1)
    r = server.api.delete(f"/fetch/{j['id']}", token=server.admin.token)
    assert r.status == 200
    deleted_at, count = utcnow(), http_target.count()
    pass_moment(deleted_at + timedelta(seconds=1.5), server)
    assert http_target.count() <= count + 1   # at most a run already claimed


def test_a_failing_target_does_not_stop_other_jobs(server, http_target):
    sched = schedule(server)
    broken = job(server, "http://127.0.0.1:9/refused", sched["id"])
    healthy = job(server, http_target.url, sched["id"])
    [bad, *_] = finished(server, broken["id"], 1)
    finished(server, healthy["id"], 2)
    assert bad["error"] == "connection refused" and bad["status_code"] is None


def test_scheduler_workers_bounds_the_runs_in_flight(start_server, http_target):
    server = start_server(scheduler__workers=2, scheduler__shutdown_grace_seconds=5)
    http_target.delay = 1.0
    sched = schedule(server)
    jobs = [job(server, http_target.url, sched["id"], timeout_seconds=5) for _ in range(5)]
    for j in jobs:
        finished(server, j["id"], 1, timeout=15)
    # Five jobs due every second, each run taking a second: two at a time, never more.
    assert http_target.max_active == 2
