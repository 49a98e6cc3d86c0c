"""/user/apikey: the caller's API keys (API.md section 4)."""

from __future__ import annotations

from typing import Any

from ...services import apikeys
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj

_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_DESCRIPTION = {"type": ["string", "null"], "maxLength": 2000}
_SCOPE = {"type": "string", "enum": list(apikeys.SCOPES),
          "description": "read: GET only; write (default): jobs, schedules, presets, results, "
                         "members; admin: also API keys, the profile and superuser routes."}
_EXPIRES = {"type": "integer", "minimum": 0, "maximum": apikeys.MAX_EXPIRY_DAYS,
            "description": "Whole days from now until the key expires; 0 = never."}

API_KEY: dict[str, Any] = named("ApiKey", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "user_id": {"type": "integer"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "scope": {"type": "string", "enum": list(apikeys.SCOPES)},
        "prefix": {"type": "string", "description": "The key's first characters."},
        "expires_at": schemas.NULLABLE_TIMESTAMP,
        "last_used_at": schemas.NULLABLE_TIMESTAMP,
        "created_at": schemas.TIMESTAMP,
    },
    "required": ["id", "user_id", "name", "description", "scope", "prefix", "expires_at",
                 "last_used_at", "created_at"],
})
API_KEY_WITH_SECRET: dict[str, Any] = named("ApiKeyWithSecret", {
    **API_KEY,
    "properties": {**API_KEY["properties"],
                   "key": {"type": "string", "description": "The full key, shown only now."}},
    "required": [*API_KEY["required"], "key"],
})


def list_keys(call: Call) -> Reply:
    rows, total = apikeys.list_keys(call.user, call.query["limit"], call.query["offset"])
    return Reply("List api keys", [row.to_json() for row in rows], total=total)


def create_key(call: Call) -> Reply:
    row, key = apikeys.create_key(call.user, name=call.body["name"],
                                  description=call.body.get("description"),
                                  expires_days=call.body.get("expires_at"),
                                  scope=call.body.get("scope", apikeys.DEFAULT_SCOPE))
    return Reply("Api key created!", {**row.to_json(), "key": key})


def get_key(call: Call) -> Reply:
    return Reply("Success!", apikeys.get_key(call.user, call.params["id"]).to_json())


def update_key(call: Call) -> Reply:
    row = apikeys.update_key(call.user, call.params["id"], call.body)
    return Reply("Api key updated!", row.to_json())


def delete_key(call: Call) -> Reply:
    apikeys.delete_key(call.user, call.params["id"])
    return Reply("Api key deleted!")


def delete_all_keys(call: Call) -> Reply:
    return Reply("Api keys deleted!", {"deleted": apikeys.delete_all_keys(call.user)})


def rotate_key(call: Call) -> Reply:
    row, key = apikeys.rotate_key(call.user, call.params["id"],
                                  expires_days=call.body.get("expires_at"),
                                  change_expiry="expires_at" in call.body)
    return Reply("Api key rotated!", {**row.to_json(), "key": key})


_ROTATE_BODY = named("ApiKeyRotate", obj({"expires_at": _EXPIRES}))
_ROTATE_SUMMARY = "Replace a key's secret (the old key stops working); optional new expiry"

_KEYS: dict[str, Any] = {"tag": "apikeys", "admin_only": True}

ROUTES = [
    Route("GET", "/user/apikey", list_keys, "The caller's API keys", **_KEYS,
          paginated=True, data=schemas.list_of(API_KEY), operation_id="listApiKeys"),
    Route("POST", "/user/apikey", create_key, "Create an API key (the key is shown once)",
          **_KEYS, status=201, data=API_KEY_WITH_SECRET, errors=(400,), no_store=True,
          body=named("ApiKeyCreate", obj({"name": _NAME, "description": _DESCRIPTION,
                                          "expires_at": _EXPIRES, "scope": _SCOPE}, ("name",))),
          operation_id="createApiKey"),
    Route("DELETE", "/user/apikey", delete_all_keys, "Delete all of the caller's API keys",
          **_KEYS, data=named("ApiKeysDeleted", obj({"deleted": {"type": "integer"}},
                                                    ("deleted",))),
          operation_id="deleteAllApiKeys"),
    Route("GET", "/user/apikey/{id}", get_key, "One of the caller's API keys", **_KEYS,
          data=API_KEY, errors=(403, 404), operation_id="getApiKey"),
    Route("PATCH", "/user/apikey/{id}", update_key,
          "Rename, describe, re-date or lower the scope of an API key", **_KEYS, data=API_KEY,
          errors=(400, 403, 404),
          body=named("ApiKeyUpdate", obj({"name": _NAME, "description": _DESCRIPTION,
                                          "expires_at": _EXPIRES, "scope": _SCOPE})),
          operation_id="updateApiKey"),
    Route("DELETE", "/user/apikey/{id}", delete_key, "Delete an API key", **_KEYS,
          errors=(403, 404), operation_id="deleteApiKey"),
    Route("POST", "/user/apikey/{id}", rotate_key, _ROTATE_SUMMARY, **_KEYS, status=201,
          data=API_KEY_WITH_SECRET, errors=(400, 403, 404), body=_ROTATE_BODY, no_store=True,
          operation_id="rotateApiKey", action="apikey.rotate"),
    Route("POST", "/user/apikey/{id}/rotate", rotate_key, _ROTATE_SUMMARY, **_KEYS,
          status=201, data=API_KEY_WITH_SECRET, errors=(400, 403, 404), body=_ROTATE_BODY,
          no_store=True, operation_id="rotateApiKeyAlias", action="apikey.rotate"),
]
