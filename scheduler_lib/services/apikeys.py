"""API keys: create, list, read, update, delete and rotate the caller's keys.

A key is ``sk_`` + 32 random bytes (``auth.new_api_key``). Only its sha256 is stored,
with its first characters (``prefix``) for recognising it in a list; the full key
is returned by create and rotate only. Keys are personal credentials: another
user's key is 403 for everybody, superusers included (a superuser removes a user's
keys by deleting or editing that user instead).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .. import auth
from ..db import database
from ..errors import BadRequest, Forbidden, NotFound
from ..models import ApiKey, User
from ..timeutil import utcnow

__all__ = ["PREFIX_LENGTH", "MAX_EXPIRY_DAYS", "SCOPES", "DEFAULT_SCOPE", "expiry", "list_keys",
           "create_key", "get_key", "update_key", "delete_key", "delete_all_keys", "rotate_key"]

# "sk_" and 8 characters of the random part: enough to tell keys apart, far too
# little to guess the rest.
PREFIX_LENGTH = 11
MAX_EXPIRY_DAYS = 36500
# Weakest first: a key may be lowered, never raised (a leaked key must not widen itself).
SCOPES = ("read", "write", "admin")
DEFAULT_SCOPE = "write"


def expiry(days: Any, now: datetime | None = None) -> datetime | None:
    """``expires_at`` of the API: whole days from now; 0 or None means never."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int | float):
        raise BadRequest("Field 'expires_at' must be an integer")
    if not 0 <= days <= MAX_EXPIRY_DAYS:  # also refuses NaN and infinities
        raise BadRequest(f"Field 'expires_at' must be between 0 and {MAX_EXPIRY_DAYS} days")
    if days != int(days):
        raise BadRequest("Field 'expires_at' must be an integer")
    if days == 0:
        return None
    return (now or utcnow()) + timedelta(days=int(days))


def list_keys(user: User, limit: int, offset: int) -> tuple[list[ApiKey], int]:
    query = ApiKey.select().where(ApiKey.user == user.id).order_by(ApiKey.id)
    return list(query.limit(limit).offset(offset)), query.count()


def _material() -> tuple[str, str, str]:
    key = auth.new_api_key()
    return key, key[:PREFIX_LENGTH], auth.hash_api_key(key)


def create_key(user: User, *, name: str, description: str | None = None,
               expires_days: Any = None, scope: str = DEFAULT_SCOPE) -> tuple[ApiKey, str]:
    """A new key of ``user``; returns the row and the full key (shown once)."""
    now = utcnow()
    key, prefix, key_hash = _material()
    row = ApiKey.create(user=user.id, name=name, description=description or "", prefix=prefix,
                        key_hash=key_hash, scope=scope, expires_at=expiry(expires_days, now),
                        created_at=now, updated_at=now)
    return row, key


def get_key(user: User, key_id: int) -> ApiKey:
    """The caller's key; 404 when there is none, 403 when it is someone else's."""
    row = ApiKey.get_or_none(ApiKey.id == key_id)
    if row is None:
        raise NotFound(f"Api key with id {key_id} not found")
    if row.user_id != user.id:
        raise Forbidden("You do not have access to this api key")
    return row


def update_key(user: User, key_id: int, changes: dict[str, Any]) -> ApiKey:
    """Change ``name``, ``description``, ``expires_at`` (days from now, 0 = never) or
    lower ``scope`` (raising it is 403)."""
    with database.atomic():
        row = get_key(user, key_id)
        if "scope" in changes:
            if SCOPES.index(changes["scope"]) > SCOPES.index(row.scope):
                raise Forbidden("An API key's scope can be lowered, not raised: "
                                "create a new key instead")
            row.scope = changes["scope"]
        if "name" in changes:
            row.name = changes["name"]
        if "description" in changes:
            row.description = changes["description"] or ""
        if "expires_at" in changes:
            row.expires_at = expiry(changes["expires_at"])
        row.updated_at = utcnow()
        row.save()
    return row


def delete_key(user: User, key_id: int) -> None:
    with database.atomic():
        get_key(user, key_id).delete_instance()


def delete_all_keys(user: User) -> int:
    """Delete every key of ``user``; returns how many went."""
    return ApiKey.delete().where(ApiKey.user == user.id).execute()


def rotate_key(user: User, key_id: int, expires_days: Any = None,
               change_expiry: bool = False) -> tuple[ApiKey, str]:
    """Give the key new material: the old key stops working at once.

    Name, description and expiry stay (unless ``change_expiry``); ``last_used_at``
    starts afresh with the new material.
    """
    key, prefix, key_hash = _material()
    with database.atomic():
        row = get_key(user, key_id)
        row.key_hash = key_hash
        row.prefix = prefix
        row.last_used_at = None
        if change_expiry:
            row.expires_at = expiry(expires_days)
        row.updated_at = utcnow()
        row.save()
    return row, key
