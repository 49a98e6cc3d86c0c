"""Webhook channels: one signed JSON ``POST`` per event.

The signature is ``X-Scheduler-Signature: sha256=<hex HMAC-SHA256>`` over the exact
body bytes, keyed with the channel's whole ``whsec_…`` secret as UTF-8 bytes.
Success is a 2xx answer within ``TIMEOUT`` seconds; redirects are not followed. With
``fetch.deny_private_networks`` the POST goes through ``netguard``'s pool, which only
connects to the public addresses it checked (channels of superusers are exempt, as
their jobs are).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

import urllib3

from ... import __version__, netguard
from ...config import Settings
from ...errors import BadRequest
from ..events import Message
from . import ChannelInfo, TransportError

__all__ = ["WebhookTransport", "new_secret", "signature", "TIMEOUT"]

TIMEOUT = 10.0
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def new_secret() -> str:
    """``whsec_`` + 32 random bytes in URL-safe base64 (no padding)."""
    return "whsec_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def signature(secret: str, body: bytes) -> str:
    """The ``X-Scheduler-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookTransport:
    has_secret = True

    def __init__(self, settings: Settings) -> None:
        self.deny_private = settings.fetch.deny_private_networks
        self._pools: dict[bool, urllib3.PoolManager] = {}   # by "guarded"

    def check_target(self, target: str) -> str:
        try:
            parts = urlsplit(target)
            ok = (parts.scheme in ("http", "https") and bool(parts.hostname)
                  and (parts.port is None or parts.port > 0))
        except ValueError:
            ok = False
        if not ok or _CONTROL.search(target):
            raise BadRequest("Field 'target' must be an http:// or https:// URL for a "
                             "webhook channel")
        return target

    def display_target(self, target: str) -> str:
        parts = urlsplit(target)
        if parts.password is None:
            return target
        host = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=f"{parts.username or ''}:****@{host}").geturl()

    def notify(self, channel: ChannelInfo, message: Message) -> None:
        assert channel.secret is not None, "webhook channels always have a secret"
        guarded = self.deny_private and not channel.owner_is_superuser
        body = message.body_bytes()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"scheduler/{__version__}",
            "X-Scheduler-Event": message.event,
            "X-Scheduler-Delivery": message.delivery_id,
            "X-Scheduler-Signature": signature(channel.secret, body),
        }
        try:
            response = self._pool(guarded).request(
                "POST", channel.target, body=body, headers=headers,
                timeout=urllib3.Timeout(total=TIMEOUT), redirect=False, retries=False,
                preload_content=False)
            response.drain_conn()
            response.release_conn()
        except Exception as exc:  # every failure becomes the delivery's error
            # Imported here: it brings aiohttp (~25 MiB), which the serving process
            # otherwise never loads (the engine process makes the jobs' calls).
            from ...engine.executors.rest import describe_failure

            host = urllib3.util.parse_url(channel.target).host or ""
            raise TransportError(describe_failure(exc, TIMEOUT, host)) from None
        if not 200 <= response.status < 300:
            raise TransportError(f"unexpected status {response.status}")

    def _pool(self, guarded: bool) -> urllib3.PoolManager:
        if guarded not in self._pools:
            make = netguard.guarded_pool_manager if guarded else urllib3.PoolManager
            self._pools[guarded] = make(num_pools=20, maxsize=4)
        return self._pools[guarded]
