"""JSON Schemas of the resources the API returns (used by the OpenAPI document)."""

from __future__ import annotations

TIMESTAMP = {"type": "string", "format": "date-time",
             "examples": ["2025-12-09T03:01:40.912343Z"]}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}

USER = {
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
}

TOKEN_PAIR = {
    "type": "object",
    "properties": {"access_token": {"type": "string"}, "refresh_token": {"type": "string"}},
    "required": ["access_token", "refresh_token"],
}


def list_of(item: dict) -> dict:
    return {"type": "array", "items": item}
