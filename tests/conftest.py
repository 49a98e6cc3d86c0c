"""Fixtures: a real scheduler (Cheroot on a free port, SQLite or PostgreSQL), target
servers, ``serve`` subprocesses. What they are built from lives in ``helpers/``.

``server`` starts a fresh instance per test on its own empty database; ``start_server``
takes setting overrides (``auth__access_ttl_seconds=1``). Only one instance runs in
the test process at a time (the models bind one database per process).

Every test that uses ``server``/``start_server`` (or ``database_url``) runs once per
backend: ``test_x[sqlite]`` on a fresh SQLite file, ``test_x[postgres]`` on the
session's PostgreSQL database emptied before the test (see ``helpers/backends.py``).
``@pytest.mark.backends("sqlite")`` keeps a test (or a module, via ``pytestmark``)
on the listed backends only; ``server.backend`` says which one a test runs on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from helpers.backends import PostgresCluster, ScratchDatabase, selected_backends, session_database
from helpers.cli import Cli
from helpers.http import free_port
from helpers.instance import RunningServer, instance_settings
from helpers.serve import ServeProcess, serve_environment
from helpers.targets import HttpTarget, Inbox, WsTarget

from scheduler_lib.db import database
from scheduler_lib.server import Instance


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run the test only on these database backends "
        "(sqlite, postgres) instead of all")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that needs a database over the backends."""
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = [n for n in selected_backends() if marker is None or n in marker.args]
    params = [pytest.param(n, marks=pytest.mark.postgres) if n == "postgres" else n
              for n in names]
    metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: "sqlite" or "postgres"."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The PostgreSQL server (skips, or fails in CI, when unreachable)."""
    cluster = PostgresCluster.connect()
    cluster.drop_abandoned()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def postgres_database(postgres_cluster: PostgresCluster) -> Iterator[ScratchDatabase]:
    """This session's PostgreSQL database (its schema is kept between tests)."""
    yield from session_database(postgres_cluster)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of this test's backend (a schema may already be there)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'scheduler.db'}"
    scratch: ScratchDatabase = request.getfixturevalue("postgres_database")
    scratch.empty()
    return scratch.url


@pytest.fixture
def start_server(tmp_path: Path, database_url: str) -> Iterator[Callable[..., RunningServer]]:
    started: list[Instance] = []

    def start(**overrides: Any) -> RunningServer:
        assert not started, "one instance per test"
        db_path: str | None = str(tmp_path / "scheduler.db")
        if not database_url.startswith("sqlite:"):
            overrides.setdefault("database__url", database_url)
            db_path = None
        instance = Instance(instance_settings(db_path or "", **overrides))
        # Cheroot's stop() waits out one select() of this many seconds (default 0.5):
        # a shorter one takes ~0.45 s off every test's teardown.
        instance.http.expiration_interval = 0.05
        instance.start()
        started.append(instance)
        return RunningServer(instance, db_path)

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server()


@pytest.fixture
def empty_postgres_database() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database with no schema at all (dropped afterwards),
    for tests that start their own processes on it."""
    if "postgres" not in selected_backends():
        pytest.skip("SCHEDULER_TEST_BACKENDS leaves PostgreSQL out")
    cluster = PostgresCluster.connect()
    url = cluster.create_database()
    try:
        yield url
    finally:
        cluster.drop_database(url)
        cluster.close()


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start ``scheduler serve`` subprocesses: ``serve_process(env, **ServeProcess
    options)``, logging to ``tmp_path/<name>.log``; the ones still running are stopped
    at the end (``ServeProcess.close``)."""
    started: list[ServeProcess] = []

    def start(env: dict[str, str], *, name: str = "serve", **options: Any) -> ServeProcess:
        process = ServeProcess(tmp_path / f"{name}.log", env, name=name, **options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


@pytest.fixture
def serving(serve_process: Callable[..., ServeProcess],
            tmp_path: Path) -> Callable[..., ServeProcess]:
    """Start `scheduler.py serve` on the test's SQLite file ``tmp_path/scheduler.db``
    (``SCHEDULER_…`` variables as keywords; one log for every start), ready and logged
    in as the admin."""
    def start(**env: str) -> ServeProcess:
        node = serve_process(serve_environment(f"sqlite:///{tmp_path / 'scheduler.db'}",
                                               **env))
        node.wait_ready().login()
        return node
    return start


@pytest.fixture
def http_target() -> Iterator[HttpTarget]:
    """A local HTTP server recording what it gets (``helpers/targets.py``)."""
    with HttpTarget() as target:
        yield target


@pytest.fixture
def ws_target() -> Iterator[WsTarget]:
    """A local WebSocket server recording what it gets (``helpers/targets.py``)."""
    with WsTarget() as target:
        yield target


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on a free port: its ``Inbox`` and the port."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def run(database_url: str) -> Iterator[Cli]:
    """``scheduler`` commands in process on this test's database (``helpers/cli.py``)."""
    yield Cli(database_url)
    database.close()
