"""JSON Schemas of the resources the API returns (used by the OpenAPI document).

A schema gets its OpenAPI name in one place: ``named("Job", {...})``. The document
shows every named schema once, under ``#/components/schemas/<name>``, and refers to it
with ``$ref`` wherever a route uses it (as ``data``, inside a list, as a ``body``, as a
property); ``one_of`` builds a ``oneOf`` of named variants with its ``discriminator``.
The names are what generated clients call their classes, so they are part of the API.
"""

from __future__ import annotations

from typing import Any

from ..assertions import RULES

COMPONENTS = "#/components/schemas/"


def named(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as the component ``name`` (JSON Schema's ``title`` carries the name;
    validation ignores it)."""
    return {**schema, "title": name}


def one_of(property_name: str, variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Exactly one of the named ``variants``, told apart by ``property_name``: each
    key of ``variants`` is that property's value for the variant (which should declare
    it as ``{"const": key}``, so validation picks the same one)."""
    return {"oneOf": list(variants.values()),
            "discriminator": {"propertyName": property_name,
                              "mapping": {value: COMPONENTS + schema["title"]
                                          for value, schema in variants.items()}}}

TIMESTAMP = {"type": "string", "format": "date-time",
             "examples": ["2025-12-09T03:01:40.912343Z"]}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}

USER = named("User", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "email": {"type": "string"},
        "is_superuser": {"type": "boolean"},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
    "required": ["id", "username", "email", "is_superuser", "created_at", "updated_at"],
})

TOKEN_PAIR = named("TokenPair", {
    "type": "object",
    "properties": {"access_token": {"type": "string"}, "refresh_token": {"type": "string"}},
    "required": ["access_token", "refresh_token"],
})


def list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_ID = {"type": "integer"}
_NULLABLE_ID = {"type": ["integer", "null"]}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

SCHEDULE = named("Schedule", {
    "type": "object",
    "properties": {
        "id": _ID, "user_id": _ID, "name": {"type": "string"}, "is_repeat": {"type": "boolean"},
        "type": {"enum": ["seconds", "minutes", "hours", "days", "cron"]},
        "value": _NULLABLE_ID, "cron": {"type": ["string", "null"]},
        "timezone": {"type": "string"}, "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    },
    "required": ["id", "user_id", "name", "is_repeat", "type", "value", "cron", "timezone",
                 "created_at", "updated_at"],
})

HEADER_PRESET = named("HeaderPreset", {
    "type": "object",
    "properties": {
        "id": _ID, "user_id": _ID, "name": {"type": "string"}, "headers": _STRING_MAP,
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    },
    "required": ["id", "user_id", "name", "headers", "created_at", "updated_at"],
})

# One success rule: the rule types (components BodyContainsRule, JsonPathRule, …,
# named by assertions.Rule.schema) told apart by "type".
ASSERTION = named("Assertion", one_of("type", {name: rule.schema()
                                               for name, rule in RULES.items()}))

JOB = named("Job", {
    "type": "object",
    "properties": {
        "id": _ID, "name": {"type": "string"}, "type": {"enum": ["rest", "websocket"]},
        "endpoint": {"type": "string"}, "method": {"type": "string"},
        "topic": {"type": ["string", "null"]},
        "payload": {"type": ["string", "null"],
                    "description": "As sent, or the JSON text of a non-string value."},
        "description": {"type": "string"}, "execute_id": _ID, "header_id": _NULLABLE_ID,
        "is_active": {"type": "boolean"},
        "job_id": {"type": "string", "format": "uuid",
                   "description": "The job_id the run starting at next_run_at will carry."},
        "next_run_at": NULLABLE_TIMESTAMP, "last_run_at": NULLABLE_TIMESTAMP,
        "last_status": {"enum": ["success", "failure", None]},
        "running": {"type": "boolean",
                    "description": "An attempt of this job is in flight now."},
        "timeout_seconds": _ID, "max_attempts": _ID, "retry_backoff_seconds": _ID,
        "expected_status": {"type": "array", "items": {"type": ["integer", "string"]}},
        "assertions": {"type": "array", "items": ASSERTION},
        "consecutive_failures": _ID, "alert_after_failures": _ID, "pause_after_failures": _ID,
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    },
    "required": ["id", "name", "type", "endpoint", "method", "topic", "payload", "description",
                 "execute_id", "header_id", "is_active", "job_id", "next_run_at",
                 "last_run_at", "last_status", "running", "timeout_seconds", "max_attempts",
                 "retry_backoff_seconds", "expected_status", "assertions", "consecutive_failures",
                 "alert_after_failures", "pause_after_failures", "created_at", "updated_at"],
})

MEMBER = named("Member", {
    "type": "object",
    "properties": {"fetch_id": _ID, "user_id": _ID, "username": {"type": "string"},
                   "role": {"enum": ["owner", "editor", "viewer"]}, "created_at": TIMESTAMP},
    "required": ["fetch_id", "user_id", "username", "role", "created_at"],
})

_NULLABLE_STRING = {"type": ["string", "null"]}
AUDIT_ENTRY = named("AuditEntry", {
    "type": "object",
    "properties": {
        "id": _ID, "at": TIMESTAMP, "user_id": _NULLABLE_ID, "username": _NULLABLE_STRING,
        "via": {"enum": ["token", "apikey", "cli", "system"]}, "api_key_id": _NULLABLE_ID,
        "action": {"type": "string", "examples": ["job.update", "member.add", "login.failed"]},
        "resource": _NULLABLE_STRING, "resource_id": _NULLABLE_ID, "fetch_id": _NULLABLE_ID,
        "changed": {"type": "array", "items": {"type": "string"},
                    "description": "Names of the fields that changed (never values)."},
        "remote_addr": _NULLABLE_STRING, "request_id": _NULLABLE_STRING,
    },
    "required": ["id", "at", "user_id", "username", "via", "api_key_id", "action", "resource",
                 "resource_id", "fetch_id", "changed", "remote_addr", "request_id"],
})

RESULT = named("Result", {
    "type": "object",
    "properties": {
        "id": _ID, "fetch_id": _ID, "job_id": {"type": ["string", "null"]},
        "name": {"type": "string"}, "status_code": _NULLABLE_ID,
        "response": {"description": "The body: parsed JSON when it parses, else text."},
        "response_headers": _STRING_MAP, "response_truncated": {"type": "boolean"},
        "error": {"type": ["string", "null"]},
        "success": {"type": ["boolean", "null"],
                    "description": "Null while the attempt is in flight."},
        "attempt": _ID, "scheduled_at": NULLABLE_TIMESTAMP, "started_at": NULLABLE_TIMESTAMP,
        "finished_at": NULLABLE_TIMESTAMP,
        "duration_ms": _NULLABLE_ID, "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    },
    "required": ["id", "fetch_id", "job_id", "name", "status_code", "response",
                 "response_headers", "response_truncated", "error", "success", "attempt",
                 "scheduled_at", "started_at", "finished_at", "duration_ms", "created_at",
                 "updated_at"],
})

_CHANNEL_PROPERTIES = {
    "id": _ID, "user_id": _ID, "name": {"type": "string"},
    "type": {"enum": ["webhook", "email", "apprise"]},
    "target": {"type": "string", "description": "Passwords and tokens shown as ****."},
    "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
}
_CHANNEL_REQUIRED = ["id", "user_id", "name", "type", "target", "created_at", "updated_at"]
CHANNEL = named("Channel", {"type": "object", "properties": _CHANNEL_PROPERTIES,
                           "required": _CHANNEL_REQUIRED})
CHANNEL_WITH_SECRET = named("ChannelWithSecret", {
    "type": "object",
    "properties": {**_CHANNEL_PROPERTIES, "secret": {
        "type": "string", "description": "Webhooks only: the signing secret, shown once."}},
    "required": _CHANNEL_REQUIRED,
})

SUBSCRIPTION = named("Subscription", {
    "type": "object",
    "properties": {"id": _ID, "fetch_id": _ID, "channel_id": _ID, "user_id": _ID,
                   "events": {"type": "array", "items": {
                       "enum": ["failure", "recovery", "success", "paused"]}},
                   "created_at": TIMESTAMP},
    "required": ["id", "fetch_id", "channel_id", "user_id", "events", "created_at"],
})

DELIVERY = named("Delivery", {
    "type": "object",
    "properties": {
        "id": _ID, "delivery_id": {"type": "string", "format": "uuid"}, "channel_id": _ID,
        "fetch_id": _NULLABLE_ID,
        "event": {"enum": ["failure", "recovery", "success", "paused", "test"]},
        "status": {"enum": ["pending", "sent", "failed"]}, "attempts": _ID,
        "error": {"type": ["string", "null"]}, "created_at": TIMESTAMP,
        "sent_at": NULLABLE_TIMESTAMP,
    },
    "required": ["id", "delivery_id", "channel_id", "fetch_id", "event", "status", "attempts",
                 "error", "created_at", "sent_at"],
})
