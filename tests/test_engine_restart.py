"""Restart behaviour with real `scheduler.py serve` processes on one SQLite file:
kill -9 mid-run, restart, misfire policies, and a graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from helpers.polling import wait_for

from scheduler_lib.timeutil import parse_iso, utcnow

pytestmark = pytest.mark.slow


def rows(db_path: Path, job_id: int) -> list[dict]:
    """Results straight from the database file (the server may be dead)."""
    with sqlite3.connect(db_path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(
            "SELECT * FROM job_results WHERE fetch_id = ? ORDER BY id", (job_id,))]


def when(text: str):
    return parse_iso(text.replace(" ", "T"))


def kill_mid_run(serving, http_target, tmp_path, **env: str):
    """A 1-second job whose target hangs; kill -9 while a run is in flight, stay down
    for 3 s, answer quickly from now on, restart. Returns (server, job, restart time,
    last result id before the restart)."""
    http_target.delay = 30
    first = serving(SCHEDULER_SCHEDULER_SHUTDOWN_GRACE_SECONDS="0")
    sched = first.call("POST", "/fetch/execute", {"name": "s", "type": "seconds", "value": 1})
    job = first.call("POST", "/fetch", {"name": "slow", "endpoint": http_target.url,
                                        "execute_id": sched["id"], "timeout_seconds": 60})
    wait_for(lambda: http_target.count() >= 1, 10, message="a run in flight")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    killed = utcnow()
    [in_flight] = rows(tmp_path / "scheduler.db", job["id"])
    assert in_flight["finished_at"] is None and in_flight["started_at"] is not None
    http_target.delay = 0
    wait_for(lambda: utcnow() > killed + timedelta(seconds=3), 5, message="downtime")
    restarted_at = utcnow()
    second = serving(**env)
    return second, job, restarted_at, in_flight["id"]


def test_after_kill_9_the_interrupted_run_is_failed_and_one_missed_run_catches_up(
        serving, http_target, tmp_path):
    server, job, restarted_at, interrupted_id = kill_mid_run(serving, http_target, tmp_path)
    data = wait_for(lambda: (r := rows(tmp_path / "scheduler.db", job["id"]))
                    and len([x for x in r if x["finished_at"]]) >= 4 and r, 15)
    interrupted, after = data[0], data[1:]
    assert interrupted["id"] == interrupted_id and not interrupted["success"]
    assert "interrupted" in interrupted["error"] and interrupted["finished_at"] is not None
    # run_once: at most one run for the slots missed while down (which slot depends
    # on how long the start took; test_engine_clock pins it), then on schedule: no
    # burst. The exact policies are tested in process with a known downtime.
    due = [when(r["scheduled_at"]) for r in after]
    assert len([t for t in due if t < restarted_at]) <= 1
    assert {(b - a).total_seconds() for a, b in zip(due, due[1:], strict=False)} == {1.0}
    assert all(r["success"] for r in after[:3])
    current = server.call("GET", f"/fetch/{job['id']}")
    assert current["is_active"] and current["next_run_at"] is not None


def test_misfire_skip_drops_the_runs_missed_while_down(serving, http_target, tmp_path):
    server, job, restarted_at, _ = kill_mid_run(serving, http_target, tmp_path,
                                                SCHEDULER_SCHEDULER_MISFIRE="skip")
    data = wait_for(lambda: (r := rows(tmp_path / "scheduler.db", job["id"]))
                    and len([x for x in r if x["finished_at"]]) >= 3 and r, 15)
    after = data[1:]
    assert all(when(r["scheduled_at"]) > restarted_at for r in after)
    assert "interrupted" in data[0]["error"]


def test_sigterm_lets_the_running_job_finish_and_exits_0(serving, http_target, tmp_path):
    http_target.delay = 1.5
    server = serving()
    sched = server.call("POST", "/fetch/execute", {"name": "s", "type": "hours", "value": 1})
    job = server.call("POST", "/fetch", {"name": "slowish", "endpoint": http_target.url,
                                         "execute_id": sched["id"]})
    server.call("POST", f"/fetch/{job['id']}/run")
    wait_for(lambda: http_target.count() >= 1, 10, message="the run to start")
    assert server.stop(signal.SIGTERM) == 0
    [result] = rows(tmp_path / "scheduler.db", job["id"])
    assert result["success"] and result["status_code"] == 200 and result["duration_ms"] >= 1400


def engine_children(pid: int) -> list[int]:
    """The `engine-process` children of process ``pid`` (Linux /proc)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if b"engine-process" in command:
                found.append(int(child))
    return found


def metric(text: str, line_start: str) -> float:
    [value] = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(line_start)]
    return value


def test_serve_runs_the_engine_in_a_process_of_its_own(serving, http_target, tmp_path):
    server = serving()
    [child] = engine_children(server.process.pid)
    sched = server.call("POST", "/fetch/execute", {"name": "s", "type": "hours", "value": 1})
    job = server.call("POST", "/fetch", {"name": "j", "endpoint": http_target.url,
                                         "execute_id": sched["id"]})
    # A job created through the API process wakes the engine process at once.
    run = server.call("POST", f"/fetch/{job['id']}/run")
    [result] = wait_for(lambda: [r for r in rows(tmp_path / "scheduler.db", job["id"])
                                 if r["finished_at"]], 10, message="the run-now")
    assert result["job_id"] == run["job_id"] and result["success"]
    assert http_target.requests[0].headers["X-Scheduler-Job-Id"] == run["job_id"]
    # /metrics of the API process shows the engine process's runs, each family once.
    text = server.api.get("/metrics").raw.decode()
    assert metric(text, 'scheduler_job_runs_total{outcome="success"}') == 1.0
    assert text.count("# TYPE scheduler_job_runs_total counter") == 1
    assert text.count("# TYPE scheduler_job_run_lateness_seconds histogram") == 1
    assert text.count("# TYPE scheduler_http_requests_total counter") == 1
    assert server.api.get("/readyz").status == 200
    assert engine_children(server.process.pid) == [child]


def test_an_engine_process_that_dies_is_started_again(serving, http_target, tmp_path):
    server = serving()
    [child] = engine_children(server.process.pid)
    os.kill(child, signal.SIGKILL)
    wait_for(lambda: (children := engine_children(server.process.pid))
             and child not in children, 10, message="a new engine process")
    wait_for(lambda: server.api.get("/readyz").status == 200, 10, message="ready again")
    sched = server.call("POST", "/fetch/execute", {"name": "s", "type": "seconds", "value": 1})
    job = server.call("POST", "/fetch", {"name": "j", "endpoint": http_target.url,
                                         "execute_id": sched["id"]})
    wait_for(lambda: len(rows(tmp_path / "scheduler.db", job["id"])) >= 2, 10,
             message="runs by the new engine process")


def test_the_engine_process_ends_with_a_killed_serve(serving, http_target, tmp_path):
    server = serving()
    [child] = engine_children(server.process.pid)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        # A zombie until its parent (init here) reaps it: dead all the same.
        return Path(f"/proc/{child}/stat").read_text().split(") ", 1)[1].startswith("Z")

    wait_for(gone, 5, message="the engine process to exit")
