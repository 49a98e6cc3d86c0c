"""Login throttling: too many failed logins → 429 with ``Retry-After``.

Two limits over the sliding window ``auth.login_window_seconds``:

- per identifier and client address: ``auth.login_max_failures`` failures;
- per client address, across identifiers: five times that many (password spraying).

While a limit is reached every login of that identifier/address is refused before
the password is checked, even with the right password. A successful login clears
the failures of its identifier and address.

Failures live in the ``login_failures`` table, not in process memory, so that
several nodes behind one load balancer share one count. Two concurrent failures may
both pass the check before either is recorded; the limit can be overshot by the
number of requests in flight, which does not matter for a limit meant to stop
guessing at scale. The identifier is stored as its sha256 (people type passwords
into the user name field).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import peewee

from ..config import Settings
from ..errors import TooManyRequests
from ..models import BaseModel
from ..timeutil import utcnow

__all__ = ["LoginFailure", "ADDRESS_FACTOR", "THROTTLED_MESSAGE", "check", "record_failure",
           "clear"]

# One address may fail this many times the per-identifier limit across identifiers.
ADDRESS_FACTOR = 5
THROTTLED_MESSAGE = "Too many failed logins, try again later"
_MAX_ADDR_LENGTH = 64


class LoginFailure(BaseModel):
    """One failed login (table created by migration 0030)."""
    id = peewee.BigAutoField()
    identifier_hash = peewee.CharField()
    client_addr = peewee.CharField()
    failed_at = peewee.DateTimeField()

    class Meta:
        table_name = "login_failures"


def _identifier_hash(identifier: str) -> str:
    return hashlib.sha256(identifier.strip().lower().encode("utf-8", "replace")).hexdigest()


def _addr(client_addr: str) -> str:
    return client_addr[:_MAX_ADDR_LENGTH]


def _blocked_until(query: peewee.ModelSelect[LoginFailure], limit: int,
                   window: timedelta) -> datetime | None:
    """When the failures selected by ``query`` fall below ``limit``, if they reach it now.

    The ``limit``-th newest failure is the one whose expiry brings the count under
    the limit.
    """
    newest = list(query.order_by(LoginFailure.failed_at.desc()).limit(limit))
    if len(newest) < limit:
        return None
    return newest[-1].failed_at + window


def check(settings: Settings, identifier: str, client_addr: str) -> None:
    """Raise TooManyRequests (with Retry-After) when this login must not be tried."""
    limit = settings.auth.login_max_failures
    window = timedelta(seconds=settings.auth.login_window_seconds)
    now = utcnow()
    recent = LoginFailure.select(LoginFailure.failed_at).where(
        LoginFailure.client_addr == _addr(client_addr), LoginFailure.failed_at > now - window)
    candidates = [
        _blocked_until(recent.where(LoginFailure.identifier_hash == _identifier_hash(identifier)),
                       limit, window),
        _blocked_until(recent, limit * ADDRESS_FACTOR, window),
    ]
    until = max((moment for moment in candidates if moment is not None), default=None)
    if until is None:
        return
    retry_after = max(1, math.ceil((until - now).total_seconds()))
    raise TooManyRequests(THROTTLED_MESSAGE, headers={"Retry-After": str(retry_after)})


def record_failure(settings: Settings, identifier: str, client_addr: str) -> None:
    """Count one failed login; forget failures older than the window."""
    now = utcnow()
    LoginFailure.create(identifier_hash=_identifier_hash(identifier),
                        client_addr=_addr(client_addr), failed_at=now)
    horizon = now - timedelta(seconds=settings.auth.login_window_seconds)
    LoginFailure.delete().where(LoginFailure.failed_at <= horizon).execute()


def clear(identifier: str, client_addr: str) -> None:
    """A successful login: this identifier's failures from this address are forgiven."""
    (LoginFailure.delete()
     .where(LoginFailure.identifier_hash == _identifier_hash(identifier),
            LoginFailure.client_addr == _addr(client_addr))
     .execute())
