"""Per-request cost of the WSGI apps alone, in process: no sockets, no Cheroot, no wrk.

Usage: ``.venv/bin/python bench/wsgi.py [--requests 20000] [--profile]``

Calls the bare baseline app and the real app (fresh SQLite file, bootstrap admin,
a real access token) with a ready-made WSGI environ, one thread, and prints the
CPU microseconds per call of each (best of 5 batches): a much steadier figure than wrk's on a busy
machine, for working on the application's own share of a request. ``--profile
PATH`` prints a cProfile of ``GET PATH`` calls.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import baseline_server  # noqa: E402
from common import ADMIN_PASSWORD  # noqa: E402

from scheduler_lib import logs  # noqa: E402
from scheduler_lib.config import load_settings  # noqa: E402
from scheduler_lib.server import Instance  # noqa: E402

App = Callable[[dict[str, Any], Callable[..., Any]], Any]


def environ(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
           "CONTENT_LENGTH": str(len(body)) if body else ""}
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    if body:
        env["CONTENT_TYPE"] = "application/json"
    return env


def call(app: App, env: dict[str, Any]) -> tuple[str, bytes]:
    status: list[str] = []
    body = b"".join(app(dict(env), lambda s, h, e=None: status.append(s)))
    return status[0], body


def per_call_us(app: App, env: dict[str, Any], requests: int, repeats: int = 5) -> float:
    """CPU microseconds per call: the best of ``repeats`` batches (the least disturbed)."""
    batch = max(1, requests // repeats)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(batch):
            call(app, env)
        best = min(best, (time.process_time() - start) / batch * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--profile", default="", metavar="PATH",
                        help="print a cProfile of GET PATH (e.g. /user/me)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(flags={
            "database.url": f"sqlite:///{tmp}/wsgi.db", "bootstrap.password": ADMIN_PASSWORD,
            "scheduler.enabled": False, "auth.bcrypt_rounds": 4})
        # As `serve` does, access log on; written to a file like a service's.
        logs.configure("info", "text", open(Path(tmp, "log.txt"), "w"))  # noqa: SIM115
        instance = Instance(settings)
        app = instance.app
        status, body = call(app, environ("POST", "/login", {}, (
            b'{"identifier": "admin", "password": "%s"}' % ADMIN_PASSWORD.encode())))
        token = json.loads(body)["data"]["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        post = {**bearer}
        _, body = call(app, environ("POST", "/fetch/execute", post,
                                    b'{"name": "daily", "type": "days", "value": 1}'))
        execute_id = json.loads(body)["data"]["id"]
        for i in range(100):
            call(app, environ("POST", "/fetch", post, json.dumps({
                "name": f"job {i}", "endpoint": f"http://127.0.0.1:9/{i}",
                "execute_id": execute_id}).encode()))
        cases = [("bare hello", baseline_server.build_app(), environ("GET", "/", {})),
                 ("GET /", app, environ("GET", "/", {})),
                 ("GET /user/me", app, environ("GET", "/user/me", bearer)),
                 ("GET /fetch", app, environ("GET", "/fetch", bearer))]
        for label, target, env in cases:
            status, body = call(target, env)
            assert status.startswith("200"), (label, status, body)
            per_call_us(target, env, min(2000, args.requests))  # warm up
            print(f"{label:14} {per_call_us(target, env, args.requests):7.1f} us CPU/call")
        if args.profile:
            env = environ("GET", args.profile, bearer)
            profiler = cProfile.Profile()
            profiler.enable()
            per_call_us(app, env, args.requests)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
        instance.stop()
        logging.getLogger().handlers.clear()


if __name__ == "__main__":
    main()
