"""The scheduler the ``server``/``start_server`` fixtures run in the test process.

``RunningServer`` wraps a started ``scheduler_lib.server.Instance`` (Cheroot on a free
port, the engine, one database) with a ``Client`` and a logged-in ``admin``;
``make_user`` adds people through the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scheduler_lib.config import Settings, load_settings
from scheduler_lib.server import Instance

from .http import Client

__all__ = ["ADMIN_PASSWORD", "Person", "RunningServer", "instance_settings"]

ADMIN_PASSWORD = "admin-password-1"


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
    def settings(self) -> Settings:
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


def instance_settings(db_path: str, **overrides: Any) -> Settings:
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
