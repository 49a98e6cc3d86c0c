"""The engine in a process of its own beside the API process (``scheduler.engine_process``).

In one process the API's threads and the engine share one interpreter lock: while
1,000 runs/s went through the engine, the API answered about half of its idle
throughput, and API bursts made runs late (bench/README.md). ``serve`` therefore
starts the engine as a child process (the same executable, hidden command
``engine-process``) and supervises it:

- The parent writes the settings and its node id to the child's stdin (one JSON
  line, so secrets never appear in a command line or an environment; the engine's
  leases carry the same node id as the parent's notification sender), then one line
  per message:
  ``wake`` (jobs changed, or a run asked for, through the API: run-now requests wait
  in the database), ``stop`` (drain and exit), ``metrics`` (send the engine's
  metrics).
- The child answers on its stdout, one JSON line per message: ``{"tick": age}``
  twice a second (seconds since the dispatcher's last pass, for ``/readyz``),
  ``{"metrics": text}``, and ``{"deliveries": true}`` when the runs it recorded wrote
  notifications (the parent's sender then looks at the outbox at once). Its log lines
  go to the shared stderr.
- The child stops gracefully on ``stop`` or on SIGTERM/SIGINT (a service manager
  signals the whole group): running attempts get ``scheduler.shutdown_grace_seconds``.
  When its stdin closes without ``stop`` the parent has died (kill -9): the child
  exits at once, as one process killed would, and the next start recovers the
  runs it left (``dispatcher.Engine._start_up``).
- A child that exits unexpectedly is started again after ``RESTART_DELAY`` (doubled,
  up to ``RESTART_DELAY_MAX``, while it keeps dying young); the start-up of its
  engine recovers the runs it had in flight.

The database is shared as it is between nodes: SQLite in WAL mode lets the API read
while the engine writes, PostgreSQL as usual.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from prometheus_client import generate_latest

from ..config import Settings
from ..metrics import engine_families
from ..notify.outbox import deliveries_added
from .node import default_node_id

__all__ = ["EngineProcess", "run_child", "COMMAND"]

log = logging.getLogger("scheduler.engine")

COMMAND = "engine-process"   # the hidden CLI command the child runs
RESTART_DELAY = 1.0          # before starting a dead child again; doubled while it
RESTART_DELAY_MAX = 30.0     # keeps dying within STABLE seconds, up to this
STABLE = 60.0
HEARTBEAT = 0.5              # seconds between the child's ticks
METRICS_TIMEOUT = 2.0


def child_command() -> list[str]:
    """How to start the child: the one-file executable, or this checkout's Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable, COMMAND]
    return [sys.executable, "-c", "from scheduler_lib.cli import main; main()", COMMAND]


class EngineProcess:
    """The parent's handle on the engine child: ``EngineHandle`` for the API, and the
    same ``start``/``request_stop``/``stop`` as an in-process ``Engine``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.node_id = default_node_id()
        self.last_tick: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._metrics_lock = threading.Lock()
        self._metrics_reply: dict[str, Any] = {}
        self._metrics_ready = threading.Condition()

    # -- what the API uses ------------------------------------------------------------

    def wake(self) -> None:
        self._send("wake")

    def metrics_text(self) -> bytes:
        """The engine's metrics in the text format, asked of the child (empty while it
        is down)."""
        with self._metrics_lock:   # one question at a time
            with self._metrics_ready:
                self._metrics_reply.clear()
                if not self._send("metrics"):
                    return b""
                self._metrics_ready.wait_for(lambda: "metrics" in self._metrics_reply,
                                             METRICS_TIMEOUT)
                return str(self._metrics_reply.get("metrics", "")).encode()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="engine-supervisor",
                                            daemon=True)
        self._supervisor.start()

    def request_stop(self) -> None:
        """Tell the child to stop claiming runs and drain (``stop`` waits for it)."""
        self._stopping.set()
        self._send("stop")

    def stop(self, grace: float | None = None) -> None:
        """Stop the child gracefully; kill it when it outlives the grace period."""
        if grace is None:
            grace = self.settings.scheduler.shutdown_grace_seconds
        self.request_stop()
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=grace + 15)
            except subprocess.TimeoutExpired:
                log.error("the engine process did not stop in time; killing it")
                proc.kill()
                proc.wait()
            _close(proc.stdin)
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)

    def _spawn(self) -> None:
        env = dict(os.environ)
        if not getattr(sys, "frozen", False):   # this checkout first on the path
            root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        proc = subprocess.Popen(child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=env, start_new_session=False)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"settings": self.settings.as_dict(),
                                     "node_id": self.node_id}).encode() + b"\n")
        proc.stdin.flush()
        self._proc = proc
        log.info("engine process %d started", proc.pid)

    def _send(self, line: str) -> bool:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return False
        try:
            with self._write_lock:
                proc.stdin.write(line.encode() + b"\n")
                proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False   # the child is gone; the supervisor starts it again
        return True

    def _supervise(self) -> None:
        """Read the child's messages; start it again if it dies while we are not stopping."""
        young_deaths = 0   # in a row, each within STABLE seconds of its start
        while True:
            proc = self._proc
            assert proc is not None and proc.stdout is not None
            started = time.monotonic()
            self._read_messages(proc.stdout)
            code = proc.wait()
            self.last_tick = None
            if self._stopping.is_set():
                log.info("engine process %d exited with code %d", proc.pid, code)
                return
            young_deaths = 0 if time.monotonic() - started > STABLE else young_deaths + 1
            delay = min(RESTART_DELAY * 2 ** max(young_deaths - 1, 0), RESTART_DELAY_MAX)
            log.error("engine process %d exited unexpectedly with code %d; starting it "
                      "again in %ss", proc.pid, code, delay)
            _close(proc.stdin)
            if self._stopping.wait(delay):
                return
            try:
                self._spawn()
            except OSError:  # e.g. out of processes: try again after the delay
                log.exception("starting the engine process failed")
                self._proc = proc

    def _read_messages(self, stream: IO[bytes]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("engine process: unreadable message %r", line[:200])
                continue
            if "tick" in message:
                age = message["tick"]
                self.last_tick = None if age is None else time.monotonic() - float(age)
            if "deliveries" in message:
                deliveries_added.set()
            if "metrics" in message:
                with self._metrics_ready:
                    self._metrics_reply["metrics"] = message["metrics"]
                    self._metrics_ready.notify_all()


def _close(stream: IO[bytes] | None) -> None:
    """Close the pipe to a child that may be gone (what a failed write left in the
    buffer cannot be sent: BrokenPipeError)."""
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()


# -- the child -----------------------------------------------------------------------

def run_child(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The engine process: settings from ``stdin``, then its messages until ``stop``."""
    from .. import logs
    from ..db import close_all, open_database
    from .dispatcher import Engine

    start = json.loads(stdin.readline())
    settings = Settings(start["settings"])
    logs.configure(settings.log.level, settings.log.format)
    open_database(settings.database.url, settings.database.max_connections)
    engine = Engine(settings, node_id=start["node_id"])
    write_lock = threading.Lock()
    stop = threading.Event()

    def send(message: dict[str, Any]) -> None:
        try:
            with write_lock:
                stdout.write(json.dumps(message).encode() + b"\n")
                stdout.flush()
        except BrokenPipeError:
            os._exit(70)   # the parent is gone: go as it went (see listen)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("engine process: received %s, stopping", signal.Signals(signum).name)
        stop.set()

    def listen() -> None:
        for raw in stdin:
            command = raw.decode().strip()
            if command == "wake":
                engine.wake()
            elif command == "metrics":
                send({"metrics": generate_latest(engine_families()).decode()})
            elif command == "stop":
                stop.set()
                return
        # stdin closed without "stop": the parent died (kill -9). Go as it went: the
        # runs in flight are recovered at the next start.
        os._exit(70)

    def forward_deliveries() -> None:
        while deliveries_added.wait():
            deliveries_added.clear()
            send({"deliveries": True})

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    engine.start()
    threading.Thread(target=listen, name="engine-commands", daemon=True).start()
    threading.Thread(target=forward_deliveries, name="deliveries", daemon=True).start()
    while not stop.wait(HEARTBEAT):
        tick = engine.last_tick
        send({"tick": None if tick is None else time.monotonic() - tick})
    engine.request_stop()
    engine.stop()
    close_all()
    return 0
