"""The ``rest`` job type: HTTP/1.1 attempts on the engine's event loop, over pooled
keep-alive connections.

Each connection is an asyncio protocol on the engine's loop (uvloop's where it is
installed) carrying one request at a time; its answer is parsed by httptools (llhttp,
the parser of Node.js). Idle connections are kept per target and reused. This client
does only what a job needs, which is why it is small: no redirects (a 3xx is the
answer), no cookies, no proxies, no decompression (the body is stored as the target
sent it), no retries (a failed attempt is the job's to retry). The body is read up to
the configured cap; the whole request — lookup, connect, TLS handshake, send, every
read — must end before the job's timeout. aiohttp did the same at about twice the CPU
per request, which at 1,000 runs/s was a third of the engine's (bench/README.md).

Under ``fetch.deny_private_networks`` the name is resolved through ``netguard`` and
the connection goes only to the addresses it checked, while the name stays the
request's (``Host``, TLS SNI and certificate check).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, unquote, urlsplit

import httptools

from ... import netguard
from . import Outcome, Request, failures, scheduler_headers

if TYPE_CHECKING:
    from ...config import Settings
    from ..store import JobSpec

__all__ = ["HttpExecutor", "status_expected", "describe_failure"]

_PARSED_URLS = 4096     # parsed endpoints kept (a job's endpoint is parsed once)
_IDLE_SECONDS = 15.0    # an idle connection is closed rather than reused after this
_MAX_HEAD_BYTES = 64 * 1024   # status line and headers of an answer, interim ones included
# Methods a request may be repeated with (RFC 9110 9.2.2).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# Methods sent without ``Content-Length: 0`` when they carry no body.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})
# What stays as it is in a request target (RFC 3986 reserved and unreserved characters,
# and "%" so that what is already escaped is not escaped twice).
_SAFE = "/:@!$&'()*+,;=-._~%?"
_FORBIDDEN_IN_HEADERS = str.maketrans("", "", "\r\n\0")


class ConnectionClosed(Exception):
    """The target closed the connection before the whole answer came."""


class InvalidResponse(Exception):
    """What the target sent is not an HTTP/1.x answer."""


@dataclass(frozen=True)
class _Endpoint:
    """A job's endpoint, parsed once: where to connect and what the request line says."""
    tls: bool
    host: str              # to resolve and for TLS SNI (IDNA; IPv6 without brackets)
    port: int
    host_header: str
    target: str            # path and query
    authorization: str | None   # from ``user:password@`` in the URL


def _parse_endpoint(text: str) -> _Endpoint | str:
    """The endpoint, or the error of an unusable URL."""
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname or ""
        host = host if host.isascii() else host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return "invalid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return "invalid URL: the scheme must be http or https"
    tls = scheme == "https"
    default_port = 443 if tls else 80
    port = port or default_port
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    target = quote(parts.path or "/", safe=_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE)
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
    return _Endpoint(tls, host, port, host_header, target, authorization)


class _Connection(asyncio.Protocol):
    """One keep-alive connection to a target, carrying one request at a time.

    ``request`` writes a request and returns a future of its answer, which the parser's
    callbacks (called from ``data_received``) fill in.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[Outcome] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._cap = 0
        self._head_only = False
        self._headers_done = False
        self._head_bytes = 0      # received before the headers ended
        self._until_eof = False   # an answer without a length: its body ends at EOF
        self.reusable = False
        self.closed = False
        self.answered = False   # a byte of an answer to the current request came
        self.idle_since = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)   # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._parser is None or self._answer is None or self._answer.done():
            self.close()   # nothing was asked: the connection is not usable
            return
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:   # 101 Switching Protocols: the answer
            self._finish(keep_alive=False)
        except httptools.HttpParserError as exc:
            self._fail(InvalidResponse(f"invalid response ({exc})"))
        if not self._headers_done:
            # The parser keeps an unfinished head whole: past the cap, give up.
            self._head_bytes += len(data)
            if self._head_bytes > _MAX_HEAD_BYTES:
                self._fail(InvalidResponse(
                    f"invalid response (headers over {_MAX_HEAD_BYTES // 1024} KiB)"))

    def eof_received(self) -> bool:
        self._end_of_stream()
        return False   # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._end_of_stream()

    # -- what the executor uses ------------------------------------------------------

    def request(self, head: bytes, body: bytes | None, cap: int,
                head_only: bool) -> asyncio.Future[Outcome]:
        assert self._transport is not None
        self._answer = self._loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._headers, self._body, self._size = [], [], 0
        self._cap, self._head_only = cap, head_only
        self._headers_done = self._until_eof = False
        self._head_bytes = 0
        self.reusable = self.answered = False
        self._transport.write(head + body if body else head)
        return self._answer

    def close(self) -> None:
        self.closed = True
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    # -- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._headers_done = True
        if self._head_only:   # an answer to HEAD has no body, whatever its headers say
            self._finish(keep_alive=self._parser.should_keep_alive())
            return
        framing = {name.lower() for name, _ in self._headers}
        self._until_eof = not framing & {b"content-length", b"transfer-encoding"}

    def on_body(self, body: bytes) -> None:
        if self._answer is None or self._answer.done():
            return
        self._body.append(body)
        self._size += len(body)
        if self._size > self._cap:
            # Stop reading; the rest of the body makes the connection unusable.
            self._finish(keep_alive=False, truncated=True)

    def on_message_complete(self) -> None:
        if self._parser is None or self._answer is None or self._answer.done():
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:   # an interim answer: the real one follows
            self._headers, self._body, self._size, self._headers_done = [], [], 0, False
            return
        self._finish(keep_alive=self._parser.should_keep_alive())

    # -- ends of an answer -----------------------------------------------------------

    def _finish(self, *, keep_alive: bool, truncated: bool = False) -> None:
        answer = self._answer
        if answer is None or answer.done() or self._parser is None:
            return
        body = b"".join(self._body)
        outcome = Outcome(status_code=self._parser.get_status_code(),
                          body=body[:self._cap] if truncated else body,
                          headers=_merged(self._headers), truncated=truncated)
        self.reusable = keep_alive and not self.closed
        if not self.reusable:
            self.close()
        answer.set_result(outcome)

    def _fail(self, exc: Exception) -> None:
        self.close()
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    def _end_of_stream(self) -> None:
        """The target closed: an answer without a length ends here, any other is cut."""
        self.closed = True
        if self._answer is None or self._answer.done():
            return
        if self._headers_done and self._until_eof:
            self._finish(keep_alive=False)
        else:
            self._fail(ConnectionClosed("connection closed by the target"))


class HttpExecutor:
    """Sends REST attempts; one instance per engine, used from one event loop."""

    def __init__(self, *, max_response_bytes: int, deny_private_networks: bool = False):
        self.max_response_bytes = max_response_bytes
        self.deny_private_networks = deny_private_networks
        self._idle: dict[tuple[bool, str, int, bool], deque[_Connection]] = {}
        self._parsed: dict[str, _Endpoint | str] = {}
        self._tls_context: ssl.SSLContext | None = None
        self._next_sweep = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, pool_size: int) -> HttpExecutor:
        """``pool_size`` does not apply: the engine bounds the attempts in flight."""
        return cls(max_response_bytes=settings.fetch.max_response_bytes,
                   deny_private_networks=settings.fetch.deny_private_networks)

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()

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

    async def execute(self, request: Request) -> Outcome:
        """Perform ``request``; never raises for the target's failures."""
        endpoint = self._endpoint(request.url)
        if isinstance(endpoint, str):
            return Outcome(error=endpoint)
        method = request.method.upper()
        body = request.body.encode() if request.body is not None else None
        head = _head(method, endpoint, request.headers, body)
        if head is None:
            return Outcome(error="invalid request: a header name or value holds CR, LF or NUL")
        guarded = self.deny_private_networks and not request.allow_private_networks
        key = (endpoint.tls, endpoint.host, endpoint.port, guarded)
        self._sweep()
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(request.timeout):
                for reused in (True, False):
                    connection = self._reuse(key) if reused else await self._open(
                        endpoint, guarded)
                    if connection is None:
                        continue
                    try:
                        outcome = await connection.request(head, body, self.max_response_bytes,
                                                           method == "HEAD")
                        break
                    except ConnectionClosed:
                        # A kept-alive connection the target closed just as it was reused
                        # (its idle timeout): an idempotent request, not answered at all,
                        # goes again on a new connection. Others fail: the target may have
                        # acted on them.
                        if not reused or connection.answered or method not in _IDEMPOTENT:
                            raise
                        connection.close()
        except Exception as exc:  # every failure becomes the result's error
            return Outcome(error=describe_failure(exc, request.timeout, endpoint.host))
        finally:
            if connection is not None and not connection.reusable:
                connection.close()
        assert connection is not None   # the loop above returned an outcome on one
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(key, deque()).append(connection)
        return outcome

    def _endpoint(self, url: str) -> _Endpoint | str:
        endpoint = self._parsed.get(url)
        if endpoint is None:
            if len(self._parsed) >= _PARSED_URLS:
                self._parsed.clear()
            endpoint = self._parsed[url] = _parse_endpoint(url)
        return endpoint

    def _sweep(self) -> None:
        """Close the connections idle for longer than ``_IDLE_SECONDS`` (looked at once
        per ``_IDLE_SECONDS``): targets no job calls any more hold no socket open."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + _IDLE_SECONDS
        for key, idle in list(self._idle.items()):
            while idle and (idle[0].closed or idle[0].idle_since < now - _IDLE_SECONDS):
                idle.popleft().close()   # the oldest first
            if not idle:
                del self._idle[key]

    def _reuse(self, key: tuple[bool, str, int, bool]) -> _Connection | None:
        """The most recently used idle connection to the target that is still open."""
        idle = self._idle.get(key)
        oldest = time.monotonic() - _IDLE_SECONDS
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.idle_since >= oldest:
                return connection
            connection.close()
        return None

    async def _open(self, endpoint: _Endpoint, guarded: bool) -> _Connection:
        """A new connection: to the first of the target's addresses that answers (under
        ``deny_private_networks``, addresses that were all checked public)."""
        loop = asyncio.get_running_loop()
        if guarded:
            addresses = await loop.run_in_executor(
                None, netguard.public_addresses, endpoint.host, endpoint.port)
        else:
            addresses = list(dict.fromkeys(
                str(info[4][0]) for info in await loop.getaddrinfo(
                    endpoint.host, endpoint.port, type=socket.SOCK_STREAM)))
        tls = self._tls() if endpoint.tls else None
        error: OSError | None = None
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), address, endpoint.port, ssl=tls,
                    server_hostname=endpoint.host if tls else None)
                return connection
            except ssl.SSLError:
                raise   # the target answered: another address would not do better
            except OSError as exc:
                error = exc
        raise error or OSError(f"no address to connect to for {endpoint.host}")

    def _tls(self) -> ssl.SSLContext:
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        return self._tls_context


def _head(method: str, endpoint: _Endpoint, headers: dict[str, str],
          body: bytes | None) -> bytes | None:
    """The request line and headers, or None when a header could split the request."""
    lines = [f"{method} {endpoint.target} HTTP/1.1", f"Host: {endpoint.host_header}"]
    names = {name.lower() for name in headers}
    if "accept" not in names:
        lines.append("Accept: */*")
    if endpoint.authorization and "authorization" not in names:
        lines.append(f"Authorization: {endpoint.authorization}")
    for name, value in headers.items():
        line = f"{name}: {value}"
        if len(line.translate(_FORBIDDEN_IN_HEADERS)) != len(line):
            return None
        lines.append(line)
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    elif method not in _BODILESS:
        lines.append("Content-Length: 0")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


def _merged(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Response headers as a dict; a repeated header's values joined with ", "."""
    merged: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("utf-8", "replace")
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


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


def describe_failure(exc: BaseException, timeout: float, host: str) -> str:
    """The result's ``error`` for a failed request (``failures.describe_failure``, with
    this client's own errors named)."""
    if isinstance(exc, ConnectionClosed):
        return "connection closed by the target"
    if isinstance(exc, InvalidResponse):
        return f"connection error: {exc}"
    return failures.describe_failure(exc, timeout, host)
