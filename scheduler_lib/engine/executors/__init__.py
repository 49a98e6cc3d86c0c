"""Executors: perform one attempt of a run against its target, nothing else.

They know nothing of the database or of jobs: a ``Request`` goes in, an ``Outcome``
comes out. Every failure is caught and described in ``Outcome.error`` (``timeout
after 10 s``, ``connection refused``, ``DNS lookup failed …``, ``TLS error …``), so
an executor never raises for a target's misbehaviour.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

__all__ = ["Request", "Outcome", "PrivateAddressError", "check_public_host", "timeout_text"]


@dataclass(frozen=True)
class Request:
    """One attempt to send: where, what, and within how long."""
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout: float = 10.0


@dataclass
class Outcome:
    """What the target answered, or why it did not (``error``)."""
    status_code: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    error: str | None = None


class PrivateAddressError(Exception):
    """The target resolves to an address that ``deny_private_networks`` forbids."""


def timeout_text(seconds: float) -> str:
    return f"timeout after {seconds:g} s"


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


def check_public_host(host: str, port: int) -> None:
    """Raise PrivateAddressError when ``host`` resolves to a non-public address.

    Every resolved address is checked, so a name with one public and one private
    address is refused too. DNS failures propagate as ``socket.gaierror``.
    """
    for *_, sockaddr in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        if _is_private(str(sockaddr[0])):
            raise PrivateAddressError(
                f"target address {sockaddr[0]} is in a private network (denied by "
                "fetch.deny_private_networks)")
