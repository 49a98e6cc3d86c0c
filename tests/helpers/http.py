"""A small HTTP client for the API, and what a poll for a server coming up may catch."""

from __future__ import annotations

import json as jsonlib
import socket
from dataclasses import dataclass
from typing import Any

import urllib3

__all__ = ["Response", "Client", "CONNECTION_ERRORS", "free_port"]

_NOTHING = object()

# A server not listening yet (refused), or dropping a connection while it starts: the
# only errors a readiness poll swallows. Anything else (a timeout, a bad answer) fails.
CONNECTION_ERRORS = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProtocolError)


def free_port() -> int:
    """A TCP port nothing listens on right now (for a subprocess to bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.raw)

    @property
    def data(self) -> Any:
        return self.json.get("data")

    @property
    def message(self) -> str:
        return self.json["message"]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.raw[:300]!r}>"


class Client:
    """A small HTTP client over urllib3 that speaks the API's JSON."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(30))

    def request(self, method: str, path: str, json: Any = _NOTHING, *, token: str | None = None,
                api_key: str | None = None, headers: dict[str, str] | None = None,
                body: bytes | str | None = None) -> Response:
        all_headers = dict(headers or {})
        if json is not _NOTHING:
            body = jsonlib.dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if api_key is not None:
            all_headers["X-API-Key"] = api_key
        r = self.http.request(method, self.base_url + path, body=body, headers=all_headers,
                              redirect=False)
        return Response(r.status, r.headers, r.data)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = _NOTHING, **kw: Any) -> Response:
        return self.request("POST", path, json, **kw)

    def patch(self, path: str, json: Any = _NOTHING, **kw: Any) -> Response:
        return self.request("PATCH", path, json, **kw)

    def put(self, path: str, json: Any = _NOTHING, **kw: Any) -> Response:
        return self.request("PUT", path, json, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)
