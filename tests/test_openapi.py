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

from scheduler_lib.api import schemas
from scheduler_lib.api.app import all_routes
from scheduler_lib.api.openapi import build_document
from scheduler_lib.api.routing import Reply, Route, openapi_path
from scheduler_lib.api.schemas import named
from scheduler_lib.api.validation import obj
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
        assert operation["operationId"] == route.operation_id
        if route.auth == "none":
            assert operation["security"] == []
        else:
            assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
            assert "401" in operation["responses"]


def test_request_bodies_and_parameters_come_from_the_route_table():
    login = DOCUMENT["paths"]["/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Credentials"}
    body = DOCUMENT["components"]["schemas"]["Credentials"]
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
    assert envelope["allOf"][0] == {"$ref": "#/components/schemas/Envelope"}
    assert envelope["allOf"][1]["properties"]["data"] == {"$ref": "#/components/schemas/User"}
    assert envelope["allOf"][1]["required"] == ["data"]
    components = DOCUMENT["components"]["schemas"]
    assert components["Envelope"]["required"] == ["success", "status", "message", "path",
                                                  "timestamp"]
    metrics = DOCUMENT["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert [media.split(";")[0] for media in metrics] == ["text/plain"]


OPERATION_ID = re.compile(r"[a-z][A-Za-z0-9]*")
COMPONENT_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")


def _is_named(schema: dict) -> bool:
    """Named itself, or a list of named items."""
    if schema.get("type") == "array" and "title" not in schema:
        schema = schema["items"]
    return bool(COMPONENT_NAME.fullmatch(schema.get("title", "")))


def test_every_route_names_its_operation_and_schemas():
    """A new route declares ``operation_id=`` and ``schemas.named`` bodies and data."""
    unnamed = [f"{route.method} {route.path}: operation_id" for route in all_routes()
               if not OPERATION_ID.fullmatch(route.operation_id)]
    unnamed += [f"{route.method} {route.path}: {what} (schemas.named)"
                for route in all_routes()
                for what, schema in (("body", route.body), ("data", route.data))
                if schema is not None and not _is_named(schema)]
    assert unnamed == []
    ids = [route.operation_id for route in all_routes()]
    assert len(ids) == len(set(ids))


def _names_in(value: object) -> list[str]:
    """The names (string ``title``) of every schema in ``value``."""
    if isinstance(value, list):
        return [name for item in value for name in _names_in(item)]
    if not isinstance(value, dict):
        return []
    own = [value["title"]] if isinstance(value.get("title"), str) else []
    return own + [name for item in value.values() for name in _names_in(item)]


def test_named_schemas_are_components_referred_to_by_ref():
    components = DOCUMENT["components"]["schemas"]
    for name in ("Envelope", "Error", "Job", "JobCreate", "JobUpdate", "Schedule",
                 "HeaderPreset", "Result", "User", "ApiKey", "Member", "TokenPair"):
        assert components[name]["title"] == name
    job = DOCUMENT["paths"]["/fetch/{id}"]["get"]
    assert job["operationId"] == "getJob"
    data = job["responses"]["200"]["content"]["application/json"]["schema"]["allOf"][1]
    assert data["properties"]["data"] == {"$ref": "#/components/schemas/Job"}
    jobs = DOCUMENT["paths"]["/fetch"]["get"]["responses"]["200"]["content"]
    assert jobs["application/json"]["schema"]["allOf"][1]["properties"]["data"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Job"}}
    # Nothing named is left inline: each name sits at the top of its component only.
    assert sorted(_names_in({"paths": DOCUMENT["paths"], "schemas": components})) == \
        sorted(components)


def test_a_name_given_to_two_different_schemas_is_refused():
    first = Route("GET", "/a", lambda call: Reply(""), "A", operation_id="getA",
                  data=named("Thing", {"type": "string"}))
    second = Route("GET", "/b", lambda call: Reply(""), "B", operation_id="getB",
                   data=named("Thing", {"type": "integer"}))
    build_document([first, first])
    with pytest.raises(ValueError, match="'Thing'"):
        build_document([first, second])


def test_one_of_names_its_variants_in_the_discriminator():
    variants = {kind: named(f"{kind.title()}Check", obj({"kind": {"const": kind}}, ("kind",)))
                for kind in ("status", "body")}
    route = Route("POST", "/checks", lambda call: Reply(""), "Checks", operation_id="addCheck",
                  body=named("Check", schemas.one_of("kind", variants)))
    document = build_document([route])
    validate(document)
    check = document["components"]["schemas"]["Check"]
    assert check["oneOf"] == [{"$ref": "#/components/schemas/StatusCheck"},
                              {"$ref": "#/components/schemas/BodyCheck"}]
    assert check["discriminator"] == {"propertyName": "kind", "mapping": {
        "status": "#/components/schemas/StatusCheck", "body": "#/components/schemas/BodyCheck"}}


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
