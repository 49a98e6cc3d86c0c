"""What the bench scripts share: processes on free ports, a tiny HTTP client, wrk, stats.

Every server under test runs in its own process (the load generator is never in
the same interpreter as the server), started from this checkout with the venv's
Python. Nothing here is imported by the product.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ADMIN_PASSWORD = "bench-admin-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def machine() -> str:
    """One line saying where and when the figures were taken."""
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
            f"load {load[0]:.1f}, Python {platform.python_version()}")


def request(port: int, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, Any]:
    """One HTTP request to 127.0.0.1:port; returns (status, parsed JSON or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, None
    finally:
        conn.close()


def wait_until_serving(port: int, proc: subprocess.Popen[bytes], timeout: float = 30,
                       path: str = "/healthz") -> float:
    """Seconds until ``path`` answered (any status); raises if the process died."""
    start = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            request(port, "GET", path, timeout=1)
            return time.monotonic() - start
        except OSError:
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"nothing answered on port {port} within {timeout}s") from None
            time.sleep(0.01)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Project:
    """A ``scheduler.py serve`` process on a fresh database."""
    proc: subprocess.Popen[bytes]
    port: int
    db_url: str

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        status, body = request(self.port, "POST", "/login",
                               {"identifier": username, "password": password})
        if status != 200:
            raise RuntimeError(f"login failed: {status} {body}")
        return body["data"]["access_token"]


def project_env(db_url: str, port: int, **settings: Any) -> dict[str, str]:
    """Environment for ``scheduler.py serve``: ``settings`` as ``section__name=value``."""
    env = dict(os.environ)
    env.update({
        "SCHEDULER_DATABASE_URL": db_url,
        "SCHEDULER_SERVER_PORT": str(port),
        "SCHEDULER_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD,
    })
    for key, value in settings.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        env["SCHEDULER_" + key.replace("__", "_", 1).upper()] = str(value)
    return env


@contextlib.contextmanager
def project(db_url: str | None = None, **settings: Any) -> Iterator[Project]:
    """Run the real server (``scheduler.py serve``) until the block ends."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        url = db_url or f"sqlite:///{tmp}/bench.db"
        port = free_port()
        # Default settings (access log at info included), the log kept in a file as a
        # service manager would.
        log = open(os.path.join(tmp, "server.log"), "wb")  # noqa: SIM115
        proc = subprocess.Popen([PYTHON, str(REPO / "scheduler.py"), "serve"], cwd=tmp,
                                env=project_env(url, port, **settings),
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_until_serving(port, proc, path="/")
            except RuntimeError:
                log.flush()
                sys.stderr.write(Path(tmp, "server.log").read_text()[-4000:])
                raise
            yield Project(proc, port, url)
        finally:
            stop(proc)
            log.close()


@contextlib.contextmanager
def python_server(script: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run ``script PORT *args`` (a helper server of the bench) until the block ends."""
    port = free_port()
    proc = subprocess.Popen([PYTHON, str(script), str(port), *args])
    try:
        wait_until_serving(port, proc, path="/")
        yield proc, port
    finally:
        stop(proc)


# --- wrk ---------------------------------------------------------------------------

_WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\":%d,\"duration_us\":%d,\"socket_errors\":%d,\"non2xx\":%d," ..
    "\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int      # socket errors plus non-2xx/3xx answers
    cpu_us: float = float("nan")  # server CPU time per request (when its pid was given)

    def row(self) -> str:
        return (f"{self.rps:8.0f} rps  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:7.1f} ms"
                f"  max {self.max_ms:7.1f} ms  cpu {self.cpu_us:5.0f} us/req"
                f"  errors {self.errors}")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants alive now (Linux /proc)."""
    found = [pid]
    for current in found:
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            with contextlib.suppress(FileNotFoundError):
                found += [int(child) for child in
                          Path(f"/proc/{current}/task/{task}/children").read_text().split()]
    return found


def cpu_seconds(pid: int, children_only: bool = False) -> float:
    """User + system CPU time so far of process ``pid`` and of its children (the
    server's engine process, when it runs one), or of its children only."""
    total = 0
    for member in process_tree(pid)[1 if children_only else 0:]:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and its children, in MB."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk not found: apt-get update && apt-get install -y wrk")
    return path


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def wrk(url: str, *, connections: int, duration: float, threads: int = 2,
        method: str = "GET", headers: dict[str, str] | None = None,
        body: Any = None) -> subprocess.Popen[str]:
    """Start wrk against ``url``; collect its figures with ``wrk_result``."""
    lines = [f"wrk.method = {lua_string(method)}"]
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    if body is not None:
        lines.append(f"wrk.body = {lua_string(json.dumps(body))}")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write("\n".join(lines) + _WRK_REPORT)
    script.close()
    threads = max(1, min(threads, connections))
    command = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
               "--timeout", "10s", "-s", script.name, url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc.script = script.name  # type: ignore[attr-defined]
    return proc


def wrk_result(proc: subprocess.Popen[str]) -> WrkResult:
    out, _ = proc.communicate()
    os.unlink(proc.script)  # type: ignore[attr-defined]
    for line in out.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line[len("WRK_JSON "):])
            seconds = data["duration_us"] / 1e6
            return WrkResult(
                requests=data["requests"], rps=data["requests"] / seconds,
                p50_ms=data["p50_us"] / 1e3, p90_ms=data["p90_us"] / 1e3,
                p99_ms=data["p99_us"] / 1e3, max_ms=data["max_us"] / 1e3,
                errors=data["socket_errors"] + data["non2xx"])
    raise RuntimeError(f"wrk printed no figures:\n{out}")


def run_wrk(url: str, *, pid: int | None = None, **kw: Any) -> WrkResult:
    """Run wrk to the end; with ``pid``, also the server's CPU time per request."""
    before = cpu_seconds(pid) if pid else 0.0
    result = wrk_result(wrk(url, **kw))
    if pid and result.requests:
        result.cpu_us = (cpu_seconds(pid) - before) / result.requests * 1e6
    return result


def median_result(results: Sequence[WrkResult]) -> WrkResult:
    """Field-wise median over rounds."""
    def med(name: str) -> float:
        return statistics.median(getattr(r, name) for r in results)
    return WrkResult(requests=int(med("requests")), rps=med("rps"), p50_ms=med("p50_ms"),
                     p90_ms=med("p90_ms"), p99_ms=med("p99_ms"), max_ms=med("max_ms"),
                     errors=sum(r.errors for r in results), cpu_us=med("cpu_us"))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (which need not be sorted)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
