"""Channel types: one module per type, each a ``Transport``, named in ``TRANSPORTS``.

A transport checks a target when a channel is written (``check_target``), shows it
without secrets (``display_target``) and sends one message (``notify``), raising
``TransportError`` with a short reason that is safe to show the channel's owner
(it never contains a secret). Which transport serves a channel is a lookup in
``TRANSPORTS`` by the channel's ``type``, never an ``if`` on it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from ...config import Settings
from ..events import Message

__all__ = ["ChannelInfo", "Transport", "TransportError", "TRANSPORTS", "transport_for"]


class TransportError(Exception):
    """A message was not delivered; ``str()`` says why (no secrets)."""


@dataclass(frozen=True)
class ChannelInfo:
    """What sending needs to know of a channel."""
    id: int
    type: str
    target: str
    secret: str | None
    owner_is_superuser: bool     # exempt from fetch.deny_private_networks, as for jobs


class Transport(Protocol):
    has_secret: bool             # webhooks sign with a per-channel secret

    def __init__(self, settings: Settings) -> None: ...

    def check_target(self, target: str) -> str:
        """The target as it will be stored; BadRequest naming ``target`` if unusable."""

    def display_target(self, target: str) -> str:
        """The target as responses and logs show it (passwords and tokens masked)."""

    def notify(self, channel: ChannelInfo, message: Message) -> None:
        """Send ``message``; TransportError when it was not delivered."""


# Channel type -> "module:class"; a module is imported when its type is first used
# (the idle server's memory is budgeted: docs/deployment.md).
TRANSPORTS: dict[str, str] = {
    "webhook": "webhook:WebhookTransport",
    "email": "email:EmailTransport",
    "apprise": "apprise_url:AppriseTransport",
}


def transport_for(kind: str, settings: Settings) -> Transport:
    """The transport of channel type ``kind`` (one of ``TRANSPORTS``)."""
    module, name = TRANSPORTS[kind].split(":")
    cls: type[Transport] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls(settings)
