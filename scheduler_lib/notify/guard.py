"""The private-network rule for channel targets (``fetch.deny_private_networks``).

One function, so that the stricter guard (connect to the checked address) can take
its place without touching the transports.
"""

from __future__ import annotations

import socket

from ..engine.executors import PrivateAddressError, check_public_host

__all__ = ["refuse_private"]


def refuse_private(host: str | None, port: int) -> str | None:
    """Why sending to ``host`` is refused (it resolves to a non-public address), or None."""
    if not host:
        return None
    try:
        check_public_host(host, port)
    except PrivateAddressError as exc:
        return str(exc)
    except (socket.gaierror, UnicodeError):
        return f"DNS lookup failed for {host}"
    return None
