"""A victim with one resource of every kind, and an outsider: the security and fuzz
tests' world. Every resource of the victim carries ``MARK``, which must never reach
anyone else; ``World.resolve`` fills a route's path with the victim's ids.
``db_snapshot`` reads every row, to check that a rejected request changed nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from scheduler_lib.api.app import all_routes
from scheduler_lib.api.routing import Route
from scheduler_lib.db import database

from .world import create

__all__ = ["MARK", "VOLATILE_TABLES", "World", "body_routes", "build_world", "db_snapshot",
           "sample_body"]

# Every resource of the victim carries this string: it must never reach anyone else.
MARK = "victim-private-7f3a"
# Tables whose rows change by design on a rejected request (a failed login is
# counted, and SQLite's autoincrement counter moves with it).
VOLATILE_TABLES = {"login_failures", "schema_migrations", "sqlite_sequence"}
# Audit entries that a rejected request writes by design (API.md section 12).
_KEPT_ON_REJECTION = {"audit_log": "WHERE action NOT IN ('login.failed', 'token.reuse')"}


def body_routes() -> list[Route]:
    return [r for r in all_routes() if r.body is not None]


def db_snapshot() -> dict[str, list[str]]:
    """Every row of every table (but the volatile ones), order-independent."""
    tables = sorted(set(database.get_tables()) - VOLATILE_TABLES)
    snapshot = {}
    for table in tables:
        where = _KEPT_ON_REJECTION.get(table, "")
        rows = database.execute_sql(f'SELECT * FROM "{table}" {where}').fetchall()
        snapshot[table] = sorted(repr(tuple(row)) for row in rows)
    return snapshot


@dataclass
class World:
    """A victim with one resource of every kind, and an outsider."""
    victim: Any
    outsider: Any
    key: str
    ids: dict[str, Any] = field(default_factory=dict)

    def resolve(self, path: str) -> str:
        """``path`` with its parameters naming the victim's resources."""
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            head = path[:match.start()]
            if name == "job_id":
                return self.ids["job_uuid"]
            if name == "fetch_id":
                return str(self.ids["job"])
            if name == "user_id":
                return str(self.ids.get("member", self.victim.id))
            for prefix, kind in (("/user/apikey/", "apikey"), ("/user/", "user"),
                                 ("/fetch/execute/", "schedule"), ("/fetch/header/", "header"),
                                 ("/fetch/{fetch_id}/data/", "result"),
                                 ("/notify/channel/", "channel"),
                                 ("/fetch/{fetch_id}/notify/", "subscription"),
                                 ("/fetch/", "job")):
                if head == prefix:
                    return str(self.ids[kind])
            raise AssertionError(f"map the parameters of the new route {path} in World.resolve")
        return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def build_world(server, victim_name: str = "victim") -> World:
    victim = server.make_user(victim_name)
    outsider = server.make_user(f"{victim_name}-outsider")
    key = create(server, victim, "/user/apikey", {"name": MARK, "description": MARK})
    world = World(victim, outsider, key["key"], {"apikey": key["id"], "user": victim.id})
    world.ids["schedule"] = create(server, victim, "/fetch/execute",
                                   {"name": MARK, "type": "hours", "value": 1})["id"]
    world.ids["header"] = create(server, victim, "/fetch/header",
                                 {"name": MARK, "headers": {"X-Mark": MARK}})["id"]
    job = create(server, victim, "/fetch", {
        "name": MARK, "endpoint": f"http://127.0.0.1:9/{MARK}", "description": MARK,
        "execute_id": world.ids["schedule"], "header_id": world.ids["header"],
        "is_active": False})
    world.ids["job"], world.ids["job_uuid"] = job["id"], job["job_id"]
    world.ids["result"] = create(server, victim, f"/fetch/{world.ids['job']}/data",
                                 {"name": MARK, "response": MARK})["id"]
    world.ids["channel"] = create(server, victim, "/notify/channel", {
        "name": MARK, "type": "webhook", "target": f"http://127.0.0.1:9/{MARK}"})["id"]
    world.ids["subscription"] = create(server, victim, f"/fetch/{world.ids['job']}/notify", {
        "channel_id": world.ids["channel"], "events": ["failure"]})["id"]
    return world


def sample_body(route: Route, world: World, actor: Any) -> dict | None:
    """A body that passes validation for ``route``: its required fields, and a name."""
    if route.body is None:
        return None
    samples = {
        "name": "hijacked", "role": "owner", "user_id": actor.id, "identifier": "nobody",
        "password": "wrong-password", "refresh_token": "not-a-token", "type": "hours",
        "value": 1, "headers": {"X-A": "b"}, "endpoint": "http://127.0.0.1:9/",
        "execute_id": world.ids.get("schedule"), "username": "hijacker",
        "email": "hijacker@example.com", "target": "http://127.0.0.1:9/",
        "channel_id": world.ids.get("channel"), "events": ["failure"],
    }
    properties = route.body.get("properties", {})
    body = {name: samples[name] for name in route.body.get("required", ())}
    if "name" in properties:
        body["name"] = "hijacked"
    if "type" in body and "value" in properties:  # interval schedules need a value
        body["value"] = samples["value"]
    if "target" in body:  # a notification channel
        body["type"] = "webhook"
    return body
