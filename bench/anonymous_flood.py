"""Anonymous traffic of any shape must leave the server's memory flat (API.md section 1).

Starts ``scheduler.py serve`` on a fresh database, warms it up, then sends REQUESTS
anonymous requests: made-up HTTP methods (each one new) on known and unknown paths,
and every tenth one a request whose header block is far over
``server.max_header_bytes``. Prints the server's RSS and the size of ``/metrics``
before and after, and exits 1 if either grew past its bound.

    .venv/bin/python bench/anonymous_flood.py [REQUESTS]     # default 10000
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
from dataclasses import dataclass

from common import project
from footprint import rss_mib

OVERSIZED_HEADER = 256 * 1024          # four times the default limit
RSS_GROWTH_LIMIT_MIB = 8.0
METRICS_GROWTH_LIMIT_BYTES = 4096      # counters' digits grow; label sets must not


@dataclass(frozen=True)
class Footprint:
    rss_mib: float
    metrics_bytes: int


def footprint(port: int, pid: int) -> Footprint:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    size = len(conn.getresponse().read())
    conn.close()
    return Footprint(rss_mib(pid), size)


def oversized_request(port: int) -> int:
    """Send a request with a huge header; the status the server answered (0: none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * OVERSIZED_HEADER + b"\r\n\r\n"
        try:
            sock.sendall(head)
        except OSError:
            pass  # the server stops reading at its limit and may close first
        try:
            answer = sock.recv(4096)
        except OSError:
            return 0
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def flood(port: int, requests: int, start: int = 0) -> dict[int, int]:
    """``requests`` anonymous requests; returns how many got each status."""
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(start, start + requests):
        if i % 10 == 9:
            status = oversized_request(port)
        else:
            path = "/user/me" if i % 2 else f"/no-such-path-{i}"
            try:
                conn.request(f"M{i:07d}X", path)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
        statuses[status] = statuses.get(status, 0) + 1
    conn.close()
    return statuses


def measure(requests: int) -> tuple[Footprint, Footprint, dict[int, int]]:
    """Footprint after a warm-up and after ``requests`` more, and the statuses seen."""
    with project() as running:
        flood(running.port, min(1000, requests), start=10_000_000)   # warm-up, same shapes
        footprint(running.port, running.proc.pid)   # /metrics counts itself from now on
        before = footprint(running.port, running.proc.pid)
        statuses = flood(running.port, requests)
        after = footprint(running.port, running.proc.pid)
    return before, after, statuses


def main() -> int:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    before, after, statuses = measure(requests)
    growth = after.rss_mib - before.rss_mib
    metrics_growth = after.metrics_bytes - before.metrics_bytes
    print(json.dumps({"requests": requests, "statuses": statuses,
                      "rss_mib": [round(before.rss_mib, 1), round(after.rss_mib, 1)],
                      "metrics_bytes": [before.metrics_bytes, after.metrics_bytes]}))
    ok = growth <= RSS_GROWTH_LIMIT_MIB and metrics_growth <= METRICS_GROWTH_LIMIT_BYTES
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
