"""Notification delivery latency (a run's end → its webhook received) under engine load.

Usage::

    .venv/bin/python bench/notify.py                      # 1,000 jobs every second
    .venv/bin/python bench/notify.py --jobs 50 --subscribed 10 --window 5   # a quick look
    .venv/bin/python bench/notify.py --postgres

Runs ``scheduler.py serve`` (engine on, default settings) and a fast local job target
(``target_server.py``), each in its own process, and a webhook receiver in this
process that notes when each delivery arrives. N jobs run every ``--interval``
seconds (seeded as ``engine.py`` does); ``--subscribed`` of them have a webhook
channel subscribed to ``success``, so each of their runs sends one webhook. For the
deliveries whose run finished inside the window, latency = arrival time − the run's
``finished_at`` (from the payload); the table shows p50/p99/max, the deliveries
received against those expected, and the engine's lateness in the same window (to
see that sending does not slow the runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine, percentile, project, python_server, request  # noqa: E402
from engine import TARGET, activate, scratch_postgres, seed, window_figures  # noqa: E402


class Receiver:
    """A webhook endpoint that records (arrival, payload) of every delivery."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[Any, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                from scheduler_lib.timeutil import utcnow

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = utcnow()
                with receiver.lock:
                    receiver.arrivals.append((arrived, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def subscribe(port: int, token: str, url: str, jobs: int) -> None:
    """A webhook channel subscribed to ``success`` of the first ``jobs`` jobs."""
    auth = {"Authorization": f"Bearer {token}"}
    status, body = request(port, "POST", "/notify/channel",
                           {"name": "bench", "type": "webhook", "target": url}, auth)
    assert status == 201, body
    channel = body["data"]["id"]
    status, body = request(port, "GET", f"/fetch?limit={jobs}", headers=auth)
    for job in body["data"]:
        status, answer = request(port, "POST", f"/fetch/{job['id']}/notify",
                                 {"channel_id": channel, "events": ["success"]}, auth)
        assert status == 201, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=1, help="seconds between runs of a job")
    parser.add_argument("--subscribed", type=int, default=50,
                        help="jobs whose every run sends a webhook")
    parser.add_argument("--window", type=int, default=10, help="seconds of steady state measured")
    parser.add_argument("--warmup", type=float, default=4, help="seconds before the window")
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database")
    args = parser.parse_args()

    from scheduler_lib.timeutil import parse_iso, utcnow

    db_url, drop = scratch_postgres() if args.postgres else (None, None)
    receiver = Receiver()
    print(f"# bench/notify.py — {machine()}")
    print(f"# {args.jobs} jobs every {args.interval}s, {args.subscribed} of them sending a "
          f"webhook per run, {'PostgreSQL' if drop else 'SQLite'}, window {args.window}s "
          f"after {args.warmup}s warm-up")
    try:
        with python_server(TARGET) as (_target, target_port), \
                project(db_url, scheduler__enabled=True) as proj:
            token = proj.login()
            job_ids = seed(proj.db_url, args.jobs, args.interval,
                           f"http://127.0.0.1:{target_port}")
            first = activate(job_ids, args.interval, lead=3.0)
            subscribe(proj.port, token, receiver.url, args.subscribed)
            begin = first + timedelta(seconds=args.warmup)
            time.sleep(max(0.0, (begin - utcnow()).total_seconds()) + args.window)
            end = utcnow()
            time.sleep(3.0)   # deliveries of the window's last runs arrive
            figures = window_figures(begin, end, args.jobs, args.interval)
    finally:
        if drop is not None:
            from scheduler_lib.db import database
            database.close()
            drop()

    with receiver.lock:
        arrivals = list(receiver.arrivals)
    latencies = []
    for arrived, payload in arrivals:
        finished = parse_iso(payload["run"]["finished_at"])
        if begin <= finished < end:
            latencies.append((arrived - finished).total_seconds() * 1000)
    expected = round(args.subscribed * args.window / args.interval)
    f = figures
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| runs/s in the window | {f['runs_per_s']:.0f} ({f['runs']} of {f['expected']} due) |")
    print(f"| webhooks received for runs ending in the window | {len(latencies)} of about "
          f"{expected} |")
    print(f"| delivery latency p50 / p99 / max (run end → received) | "
          f"{percentile(latencies, 50):.1f} / {percentile(latencies, 99):.1f} / "
          f"{max(latencies, default=float('nan')):.1f} ms |")
    print(f"| run lateness p50 / p99 in the same window | {f['late_p50']:.1f} / "
          f"{f['late_p99']:.1f} ms |")


if __name__ == "__main__":
    main()
