"""The private-network guard (``fetch.deny_private_networks``) for every outgoing call.

A target may only be reached on globally routable addresses. Checking a name and
then letting the HTTP client resolve it again to connect is not enough: the second
answer can differ (DNS rebinding). So the guard resolves once, checks *every*
address, and connects to one of exactly those addresses, while the host name stays
what the request is about (``Host`` header, TLS SNI and certificate check).

Public surface:

- ``guarded_pool_manager(**kw)`` — a ``urllib3.PoolManager`` whose new connections
  only ever go to checked public addresses (webhooks);
- ``public_addresses(host, port)`` — every address of ``host``, all checked: the jobs'
  REST executor resolves through it and connects only to what it returns;
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
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

__all__ = ["PrivateAddressError", "is_public_address", "public_addresses", "check_url",
           "connect_public", "guarded_pool_manager", "DEFAULT_PORTS"]

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
            return create_connection((address, port), timeout)
        except TimeoutError:
            raise
        except OSError as exc:
            last_error = exc
    raise last_error or OSError(f"no address to connect to for {host}")


class _GuardedConnect:
    """``_new_conn`` of urllib3's connections, connecting to checked addresses only.

    urllib3 keeps using ``self.host`` for the Host header, SNI and certificate
    matching; only the TCP connection goes to the address that was checked.
    """

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        try:
            addresses = public_addresses(self.host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        last_error: OSError | None = None
        for address in addresses:
            try:
                return create_connection((address, self.port), self.timeout,
                                         source_address=self.source_address,
                                         socket_options=self.socket_options)
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                f"(connect timeout={self.timeout})") from exc
            except OSError as exc:
                last_error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: "  # type: ignore[arg-type]
                                       f"{last_error}") from last_error


class _GuardedHTTPConnection(_GuardedConnect, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnect, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


def guarded_pool_manager(**kwargs: Any) -> urllib3.PoolManager:
    """A ``urllib3.PoolManager`` (same arguments) that only connects to public addresses."""
    manager = urllib3.PoolManager(**kwargs)
    manager.pool_classes_by_scheme = {"http": _GuardedHTTPConnectionPool,
                                      "https": _GuardedHTTPSConnectionPool}
    return manager
