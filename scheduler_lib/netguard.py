"""The private-network guard (``fetch.deny_private_networks``) for every outgoing call.

A target may only be reached on globally routable addresses. Checking a name and
then letting the HTTP client resolve it again to connect is not enough: the second
answer can differ (DNS rebinding). So the guard resolves once, checks *every*
address, and connects to one of exactly those addresses, while the host name stays
what the request is about (``Host`` header, TLS SNI and certificate check).

Public surface:

- ``public_addresses(host, port)`` — every address of ``host``, all checked: the
  REST executor's resolver returns them to aiohttp, which connects only to them;
- ``connect_public(host, port, timeout)`` — a TCP socket to a checked public address
  (WebSocket handshakes, any other raw sender);
- ``check_url(url)`` — resolve and check a URL's host now, for senders that connect
  by themselves (Apprise) and for validating a target when it is saved;
- ``is_public_address(ip)`` underneath.

Refusals raise ``PrivateAddressError`` (its message names the address); a name that
does not resolve raises ``socket.gaierror``. No proxy is ever involved: a proxy
would connect to whatever it resolves.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["PrivateAddressError", "is_public_address", "public_addresses", "check_url",
           "connect_public", "DEFAULT_PORTS"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrivateAddressError(Exception):
    """The target resolves to an address that ``deny_private_networks`` forbids."""


def is_public_address(ip: IPAddress) -> bool:
    """Whether ``ip`` is globally routable unicast.

    ``is_global`` rather than ``not is_private``: shared address space
    (100.64.0.0/10), benchmarking, documentation and reserved ranges are not
    private, yet not the internet either. IPv4 addresses embedded in IPv6
    (mapped, 6to4, Teredo) are judged as the IPv4 address they reach.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public_address(embedded):
            return False
    return ip.is_global and not ip.is_multicast


def public_addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, if all are public; else PrivateAddressError."""
    addresses: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        text = str(sockaddr[0])
        if not is_public_address(ipaddress.ip_address(text.split("%", 1)[0])):
            raise PrivateAddressError(
                f"target address {text} is in a private network (not globally routable; "
                "denied by fetch.deny_private_networks)")
        if text not in addresses:
            addresses.append(text)
    return addresses


def check_url(url: str) -> None:
    """Raise PrivateAddressError (or ValueError, socket.gaierror) unless every address
    of ``url``'s host is public."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    public_addresses(parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 443))


def connect_public(host: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to one of ``host``'s addresses, all of which were checked."""
    last_error: OSError | None = None
    for address in public_addresses(host, port):
        try:
            return socket.create_connection((address, port), timeout)
        except TimeoutError:
            raise
        except OSError as exc:
            last_error = exc
    raise last_error or OSError(f"no address to connect to for {host}")
