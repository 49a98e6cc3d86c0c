"""GET /openapi.json: a valid OpenAPI 3.1 document of exactly the routes the server runs.

The schemathesis run generates requests for every operation from the document and
checks that none answers 500 and that every answer conforms to the document
(status, content type, headers, body). It is bounded (``MAX_EXAMPLES`` per
operation) and runs with the engine off and without the operations that make the
scheduler call out (``.../run``): generated job endpoints are arbitrary URLs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scheduler_lib.api.app import all_routes
from scheduler_lib.api.openapi import build_document, operation_id
from scheduler_lib.api.routing import openapi_path
from scheduler_lib.config import load_settings

pytestmark = pytest.mark.backends("sqlite")

MAX_EXAMPLES = 12
# Operations that make the scheduler send requests to the (generated) job endpoint.
OUTGOING = r".*/run$"

# The document as the default settings build it: what schemathesis tests against.
DOCUMENT = build_document(all_routes(), load_settings(None, {}, environ={}))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT).exclude(path_regex=OUTGOING)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def test_document_is_served_and_valid(server):
    r = server.api.get("/openapi.json")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/json")
    document = r.json
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Scheduler API"
    assert document == DOCUMENT


def test_every_registered_route_is_documented(server):
    document = server.api.get("/openapi.json").json
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item}
    registered = {(route.method, openapi_path(route.path)) for route in all_routes()}
    assert documented == registered
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == len(all_routes())
    # Bottle serves what the document lists: every path answers something but 404/405.
    for route in all_routes():
        path = re.sub(r"\{\w+:uuid\}", "00000000-0000-0000-0000-000000000000", route.path)
        path = re.sub(r"\{\w+\}", "1", path)
        r = server.api.request(route.method, path, token=server.admin.token) \
            if not re.search(OUTGOING, path) else None
        if r is not None:
            assert not (r.status == 404 and r.message == "Not found"), route
            assert r.status != 405, route


def test_every_path_of_the_contract_is_documented():
    """Each `METHOD /path` that docs/api.md names is an operation of the document."""
    contract = Path(__file__).resolve().parents[1] / "docs" / "api.md"
    named = re.findall(r"`((?:GET|POST|PATCH|DELETE|PUT)(?:/(?:GET|POST|PATCH|DELETE|PUT))*) "
                       r"(/[^`? ]*)[^` ]*`", contract.read_text())
    assert len(named) >= 30

    def shape(path: str) -> str:
        return re.sub(r"\{\w+\}", "{}", path)

    documented = {(method.upper(), shape(path)) for path, item in DOCUMENT["paths"].items()
                  for method in item}
    wanted = {(method, shape(path)) for methods, path in named for method in methods.split("/")}
    assert wanted - documented == set()


def test_security_schemes_and_auth_per_operation():
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                     "description": schemes["bearerAuth"]["description"]}
    assert schemes["apiKeyAuth"]["in"] == "header"
    assert schemes["apiKeyAuth"]["name"] == "X-API-Key"
    for route in all_routes():
        operation = DOCUMENT["paths"][openapi_path(route.path)][route.method.lower()]
        assert operation["operationId"] == operation_id(route)
        if route.auth == "none":
            assert operation["security"] == []
        else:
            assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
            assert "401" in operation["responses"]


def test_request_bodies_and_parameters_come_from_the_route_table():
    login = DOCUMENT["paths"]["/login"]["post"]
    body = login["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["identifier", "password"]
    assert body["additionalProperties"] is False
    assert login["requestBody"]["required"] is True
    users = DOCUMENT["paths"]["/user"]["get"]
    names = {p["name"]: p for p in users["parameters"]}
    assert names["limit"]["in"] == "query"
    assert names["limit"]["schema"]["maximum"] == 1000
    assert "X-Total-Count" in users["responses"]["200"]["headers"]
    one = DOCUMENT["paths"]["/user/{id}"]["get"]["parameters"][0]
    assert one == {"name": "id", "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 1, "maximum": 10 ** 18 - 1}}
    envelope = DOCUMENT["paths"]["/user/me"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert envelope["required"] == ["success", "status", "message", "path", "timestamp", "data"]
    metrics = DOCUMENT["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert [media.split(";")[0] for media in metrics] == ["text/plain"]


def test_metrics_auth_option_shows_in_the_document(start_server):
    server = start_server(metrics__require_auth=True)
    document = server.api.get("/openapi.json").json
    operation = document["paths"]["/metrics"]["get"]
    assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert "403" in operation["responses"]


@pytest.fixture
def engineless_server(start_server):
    return start_server(scheduler__enabled=False)


@SCHEMA.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_failures(case, engineless_server):
    server = engineless_server
    headers = {"Authorization": f"Bearer {server.admin.token}"}
    response = case.call(base_url=server.url, headers=headers, timeout=30)
    case.validate_response(response, checks=CHECKS)
