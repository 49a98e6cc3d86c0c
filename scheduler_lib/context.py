"""What a running instance shares between the API, the engine and the services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .config import Settings

__all__ = ["AppContext"]


def _nothing() -> None:
    return None


@dataclass
class AppContext:
    settings: Settings
    jwt_secret: str
    # A bcrypt hash checked when a login names no user, so that both answers take
    # about the same time.
    dummy_password_hash: str
    # Called after jobs or schedules change so the engine re-reads the next due
    # time at once; the engine replaces it when it starts.
    jobs_changed: Callable[[], None] = field(default=_nothing)
