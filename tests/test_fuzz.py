"""Property-based fuzzing of every JSON body the API accepts.

For each route of ``all_routes()`` with a body schema, hypothesis sends arbitrary JSON
values (and objects built from the route's own field names with arbitrary values) to
a real server, with path ids naming resources the caller may touch. Properties:
never a 5xx, always the envelope, and a rejected request changes no row.

Bounded and reproducible: ``EXAMPLES`` per route, derandomized, no example database.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from helpers.victim import body_routes, build_world, db_snapshot, sample_body
from helpers.world import create
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler_lib.api.app import all_routes
from scheduler_lib.api.routing import Route

# Snapshots read the SQLite file directly; the API code is the same on PostgreSQL.
pytestmark = pytest.mark.backends("sqlite")

EXAMPLES = 40

# Strings that break naive storage or rendering.
NASTY_STRINGS = ["\x00", "a\x00b", "\ud800", "x\udfff", "a\r\nX-Injected: 1", "\r\n",
                 "\U0001f4a5", "é", "a" * 300, "' OR 1=1 --", "%s%n", ""]
# Strings that mean something to some route, or to an attacker.
SPECIAL_STRINGS = NASTY_STRINGS + [
    " ", "0", "-1", "true", "null", "http://127.0.0.1:9/", "https://example.com/x", "ws://x",
    "wss://127.0.0.1:9/", "ftp://x", "seconds", "minutes", "hours", "days", "cron",
    "* * * * *", "*/5 * * * *", "@daily", "61 * * * *", "UTC", "Europe/Paris", "Mars/Base",
    "owner", "editor", "viewer", "rest", "websocket", "get", "post", "2xx", "5xx", "6xx",
    "<script>alert(1)</script>", "../../etc/passwd",
    "2025-01-01T00:00:00Z", "X-Token", "a@b.co", "admin", "sk_x",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.sampled_from([0, 1, -1, 59, 60, 100, 101, 599, 600, 2**31, 2**63, -2**63 - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), st.sampled_from(SPECIAL_STRINGS),
)


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.text(max_size=8), st.sampled_from(keys)) if keys else st.text(max_size=8)
    return st.recursive(
        SCALARS,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(key, children, max_size=4),
        max_leaves=8)


def field_value(schema: dict[str, Any], ids: list[int]) -> st.SearchStrategy[Any]:
    """Values near what the field takes: its enum, plausible ids, nasty strings, anything."""
    options = [json_values([]), st.sampled_from(NASTY_STRINGS)]
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    options.append(st.sampled_from(ids))
    return st.one_of(*options)


def bodies(route: Route, ids: list[int], base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Anything; objects of the route's fields; and ``base`` (a valid body) with
    fields replaced by anything, to get past validation into the service."""
    properties: dict[str, Any] = route.body.get("properties", {})
    names = list(properties)
    fields = st.fixed_dictionaries(
        {}, optional={name: field_value(prop, ids) for name, prop in properties.items()})
    with_extra = st.tuples(fields, st.dictionaries(st.text(max_size=8), SCALARS, max_size=2)) \
        .map(lambda pair: {**pair[1], **pair[0]})
    on_base = fields.map(lambda changes: {**base, **changes})
    return st.one_of(json_values(names), fields, with_extra, on_base, on_base)


def fuzz_route(server, route: Route, path: str, token: str, ids: list[int],
               base: dict[str, Any], state: dict[str, Any]) -> set[int]:
    """Run the examples for one route; returns the statuses seen."""
    seen: set[int] = set()

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(body=bodies(route, ids, base))
    def check(body: Any) -> None:
        r = server.api.request(route.method, path, body=json.dumps(body), token=token,
                               headers={"Content-Type": "application/json"})
        assert r.status < 500, (route.method, path, body, r)
        envelope = r.json
        assert envelope["status"] == r.status and envelope["path"] == path
        seen.add(r.status)
        rows = db_snapshot()
        if r.status >= 400:
            assert "data" not in envelope
            assert rows == state["rows"], ("rejected but changed", route.method, path, body, r)
        state["rows"] = rows

    check()
    return seen


def test_no_body_breaks_the_server_or_changes_state_when_rejected(start_server):
    server = start_server(auth__login_max_failures=1_000_000, scheduler__enabled=False)
    world = build_world(server, "fuzzer")
    # /user/{id} and member routes act on a bystander, so that the fuzzer's own
    # password and role survive whatever is accepted.
    bystander = server.make_user("bystander")
    world.ids["user"] = world.ids["member"] = bystander.id
    create(server, world.victim, f"/fetch/{world.ids['job']}/member",
           {"user_id": bystander.id, "role": "viewer"})
    ids = sorted({v for v in world.ids.values() if isinstance(v, int)})
    routes = body_routes()
    assert {("POST", "/user/apikey"), ("POST", "/login")} <= {(r.method, r.path) for r in routes}
    state = {"rows": db_snapshot()}
    statuses: dict[str, set[int]] = {}
    started = time.monotonic()
    for route in routes:
        token = server.admin.token if route.auth == "superuser" else world.victim.token
        base = sample_body(route, world, bystander)
        statuses[f"{route.method} {route.path}"] = fuzz_route(
            server, route, world.resolve(route.path), token, ids, base, state)
    # The fuzzer got past validation somewhere and was refused somewhere.
    every = set().union(*statuses.values())
    assert 400 in every and any(200 <= s < 300 for s in every), statuses
    # The caller is still who they were: nothing accepted escalated them.
    me = server.api.get("/user/me", token=world.victim.token).data
    assert me["is_superuser"] is False
    assert time.monotonic() - started < 120, "keep the fuzz bounded"


def test_every_body_route_is_fuzzed():
    """A new body route is picked up by the fuzzer without anyone listing it."""
    fuzzed = {(r.method, r.path) for r in body_routes()}
    declared = {(r.method, r.path) for r in all_routes() if r.body is not None}
    assert fuzzed == declared and len(fuzzed) >= 6
