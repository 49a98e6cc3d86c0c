"""Shared fixtures: a real scheduler (Cheroot on a free port, SQLite or PostgreSQL) and a client.

``server`` starts a fresh instance per test on its own empty database; ``start_server``
takes setting overrides (``auth__access_ttl_seconds=1``). Only one instance runs in
the test process at a time (the models bind one database per process).

Every test that uses ``server``/``start_server`` (or ``database_url``) runs once per
backend: ``test_x[sqlite]`` on a fresh SQLite file, ``test_x[postgres]`` on the
session's PostgreSQL database emptied before the test (see ``backends.py``).
``@pytest.mark.backends("sqlite")`` keeps a test (or a module, via ``pytestmark``)
on the listed backends only; ``server.backend`` says which one a test runs on.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import urllib3
from backends import PostgresCluster, ScratchDatabase, selected_backends, session_database

from scheduler_lib.config import load_settings
from scheduler_lib.server import Instance

ADMIN_PASSWORD = "admin-password-1"
_NOTHING = object()


@dataclass
class Response:
    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.raw)

    @property
    def data(self) -> Any:
        return self.json.get("data")

    @property
    def message(self) -> str:
        return self.json["message"]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.raw[:300]!r}>"


class Client:
    """A small HTTP client over urllib3 that speaks the API's JSON."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(30))

    def request(self, method: str, path: str, json: Any = _NOTHING, *, token: str | None = None,
                api_key: str | None = None, headers: dict[str, str] | None = None,
                body: bytes | str | None = None) -> Response:
        all_headers = dict(headers or {})
        if json is not _NOTHING:
            body = jsonlib.dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if api_key is not None:
            all_headers["X-API-Key"] = api_key
        r = self.http.request(method, self.base_url + path, body=body, headers=all_headers,
                              redirect=False)
        return Response(r.status, r.headers, r.data)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = _NOTHING, **kw: Any) -> Response:
        return self.request("POST", path, json, **kw)

    def patch(self, path: str, json: Any = _NOTHING, **kw: Any) -> Response:
        return self.request("PATCH", path, json, **kw)

    def put(self, path: str, json: Any = _NOTHING, **kw: Any) -> Response:
        return self.request("PUT", path, json, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)


@dataclass
class Person:
    """A user of the running server with a fresh access token."""
    id: int
    username: str
    email: str
    password: str
    token: str
    refresh_token: str


class RunningServer:
    def __init__(self, instance: Instance, db_path: str | None):
        self.instance = instance
        self.db_path = db_path  # the SQLite file; None on PostgreSQL
        self.backend = "sqlite" if db_path else "postgres"
        self.url = f"http://127.0.0.1:{instance.port}"
        self.api = Client(self.url)
        self.admin = self.login_as("admin", instance.settings.bootstrap.password)

    @property
    def settings(self):
        return self.instance.settings

    def login(self, identifier: str, password: str) -> dict[str, str]:
        r = self.api.post("/login", {"identifier": identifier, "password": password})
        assert r.status == 200, r
        return r.data

    def login_as(self, username: str, password: str) -> Person:
        tokens = self.login(username, password)
        me = self.api.get("/user/me", token=tokens["access_token"]).data
        return Person(me["id"], me["username"], me["email"], password,
                      tokens["access_token"], tokens["refresh_token"])

    def make_user(self, username: str, *, superuser: bool = False,
                  password: str | None = None) -> Person:
        password = password or f"{username}-password"
        r = self.api.post("/user", {"username": username, "email": f"{username}@example.com",
                                    "password": password, "is_superuser": superuser},
                          token=self.admin.token)
        assert r.status == 201, r
        return self.login_as(username, password)


def instance_settings(db_path: str, **overrides: Any):
    """Settings for a test instance: its own database, a free port, fast bcrypt."""
    flags = {
        "database.url": f"sqlite:///{db_path}",
        "server.port": 0,
        "server.threads": 8,
        "auth.bcrypt_rounds": 4,
        "bootstrap.username": "admin",
        "bootstrap.email": "admin@example.com",
        "bootstrap.password": ADMIN_PASSWORD,
        "log.level": "warning",
        # The engine in this process (tests reach into it); `serve` tests cover the
        # engine process.
        "scheduler.engine_process": False,
    }
    flags.update({key.replace("__", ".", 1): value for key, value in overrides.items()})
    return load_settings(None, flags, environ={})


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
def database_url(backend: str, tmp_path, request: pytest.FixtureRequest) -> str:
    """An empty database of this test's backend (a schema may already be there)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'scheduler.db'}"
    scratch: ScratchDatabase = request.getfixturevalue("postgres_database")
    scratch.empty()
    return scratch.url


@pytest.fixture
def start_server(tmp_path, database_url: str) -> Iterator[Callable[..., RunningServer]]:
    started: list[Instance] = []

    def start(**overrides: Any) -> RunningServer:
        assert not started, "one instance per test"
        db_path = str(tmp_path / "scheduler.db")
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
def server(start_server) -> RunningServer:
    return start_server()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
             message: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy (and return it), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


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
