"""``scheduler serve`` as a subprocess: the one helper every such test uses.

``ServeProcess`` starts ``scheduler.py serve`` (or the built executable, ``command=``)
on a free port (``--port``) with the environment it is given, its output in a file,
in a session of its own; ``wait_ready`` polls until it answers, catching only
connection errors (``http.CONNECTION_ERRORS``) and failing at once, with the output,
if the process exits; ``stop`` signals it and reaps it (SIGKILL to its whole session
when it does not stop in time). ``serve_environment`` is the environment of a test
node: a database, the bootstrap admin with ``ADMIN_PASSWORD``, fast bcrypt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .http import CONNECTION_ERRORS, Client, free_port
from .instance import ADMIN_PASSWORD
from .polling import wait_for

__all__ = ["ROOT", "SCRIPT", "ServeProcess", "serve_environment"]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (sys.executable, str(ROOT / "scheduler.py"))


def serve_environment(database_url: str, base: Mapping[str, str] | None = None,
                      **variables: str) -> dict[str, str]:
    """``base`` (default: this process's environment) with a test node's settings:
    ``database_url``, the bootstrap admin, fast bcrypt, warnings only, then
    ``variables`` (``SCHEDULER_…`` names) on top."""
    return {**(os.environ if base is None else base),
            "SCHEDULER_DATABASE_URL": database_url,
            "SCHEDULER_BOOTSTRAP_USERNAME": "admin",
            "SCHEDULER_BOOTSTRAP_EMAIL": "admin@example.com",
            "SCHEDULER_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD,
            "SCHEDULER_AUTH_BCRYPT_ROUNDS": "4",
            "SCHEDULER_LOG_LEVEL": "warning",
            **variables}


class ServeProcess:
    """One ``serve`` process on a free port; stdout and stderr go to ``log_path``
    (appended: restarts on one file keep one log), or stderr to ``stderr_path``.
    ``close`` (teardown) stops it with ``kill_signal``: SIGKILL by default, SIGTERM
    for an executable whose bootloader must clean up."""

    def __init__(self, log_path: Path, env: Mapping[str, str], *,
                 command: Sequence[str] = SCRIPT, args: Sequence[str] = (),
                 cwd: Path = ROOT, name: str = "serve", ready_path: str = "/readyz",
                 stderr_path: Path | None = None, kill_signal: int = signal.SIGKILL):
        self.name = name
        self.kill_signal = kill_signal
        self.log_path = log_path
        self.stderr_path = stderr_path
        self.ready_path = ready_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = Client(self.url)
        self.token = ""
        self._files = [open(log_path, "ab")]
        if stderr_path is not None:
            self._files.append(open(stderr_path, "ab"))
        self.process = subprocess.Popen(
            [*command, "serve", "--port", str(self.port), *args], cwd=cwd, env=dict(env),
            stdin=subprocess.DEVNULL, stdout=self._files[0], stderr=self._files[-1],
            start_new_session=True)

    def output(self) -> str:
        """What the process wrote so far (stdout and stderr unless split)."""
        paths = [self.log_path] + ([self.stderr_path] if self.stderr_path else [])
        return "".join(path.read_text(errors="replace") for path in paths)

    def ready(self) -> bool:
        """Whether it answers ``ready_path`` with 200; fails if the process has exited."""
        code = self.process.poll()
        assert code is None, f"{self.name} exited with {code}:\n{self.output()[-3000:]}"
        try:
            return self.api.get(self.ready_path).status == 200
        except CONNECTION_ERRORS:   # not listening yet
            return False

    def wait_ready(self, timeout: float = 30) -> ServeProcess:
        wait_for(self.ready, timeout, interval=0.05, message=f"{self.name} to answer "
                 f"{self.ready_path}")
        return self

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        """Log in (the token is kept for ``call``); the access token."""
        r = self.api.post("/login", {"identifier": username, "password": password})
        assert r.status == 200, r
        self.token = r.data["access_token"]
        return self.token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A call as the logged-in user that must succeed; its ``data``."""
        kwargs: dict[str, Any] = {"token": self.token}
        if body is not None:
            kwargs["json"] = body
        r = self.api.request(method, path, **kwargs)
        assert 200 <= r.status < 300, r
        return r.data

    def close(self) -> None:
        """Stop it if still running, with ``kill_signal``, then kill whatever it left in
        its session (a child it started): the fixtures' teardown."""
        self.stop(self.kill_signal, timeout=15)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass   # nothing left

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` (if still running) and reap it; its exit code. After ``timeout``
        seconds the whole session gets SIGKILL (an executable's bootloader and child)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(sig)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                return self.process.wait()
        finally:
            for file in self._files:
                file.close()
