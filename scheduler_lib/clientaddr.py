"""The client address of a request, believing ``X-Forwarded-For`` only from trusted proxies.

``server.trusted_proxies`` lists the addresses and networks of reverse proxies in
front of the scheduler. A request whose TCP peer is one of them gets its client
address from ``X-Forwarded-For``, read from the right (the hop nearest to us) past
every trusted proxy; the first address that is not a trusted proxy is the client.
From any other peer the header is ignored, so a client cannot pick its own address
to dodge the login throttle or to forge the audit log.

``client_address(environ)`` is the one place that answers "who is calling" for
throttling, access logs and the audit log; the app resolves it once per request
(``remember_client_address``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Network", "parse_trusted_proxies", "resolve_client_address",
           "remember_client_address", "client_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ENVIRON_KEY = "scheduler.client_addr"
_MAX_HOPS = 32  # a longer X-Forwarded-For chain is read only this far from the right


def parse_trusted_proxies(text: str | None) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16"`` as networks; ValueError names a bad entry."""
    networks = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: Any, trusted: Sequence[Network]) -> bool:
    return ip is not None and any(ip.version == net.version and ip in net for net in trusted)


def resolve_client_address(environ: Mapping[str, Any], trusted: Sequence[Network]) -> str:
    """The client's address: the peer, or what trusted proxies say the client was."""
    peer = environ.get("REMOTE_ADDR", "") or ""
    if not trusted or not _trusted(_ip(peer), trusted):
        return peer
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    client = peer
    for hop in reversed(forwarded.split(",")[-_MAX_HOPS:]):
        ip = _ip(hop)
        if ip is None:
            break  # garbage: believe no further than the last proxy that spoke
        client = str(ip)
        if not _trusted(ip, trusted):
            break
    return client


def remember_client_address(environ: dict[str, Any], trusted: Sequence[Network]) -> str:
    """Resolve the request's client address once and keep it in the environ."""
    address = resolve_client_address(environ, trusted)
    environ[_ENVIRON_KEY] = address
    return address


def client_address(environ: Mapping[str, Any]) -> str:
    """The client address of this request (as resolved by the app; else the TCP peer)."""
    return environ.get(_ENVIRON_KEY) or environ.get("REMOTE_ADDR", "") or ""
