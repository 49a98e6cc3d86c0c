"""The ``rest`` job type: attempts over one pooled urllib3 client.

The pool is shared by every worker (connections to a target are reused). Redirects
are not followed (a 3xx is the answer), the body is read up to the configured cap,
and the whole request — connect, send, every read — must end before the job's
timeout.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.exceptions import (
    HTTPError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from ... import netguard
from . import Outcome, PrivateAddressError, Request, scheduler_headers, timeout_text

if TYPE_CHECKING:
    from ...config import Settings
    from ..store import JobSpec

__all__ = ["HttpExecutor", "status_expected"]

_CHUNK = 64 * 1024
_PARSED_URLS = 4096     # parsed target URLs kept (a job's URL is parsed once)


class _Timeout(Exception):
    """The job's whole-request deadline passed while reading the body."""


class HttpExecutor:
    """Sends REST attempts; thread-safe, one instance per engine."""

    def __init__(self, *, max_response_bytes: int, deny_private_networks: bool = False,
                 pool_size: int = 16):
        self.max_response_bytes = max_response_bytes
        self.deny_private_networks = deny_private_networks
        # One pool per target host, each keeping up to pool_size idle connections;
        # block=False: never wait for a connection, open one more instead.
        self.pool = urllib3.PoolManager(num_pools=256, maxsize=pool_size, block=False,
                                        retries=False)
        # Connections that reach checked public addresses only (netguard).
        self.guarded_pool = netguard.guarded_pool_manager(
            num_pools=256, maxsize=pool_size, block=False, retries=False)
        self._parsed: dict[str, urllib3.util.Url] = {}

    @classmethod
    def from_settings(cls, settings: Settings, pool_size: int) -> HttpExecutor:
        return cls(max_response_bytes=settings.fetch.max_response_bytes,
                   deny_private_networks=settings.fetch.deny_private_networks,
                   pool_size=pool_size)

    def close(self) -> None:
        self.pool.clear()
        self.guarded_pool.clear()

    def prepare(self, job: JobSpec, run_id: str, attempt: int) -> Request:
        """The job's method and payload; a payload without a preset Content-Type is
        labelled JSON when it parses as JSON, else plain text."""
        headers = scheduler_headers(job, run_id, attempt)
        if job.payload is not None and not any(
                name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = ("application/json" if _is_json(job.payload)
                                       else "text/plain; charset=utf-8")
        return Request(url=job.endpoint, method=job.method or "get", headers=headers,
                       body=job.payload, timeout=float(job.timeout_seconds),
                       allow_private_networks=job.allow_private_networks)

    def judge(self, job: JobSpec, outcome: Outcome) -> str | None:
        if outcome.error is not None:
            return outcome.error
        if status_expected(outcome.status_code, job.expected_status):
            return None
        return f"unexpected status {outcome.status_code}"

    def execute(self, request: Request) -> Outcome:
        """Perform ``request``; never raises for the target's failures."""
        deadline = time.monotonic() + request.timeout
        url = self._parsed.get(request.url)
        if url is None:
            try:
                url = urllib3.util.parse_url(request.url)
            except LocationParseError:
                return Outcome(error="invalid URL")
            if len(self._parsed) >= _PARSED_URLS:
                self._parsed.clear()
            self._parsed[request.url] = url
        if url.scheme not in ("http", "https") or not url.host:
            return Outcome(error="invalid URL: the scheme must be http or https")
        guarded = self.deny_private_networks and not request.allow_private_networks
        body = request.body.encode() if request.body is not None else None
        try:
            # The host's pool straight from the manager (what PoolManager.request does,
            # without parsing the URL again on every attempt).
            manager = self.guarded_pool if guarded else self.pool
            pool = manager.connection_from_host(url.host, url.port, url.scheme)
            response = pool.urlopen(
                request.method.upper(), url.request_uri, body=body, headers=request.headers,
                timeout=urllib3.Timeout(total=request.timeout), redirect=False,
                assert_same_host=False, preload_content=False, retries=False)
        except Exception as exc:  # every failure becomes the result's error
            return Outcome(error=describe_failure(exc, request.timeout, url.host))
        outcome = Outcome(status_code=response.status,
                          headers=dict(response.headers.itermerged()))
        try:
            outcome.body, outcome.truncated = self._read_body(response, deadline)
        except Exception as exc:  # the status is known; the body failed
            outcome.error = describe_failure(exc, request.timeout, url.host)
            response.close()
        finally:
            response.release_conn()
        return outcome

    def _read_body(self, response: urllib3.BaseHTTPResponse,
                   deadline: float) -> tuple[bytes, bool]:
        cap = self.max_response_bytes
        parts: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            sock = getattr(getattr(response, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(remaining)
            chunk = response.read(min(_CHUNK, cap + 1 - size))
            if not chunk:
                return b"".join(parts), False
            parts.append(chunk)
            size += len(chunk)
            if size > cap:
                # Stop reading; the connection is not reusable with a body left in it.
                response.close()
                return b"".join(parts)[:cap], True
            if response.length_remaining == 0:   # the whole Content-Length read
                return b"".join(parts), False


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def status_expected(code: int | None, expected: list[Any]) -> bool:
    """Whether ``code`` is one of ``expected`` (integers and ``"2xx"``-style classes)."""
    if code is None:
        return False
    for item in expected:
        if isinstance(item, int) and item == code:
            return True
        if isinstance(item, str) and item[1:].lower() == "xx" and item[:1] == str(code // 100):
            return True
    return False


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def describe_failure(exc: BaseException, timeout: float, host: str) -> str:
    """The result's ``error`` for a failed request: short and classified."""
    if isinstance(exc, PrivateAddressError):
        return str(exc)
    if isinstance(exc, NameResolutionError | socket.gaierror):
        return f"DNS lookup failed for {host}"
    if isinstance(exc, SSLError | ssl.SSLError):
        root = _root(exc)
        return f"TLS error: {getattr(root, 'reason', None) or root}"
    if isinstance(exc, NewConnectionError | ConnectionError | OSError) and not isinstance(
            exc, TimeoutError | socket.timeout):
        root = _root(exc)
        if isinstance(root, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(root, ConnectionResetError):
            return "connection reset by the target"
        if isinstance(root, TimeoutError | socket.timeout):
            return timeout_text(timeout)
        if isinstance(exc, NewConnectionError):
            return f"connection failed: {root}"
    if isinstance(exc, Urllib3Timeout | TimeoutError | socket.timeout | _Timeout):
        return timeout_text(timeout)
    if isinstance(exc, ProtocolError):
        root = _root(exc)
        if isinstance(root, TimeoutError | socket.timeout):
            return timeout_text(timeout)
        return f"connection error: {root}"
    if isinstance(exc, HTTPError):
        return f"request failed: {exc}"
    return f"request failed: {type(exc).__name__}: {exc}"
