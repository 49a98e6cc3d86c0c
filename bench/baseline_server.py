"""The ceiling of our stack: a bare Bottle app on Cheroot answering a small JSON envelope.

Usage: ``python bench/baseline_server.py PORT [THREADS] [tuned]``. Same Bottle, same
Cheroot, same thread count as the real server (``server.threads``), no database, no
auth: what is left is the cost of the HTTP server and the framework. ``tuned`` applies
the Cheroot settings the real server uses (``scheduler_lib.server.tune_cheroot``);
without it Cheroot keeps its own defaults.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import bottle
from cheroot import wsgi


def build_app() -> bottle.Bottle:
    app = bottle.Bottle()

    @app.get("/")
    def hello() -> bytes:
        envelope = {"success": True, "status": 200, "message": "hello", "path": "/",
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "data": {"hello": "world"}}
        bottle.response.content_type = "application/json"
        return json.dumps(envelope, separators=(",", ":")).encode()

    return app


def main() -> None:
    port = int(sys.argv[1])
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    server = wsgi.Server(("127.0.0.1", port), build_app(), numthreads=threads)
    if sys.argv[3:4] == ["tuned"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from scheduler_lib.server import tune_cheroot
        tune_cheroot(server)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    server.prepare()
    threading.Thread(target=server.serve, daemon=True).start()
    stopping.wait()
    server.stop()


if __name__ == "__main__":
    main()
