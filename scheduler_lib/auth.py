"""Credentials: bcrypt password hashes, HS256 JWTs and API key material.

Pure functions, no database and no web framework: the services decide what a
credential is worth, this module only makes and checks them.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import bcrypt
import jwt

from .errors import Unauthorized

__all__ = [
    "MAX_PASSWORD_BYTES", "hash_password", "unmatchable_hash", "check_password", "TokenPair",
    "issue_token", "decode_token", "new_api_key", "hash_api_key", "API_KEY_PREFIX",
]

# bcrypt only looks at the first 72 bytes; longer passwords are refused on write.
MAX_PASSWORD_BYTES = 72
API_KEY_PREFIX = "sk_"
_ALGORITHM = "HS256"


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def unmatchable_hash(rounds: int) -> str:
    """A well-formed bcrypt hash of cost ``rounds`` that no password matches.

    Checking a password against it takes as long as against a real hash (the cost and
    salt are what count), but making it costs nothing: start-up does not pay a bcrypt.
    """
    return bcrypt.gensalt(rounds).decode() + "." * 31


def check_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches; False for any malformed input."""
    encoded = password.encode()
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode())
    except ValueError:
        return False


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    refresh_jti: str
    refresh_expires_at: float


def issue_token(secret: str, *, user_id: int, username: str, token_type: str,
                ttl_seconds: int, token_version: int, family_id: str | None = None,
                now: float | None = None) -> tuple[str, dict[str, Any]]:
    """Sign one token; returns it with its claims."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "username": username,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "token_type": token_type,
        # Bumped on password change: tokens issued before it stop working.
        "ver": token_version,
    }
    if family_id is not None:
        claims["fam"] = family_id
    return jwt.encode(claims, secret, algorithm=_ALGORITHM), claims


def decode_token(secret: str, token: str, expected_type: str) -> dict[str, Any]:
    """Verify signature, expiry and type; raise Unauthorized otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM],
            options={"require": ["sub", "exp", "iat", "jti", "token_type"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Token has expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("Invalid token") from None
    if claims.get("token_type") != expected_type:
        raise Unauthorized("Invalid token type")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isdigit() or not isinstance(claims.get("jti"), str):
        raise Unauthorized("Invalid token")
    return claims


def new_api_key() -> str:
    """A fresh key: a recognisable prefix and 32 random bytes."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Keys are long random strings, so a fast hash is enough to store them safely."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
