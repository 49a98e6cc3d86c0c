"""The response envelope of API.md section 1, as the tests check it."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ENVELOPE_TIME", "RESOURCE_TIME", "assert_envelope"]

ENVELOPE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RESOURCE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def assert_envelope(r: Any, status: int, message: str | None = None,
                    path: str | None = None) -> dict[str, Any]:
    """``r`` is an envelope with ``status`` (and ``message``, ``path`` if given); its body."""
    assert r.status == status, r
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json
    assert body["status"] == status
    assert body["success"] is (200 <= status < 300)
    assert ENVELOPE_TIME.match(body["timestamp"])
    if message is not None:
        assert body["message"] == message
    if path is not None:
        assert body["path"] == path
    if status >= 400:
        assert "data" not in body
    return body
