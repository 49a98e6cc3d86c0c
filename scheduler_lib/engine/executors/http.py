"""REST attempts over one pooled aiohttp client session, on the engine's event loop.

The session is shared by every attempt of the engine (connections to a target are
kept alive and reused); it is opened in the running loop at the first attempt.
Redirects are not followed (a 3xx is the answer), the body is read up to the
configured cap, and the whole request — connect, send, every read — must end before
the job's timeout. Nothing is added to what the job sends but ``Host`` and framing
(no ``Accept-Encoding``: the body is stored as the target sent it, never decoded).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from . import Outcome, PrivateAddressError, Request, check_public_host, timeout_text

__all__ = ["HttpExecutor", "describe_failure"]

_CHUNK = 64 * 1024
_PARSED_URLS = 4096     # parsed target URLs kept (a job's URL is parsed once)


class HttpExecutor:
    """Sends REST attempts; one instance per engine, used from one event loop."""

    def __init__(self, *, max_response_bytes: int, deny_private_networks: bool = False):
        self.max_response_bytes = max_response_bytes
        self.deny_private_networks = deny_private_networks
        self.session: aiohttp.ClientSession | None = None
        self._parsed: dict[str, URL] = {}

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            # No limit of its own: the engine bounds the attempts (scheduler.workers).
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
                skip_auto_headers=("Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None))
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

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
        if self.deny_private_networks:
            refused = await asyncio.get_running_loop().run_in_executor(
                None, refuse_private, host, url.port or (443 if url.scheme == "https" else 80))
            if refused:
                return Outcome(error=refused)
        body = request.body.encode() if request.body is not None else None
        outcome = Outcome()
        try:
            async with asyncio.timeout(request.timeout):
                async with self._session().request(
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


def _merged(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    """Response headers as a dict; a repeated header's values joined with ", "."""
    merged: dict[str, str] = {}
    for name, value in headers.items():
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def refuse_private(host: str, port: int) -> str | None:
    """Why ``host`` may not be called under ``deny_private_networks``, or None."""
    try:
        check_public_host(host, port)
    except PrivateAddressError as exc:
        return str(exc)
    except (socket.gaierror, UnicodeError):
        return f"DNS lookup failed for {host}"
    return None


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def describe_failure(exc: BaseException, timeout: float, host: str) -> str:
    """The result's ``error`` for a failed request: short and classified."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return f"DNS lookup failed for {host}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        root = _root(exc)
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
        root = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else _root(exc)
        if isinstance(root, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(root, ConnectionResetError) or isinstance(exc, ConnectionResetError):
            return "connection reset by the target"
        if isinstance(root, TimeoutError | socket.timeout):
            return timeout_text(timeout)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return f"connection failed: {root}"
        return f"connection error: {root}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"connection error: {exc}"
    if isinstance(exc, aiohttp.ClientError):
        return f"request failed: {exc}"
    return f"request failed: {type(exc).__name__}: {exc}"
