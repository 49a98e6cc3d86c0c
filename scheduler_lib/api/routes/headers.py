"""/fetch/header: header presets."""

from __future__ import annotations

from ...services import headers
from ...services.headers import TOKEN_PATTERN
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj

_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_HEADERS = {"type": "object", "maxProperties": 100,
            "propertyNames": {"pattern": TOKEN_PATTERN, "maxLength": 200,
                              "x-error": "must have names that are HTTP header tokens "
                                         "(letters, digits and !#$%&'*+.^_`|~-)"},
            "additionalProperties": {"type": "string", "maxLength": 8192},
            "x-error": "must map HTTP header names to string values",
            "description": "Header name → value; names are HTTP tokens, values without CR/LF."}
_ALL = {"all": {"type": "boolean", "default": False,
                "description": "Everyone's presets (superusers only)."}}


def list_presets(call: Call) -> Reply:
    rows, total = headers.list_presets(call.user, call.query)
    return Reply("List headers", [p.to_json() for p in rows], total=total)


def create_preset(call: Call) -> Reply:
    return Reply("Header created!", headers.create_preset(call.user, call.body).to_json())


def get_preset(call: Call) -> Reply:
    return Reply("Success!", headers.get_preset(call.user, call.params["id"]).to_json())


def update_preset(call: Call) -> Reply:
    preset = headers.update_preset(call.user, call.params["id"], call.body)
    return Reply("Header updated!", preset.to_json())


def delete_preset(call: Call) -> Reply:
    headers.delete_preset(call.ctx, call.user, call.params["id"])
    return Reply("Header deleted!")


ROUTES = [
    Route("GET", "/fetch/header", list_presets, "The caller's header presets", tag="headers",
          paginated=True, query=_ALL, data=schemas.list_of(schemas.HEADER_PRESET),
          errors=(403,), operation_id="listHeaderPresets"),
    Route("POST", "/fetch/header", create_preset, "Create a header preset", tag="headers",
          status=201, body=named("HeaderPresetCreate", obj({"name": _NAME, "headers": _HEADERS},
                                                           ("name", "headers"))),
          data=schemas.HEADER_PRESET, errors=(400,), operation_id="createHeaderPreset"),
    Route("GET", "/fetch/header/{id}", get_preset, "One header preset", tag="headers",
          data=schemas.HEADER_PRESET, errors=(403, 404), operation_id="getHeaderPreset"),
    Route("PATCH", "/fetch/header/{id}", update_preset, "Update a header preset",
          tag="headers",
          body=named("HeaderPresetUpdate", obj({"name": _NAME, "headers": _HEADERS})),
          data=schemas.HEADER_PRESET, errors=(400, 403, 404), operation_id="updateHeaderPreset"),
    Route("DELETE", "/fetch/header/{id}", delete_preset,
          "Delete a header preset (its jobs keep running without it)", tag="headers",
          errors=(403, 404), operation_id="deleteHeaderPreset"),
]
