"""Who is calling: turn an Authorization or X-API-Key header into a user."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import peewee

from .. import auth
from ..context import AppContext
from ..db import database
from ..errors import Unauthorized
from ..models import ApiKey, RevokedToken, User
from ..timeutil import utcnow

__all__ = ["Identity", "authenticate", "LAST_USED_RESOLUTION"]

# last_used_at is written at most this often per key, so that a busy key does not
# turn every read into a database write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Identity:
    user: User
    claims: dict[str, Any] | None = None  # the access token's claims (JWT callers)
    api_key: ApiKey | None = None         # the key used (API key callers)


_USER_FIELDS = User._meta.sorted_fields
# Only these need converting from what the drivers return (SQLite: text, 0/1).
_USER_CONVERTERS = [(field.name, field.python_value
                     if isinstance(field, peewee.DateTimeField | peewee.BooleanField) else None)
                    for field in _USER_FIELDS]
_USER_AND_REVOKED: dict[str, str] = {}


def _user_and_revoked_sql(param: str) -> str:
    """One statement for the token's user and whether its jti is revoked.

    Every authenticated request runs it, so its SQL is written once (per placeholder
    style) instead of being built by the ORM on each call.
    """
    sql = _USER_AND_REVOKED.get(param)
    if sql is None:
        columns = ", ".join(f'"{field.column_name}"' for field in _USER_FIELDS)
        sql = (f'SELECT {columns}, EXISTS (SELECT 1 FROM "{RevokedToken._meta.table_name}" '
               f'WHERE "jti" = {param}) FROM "{User._meta.table_name}" WHERE "id" = {param}')
        _USER_AND_REVOKED[param] = sql
    return sql


def _user_and_revoked(user_id: int, jti: str) -> tuple[User | None, bool]:
    db = database.obj
    row = db.execute_sql(_user_and_revoked_sql(db.param), (jti, user_id)).fetchone()
    if row is None:
        return None, False
    user = User(__no_default__=1, **{name: value if convert is None else convert(value)
                                     for (name, convert), value in zip(_USER_CONVERTERS, row,
                                                                       strict=False)})
    user._dirty.clear()  # type: ignore[attr-defined]  # as peewee leaves a row it read (not in its stubs)
    return user, bool(row[-1])


# Access tokens whose signature and claims were already checked, with their claims.
# A client sends the same token for its whole lifetime, and verifying it again on
# each request was the largest cost of the auth path after the query. Keyed by the
# whole token (signature included) and the secret; expiry is still checked on
# every use; the user, its token version and revocation are read on every request.
_VERIFIED_MAX = 4096
_verified: dict[tuple[str, str], dict[str, Any]] = {}


def _access_claims(secret: str, token: str) -> dict[str, Any]:
    key = (secret, token)
    claims = _verified.get(key)
    if claims is None:
        claims = auth.decode_token(secret, token, "access")
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[key] = claims
    elif claims["exp"] <= time.time():
        _verified.pop(key, None)
        raise Unauthorized("Token has expired")
    return claims


def _from_bearer(ctx: AppContext, header: str) -> Identity:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Invalid Authorization header")
    claims = _access_claims(ctx.jwt_secret, token.strip())
    user, revoked = _user_and_revoked(int(claims["sub"]), claims["jti"])
    if user is None or claims.get("ver") != user.token_version:
        raise Unauthorized("Invalid token")
    if revoked:
        raise Unauthorized("Token has been revoked")
    return Identity(user=user, claims=claims)


def _from_api_key(key: str) -> Identity:
    row = (ApiKey.select(ApiKey, User).join(User)
           .where(ApiKey.key_hash == auth.hash_api_key(key.strip())).first())
    if row is None:
        raise Unauthorized("Invalid API Key")
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("Expired API Key!")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.update(last_used_at=now).where(ApiKey.id == row.id).execute()
        row.last_used_at = now
    return Identity(user=row.user, api_key=row)


def authenticate(ctx: AppContext, authorization: str | None, api_key: str | None) -> Identity:
    """The caller's identity; Authorization wins when both headers are sent."""
    if authorization:
        return _from_bearer(ctx, authorization)
    if api_key:
        return _from_api_key(api_key)
    raise Unauthorized("Missing Authorization or x-api-key header")
