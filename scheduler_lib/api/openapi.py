"""The OpenAPI 3.1 document, generated from the route table the server runs.

``build_document`` reads each ``Route`` (path, method, auth, body and query
schemas, success status and ``data`` schema, documented errors) so that the
document and the server cannot drift: a route exists in one exactly when it
exists in the other. Every JSON answer is the envelope of API.md section 1
(components ``Envelope`` and ``Error``); each operation is named by its route's
``operation_id`` and each named schema (``schemas.named``) becomes a component that
operations refer to with ``$ref``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .. import __version__
from ..config import Settings
from .routing import Route, openapi_path, query_schema
from .schemas import COMPONENTS

__all__ = ["build_document", "effective_auth"]

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")

_STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 400: "Invalid body, query or path",
    401: "Missing, invalid or expired credentials", 403: "Not allowed",
    404: "No such resource", 405: "Method not allowed", 409: "Conflict",
    413: "Request body too large", 415: "Body is not JSON",
    429: "Too many failed logins", 500: "Unexpected error", 503: "Not ready",
}

_ENVELOPE_FIELDS: dict[str, Any] = {
    "success": {"type": "boolean", "description": "True exactly for 2xx."},
    "status": {"type": "integer", "description": "The HTTP status code."},
    "message": {"type": "string"},
    "path": {"type": "string", "description": "Request path without the query string."},
    "timestamp": {"type": "string", "format": "date-time",
                  "examples": ["2025-12-09T06:58:02Z"]},
}
_ENVELOPE_REQUIRED = ["success", "status", "message", "path", "timestamp"]

_REQUEST_ID_HEADER = {
    "description": "The request id: the client's X-Request-ID when it is 1-128 characters "
                   "of letters, digits and '._:-', else a generated one.",
    "schema": {"type": "string"},
}
_TOTAL_COUNT_HEADER = {"description": "Number of items in the whole list.",
                       "schema": {"type": "integer", "minimum": 0}}

_SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An access token from POST /login or /refresh/token."},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "An API key from POST /user/apikey."},
}
_AUTHENTICATED: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def effective_auth(route: Route, settings: Settings | None) -> str:
    """``none``, ``user`` or ``superuser`` as the server enforces it with ``settings``."""
    if route.auth_option and settings is not None and settings[route.auth_option]:
        return "superuser"
    return route.auth


# Keywords whose values are data, not schemas: a "title" inside them names nothing.
_DATA_KEYWORDS = frozenset({"const", "default", "enum", "examples", "discriminator"})


class _Components:
    """The named schemas met while building the document, each stored once."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, schema: dict[str, Any]) -> dict[str, Any]:
        """``schema`` with every named schema in it (itself included) replaced by a
        ``$ref`` to its component."""
        return self._walk(schema)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if not isinstance(value, dict):
            return value
        walked = {key: item if key in _DATA_KEYWORDS else self._walk(item)
                  for key, item in value.items()}
        name = value.get("title")
        if not isinstance(name, str):
            return walked
        known = self.schemas.setdefault(name, walked)
        if known != walked:
            raise ValueError(f"two different schemas are named {name!r}")
        return {"$ref": COMPONENTS + name}


def _envelope(name: str, success: bool, description: str) -> dict[str, Any]:
    """The envelope schema of every success (``Envelope``) or error (``Error``)."""
    properties = dict(_ENVELOPE_FIELDS, success={"const": success})
    return {"title": name, "type": "object", "properties": properties,
            "required": _ENVELOPE_REQUIRED, "description": description}


def _with_data(data: dict[str, Any]) -> dict[str, Any]:
    """The ``Envelope`` with ``data`` (a success's response schema)."""
    return {"allOf": [{"$ref": COMPONENTS + "Envelope"},
                      {"type": "object", "properties": {"data": data}, "required": ["data"]}]}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    parameters = []
    for match in _PARAM.finditer(path):
        name, kind = match.group(1), match.group(2)
        schema: dict[str, Any]
        if kind == "uuid":
            schema = {"type": "string", "pattern": "^[0-9A-Za-z-]{1,64}$"}
        else:
            # PATH_ID_PATTERN: 1 to 18 digits, no leading zero.
            schema = {"type": "integer", "minimum": 1, "maximum": 10 ** 18 - 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(route: Route) -> list[dict[str, Any]]:
    schema = query_schema(route)
    if not schema:
        return []
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
        description = prop.pop("description", None)
        if description:
            parameter["description"] = description
        parameter["schema"] = prop
        parameters.append(parameter)
    return parameters


def _error_statuses(route: Route, auth: str) -> list[int]:
    statuses = set(route.errors)
    if route.body is not None:
        statuses |= {400, 413, 415}
    elif route.method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses |= {400, 413, 415}  # a body sent where none is taken
    if route.paginated or route.query:
        statuses.add(400)
    if auth != "none":
        statuses.add(401)
    if auth == "superuser":
        statuses.add(403)
    if _PARAM.search(route.path):
        statuses.add(404)
    return sorted(statuses)


def _success_response(route: Route, components: _Components) -> dict[str, Any]:
    response: dict[str, Any] = {"description": route.summary,
                                "headers": {"X-Request-ID": _REQUEST_ID_HEADER}}
    data = components.ref(route.data) if route.data is not None else None
    if route.media_type is not None:
        response["content"] = {route.media_type: {"schema": data or {}}}
        return response
    if route.paginated:
        response["headers"]["X-Total-Count"] = _TOTAL_COUNT_HEADER
    schema = _with_data(data) if data is not None else {"$ref": COMPONENTS + "Envelope"}
    response["content"] = {"application/json": {"schema": schema}}
    return response


def _operation(route: Route, settings: Settings | None,
               components: _Components) -> dict[str, Any]:
    auth = effective_auth(route, settings)
    operation: dict[str, Any] = {"summary": route.summary}
    if route.operation_id:  # tests/test_openapi.py fails on a route without one
        operation["operationId"] = route.operation_id
    if route.tag:
        operation["tags"] = [route.tag]
    parameters = _path_parameters(route.path) + _query_parameters(route)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": bool(route.body.get("required")),
            "content": {"application/json": {"schema": components.ref(route.body)}},
        }
    operation["security"] = list(_AUTHENTICATED) if auth != "none" else []
    if auth == "superuser":
        operation["description"] = "Superusers only."
    responses: dict[str, Any] = {str(route.status): _success_response(route, components)}
    for status in _error_statuses(route, auth):
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    operation["responses"] = responses
    return operation


def _error_responses(statuses: Iterable[int]) -> dict[str, Any]:
    error = {"description": "An error, in the envelope (no data).",
             "headers": {"X-Request-ID": _REQUEST_ID_HEADER},
             "content": {"application/json": {"schema": {"$ref": COMPONENTS + "Error"}}}}
    responses = {"Error": error}
    for status in statuses:
        responses[f"Error{status}"] = dict(error, description=_STATUS_TEXT.get(status, "Error"))
    return responses


def build_document(routes: Iterable[Route], settings: Settings | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (auth as enforced with ``settings``)."""
    components = _Components()
    components.ref(_envelope("Envelope", True, "A success; most routes add their data."))
    components.ref(_envelope("Error", False, "An error: the envelope without data."))
    paths: dict[str, dict[str, Any]] = {}
    tags: list[str] = []
    statuses: set[int] = set()
    for route in routes:
        operation = _operation(route, settings, components)
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = operation
        for key in operation["responses"]:
            if key.isdigit() and int(key) >= 400:
                statuses.add(int(key))
        if route.tag and route.tag not in tags:
            tags.append(route.tag)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Scheduler API",
            "version": __version__,
            "description": "A self-hosted HTTP job scheduler. Every JSON response is an "
                           "envelope {success, status, message, path, timestamp[, data]}.",
        },
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "securitySchemes": _SECURITY_SCHEMES,
            "schemas": components.schemas,
            "responses": _error_responses(sorted(statuses)),
        },
    }
