"""The private-network rule for channel targets (``fetch.deny_private_networks``).

One function, the same check as the jobs' HTTP executor, so that a stricter guard
(connect only to the address checked) can take its place without touching the
transports.
"""

from __future__ import annotations

from ..engine.executors.http import _refuse_private

__all__ = ["refuse_private"]


def refuse_private(host: str | None, port: int) -> str | None:
    """Why sending to ``host`` is refused (it resolves to a non-public address), or None."""
    return _refuse_private(host, port) if host else None
