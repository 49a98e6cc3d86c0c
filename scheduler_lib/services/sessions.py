"""Login, token refresh with rotation and reuse detection, logout."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import peewee

from .. import auth
from ..context import AppContext
from ..db import database, release_connection
from ..errors import Unauthorized
from ..models import RefreshToken, RevokedToken, User
from ..timeutil import from_epoch, utcnow
from . import audit, throttle

__all__ = ["login", "refresh", "logout", "revoke_all_refresh_tokens", "find_user"]


def find_user(identifier: str) -> User | None:
    """The user whose username or e-mail is ``identifier`` (case-insensitive)."""
    needle = identifier.strip().lower()
    field = User.email if "@" in needle else User.username
    return User.get_or_none(peewee.fn.lower(field) == needle)


def _issue_pair(ctx: AppContext, user: User, family_id: str) -> dict[str, str]:
    settings = ctx.settings.auth
    access, _ = auth.issue_token(
        ctx.jwt_secret, user_id=user.id, username=user.username, token_type="access",
        ttl_seconds=settings.access_ttl_seconds, token_version=user.token_version)
    refresh_token, claims = auth.issue_token(
        ctx.jwt_secret, user_id=user.id, username=user.username, token_type="refresh",
        ttl_seconds=settings.refresh_ttl_seconds, token_version=user.token_version,
        family_id=family_id)
    RefreshToken.create(
        jti=claims["jti"], user=user.id, family_id=family_id,
        expires_at=from_epoch(claims["exp"]), created_at=utcnow())
    return {"access_token": access, "refresh_token": refresh_token}


def login(ctx: AppContext, identifier: str, password: str,
          client: audit.Actor) -> dict[str, str]:
    """A new token pair (a new refresh family), or Unauthorized.

    TooManyRequests while the account ``identifier`` names or the client's address is
    throttled (checked before the password, so even the right one is refused then).
    Both a login and a failed one are audited (as ``client`` acting as the account
    named).
    """
    client_addr = client.remote_addr or ""
    user = find_user(identifier)
    account = throttle.account_key(identifier, user.id if user is not None else None)
    throttle.check(ctx.settings, account, client_addr)
    # bcrypt takes a while: let other requests use the pooled connection meanwhile.
    release_connection()
    # Check a password either way so unknown users and wrong passwords take as long.
    if user is None:
        auth.check_password(password, ctx.dummy_password_hash)
        ok = False
    else:
        ok = auth.check_password(password, user.password_hash)
    if not ok or user is None:
        with database.atomic():
            throttle.record_failure(ctx.settings, account, client_addr)
            audit.record(client.as_user(user), "login.failed", resource="user",
                         resource_id=user.id if user is not None else None)
        raise Unauthorized("Invalid identifier or password")
    with database.atomic():
        throttle.clear(account, client_addr)
        audit.record(client.as_user(user), "login", resource="user", resource_id=user.id)
        return _issue_pair(ctx, user, uuid.uuid4().hex)


def _revoke_family(family_id: str) -> None:
    (RefreshToken.update(revoked_at=utcnow())
     .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_null())
     .execute())


def _claim_refresh_token(ctx: AppContext, token: str) -> tuple[dict[str, Any], RefreshToken]:
    claims = auth.decode_token(ctx.jwt_secret, token, "refresh")
    row = RefreshToken.get_or_none(RefreshToken.jti == claims["jti"])
    if row is None or str(row.user_id) != claims["sub"]:
        raise Unauthorized("Invalid token")
    return claims, row


def refresh(ctx: AppContext, token: str, client: audit.Actor) -> dict[str, str]:
    """Rotate: revoke the presented refresh token and return a new pair.

    Presenting a token that was already revoked means it leaked: every token of its
    login (family) is revoked too, and the detection is audited (``token.reuse``).
    Claiming the token, revoking the family on reuse and issuing the new token happen
    in one transaction: a racing reuse either waits for the winner's new token and
    revokes it with the family, or wins and is revoked by the other; two live
    sessions never come out of one token.
    """
    claims, row = _claim_refresh_token(ctx, token)
    with database.atomic():
        won = (RefreshToken.update(revoked_at=utcnow())
               .where(RefreshToken.jti == row.jti, RefreshToken.revoked_at.is_null())
               .execute())
        user = User.get_or_none(User.id == row.user_id)
        if not won:
            _revoke_family(row.family_id)
            audit.record(client.as_user(user), "token.reuse", resource="user",
                         resource_id=row.user_id)
        elif user is not None and claims.get("ver") == user.token_version:
            audit.record(client.as_user(user), "token.refresh", resource="user",
                         resource_id=user.id)
            return _issue_pair(ctx, user, row.family_id)
    if not won:
        raise Unauthorized("Token has been revoked")
    raise Unauthorized("Invalid token")


def logout(ctx: AppContext, actor: audit.Actor, user: User, refresh_token: str,
           access_claims: dict[str, Any] | None) -> None:
    """Revoke the refresh token and the access token used for this call (audited)."""
    try:
        claims, row = _claim_refresh_token(ctx, refresh_token)
    except Unauthorized:
        raise Unauthorized("Invalid token") from None
    if claims["sub"] != str(user.id) or row.revoked_at is not None:
        raise Unauthorized("Invalid token")
    now = utcnow()
    with database.atomic():
        RefreshToken.update(revoked_at=now).where(RefreshToken.jti == row.jti).execute()
        if access_claims is not None:
            (RevokedToken.insert(jti=access_claims["jti"],
                                 expires_at=from_epoch(access_claims["exp"]))
             .on_conflict_ignore().execute())
        # Entries past their token's expiry protect nothing any more.
        RevokedToken.delete().where(RevokedToken.expires_at < now - timedelta(minutes=1)).execute()
        audit.record(actor, "logout", resource="user", resource_id=user.id)


def revoke_all_refresh_tokens(user_id: int) -> None:
    (RefreshToken.update(revoked_at=utcnow())
     .where(RefreshToken.user == user_id, RefreshToken.revoked_at.is_null())
     .execute())
