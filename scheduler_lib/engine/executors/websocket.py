"""The ``websocket`` job type: attempts with the ``websockets`` asyncio client, on the
engine's event loop.

Connect (headers on the handshake), send the payload as one text message, then
collect messages until the server closes or the job's timeout ends the collection.
The messages are joined with ``\\n---\\n``; the status is the handshake's 101, or the
HTTP status of a refused handshake.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from ... import netguard
from . import Outcome, PrivateAddressError, Request, scheduler_headers, timeout_text
from .rest import describe_failure

if TYPE_CHECKING:
    from ...config import Settings
    from ..store import JobSpec

__all__ = ["WebSocketExecutor", "SEPARATOR"]

SEPARATOR = "\n---\n"


class WebSocketExecutor:
    def __init__(self, *, max_response_bytes: int, deny_private_networks: bool = False):
        self.max_response_bytes = max_response_bytes
        self.deny_private_networks = deny_private_networks

    @classmethod
    def from_settings(cls, settings: Settings, pool_size: int) -> WebSocketExecutor:
        """``pool_size`` does not apply: every attempt opens its own connection."""
        return cls(max_response_bytes=settings.fetch.max_response_bytes,
                   deny_private_networks=settings.fetch.deny_private_networks)

    async def close(self) -> None:
        """Nothing pooled to release."""

    def prepare(self, job: JobSpec, run_id: str, attempt: int) -> Request:
        """The payload is sent as one text message after connecting."""
        return Request(url=job.endpoint, headers=scheduler_headers(job, run_id, attempt),
                       body=job.payload, timeout=float(job.timeout_seconds),
                       allow_private_networks=job.allow_private_networks)

    def judge(self, job: JobSpec, outcome: Outcome) -> str | None:
        """Success is a handshake (101) with no error after it, however it ended."""
        if outcome.error is not None:
            return outcome.error
        return None if outcome.status_code == 101 else f"unexpected status {outcome.status_code}"

    async def execute(self, request: Request) -> Outcome:
        """Perform ``request``; never raises for the target's failures."""
        deadline = time.monotonic() + request.timeout
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        if parts.scheme not in ("ws", "wss") or not host:
            return Outcome(error="invalid URL: the scheme must be ws or wss")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "user-agent"}
        user_agent = next((v for k, v in request.headers.items() if k.lower() == "user-agent"),
                          None)
        try:
            # Guarded: the handshake goes over a socket to a checked public address.
            port = parts.port or netguard.DEFAULT_PORTS[parts.scheme]
            sock = None
            if self.deny_private_networks and not request.allow_private_networks:
                sock = await asyncio.get_running_loop().run_in_executor(
                    None, netguard.connect_public, host, port, request.timeout)
            async with connect(request.url, additional_headers=headers,
                               user_agent_header=user_agent, open_timeout=request.timeout,
                               close_timeout=1, ping_interval=None,
                               max_size=self.max_response_bytes + 1, sock=sock,
                               proxy=None) as ws:
                return await self._collect(ws, request, deadline, host)
        except InvalidStatus as exc:
            response = exc.response
            return Outcome(status_code=response.status_code, body=bytes(response.body or b""),
                           headers=dict(response.headers.raw_items()),
                           error=f"handshake refused with HTTP {response.status_code}")
        except InvalidURI:
            return Outcome(error="invalid URL")
        except TimeoutError:
            return Outcome(error=timeout_text(request.timeout))
        except InvalidHandshake as exc:
            return Outcome(error=f"handshake failed: {exc}")
        except (OSError, ssl.SSLError, PrivateAddressError, UnicodeError) as exc:
            return Outcome(error=describe_failure(exc, request.timeout, host))

    async def _collect(self, ws: ClientConnection, request: Request, deadline: float,
                       host: str) -> Outcome:
        outcome = Outcome(status_code=101, headers=dict(ws.response.headers.raw_items())
                          if ws.response is not None else {})
        messages: list[str] = []
        size = 0
        try:
            if request.body is not None:
                await ws.send(request.body)
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    # Cancelling recv() loses no message (websockets' asyncio client).
                    message = await asyncio.wait_for(ws.recv(), remaining)
                except TimeoutError:
                    break
                text = message if isinstance(message, str) else message.decode(errors="replace")
                messages.append(text)
                size += len(text.encode()) + len(SEPARATOR)
                if size > self.max_response_bytes:
                    outcome.truncated = True
                    break
        except ConnectionClosedOK:
            pass  # the server ended the conversation: a normal end of collection
        except ConnectionClosedError as exc:
            if exc.sent is not None and exc.sent.code == 1009:   # a message past the cap
                outcome.truncated = True
            else:
                outcome.error = f"connection closed abnormally: {exc}"
        except OSError as exc:
            outcome.error = describe_failure(exc, request.timeout, host)
        body = SEPARATOR.join(messages).encode()
        outcome.body = body[:self.max_response_bytes] if outcome.truncated else body
        return outcome
