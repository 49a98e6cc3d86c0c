"""Header presets: reusable request headers, owned by their creator.

Names must be HTTP header tokens (RFC 9110) and values must not contain CR, LF or
NUL, so a preset can never smuggle a header or a request line into a job's call.
Headers that frame or route a request (``Content-Length``, ``Host``, …) belong to
the HTTP client: a preset may not set them (a wrong ``Content-Length`` on a pooled
connection would make the target read a second request), and the engine drops the
ones that presets stored before this rule hold (``is_reserved_header``). Deleting a preset
detaches it from the jobs that used it.
"""

from __future__ import annotations

import re
from typing import Any

from ..context import AppContext
from ..db import database
from ..errors import BadRequest, NotFound
from ..models import HeaderPreset, Job, User
from ..timeutil import utcnow
from . import access

__all__ = ["TOKEN_PATTERN", "RESERVED_HEADERS", "is_reserved_header", "check_headers",
           "list_presets", "create_preset", "get_preset",
           "update_preset", "delete_preset", "usable_preset"]

TOKEN_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")   # fullmatch: "$" allows a final "\n"
# API.md section 6: set by the client that sends the request, never by a preset.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection",
                              "keep-alive", "upgrade", "te", "trailer"})
_RESERVED_PREFIXES = ("proxy-", "sec-websocket-")
_UNSENDABLE = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u0100-\U0010ffff]")
_WHAT = "header"


def is_reserved_header(name: str) -> bool:
    """Whether ``name`` frames or routes a request (``Host``, ``Proxy-*``, …)."""
    lowered = name.lower()
    return lowered in RESERVED_HEADERS or lowered.startswith(_RESERVED_PREFIXES)


def check_headers(headers: dict[str, Any], field: str = "headers") -> dict[str, str]:
    """``headers`` if every name is a token that a preset may set and every value a
    string without CR/LF/NUL."""
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise BadRequest(f"Field '{field}' has a name that is not a valid HTTP header "
                             "name (letters, digits and !#$%&'*+.^_`|~-)")
        if is_reserved_header(name):
            raise BadRequest(f"Field '{field}.{name}' is not allowed: it frames or routes "
                             "the request, which the scheduler's HTTP client does itself")
        if not isinstance(value, str):
            raise BadRequest(f"Field '{field}.{name}' must be a string")
        if any(c in value for c in "\r\n\x00"):
            raise BadRequest(f"Field '{field}.{name}' must not contain CR, LF or NUL")
        if _UNSENDABLE.search(value):
            # HTTP field values are bytes: tab, visible ASCII and Latin-1 (RFC 9110).
            raise BadRequest(f"Field '{field}.{name}' must contain only printable "
                             "Latin-1 characters")
    return headers


def list_presets(user: User, query: dict[str, Any]) -> tuple[list[HeaderPreset], int]:
    rows = HeaderPreset.select().order_by(HeaderPreset.id)
    if not access.check_all_flag(user, query):
        rows = rows.where(HeaderPreset.user == user.id)
    return list(rows.limit(query["limit"]).offset(query["offset"])), rows.count()


def create_preset(user: User, body: dict[str, Any]) -> HeaderPreset:
    now = utcnow()
    return HeaderPreset.create(user=user.id, name=body["name"],
                               headers=check_headers(body["headers"]),
                               created_at=now, updated_at=now)


def get_preset(user: User, preset_id: int) -> HeaderPreset:
    """The preset if ``user`` may see it: 404 missing, 403 someone else's."""
    return access.owned_row(user, HeaderPreset, preset_id, _WHAT,
                            NotFound(f"Header with id {preset_id} not found"))


def usable_preset(user: access.Caller, preset_id: int) -> HeaderPreset:
    """A preset a job of ``user`` may use: unknown → 400, someone else's → 403."""
    return access.owned_row(user, HeaderPreset, preset_id, _WHAT,
                            BadRequest("Header ID not found. Please create header first."))


def update_preset(user: User, preset_id: int, changes: dict[str, Any]) -> HeaderPreset:
    with database.atomic():
        preset = get_preset(user, preset_id)
        if "name" in changes:
            preset.name = changes["name"]
        if "headers" in changes:
            preset.headers = check_headers(changes["headers"])
        preset.updated_at = utcnow()
        preset.save()
    return preset


def delete_preset(ctx: AppContext, user: User, preset_id: int) -> None:
    with database.atomic():
        preset = get_preset(user, preset_id)
        (Job.update(header_preset=None, updated_at=utcnow())
         .where(Job.header_preset == preset.id).execute())
        preset.delete_instance()
    ctx.jobs_changed()
