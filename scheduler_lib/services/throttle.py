"""Login throttling: too many failed logins → 429 with ``Retry-After``.

Three limits over the sliding window ``auth.login_window_seconds``:

- per account and client address: ``auth.login_max_failures`` failures;
- per client address, across accounts: five times that many (password spraying);
- per account, across addresses: ``auth.login_max_failures_per_account`` (a botnet
  guessing one account's password).

The account is the user the identifier names, so its username and its e-mail
address share one budget; an identifier that names nobody counts as itself. The
client address is the one ``clientaddr`` resolved (``server.trusted_proxies``);
IPv6 clients are counted per /64, the block one subscriber usually holds.

While a limit is reached every login of that account/address is refused before
the password is checked, even with the right password (so the per-account limit
can lock the owner out for a window: the price of stopping distributed guessing).
A successful login clears the failures of its account from its address.

Failures live in the ``login_failures`` table, not in process memory, so that
several nodes behind one load balancer share one count. Two concurrent failures may
both pass the check before either is recorded; the limit can be overshot by the
number of requests in flight, which does not matter for a limit meant to stop
guessing at scale. The identifier is stored as its sha256 (people type passwords
into the user name field).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from datetime import datetime, timedelta

import peewee

from ..config import Settings
from ..errors import TooManyRequests
from ..models import BaseModel
from ..timeutil import utcnow

__all__ = ["LoginFailure", "ADDRESS_FACTOR", "THROTTLED_MESSAGE", "account_key", "address_bucket",
           "check", "record_failure", "clear"]

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


def account_key(identifier: str, user_id: int | None) -> str:
    """What failures are counted under: the user named, else the identifier (hashed)."""
    subject = f"user:{user_id}" if user_id is not None else identifier.strip().lower()
    return hashlib.sha256(subject.encode("utf-8", "replace")).hexdigest()


def address_bucket(client_addr: str) -> str:
    """The client address as counted: IPv6 by its /64, anything else as it is."""
    try:
        ip = ipaddress.ip_address(client_addr.split("%", 1)[0])
    except ValueError:
        return client_addr[:_MAX_ADDR_LENGTH]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip)


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


def check(settings: Settings, account: str, client_addr: str) -> None:
    """Raise TooManyRequests (with Retry-After) when this login must not be tried.

    ``account`` is ``account_key(...)`` of the login's identifier."""
    limit = settings.auth.login_max_failures
    window = timedelta(seconds=settings.auth.login_window_seconds)
    now = utcnow()
    recent = LoginFailure.select(LoginFailure.failed_at).where(
        LoginFailure.failed_at > now - window)
    from_address = recent.where(LoginFailure.client_addr == address_bucket(client_addr))
    candidates = [
        _blocked_until(from_address.where(LoginFailure.identifier_hash == account),
                       limit, window),
        _blocked_until(from_address, limit * ADDRESS_FACTOR, window),
        _blocked_until(recent.where(LoginFailure.identifier_hash == account),
                       settings.auth.login_max_failures_per_account, window),
    ]
    until = max((moment for moment in candidates if moment is not None), default=None)
    if until is None:
        return
    retry_after = max(1, math.ceil((until - now).total_seconds()))
    raise TooManyRequests(THROTTLED_MESSAGE, headers={"Retry-After": str(retry_after)})


def record_failure(settings: Settings, account: str, client_addr: str) -> None:
    """Count one failed login; forget failures older than the window."""
    now = utcnow()
    LoginFailure.create(identifier_hash=account, client_addr=address_bucket(client_addr),
                        failed_at=now)
    horizon = now - timedelta(seconds=settings.auth.login_window_seconds)
    LoginFailure.delete().where(LoginFailure.failed_at <= horizon).execute()


def clear(account: str, client_addr: str) -> None:
    """A successful login: this account's failures from this address are forgiven."""
    (LoginFailure.delete()
     .where(LoginFailure.identifier_hash == account,
            LoginFailure.client_addr == address_bucket(client_addr))
     .execute())
