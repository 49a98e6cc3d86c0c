"""A failed outgoing call described in a few words: the ``error`` of a result (or of a
notification's delivery).

Shared by the job types and the webhook channel, whatever client they use: urllib3
(webhooks), asyncio's connections (REST jobs: ``OSError``/``ssl.SSLError``, with the
client's own errors named in ``rest.py``) and ``websockets``. It
imports no HTTP client of its own, so the API process of ``serve`` loads none for it.
"""

from __future__ import annotations

import socket
import ssl

from urllib3.exceptions import (
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from ...netguard import PrivateAddressError
from . import timeout_text

__all__ = ["describe_failure", "root_cause"]


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of ``exc``'s chain."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def describe_failure(exc: BaseException, timeout: float, host: str) -> str:
    """The ``error`` for a failed request: short and classified."""
    root = root_cause(exc)
    if isinstance(exc, PrivateAddressError) or isinstance(root, PrivateAddressError):
        return str(exc if isinstance(exc, PrivateAddressError) else root)
    if isinstance(exc, NameResolutionError | socket.gaierror | UnicodeError) or isinstance(
            root, socket.gaierror):
        return f"DNS lookup failed for {host}"
    if isinstance(exc, SSLError | ssl.SSLError) or isinstance(root, ssl.SSLError):
        return f"TLS error: {getattr(root, 'reason', None) or root}"
    if isinstance(exc, Urllib3Timeout | TimeoutError | socket.timeout):
        return timeout_text(timeout)
    if isinstance(exc, NewConnectionError | OSError):
        if isinstance(root, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(root, ConnectionResetError) or isinstance(exc, ConnectionResetError):
            return "connection reset by the target"
        if isinstance(root, TimeoutError | socket.timeout):
            return timeout_text(timeout)
        if isinstance(exc, NewConnectionError) or root is not exc:
            return f"connection failed: {root}"
        return f"connection error: {exc}"
    if isinstance(exc, ProtocolError):
        if isinstance(root, TimeoutError | socket.timeout):
            return timeout_text(timeout)
        return f"connection error: {root}"
    if isinstance(exc, HTTPError):
        return f"request failed: {exc}"
    return f"request failed: {type(exc).__name__}: {exc}"
