"""Executors: perform one attempt of a run against its target, nothing else.

They know nothing of the database or of jobs: a ``Request`` goes in, an ``Outcome``
comes out. Every failure is caught and described in ``Outcome.error`` (``timeout
after 10 s``, ``connection refused``, ``DNS lookup failed …``, ``TLS error …``), so
an executor never raises for a target's misbehaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...netguard import PrivateAddressError

__all__ = ["Request", "Outcome", "PrivateAddressError", "timeout_text"]


@dataclass(frozen=True)
class Request:
    """One attempt to send: where, what, and within how long."""
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout: float = 10.0
    # Exempt from ``fetch.deny_private_networks`` (superusers' jobs).
    allow_private_networks: bool = False


@dataclass
class Outcome:
    """What the target answered, or why it did not (``error``)."""
    status_code: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    error: str | None = None


def timeout_text(seconds: float) -> str:
    return f"timeout after {seconds:g} s"
