"""The ``rest`` job type: attempts over one pooled aiohttp client, on the engine's
event loop.

The client session is shared by every attempt of the engine (connections to a target
are kept alive and reused); it is opened in the running loop at the first attempt.
Redirects are not followed (a 3xx is the answer), the body is read up to the
configured cap, and the whole request — connect, send, every read — must end before
the job's timeout. Nothing is added to what the job sends but ``Host`` and framing
(no ``Accept-Encoding``: the body is stored as the target sent it, never decoded).
Under ``fetch.deny_private_networks`` a second session resolves every name through
``netguard`` and connects only to the addresses it checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from ... import netguard
from . import Outcome, PrivateAddressError, Request, scheduler_headers, timeout_text

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from ...config import Settings
    from ..store import JobSpec

__all__ = ["HttpExecutor", "status_expected", "describe_failure"]

_CHUNK = 64 * 1024
_PARSED_URLS = 4096     # parsed target URLs kept (a job's URL is parsed once)


class _PublicResolver(AbstractResolver):
    """Resolves a name once and refuses it unless every address is public
    (``netguard.public_addresses``); aiohttp then connects to exactly those
    addresses, while the name stays the request's (``Host``, TLS SNI and check)."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await asyncio.get_running_loop().run_in_executor(
            None, netguard.public_addresses, host, port)
        return [ResolveResult(hostname=host, host=address, port=port,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)
                for address in addresses]

    async def close(self) -> None:
        """Nothing to release: lookups run in the loop's default executor."""


class HttpExecutor:
    """Sends REST attempts; one instance per engine, used from one event loop."""

    def __init__(self, *, max_response_bytes: int, deny_private_networks: bool = False):
        self.max_response_bytes = max_response_bytes
        self.deny_private_networks = deny_private_networks
        self._sessions: dict[bool, aiohttp.ClientSession] = {}   # by "guarded"
        self._parsed: dict[str, URL] = {}

    @classmethod
    def from_settings(cls, settings: Settings, pool_size: int) -> HttpExecutor:
        """``pool_size`` does not apply: the engine bounds the attempts in flight."""
        return cls(max_response_bytes=settings.fetch.max_response_bytes,
                   deny_private_networks=settings.fetch.deny_private_networks)

    def _session(self, guarded: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(guarded)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=0, limit_per_host=0, resolver=_PublicResolver() if guarded else None)
            session = self._sessions[guarded] = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False, skip_auto_headers=("Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None))
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

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

    def _url(self, text: str) -> URL | str:
        """The parsed URL, or the error of an unusable one."""
        url = self._parsed.get(text)
        if url is None:
            try:
                url = URL(text)
            except (ValueError, TypeError):
                return "invalid URL"
            if url.scheme not in ("http", "https") or not url.host:
                return "invalid URL: the scheme must be http or https"
            if len(self._parsed) >= _PARSED_URLS:
                self._parsed.clear()
            self._parsed[text] = url
        return url

    async def execute(self, request: Request) -> Outcome:
        """Perform ``request``; never raises for the target's failures."""
        url = self._url(request.url)
        if isinstance(url, str):
            return Outcome(error=url)
        host = url.host or ""
        guarded = self.deny_private_networks and not request.allow_private_networks
        if guarded and _private_literal(host):   # aiohttp resolves no address literal
            return Outcome(error=describe_failure(PrivateAddressError(
                f"target address {host} is in a private network (not globally routable; "
                "denied by fetch.deny_private_networks)"), request.timeout, host))
        body = request.body.encode() if request.body is not None else None
        outcome = Outcome()
        try:
            async with asyncio.timeout(request.timeout):
                async with self._session(guarded).request(
                        request.method.upper(), url, data=body, headers=request.headers,
                        allow_redirects=False) as response:
                    outcome.status_code = response.status
                    outcome.headers = _merged(response.headers)
                    outcome.body, outcome.truncated = await self._read_body(response)
        except Exception as exc:  # every failure becomes the result's error
            outcome.error = describe_failure(exc, request.timeout, host)
        return outcome

    async def _read_body(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        cap = self.max_response_bytes
        parts: list[bytes] = []
        size = 0
        content = response.content
        while True:
            chunk = await content.read(min(_CHUNK, cap + 1 - size))
            if not chunk:
                return b"".join(parts), False
            parts.append(chunk)
            size += len(chunk)
            if size > cap:
                # Stop reading; the connection is not reusable with a body left in it.
                response.close()
                return b"".join(parts)[:cap], True
            if content.at_eof():
                return b"".join(parts), False


def _private_literal(host: str) -> bool:
    """Whether ``host`` is an IP address that is not public."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False   # a name: the resolver checks it
    return not netguard.is_public_address(address)


def _merged(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    """Response headers as a dict; a repeated header's values joined with ", "."""
    merged: dict[str, str] = {}
    for name, value in headers.items():
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


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def describe_failure(exc: BaseException, timeout: float, host: str) -> str:
    """The result's ``error`` for a failed request: short and classified."""
    root = _root(exc)
    if isinstance(exc, PrivateAddressError) or isinstance(root, PrivateAddressError):
        return str(exc if isinstance(exc, PrivateAddressError) else root)
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror | UnicodeError):
        return f"DNS lookup failed for {host}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        if isinstance(exc, aiohttp.ClientConnectorError) and root is exc:
            root = exc.os_error
        return f"TLS error: {getattr(root, 'reason', None) or root}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return timeout_text(timeout)
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid URL"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed by the target"
    if isinstance(exc, OSError):
        cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else root
        if isinstance(cause, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError) or isinstance(exc, ConnectionResetError):
            return "connection reset by the target"
        if isinstance(cause, TimeoutError | socket.timeout):
            return timeout_text(timeout)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return f"connection failed: {cause}"
        return f"connection error: {cause}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"connection error: {exc}"
    if isinstance(exc, aiohttp.ClientError):
        return f"request failed: {exc}"
    return f"request failed: {type(exc).__name__}: {exc}"
