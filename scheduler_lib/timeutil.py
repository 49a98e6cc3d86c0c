"""UTC time helpers. Times are stored naive in UTC; the API shows them with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

__all__ = ["utcnow", "iso", "iso_seconds", "parse_iso", "from_epoch"]


def utcnow() -> datetime:
    """The current UTC time as a naive datetime (how the database stores times)."""
    return datetime.now(UTC).replace(tzinfo=None)


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
@overload
def iso(value: datetime | None) -> str | None: ...
def iso(value: datetime | None) -> str | None:
    """Resource timestamp: ``2025-12-09T03:01:40.912343Z`` (always six digits)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # Same text as strftime("%Y-%m-%dT%H:%M:%S.%fZ"), at a third of the cost (every
    # listed resource has two to four of these).
    return value.isoformat(timespec="microseconds") + "Z"


def iso_seconds(value: datetime) -> str:
    """Envelope timestamp: ``2025-12-09T06:58:02Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 time (``Z`` or an offset; no offset means UTC) to naive UTC.

    Raises ValueError when ``text`` is not such a time.
    """
    parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def from_epoch(seconds: float) -> datetime:
    """A Unix time (e.g. a JWT ``exp``) as a naive UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
