"""A run tells the truth (API.md §7, §9): the ``job_id`` a job shows names its next run,
an attempt in flight is listed as running (never as a failure), and run-now requests
queue at most once per job. Through the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from helpers.engine_api import HOURLY, finished, get_job, job, schedule
from helpers.polling import wait_for

from scheduler_lib.models import Job
from scheduler_lib.timeutil import parse_iso, utcnow


def first_run(server, job_id: int, http_target) -> dict:
    """The job's first finished result, checked against the request the target got."""
    [row, *_] = finished(server, job_id, 1)
    assert http_target.requests[0].headers["X-Scheduler-Job-Id"] == row["job_id"]
    return row


def assert_next_run_carries_the_job_id(server, job_id: int, http_target) -> None:
    """The job_id and next_run_at read now are the first run's; then the job moves on."""
    before = get_job(server, job_id)
    row = first_run(server, job_id, http_target)
    assert row["job_id"] == before["job_id"]
    assert row["scheduled_at"] == before["next_run_at"]
    after = wait_for(lambda: (j := get_job(server, job_id))["job_id"] != before["job_id"]
                     and j, 5, message="a new job_id for the run after")
    assert str(after["job_id"]) != row["job_id"]


def test_interval_runs_carry_the_job_id_shown_before(server, http_target):
    j = job(server, http_target.url, schedule(server)["id"])
    assert_next_run_carries_the_job_id(server, j["id"], http_target)
    # ...and the run after it carries the id shown after the first run started.
    shown = wait_for(lambda: (g := get_job(server, j["id"]))["job_id"] != j["job_id"] and g,
                     5, message="the second run's id")
    rows = finished(server, j["id"], 2)
    assert rows[1]["job_id"] == shown["job_id"]
    assert rows[1]["scheduled_at"] == shown["next_run_at"]


def test_one_shot_run_carries_the_job_id_shown_before(server, http_target):
    j = job(server, http_target.url, schedule(server, is_repeat=False)["id"])
    assert_next_run_carries_the_job_id(server, j["id"], http_target)
    assert get_job(server, j["id"])["next_run_at"] is None


def test_cron_run_carries_the_job_id_shown_before(server, http_target):
    cron = schedule(server, name="minutely", type="cron", cron="* * * * *")
    j = job(server, http_target.url, cron["id"])
    # Due in a moment rather than at the next full minute.
    Job.update(next_run_at=utcnow() + timedelta(seconds=0.5)).where(
        Job.id == j["id"]).execute()
    assert_next_run_carries_the_job_id(server, j["id"], http_target)
    due = parse_iso(get_job(server, j["id"])["next_run_at"])
    assert due.second == 0 and due > utcnow()


def test_a_patch_that_reschedules_names_the_next_run(server, http_target):
    j = job(server, http_target.url, schedule(server, **HOURLY)["id"])
    r = server.api.patch(f"/fetch/{j['id']}", {"execute_id": schedule(server)["id"]},
                         token=server.admin.token)
    assert r.status == 200 and r.data["job_id"] != j["job_id"], r
    row = first_run(server, j["id"], http_target)
    assert (row["job_id"], row["scheduled_at"]) == (r.data["job_id"], r.data["next_run_at"])


def test_a_past_runs_job_id_finds_its_job(server, http_target):
    j = job(server, http_target.url, schedule(server, is_repeat=False)["id"])
    row = first_run(server, j["id"], http_target)
    wait_for(lambda: get_job(server, j["id"])["job_id"] != row["job_id"], 5,
             message="the job to show a new job_id")
    r = server.api.get(f"/fetch/{row['job_id']}/job", token=server.admin.token)
    assert r.status == 200 and r.data["id"] == j["id"], r
    outsider = server.make_user("outsider")
    assert server.api.get(f"/fetch/{row['job_id']}/job", token=outsider.token).status == 403
    unknown = "00000000-0000-4000-8000-000000000000"
    assert server.api.get(f"/fetch/{unknown}/job", token=server.admin.token).status == 404


def data(server, job_id: int, query: str = "") -> list[dict]:
    r = server.api.get(f"/fetch/{job_id}/data{query}", token=server.admin.token)
    assert r.status == 200, r
    assert int(r.headers["X-Total-Count"]) == len(r.data)
    return r.data


def test_an_attempt_in_flight_is_running_never_a_failure(start_server, http_target):
    server = start_server(scheduler__shutdown_grace_seconds=5)
    http_target.delay = 2.5
    j = job(server, http_target.url, schedule(server, **HOURLY)["id"], timeout_seconds=10)
    path = f"/fetch/{j['id']}"
    asked = server.api.post(f"{path}/run", token=server.admin.token)
    assert asked.status == 202, asked
    [running] = wait_for(lambda: data(server, j["id"], "?status=running"), 5,
                         message="an attempt in flight")
    assert running["job_id"] == asked.data["job_id"] and running["started_at"]
    assert {k: running[k] for k in ("success", "status_code", "duration_ms", "finished_at",
                                    "error")} == dict.fromkeys(
        ("success", "status_code", "duration_ms", "finished_at", "error"))
    assert data(server, j["id"]) == [] and data(server, j["id"], "?status=failure") == []
    assert get_job(server, j["id"])["running"] is True
    listed = server.api.get("/fetch", token=server.admin.token).data
    assert [x["running"] for x in listed if x["id"] == j["id"]] == [True]
    metrics = server.api.get("/metrics").raw.decode()
    assert "scheduler_job_runs_in_flight 1.0" in metrics

    # One more run may wait while this one runs; a third is refused and changes nothing.
    queued = server.api.post(f"{path}/run", token=server.admin.token)
    assert queued.status == 202, queued
    refused = server.api.post(f"{path}/run", token=server.admin.token)
    assert refused.status == 409 and refused.message == "A run of this job is already queued"
    found = server.api.get(f"/fetch/{queued.data['job_id']}/job", token=server.admin.token)
    assert found.status == 200 and found.data["id"] == j["id"]

    http_target.delay = 0
    rows = finished(server, j["id"], 2, timeout=10)
    assert [row["job_id"] for row in rows] == [asked.data["job_id"], queued.data["job_id"]]
    assert http_target.max_active == 1   # the queued run waited for the first to end
    for row in rows:
        started, ended = parse_iso(row["started_at"]), parse_iso(row["finished_at"])
        assert ended >= started and row["success"] is True
        assert abs((ended - started) / timedelta(milliseconds=1) - row["duration_ms"]) <= 1
    assert rows[0]["duration_ms"] >= 2400
    assert data(server, j["id"], "?status=running") == []
    assert len(data(server, j["id"], "?status=success")) == 2
    assert get_job(server, j["id"])["running"] is False
    again = server.api.post(f"{path}/run", token=server.admin.token)
    assert again.status == 202, again   # nothing waits any more


def test_results_recorded_by_hand_are_always_listed(server):
    j = job(server, "http://127.0.0.1:9/", schedule(server, **HOURLY)["id"])
    r = server.api.post(f"/fetch/{j['id']}/data", {"name": "manual", "status_code": 500},
                        token=server.admin.token)
    assert r.status == 201 and r.data["finished_at"] is None and r.data["success"] is False
    assert [row["id"] for row in data(server, j["id"])] == [r.data["id"]]
    assert [row["id"] for row in data(server, j["id"], "?status=failure")] == [r.data["id"]]
    assert data(server, j["id"], "?status=running") == []
    assert server.api.get(f"/fetch/{j['id']}/data?status=busy",
                          token=server.admin.token).status == 400

