"""API.md section 1: the envelope, error statuses and bad input, for every kind of failure."""

from __future__ import annotations

import socket

import pytest
from helpers.envelope import RESOURCE_TIME, assert_envelope


def test_unknown_path_is_404_envelope(server):
    assert_envelope(server.api.get("/no/such/thing?x=1"), 404, "Not found", "/no/such/thing")


def test_wrong_method_is_405_with_allow(server):
    r = server.api.request("PUT", "/user/me", token=server.admin.token)
    assert_envelope(r, 405, "Method not allowed", "/user/me")
    allowed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "PATCH"} <= allowed


def test_oversized_body_is_413_and_changes_nothing(start_server):
    server = start_server(server__max_body_bytes=2048)
    big = {"username": "big", "email": "big@example.com", "password": "x" * 4000}
    r = server.api.post("/user", big, token=server.admin.token)
    assert_envelope(r, 413, "Request body too large", "/user")
    users = server.api.get("/user", token=server.admin.token).data
    assert [u["username"] for u in users] == ["admin"]


def test_chunked_oversized_body_is_413(start_server):
    server = start_server(server__max_body_bytes=1024)
    host, port = "127.0.0.1", server.instance.port
    payload = b'{"identifier": "' + b"a" * 3000 + b'", "password": "x"}'
    chunk = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk)
        reply = b""
        while chunk_in := sock.recv(65536):
            reply += chunk_in
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"Request body too large"' in reply


def test_non_json_content_type_is_415(server):
    r = server.api.post("/login", body="identifier=admin&password=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_envelope(r, 415, "Content-Type must be application/json")


def test_json_with_charset_is_accepted(server):
    r = server.api.post("/login", body='{"identifier": "admin", "password": "admin-password-1"}',
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert_envelope(r, 200, "Login success!")


@pytest.mark.parametrize("raw", ["{", "[1,", "not json", '{"a": NaN}', "\xff\xfe"])
def test_malformed_json_is_400(server, raw):
    r = server.api.post("/login", body=raw.encode("latin-1"),
                        headers={"Content-Type": "application/json"})
    assert_envelope(r, 400, "Malformed JSON body")


@pytest.mark.parametrize("body, message", [
    ([], "Request body must be an object"),
    ("admin", "Request body must be an object"),
    ({"identifier": "admin"}, "Field 'password' is required"),
    ({"identifier": 5, "password": "x"}, "Field 'identifier' must be a string"),
    ({"identifier": "admin", "password": "x", "extra": 1}, "Unknown field 'extra'"),
])
def test_invalid_body_is_400_naming_the_field(server, body, message):
    assert_envelope(server.api.post("/login", body), 400, message)


@pytest.mark.parametrize("path", ["/user/abc", "/user/0", "/user/-1", "/user/1.5",
                                  "/user/99999999999999999999999"])
def test_non_integer_or_out_of_range_ids_are_404(server, path):
    assert_envelope(server.api.get(path, token=server.admin.token), 404)


def test_missing_resource_is_404(server):
    r = server.api.get("/user/4242", token=server.admin.token)
    assert_envelope(r, 404, "User with id 4242 not found")


@pytest.mark.parametrize("query, message", [
    ("limit=0", "Query parameter 'limit' must be at least 1"),
    ("limit=1001", "Query parameter 'limit' must be at most 1000"),
    ("limit=ten", "Query parameter 'limit' must be an integer"),
    ("offset=-1", "Query parameter 'offset' must be at least 0"),
    ("offset=1.5", "Query parameter 'offset' must be an integer"),
])
def test_bad_pagination_is_400(server, query, message):
    assert_envelope(server.api.get(f"/user?{query}", token=server.admin.token), 400, message)


def test_lists_paginate_with_total_count(server):
    for name in ("ann", "ben", "cat"):
        server.make_user(name)
    r = server.api.get("/user?limit=2&offset=1", token=server.admin.token)
    body = assert_envelope(r, 200, "List of all users")
    assert r.headers["X-Total-Count"] == "4"
    assert [u["username"] for u in body["data"]] == ["ann", "ben"]


def test_resource_timestamps_have_six_digits(server):
    user = server.api.get("/user/me", token=server.admin.token).data
    assert RESOURCE_TIME.match(user["created_at"]) and RESOURCE_TIME.match(user["updated_at"])


def test_missing_credentials_is_401(server):
    assert_envelope(server.api.get("/user/me"), 401, "Missing Authorization or x-api-key header")


def test_superuser_endpoint_is_403_for_others(server):
    alice = server.make_user("alice")
    for method, path in (("GET", "/user"), ("GET", f"/user/{alice.id}"),
                         ("DELETE", f"/user/{server.admin.id}")):
        assert_envelope(server.api.request(method, path, token=alice.token), 403)


def test_head_of_home(server):
    r = server.api.request("HEAD", "/")
    assert r.status == 200


def test_number_past_a_double_is_400_naming_the_field(server):
    r = server.api.post("/login", body=b'{"identifier": "admin", "password": 1e400}',
                        headers={"Content-Type": "application/json"})
    assert_envelope(r, 400, "Field 'password' holds a number too large for JSON")


def test_every_route_schema_is_valid_json_schema():
    from jsonschema import Draft202012Validator

    from scheduler_lib.api.app import all_routes
    from scheduler_lib.api.routing import query_schema

    for route in all_routes():
        for schema in (route.body, query_schema(route), route.data):
            if schema is not None:
                Draft202012Validator.check_schema(schema)
