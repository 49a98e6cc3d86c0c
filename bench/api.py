"""API throughput and latency, side by side with a bare Bottle+Cheroot baseline.

Usage: ``.venv/bin/python bench/api.py [--rounds 3] [--duration 5]``

Both servers run in their own processes with the same Cheroot thread count; wrk
(Debian's package) loads them in turns, baseline then project, round after round,
and the table shows the median of the rounds and the ratio to the baseline:

- ``me64``:  ``GET /user/me`` with a Bearer token, 64 connections
- ``me16``:  the same at 16 connections (the p99 target)
- ``fetch``: ``GET /fetch`` listing 100 jobs, 64 connections
- ``login``: ``GET /`` at 64 connections alone, then while wrk also posts ``/login``
  (bcrypt at the configured rounds) on a few more connections: login must not
  stall the other requests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ADMIN_PASSWORD,
    WrkResult,
    machine,
    median_result,
    project,
    python_server,
    request,
    run_wrk,
    wrk,
    wrk_result,
)

BASELINE = Path(__file__).resolve().parent / "baseline_server.py"
SCENARIOS = ("me64", "me16", "fetch", "login")


def create_jobs(port: int, token: str, count: int) -> bool:
    """``count`` jobs on a daily schedule (so none runs during the bench)."""
    auth = {"Authorization": f"Bearer {token}"}
    status, body = request(port, "POST", "/fetch/execute",
                           {"name": "daily", "type": "days", "value": 1}, auth)
    if status != 201:
        print(f"  (no /fetch/execute yet: {status}; skipping the /fetch scenario)")
        return False
    execute_id = body["data"]["id"]
    for i in range(count):
        status, body = request(port, "POST", "/fetch", {
            "name": f"job {i}", "endpoint": f"http://127.0.0.1:9/job/{i}",
            "execute_id": execute_id}, auth)
        if status != 201:
            print(f"  (POST /fetch answered {status} {body}; skipping the /fetch scenario)")
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=None,
                        help="Cheroot threads of both servers (default: server.threads)")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--login-connections", type=int, default=2)
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--no-scheduler", action="store_true",
                        help="serve the API only (default: the engine runs too, idle)")
    args = parser.parse_args()
    wanted = [s for s in args.only.split(",") if s]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")

    settings: dict[str, object] = {"scheduler__enabled": not args.no_scheduler}
    if args.threads:
        settings["server__threads"] = args.threads
    threads = args.threads or 32
    print(f"# bench/api.py — {machine()}")
    print(f"# {args.rounds} rounds x {args.duration}s per run, Cheroot threads {threads}, "
          f"wrk -t{args.wrk_threads}")

    with (python_server(BASELINE, str(threads)) as (default_proc, default_port),
          python_server(BASELINE, str(threads), "tuned") as (tuned_proc, tuned_port),
          project(**settings) as proj):
        token = proj.login()
        auth = {"Authorization": f"Bearer {token}"}
        if "fetch" in wanted and not create_jobs(proj.port, token, 100):
            wanted.remove("fetch")
        bare_default = f"http://127.0.0.1:{default_port}/"
        bare = f"http://127.0.0.1:{tuned_port}/"
        url = f"http://127.0.0.1:{proj.port}"

        pids = {bare_default: default_proc.pid, bare: tuned_proc.pid}

        def load(target: str, connections: int, headers: dict[str, str] | None = None,
                 ) -> Callable[[], WrkResult]:
            pid = pids.get(target, proj.proc.pid)
            return lambda: run_wrk(target, connections=connections, duration=args.duration,
                                   threads=args.wrk_threads, headers=headers, pid=pid)

        login_figures: list[WrkResult] = []

        def login_alongside() -> WrkResult:
            logins = wrk(url + "/login", connections=args.login_connections,
                         duration=args.duration + 1, threads=1, method="POST",
                         body={"identifier": "admin", "password": ADMIN_PASSWORD})
            time.sleep(0.5)  # the login load is on before the measured one starts
            home = run_wrk(url + "/", connections=64, duration=args.duration,
                           threads=args.wrk_threads, pid=proj.proc.pid)
            login_figures.append(wrk_result(logins))
            return home

        # Each scenario: rows run in this order every round; ratios are to the first.
        plans: dict[str, list[tuple[str, Callable[[], WrkResult]]]] = {
            "me64": [("bare hello, 64 conn, same Cheroot settings", load(bare, 64)),
                     ("bare hello, 64 conn, Cheroot defaults", load(bare_default, 64)),
                     ("GET /user/me, 64 conn", load(url + "/user/me", 64, auth))],
            "me16": [("bare hello, 16 conn", load(bare, 16)),
                     ("GET /user/me, 16 conn", load(url + "/user/me", 16, auth))],
            "fetch": [("bare hello, 64 conn", load(bare, 64)),
                      ("GET /fetch (100 jobs), 64 conn", load(url + "/fetch", 64, auth))],
            "login": [("GET /, 64 conn, alone", load(url + "/", 64)),
                      (f"GET /, 64 conn, + {args.login_connections} conn POST /login",
                       login_alongside)],
        }
        # Warm every server (thread pools, connections, caches) before measuring.
        for target, headers in ((bare, None), (bare_default, None), (url + "/user/me", auth)):
            run_wrk(target, connections=64, duration=1, threads=args.wrk_threads,
                    headers=headers)

        results: dict[str, list[list[WrkResult]]] = {
            name: [[] for _ in plans[name]] for name in wanted}
        for round_no in range(1, args.rounds + 1):
            for name in wanted:
                for i, (label, run) in enumerate(plans[name]):
                    figures = run()
                    results[name][i].append(figures)
                    print(f"  round {round_no} {figures.row()}  {label}", flush=True)

    print()
    print("| scenario | rps | p50 ms | p99 ms | server CPU us/req | errors | rps ratio "
          "| p99 ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in wanted:
        medians = [median_result(rounds) for rounds in results[name]]
        reference = medians[0]
        for (label, _), figures in zip(plans[name], medians, strict=True):
            ratios = ("| | |" if figures is reference else
                      f"| {figures.rps / reference.rps:.0%} | "
                      f"{figures.p99_ms / reference.p99_ms:.2f}x |")
            print(f"| {label} | {figures.rps:.0f} | {figures.p50_ms:.1f} | "
                  f"{figures.p99_ms:.1f} | {figures.cpu_us:.0f} | {figures.errors} {ratios}")
    if login_figures:
        logins = median_result(login_figures)
        print(f"| POST /login alongside ({args.login_connections} conn) | {logins.rps:.1f} | "
              f"{logins.p50_ms:.1f} | {logins.p99_ms:.1f} | | {logins.errors} | | |")
    print("\nMedians of the rounds; ratios are to the first row of each group "
          "(p99 ratio < 1: a shorter tail than it).")

if __name__ == "__main__":
    main()
