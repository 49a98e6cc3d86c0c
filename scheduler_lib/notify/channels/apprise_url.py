"""Apprise channels: any URL the ``apprise`` library speaks (Slack, Discord, Telegram,
Teams, ntfy, Gotify, Matrix, mailto, json, …), sent through that library.

An Apprise URL carries its service's credentials, so it is shown only as Apprise's
own privacy rendering with every token reduced to ``****``, and Apprise's log lines
(which may quote the URL) are captured, masked and kept only as a delivery's error.

The library (about 20 MB and 0.3 s to import, as much again once its plugins load) is
imported the first time an Apprise channel is used, not at start-up.
"""

from __future__ import annotations

import functools
import logging
import re
import socket
from types import ModuleType
from typing import Any

from ... import netguard
from ...config import Settings
from ...errors import BadRequest
from ..events import Message
from . import ChannelInfo, TransportError

__all__ = ["AppriseTransport"]

# Apprise's notify types (its NotifyType values) by event; anything else is "info".
_NOTIFY_TYPES = {"failure": "failure", "paused": "warning", "recovery": "success",
                 "success": "success"}
# Apprise's privacy mode keeps a token's first and last character ("T...2").
_PARTLY_MASKED = re.compile(r"[^/:@?&=#.\s]\.\.\.[^/:@?&=#.\s]")
_SECRET_PARTS = re.compile(r"[/:@?&=#,+\s]+")

@functools.cache
def _apprise() -> ModuleType:
    import apprise

    # Apprise logs through the "apprise" logger, sometimes with the URL in the text:
    # never into our logs; ``LogCapture`` collects what a send says.
    log = logging.getLogger("apprise")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return apprise


def _plugin(target: str) -> Any:   # an Apprise plugin (Apprise has no type information)
    apprise = _apprise()
    with apprise.LogCapture(level=logging.ERROR):
        return apprise.Apprise.instantiate(target, suppress_exceptions=True)


def _redact(text: str, target: str) -> str:
    """``text`` with every part of ``target`` that could be a secret replaced by ****."""
    for part in sorted(set(_SECRET_PARTS.split(target)), key=len, reverse=True):
        if len(part) >= 4 and "." not in part:
            text = text.replace(part, "****")
    return text


class AppriseTransport:
    has_secret = False

    def __init__(self, settings: Settings) -> None:
        self.deny_private = settings.fetch.deny_private_networks

    def check_target(self, target: str) -> str:
        if _plugin(target) is None:
            raise BadRequest("Field 'target' is not a URL Apprise recognises")
        return target

    def display_target(self, target: str) -> str:
        plugin = _plugin(target)
        if plugin is None:
            return "****"
        return _PARTLY_MASKED.sub("****", plugin.url(privacy=True))

    def notify(self, channel: ChannelInfo, message: Message) -> None:
        plugin = _plugin(channel.target)
        if plugin is None:
            raise TransportError("the Apprise URL is no longer recognised")
        if self.deny_private and not channel.owner_is_superuser:
            self._check_host(plugin)
        apprise = _apprise()
        sender = apprise.Apprise()
        sender.add(plugin)
        with apprise.LogCapture(level=logging.WARNING) as logs:
            sent = sender.notify(body=message.text(), title=message.subject(),
                                 notify_type=apprise.NotifyType(
                                     _NOTIFY_TYPES.get(message.event, "info")))
        if not sent:
            said = [line.strip() for line in logs.getvalue().splitlines() if line.strip()]
            reason = _redact(said[-1], channel.target)[:300] if said else "no reason given"
            raise TransportError(f"Apprise could not send: {reason}")

    @staticmethod
    def _check_host(plugin: object) -> None:
        """Refuse a host that resolves to a private address (``netguard``; Apprise
        connects by itself, so this is a check before sending). A "host" that does not
        resolve is a token of a service whose endpoint Apprise fixes (slack://T…/…)."""
        host = getattr(plugin, "host", None)
        if not isinstance(host, str) or not host:
            return
        port = getattr(plugin, "port", None) or (443 if getattr(plugin, "secure", False) else 80)
        try:
            netguard.public_addresses(host, int(port))
        except netguard.PrivateAddressError as exc:
            raise TransportError(str(exc)) from None
        except (socket.gaierror, UnicodeError):
            return
