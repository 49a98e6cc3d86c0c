"""The one-file executable: built with scheduler.spec, run from an empty directory.

The build is cached under ``build/binary-cache/<hash>`` where the hash covers every
file that goes into it (``scheduler.py``, ``scheduler_lib/``, ``scheduler.spec`` and
its run-time hook, both requirements files) and the Python version, so a second run
with unchanged sources starts at once. The executable runs with a bare environment
(no virtualenv on the ``PATH``, no ``PYTHON*`` variables, ``PYTHONTZPATH`` empty so
that only the bundled time-zone data exists): what works here works on a machine
without Python.

Run alone with ``pytest -m binary``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.backends import PostgresCluster
from helpers.polling import wait_for
from helpers.serve import ServeProcess
from helpers.targets import HttpTarget, WsTarget

from scheduler_lib import __version__
from scheduler_lib.migrations import MIGRATIONS

pytestmark = [pytest.mark.binary, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "binary-cache"
BUILD_INPUTS = ("scheduler.py", "scheduler.spec", "packaging/pyi_rth_tzdata.py",
                "requirements.txt", "requirements-dev.txt", "scheduler_lib")
SIZE_LIMIT_BYTES = 30 * 1024 * 1024   # PRODUCT.md footprint targets
# PRODUCT.md asks idle RSS < 60 MB. The API process (with the bootloader) meets it; the
# engine's own process (scheduler.engine_process, issue 19) is a second interpreter, so
# the whole tree does not (about 105 MiB idle, 116 after these runs: README Performance).
# The tree's limit only guards against growth until that trade-off is decided.
SERVE_RSS_LIMIT_MIB = 60
TREE_RSS_LIMIT_MIB = 125
PASSWORD = "ops-password-1"


def source_hash() -> str:
    """A digest of everything the executable is built from."""
    digest = hashlib.sha256(sys.version.encode())
    for name in BUILD_INPUTS:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(
            p for p in path.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def install_executable(destination: Path) -> None:
    """Copy the executable for the current sources to ``destination``, building it if needed.

    Runs under a file lock, so concurrent test runs neither build twice nor prune a
    cached build that another run is copying.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    key = source_hash()
    cached = CACHE / key / "scheduler"
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cached.exists():
            built = build(CACHE / f"tmp-{os.getpid()}")
            if source_hash() != key:
                # The sources changed during the build: use it for this run, cache nothing.
                shutil.copy2(built, destination)
                shutil.rmtree(built.parent.parent, ignore_errors=True)
                return
            for old in CACHE.iterdir():
                if old.is_dir() and old != built.parent.parent:
                    shutil.rmtree(old, ignore_errors=True)
            cached.parent.mkdir()
            os.replace(built, cached)
            shutil.rmtree(built.parent.parent, ignore_errors=True)
        shutil.copy2(cached, destination)


def build(scratch: Path) -> Path:
    """Run PyInstaller with scheduler.spec into ``scratch``; the executable's path."""
    shutil.rmtree(scratch, ignore_errors=True)
    result = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(scratch / "dist"), "--workpath", str(scratch / "work"),
         str(ROOT / "scheduler.spec")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        pytest.fail(f"PyInstaller failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return scratch / "dist" / "scheduler"


def bare_environment() -> dict[str, str]:
    """What a fresh shell on a machine without Python would have, plus fast bcrypt."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "SCHEDULER_", "VIRTUAL_ENV", "LD_"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["PYTHONTZPATH"] = ""  # zoneinfo may use only the time zones bundled in the binary
    env["SCHEDULER_AUTH_BCRYPT_ROUNDS"] = "4"
    return env


@dataclass
class Installed:
    """The executable copied alone into a directory, run from there (its serve logs
    elsewhere, in ``logs``)."""
    directory: Path
    logs: Path

    @property
    def executable(self) -> Path:
        return self.directory / "scheduler"

    def run(self, *args: str, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.executable), *args], cwd=self.directory,
                              env={**bare_environment(), **(env or {})}, input=stdin,
                              capture_output=True, text=True, timeout=60)

    @contextlib.contextmanager
    def serving(self, env: dict[str, str] | None = None) -> Iterator[ServeProcess]:
        """``scheduler serve`` on a free port, answering /healthz; stopped if still
        running: SIGTERM first, so that the bootloader removes its unpacked files."""
        server = ServeProcess(self.logs / "serve.log", {**bare_environment(), **(env or {})},
                              command=[str(self.executable)], cwd=self.directory,
                              ready_path="/healthz", kill_signal=signal.SIGTERM)
        try:
            yield server.wait_ready(timeout=20)
        finally:
            server.close()


def rss_mib(server: ServeProcess) -> tuple[float, float]:
    """Resident memory in MiB of (the bootloader and the API process it started, the
    whole tree: those two and the engine process the API process starts)."""
    pids, pending = [], [server.process.pid]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):   # a thread that just ended
                pending += map(int, (task / "children").read_text().split())
    assert len(pids) == 3, pids   # the engine process runs
    kib = []
    for each in pids:
        with open(f"/proc/{each}/status") as status:
            kib.append(next(int(line.split()[1]) for line in status
                            if line.startswith("VmRSS:")))
    return sum(kib[:2]) / 1024, sum(kib) / 1024


def terminate(server: ServeProcess) -> None:
    """SIGTERM; asserts a clean exit 0 without a traceback."""
    assert server.stop(signal.SIGTERM) == 0, server.output()
    assert "Traceback" not in server.output()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    directory = tmp_path_factory.mktemp("install")
    install_executable(directory / "scheduler")
    return Installed(directory, tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def database(installed: Installed) -> str:
    """init-db and a superuser made with create-user --password-stdin; the username."""
    result = installed.run("init-db")
    assert result.returncode == 0, result
    assert all(m.NAME in result.stdout for m in MIGRATIONS), result.stdout
    result = installed.run("create-user", "ops", "--email", "ops@example.com", "--superuser",
                           "--password-stdin", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result
    assert "Created superuser ops" in result.stdout
    return "ops"


def test_build_is_one_small_file(installed: Installed):
    assert sorted(p.name for p in installed.directory.iterdir()) == ["scheduler"]
    assert installed.executable.stat().st_size < SIZE_LIMIT_BYTES


def test_version(installed: Installed):
    result = installed.run("--version")
    assert result.returncode == 0, result
    assert result.stdout.strip() == f"scheduler, version {__version__}"


def test_init_db_is_idempotent_and_keeps_the_database_beside_it(installed: Installed,
                                                                 database: str):
    assert (installed.directory / "scheduler.db").is_file()
    result = installed.run("init-db")
    assert result.returncode == 0, result
    assert "up to date" in result.stdout


def test_create_user_refuses_a_duplicate_in_one_line(installed: Installed, database: str):
    result = installed.run("create-user", database, "--email", "other@example.com",
                           "--password-stdin", stdin="another-password\n")
    assert result.returncode == 1, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_serve_answers_runs_jobs_and_stops_on_sigterm(installed: Installed, database: str,
                                                     http_target: HttpTarget,
                                                     ws_target: WsTarget):
    with installed.serving() as server:
        api = server.api
        assert api.get("/healthz").message == "OK"
        token = server.login(database, PASSWORD)
        assert api.get("/user/me", token=token).data["username"] == database

        # Time zones come from the bundled tzdata: noon in Paris is 10:00 or 11:00 UTC.
        r = api.get("/fetch/execute/preview?type=cron&cron=0%2012%20*%20*%20*"
                    "&timezone=Europe/Paris&count=2", token=token)
        assert r.status == 200, r
        assert all(t[11:16] in ("10:00", "11:00") for t in r.data), r.data

        # The web dashboard's static files are inside the executable.
        r = api.get("/ui/")
        assert r.status == 200, r
        assert r.headers["Content-Type"].startswith("text/html")

        r = api.post("/fetch/execute", {"name": "every second", "type": "seconds",
                                        "value": 1}, token=token)
        assert r.status == 201, r
        every_second = r.data["id"]
        # Success rules need the bundled JSONPath library and RE2 extension.
        rules = [{"type": "json_path", "path": "$.ok", "op": "==", "value": True},
                 {"type": "body_regex", "value": '"ok":\\s*true'}]
        r = api.post("/fetch", {"name": "ping", "endpoint": http_target.url + "/ping",
                                "execute_id": every_second, "assertions": rules}, token=token)
        assert r.status == 201, r
        rest_job = r.data["id"]
        r = api.post("/fetch", {"name": "socket", "type": "websocket",
                                "endpoint": ws_target.url, "execute_id": every_second,
                                "timeout_seconds": 2}, token=token)
        assert r.status == 201, r
        ws_job = r.data["id"]

        def results(job_id: int, at_least: int) -> list:
            """The job's finished runs, once there are ``at_least`` of them."""
            rows = api.get(f"/fetch/{job_id}/data", token=token).data
            # A run's result is written when it starts and completed when it ends.
            finished = [row for row in rows if row["duration_ms"] is not None]
            return finished if len(finished) >= at_least else []

        rows = wait_for(lambda: results(rest_job, 2), timeout=15, interval=0.2,
                        message="two results of the 1-second HTTP job")
        for row in rows:
            assert row["success"] and row["status_code"] == 200 and row["error"] is None, row
            assert row["response"] == {"ok": True}, row
        assert all("X-Scheduler-Job-Id" in req.headers for req in http_target.requests)

        rows = wait_for(lambda: results(ws_job, 1), timeout=15, interval=0.2,
                        message="a result of the WebSocket job")
        assert rows[-1]["success"] and rows[-1]["status_code"] == 101, rows[-1]
        assert rows[-1]["response"] == "hello\n---\nworld", rows[-1]

        # Memory after those runs: the API process meets the footprint target; the
        # tree (with the engine process) is held to its measured size.
        serve_mib, tree_mib = rss_mib(server)
        assert serve_mib < SERVE_RSS_LIMIT_MIB and tree_mib < TREE_RSS_LIMIT_MIB, \
            (serve_mib, tree_mib)

        # Apprise finds its plugins inside the executable: a json:// channel delivers.
        target = http_target.url.split("//", 1)[1]
        r = api.post("/notify/channel", {"name": "apprise", "type": "apprise",
                                         "target": f"json://{target}/apprise"}, token=token)
        assert r.status == 201, r
        r = api.post(f"/notify/channel/{r.data['id']}/test", token=token)
        assert r.status == 200, r
        assert any(req.path == "/apprise" for req in http_target.requests)

        # prometheus-client is inside too, and counted those runs.
        r = api.get("/metrics", token=token)
        assert r.status == 200, r
        assert 'scheduler_job_runs_total{outcome="success"}' in r.raw.decode()

        terminate(server)


@pytest.mark.postgres
def test_serve_on_postgresql(installed: Installed, postgres_cluster: PostgresCluster):
    """psycopg2 and its libpq are inside: init-db, serve, login, readiness on PostgreSQL."""
    url = postgres_cluster.create_database()
    env = {"SCHEDULER_DATABASE_URL": url, "SCHEDULER_BOOTSTRAP_USERNAME": "root",
           "SCHEDULER_BOOTSTRAP_PASSWORD": PASSWORD}
    try:
        result = installed.run("init-db", env=env)
        assert result.returncode == 0, result
        assert all(m.NAME in result.stdout for m in MIGRATIONS), result.stdout
        with installed.serving(env) as server:
            token = server.login("root", PASSWORD)
            assert server.api.get("/user/me", token=token).data["is_superuser"] is True
            wait_for(lambda: server.api.get("/readyz").status == 200, timeout=15,
                     message="/readyz")
            terminate(server)
    finally:
        postgres_cluster.drop_database(url)
